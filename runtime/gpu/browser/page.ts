// The Chromium page's side of runInChromium. `pageMain` is SELF-CONTAINED: it is shipped to the
// page as `pageMain.toString()` (see core.ts for the rules) and runs after gpu.js's browser bundle
// (global `GPU`) and the serialized `normcCreateExecutor` / `normcBackendOf` are defined.
import type { Executor, ExecutorEnv, ExecutorRunResult, GpuProgram } from '../core.js'

/** What window.normcRun resolves to (outputs travel separately, as binary POSTs). */
export interface PageRunResult {
  ok: boolean
  /** 'unavailable' when the backend cannot run in this page; 'error' for anything else. */
  error?: { kind: 'unavailable' | 'error'; message: string }
  stepBackends?: string[]
  fallbackReasons?: (string | null)[]
  ms?: number
  device?: string
}

export function pageMain(): void {
  type Env = ExecutorEnv
  const g = globalThis as unknown as Record<string, unknown> & {
    GPU: Env['gpu'] & {
      new (settings: { mode: string }): Env['gpu']
      isWebGPUAvailable(): Promise<boolean>
      isWebGL2Supported: boolean
      Input: Env['Input']
    }
    normcCreateExecutor: (env: Env, program: GpuProgram) => Executor
    normcBackendOf: (classes: unknown, run: unknown) => string
    fetch: (
      url: string,
      init?: { method: string; body: unknown; headers?: Record<string, string> },
    ) => Promise<{ ok: boolean; status: number; arrayBuffer(): Promise<ArrayBuffer> }>
    document: { createElement(tag: string): unknown }
    Blob: new (parts: unknown[]) => unknown
    navigator: { gpu?: { requestAdapter(o?: unknown): Promise<unknown> } }
  }
  const GPU = g.GPU
  const gpus = new Map<string, Env['gpu']>()
  const executors = new Map<string, Executor>()
  const devices = new Map<string, string>()

  class Unavailable extends Error {}

  async function describe(backend: string): Promise<string> {
    try {
      if (backend === 'webgl2') {
        const canvas = g.document.createElement('canvas') as {
          getContext(kind: string): {
            getExtension(name: string): { UNMASKED_RENDERER_WEBGL: number } | null
            getParameter(p: number): unknown
            RENDERER: number
          } | null
        }
        const gl = canvas.getContext('webgl2')
        if (!gl) return 'no WebGL2 context'
        const ext = gl.getExtension('WEBGL_debug_renderer_info')
        return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER))
      }
      const adapter = (await g.navigator.gpu?.requestAdapter()) as {
        info?: { vendor?: string; architecture?: string; description?: string }
      } | null
      if (!adapter) return 'no adapter'
      const info = adapter.info ?? {}
      return [info.vendor, info.architecture, info.description].filter(Boolean).join(' / ')
    } catch (e) {
      return `unknown (${String(e)})`
    }
  }

  /**
   * WebGPU guarantees 8 storage buffers per shader stage and adapters give more (SwiftShader
   * 10); a fused kernel may bind 9. gpu.js asks for its device with the default: ask for the
   * adapter's maximum instead. (A copy of backends.ts's, which this page cannot import.)
   */
  function askForAllStorageBuffers(api: { requestAdapter(o?: unknown): Promise<unknown> }): void {
    type Adapter = {
      limits: { maxStorageBuffersPerShaderStage: number }
      requestDevice(d?: { requiredLimits?: Record<string, number> }): Promise<unknown>
    }
    const request = api.requestAdapter.bind(api)
    api.requestAdapter = async (o?: unknown) => {
      const a = (await request(o)) as Adapter | null
      if (a) {
        const device = a.requestDevice.bind(a)
        a.requestDevice = (d = {}) =>
          device({
            ...d,
            requiredLimits: {
              ...d.requiredLimits,
              maxStorageBuffersPerShaderStage: a.limits.maxStorageBuffersPerShaderStage,
            },
          })
      }
      return a
    }
  }

  async function gpuFor(backend: string): Promise<Env['gpu']> {
    const existing = gpus.get(backend)
    if (existing) return existing
    if (backend === 'webgl2') {
      if (!GPU.isWebGL2Supported) throw new Unavailable('this Chromium has no WebGL2 context')
    } else if (backend === 'webgpu') {
      if (!g.navigator.gpu) {
        throw new Unavailable('this Chromium has no navigator.gpu (needs --enable-unsafe-webgpu)')
      }
      if (!(await GPU.isWebGPUAvailable())) {
        throw new Unavailable('this Chromium has navigator.gpu but no WebGPU adapter')
      }
    } else {
      throw new Unavailable('not a browser backend')
    }
    if (backend === 'webgpu') askForAllStorageBuffers(g.navigator.gpu!)
    const gpu = new GPU({ mode: backend })
    gpus.set(backend, gpu)
    devices.set(backend, await describe(backend))
    return gpu
  }

  g.normcRun = async (
    programJson: string,
    backend: string,
    jobUrl: string,
    inputNames: string[],
    outputNames: string[],
  ): Promise<PageRunResult> => {
    try {
      const gpu = await gpuFor(backend)
      const key = `${backend}\n${programJson}`
      let executor = executors.get(key)
      if (!executor) {
        executor = g.normcCreateExecutor(
          { gpu, Input: GPU.Input, backendOf: (run) => g.normcBackendOf(GPU, run) },
          JSON.parse(programJson) as GpuProgram,
        )
        executors.set(key, executor)
      }
      const inputs: Record<string, Float32Array> = {}
      await Promise.all(
        inputNames.map(async (name) => {
          const res = await g.fetch(`${jobUrl}/in/${encodeURIComponent(name)}`)
          if (!res.ok) throw new Error(`input "${name}": HTTP ${res.status}`)
          inputs[name] = new Float32Array(await res.arrayBuffer())
        }),
      )
      const r: ExecutorRunResult = await executor.run(inputs)
      await Promise.all(
        outputNames.map(async (name) => {
          const res = await g.fetch(`${jobUrl}/out/${encodeURIComponent(name)}`, {
            method: 'POST',
            // a Blob, not the typed array itself: Chromium posts a typed-array body an order of
            // magnitude slower (~1 s for 8 MB, most of it after fetch resolves)
            body: new g.Blob([r.outputs[name]!]),
            headers: { 'content-type': 'application/octet-stream' },
          })
          if (!res.ok) throw new Error(`output "${name}": HTTP ${res.status}`)
        }),
      )
      return {
        ok: true,
        stepBackends: r.stepBackends,
        fallbackReasons: r.fallbackReasons,
        ms: r.ms,
        device: devices.get(backend) ?? '',
      }
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e)
      return {
        ok: false,
        error: { kind: e instanceof Unavailable ? 'unavailable' : 'error', message },
      }
    }
  }
  g.normcReady = true
}
