// The small slice of gpu.js (2.24.x) the GPU runtime uses, typed structurally. gpu.js's own
// declarations need the DOM lib; these do not, and they keep gpu.js a lazy, optional load: nothing
// here imports it, `loadGpuJs()` requires it on first use.
import { createRequire } from 'node:module'

/** gpu.js kernel settings the runner passes (a subset of IGPUKernelSettings). */
export interface GpuJsKernelSettings {
  output: number[]
  precision: 'single'
  tactic?: 'speed' | 'balanced' | 'precision'
  pipeline?: boolean
  immutable?: boolean
  constants?: Record<string, number>
  loopMaxIterations?: number
  dynamicOutput?: boolean
  dynamicArguments?: boolean
  argumentTypes?: Record<string, string>
}

/** A kernel's per-backend implementation object (`run.kernel`): one of the *Kernel classes. */
export interface GpuJsKernelImpl {
  readonly constructor: { readonly name: string }
  fallbackReason?: string | null
}

/** What `gpu.createKernel` returns: a callable "run shortcut". */
export interface GpuJsKernelRun {
  (...args: unknown[]): unknown
  kernel: GpuJsKernelImpl
  destroy?: (removeCanvasReferences?: boolean) => void
}

export interface GpuJsInstance {
  readonly mode: string
  createKernel(source: string, settings: GpuJsKernelSettings): GpuJsKernelRun
  destroy(): Promise<void> | void
}

export type GpuJsKernelClass = abstract new (...args: never[]) => unknown

/** The gpu.js module's exports the runtime touches (also the shape of `window.GPU` in the bundle). */
export interface GpuJsModule {
  GPU: (new (settings?: { mode?: string }) => GpuJsInstance) & {
    readonly isHeadlessGLSupported: boolean
    readonly isWebAssemblySupported: boolean
  }
  Input: new (value: Float32Array, size: number[]) => unknown
  HeadlessGLKernel: GpuJsKernelClass & { readonly isSupported: boolean }
  WebGLKernel: GpuJsKernelClass
  WebGL2Kernel: GpuJsKernelClass
  WebGPUKernel: GpuJsKernelClass
  WebAssemblyKernel: GpuJsKernelClass & { readonly isSupported: boolean }
  CPUKernel: GpuJsKernelClass
}

const require = createRequire(import.meta.url)
let cached: GpuJsModule | undefined

/** Loads gpu.js (CommonJS) once. Throws the loader's error if it is not installed. */
export function loadGpuJs(): GpuJsModule {
  cached ??= require('gpu.js') as GpuJsModule
  return cached
}

/** Absolute path of a file inside an installed package (resolution from this module). */
export function resolvePackageFile(pkg: string, file: string): string {
  const manifest = require.resolve(`${pkg}/package.json`)
  return manifest.slice(0, -'package.json'.length) + file
}
