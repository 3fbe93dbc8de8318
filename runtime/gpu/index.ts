// The GPU runtime: gpu.js backends, and a runner for GpuPrograms (lists of gpu.js kernel sources
// and the launches between them) in Node and in headless Chromium. See runner.ts and core.ts.
export {
  availableBackends,
  BackendMismatchError,
  BackendUnavailableError,
  BROWSER_GPU_BACKENDS,
  createGpu,
  detectBackend,
  GPU_BACKENDS,
  NODE_GPU_BACKENDS,
  type BackendStatus,
  type BrowserGpuBackend,
  type GpuBackend,
  type GpuHandle,
  type NodeGpuBackend,
  type RanBackend,
} from './backends.js'
export type { GpuKernelSpec, GpuProgram, GpuStep } from './core.js'
export {
  compileGpuProgram,
  runGpuProgram,
  type CompiledGpuProgram,
  type GpuInputs,
  type GpuRunResult,
} from './runner.js'
export {
  closeChromium,
  probeChromium,
  runInChromium,
  type ChromiumRunResult,
} from './browser/index.js'
