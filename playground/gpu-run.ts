// Runs the GPU tab's job (gpu-job.ts) with gpu.js, on the page's thread (WebGL needs a canvas):
// each program through runtime/gpu's executor — the same one runInChromium ships to its page —
// on exactly the backend asked for. gpu.js falls back to another backend without a word, so the
// backend is checked before (is it there at all?) and after every kernel ran (which class ran
// it?); the results are then compared with the float64 interpreter's, tensor by tensor.

import { createExecutor, type Executor, type ExecutorKernelRun } from '../runtime/gpu/core.js'
import type { GpuJob, GpuJobStep } from './gpu-job.js'
export { maxRelError } from '../runtime/compare.js'
import { maxRelError } from '../runtime/compare.js'

/** The backends the page offers. The runner takes any gpu.js mode (tests use `cpu`). */
export const PAGE_BACKENDS = ['webgl2', 'webgpu'] as const

/** The tolerance of the float32 GPU target against float64 (as in test/gpu). */
export const GPU_TOLERANCE = 1e-4

interface GpuInstance {
  createKernel(source: string, settings: Record<string, unknown>): ExecutorKernelRun
  destroy(): unknown
}

/** What the runner needs of gpu.js: its Node module, or the browser bundle's `GPU` export. */
export interface GpuJs {
  GPU: (new (settings: { mode: string }) => GpuInstance) & {
    readonly isWebGL2Supported?: boolean
    isWebGPUAvailable?(): Promise<boolean>
  }
  Input: new (value: Float32Array, size: number[]) => unknown
  HeadlessGLKernel?: unknown
  WebGL2Kernel?: unknown
  WebGLKernel?: unknown
  WebGPUKernel?: unknown
  WebAssemblyKernel?: unknown
  CPUKernel?: unknown
}

/** Which backend a kernel ran on, by its class (as runtime/gpu's kernelBackendOf). */
export function backendOf(gpujs: GpuJs, run: { kernel?: unknown }): string {
  const k = run.kernel
  const is = (cls: unknown) => typeof cls === 'function' && k instanceof cls
  // subclasses first: HeadlessGLKernel and WebGL2Kernel both extend WebGLKernel
  if (is(gpujs.HeadlessGLKernel)) return 'headlessgl'
  if (is(gpujs.WebGL2Kernel)) return 'webgl2'
  if (is(gpujs.WebGLKernel)) return 'webgl'
  if (is(gpujs.WebGPUKernel)) return 'webgpu'
  if (is(gpujs.WebAssemblyKernel)) return 'webasm'
  if (is(gpujs.CPUKernel)) return 'cpu'
  return 'unknown'
}

interface PageGlobals {
  navigator?: { gpu?: { requestAdapter(): Promise<unknown> } }
  document?: { createElement(tag: string): unknown }
}
const page = globalThis as unknown as PageGlobals

/** Why `backend` cannot run here, in one sentence; undefined when it can. */
export async function unavailableReason(
  gpujs: GpuJs,
  backend: string,
): Promise<string | undefined> {
  if (backend === 'webgl2') {
    if (!gpujs.GPU.isWebGL2Supported)
      return 'this browser gives no WebGL2 context (WebGL disabled, or no GPU and no software renderer)'
  } else if (backend === 'webgpu') {
    if (!page.navigator?.gpu)
      return 'this browser has no WebGPU (no navigator.gpu: Chrome or Edge 113+, or a page not served over https or localhost)'
    const ok = await (gpujs.GPU.isWebGPUAvailable?.() ?? Promise.resolve(false))
    if (!ok) return 'navigator.gpu is there, but requestAdapter() found no adapter'
  }
  return undefined
}

/** The renderer or adapter, in words (the browser may hide it). */
async function describeDevice(backend: string): Promise<string> {
  try {
    if (backend === 'webgl2' && page.document) {
      const canvas = page.document.createElement('canvas') as {
        getContext(kind: string): {
          getExtension(name: string): { UNMASKED_RENDERER_WEBGL: number } | null
          getParameter(p: number): unknown
          RENDERER: number
        } | null
      }
      const gl = canvas.getContext('webgl2')
      if (!gl) return ''
      const ext = gl.getExtension('WEBGL_debug_renderer_info')
      return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER))
    }
    if (backend === 'webgpu' && page.navigator?.gpu) {
      const adapter = (await page.navigator.gpu.requestAdapter()) as {
        info?: { vendor?: string; architecture?: string; description?: string }
      } | null
      const info = adapter?.info ?? {}
      return [info.vendor, info.architecture, info.description].filter(Boolean).join(' / ')
    }
  } catch {
    // Not worth a failure.
  }
  return ''
}

export interface GpuTensorReport {
  label: string
  kind: 'output' | 'state' | 'grad'
  size: number
  maxRelError: number
  ok: boolean
}

export interface GpuRunReport {
  layer: string
  mode: string
  sizes: string
  /** The backend asked for. */
  requested: string
  /** The backend every kernel ran on (set once a kernel ran). */
  ran?: string
  /** The renderer or adapter, where the browser tells. */
  device?: string
  /** Every tensor within GPU_TOLERANCE, on the backend asked for. */
  ok: boolean
  /** The backend cannot run here: why. Nothing ran. */
  unavailable?: string
  /** Anything else that went wrong (a fallback, a kernel that did not build…). */
  error?: string
  tensors: GpuTensorReport[]
  maxError?: number
  kernels: { forward: number; backward: number }
  /** The first run, which also builds the kernels (compiles the shaders), ms. */
  firstMs?: number
  /** A second run of the built kernels (uploads, kernels, readback), ms. */
  ms?: number
}

