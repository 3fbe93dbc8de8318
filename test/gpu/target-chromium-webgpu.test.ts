// The gpu target on WebGPU in headless Chromium (SwiftShader): reported when it runs.
import { defineTargetSuite } from './target-suite.js'

await defineTargetSuite('webgpu', 'Chromium webgpu', false)
