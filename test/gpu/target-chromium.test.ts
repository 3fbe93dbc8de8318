// The gpu target in headless Chromium: WebGL2 (required under CI=true) and WebGPU (reported).
import { defineTargetSuite } from './target-suite.js'

await defineTargetSuite('webgl2', 'Chromium webgl2', true)