/** gpu.js ran a kernel on another backend than the one asked for. */
class Fallback extends Error {
  constructor(
    readonly ran: string,
    message: string,
  ) {
    super(message)
  }
}

interface Built {
  key: string
  forward: Executor
  backward: Executor
}

/** One per page: a gpu.js instance per backend, the kernels of the last job kept built. */
export class GpuRunner {
  private readonly gpus = new Map<string, GpuInstance>()
  private built: Built | undefined
  private queue: Promise<unknown> = Promise.resolve()

  constructor(private readonly gpujs: GpuJs) {}

  /** Runs `job` on `backend` (one run at a time; a later call waits for the earlier one). */
  run(job: GpuJob, backend: string): Promise<GpuRunReport> {
    const r = this.queue.then(() => this.runOnce(job, backend))
    this.queue = r.catch(() => undefined)
    return r
  }

  private gpu(backend: string): GpuInstance {
    let g = this.gpus.get(backend)
    if (!g) {
      g = new this.gpujs.GPU({ mode: backend })
      this.gpus.set(backend, g)
    }
    return g
  }

  private executors(job: GpuJob, backend: string): { built: Built; fresh: boolean } {
    const key = `${backend}\n${JSON.stringify([job.forward.program, job.backward.program])}`
    if (this.built?.key === key) return { built: this.built, fresh: false }
    this.dropBuilt()
    const gpu = this.gpu(backend)
    const env = {
      gpu,
      Input: this.gpujs.Input,
      backendOf: (run: ExecutorKernelRun) => backendOf(this.gpujs, run),
    }
    const forward = createExecutor(env, job.forward.program)
    let backward: Executor
    try {
      backward = createExecutor(env, job.backward.program)
    } catch (e) {
      forward.destroy()
      throw e
    }
    this.built = { key, forward, backward }
    return { built: this.built, fresh: true }
  }

  private dropBuilt(): void {
    this.built?.forward.destroy()
    this.built?.backward.destroy()
    this.built = undefined
  }

  private async runOnce(job: GpuJob, backend: string): Promise<GpuRunReport> {
    const report: GpuRunReport = {
      layer: job.layer,
      mode: job.mode,
      sizes: job.sizes,
      requested: backend,
      ok: false,
      tensors: [],
      kernels: {
        forward: job.forward.program.kernels.length,
        backward: job.backward.program.kernels.length,
      },
    }
    const why = await unavailableReason(this.gpujs, backend)
    if (why) {
      report.unavailable = why
      return report
    }
    try {
      const { built, fresh } = this.executors(job, backend)
      const step = async (e: Executor, s: GpuJobStep, forward?: Record<string, Float32Array>) => {
        const inputs: Record<string, Float32Array> = {}
        for (const [name, src] of Object.entries(s.inputs)) {
          const data = src.from === 'host' ? src.data : forward?.[src.buffer]
          if (!data) throw new Error(`internal: no data for ${name} (${JSON.stringify(src)})`)
          inputs[name] = data
        }
        const r = await e.run(inputs)
        const bad = r.stepBackends.findIndex((b) => b !== backend)
        if (bad >= 0) {
          const launch = s.program.steps[bad]!
          const reason = r.fallbackReasons[bad]
          throw new Fallback(
            r.stepBackends[bad]!,
            `requested ${backend}, but gpu.js ran kernel ${launch.kernel} (${launch.out}) on ${r.stepBackends[bad]}${reason ? ` (${reason})` : ''}: it fell back without an error, so these would not be ${backend} results`,
          )
        }
        report.ran = backend
        return { outputs: { ...inputs, ...r.outputs }, ms: r.ms }
      }
      const once = async () => {
        const f = await step(built.forward, job.forward)
        const b = await step(built.backward, job.backward, f.outputs)
        return { f, b, ms: f.ms + b.ms }
      }
      let run = await once()
      if (fresh) {
        report.firstMs = run.ms
        run = await once()
      }
      report.ms = run.ms
      report.device = await describeDevice(backend)
      for (const [s, out] of [
        [job.forward, run.f.outputs],
        [job.backward, run.b.outputs],
      ] as const) {
        for (const t of s.results) {
          const value = out[t.buffer]
          const err = value ? maxRelError(value, t.reference) : Infinity
          report.tensors.push({
            label: t.label,
            kind: t.kind,
            size: t.reference.length,
            maxRelError: err,
            ok: err < GPU_TOLERANCE,
          })
        }
      }
      report.maxError = Math.max(0, ...report.tensors.map((t) => t.maxRelError))
      report.ok = report.tensors.every((t) => t.ok)
    } catch (e) {
      if (e instanceof Fallback) report.ran = e.ran
      report.error = e instanceof Error ? e.message : String(e)
      // Whatever failed may have left the kernels half built: build them again next time.
      this.dropBuilt()
    }
    return report
  }

  destroy(): void {
    this.dropBuilt()
    for (const g of this.gpus.values()) void g.destroy()
    this.gpus.clear()
  }
}
