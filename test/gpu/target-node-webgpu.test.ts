// The gpu target on WebGPU in Node (the npm package "webgpu": Dawn on OpenGL ES, Mesa, with
// EGL_PLATFORM=surfaceless): reported when it runs, not required in CI.
import { defineTargetSuite } from './target-suite.js'

await defineTargetSuite('webgpu', 'Node webgpu', false)
