// GPU backends for gpu.js kernels: start one by name, say which one actually ran a kernel, and
// probe which ones work here. Never falls back: a backend that cannot run throws
// BackendUnavailableError with a one-line reason.
//
//   headlessgl  Node, headless-gl (npm `gl`, built from source) — needs an X server: xvfb-run -a
//   webgpu      Node, Dawn from the npm `webgpu` package (>= 0.6) on its OpenGL ES backend, with
//               EGL_PLATFORM=surfaceless; or Chromium's WebGPU (runInChromium)
//   webgl2      Chromium only (runInChromium)
//   webasm/cpu  Node, gpu.js's WebAssembly and JavaScript fallbacks
//
// headless-gl and Dawn cannot share a process (the second one to start gets an X error or no
// adapter), so each process gets one of them; availableBackends() probes in child processes.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import type { GpuJsInstance, GpuJsKernelRun, GpuJsModule } from './gpujs.js'
import { loadGpuJs } from './gpujs.js'

export type GpuBackend = 'headlessgl' | 'webgpu' | 'webgl2' | 'webasm' | 'cpu'
/** Backends gpu.js can run in Node (createGpu). */
export type NodeGpuBackend = 'headlessgl' | 'webgpu' | 'webasm' | 'cpu'
/** Backends run in headless Chromium (runInChromium). */
export type BrowserGpuBackend = 'webgl2' | 'webgpu'
/** What a kernel actually ran on: a backend, or gpu.js's WebGL1 path, or an unknown class. */
export type RanBackend = GpuBackend | 'webgl' | 'unknown'

export const GPU_BACKENDS: readonly GpuBackend[] = [
  'headlessgl',
  'webgpu',
  'webgl2',
  'webasm',
  'cpu',
]
export const NODE_GPU_BACKENDS: readonly NodeGpuBackend[] = [
  'headlessgl',
  'webgpu',
  'webasm',
  'cpu',
]
export const BROWSER_GPU_BACKENDS: readonly BrowserGpuBackend[] = ['webgl2', 'webgpu']

/** The requested backend cannot run here; `message` is one line: "<backend>: <reason>". */
export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError'
  constructor(
    readonly backend: GpuBackend,
    readonly reason: string,
  ) {
    super(`${backend}: ${reason}`)
  }
}

/** A kernel ran on a different backend than the one requested (gpu.js fell back). */
export class BackendMismatchError extends Error {
  override name = 'BackendMismatchError'
  constructor(
    readonly requested: GpuBackend,
    readonly ran: string,
    detail = '',
  ) {
    super(`requested ${requested} but the kernels ran on ${ran}${detail ? ` (${detail})` : ''}`)
  }
}

/** The gpu.js kernel classes, as both the Node module and the browser bundle's `GPU` export them. */
export interface KernelClasses {
  HeadlessGLKernel: unknown
  WebGL2Kernel: unknown
  WebGLKernel: unknown
  WebGPUKernel: unknown
  WebAssemblyKernel: unknown
  CPUKernel: unknown
}

/**
 * Which backend a gpu.js kernel actually ran on: `run.kernel instanceof <Class>`, checked AFTER
 * the kernel ran (gpu.js swaps `run.kernel` when it falls back). Never `gpu.mode`, which echoes
 * the request. Self-contained (serialized into the Chromium page and probe processes).
 */
export function kernelBackendOf(classes: KernelClasses, run: { kernel?: unknown }): string {
  const k = run.kernel
  const is = (cls: unknown): boolean => typeof cls === 'function' && k instanceof cls
  // subclasses first: HeadlessGLKernel and WebGL2Kernel both extend WebGLKernel
  if (is(classes.HeadlessGLKernel)) return 'headlessgl'
  if (is(classes.WebGL2Kernel)) return 'webgl2'
  if (is(classes.WebGLKernel)) return 'webgl'
  if (is(classes.WebGPUKernel)) return 'webgpu'
  if (is(classes.WebAssemblyKernel)) return 'webasm'
  if (is(classes.CPUKernel)) return 'cpu'
  return 'unknown'
}

/** The backend a Node gpu.js kernel (the `createKernel` result) actually ran on. */
export function detectBackend(kernel: { kernel?: unknown }): RanBackend {
  return kernelBackendOf(loadGpuJs(), kernel) as RanBackend
}

interface StartedNodeBackend {
  gpu: GpuJsInstance
  /** Extra detail about the device, e.g. Dawn's adapter description. */
  device: string
}

/**
 * What startNodeBackend imports, passed in: a serialized function cannot use `import()` (test
 * runners rewrite it into helpers that do not exist in the probe process).
 */
export interface NodeHost {
  createRequire: (url: string) => NodeJS.Require
  pathToFileURL: (path: string) => URL
  importModule: (url: string) => Promise<unknown>
}

const nodeHost: NodeHost = { createRequire, pathToFileURL, importModule: (url) => import(url) }

/**
 * Starts `backend` in this process and proves it by running a one-line kernel on it. Throws an
 * Error whose `unavailable` property is true, with message "<backend>: <reason>", when it cannot.
 * Self-contained (also run, serialized, in probe child processes; see core.ts for the rules):
 * packages resolve relative to `baseUrl` (a file URL inside this package), through `host`.
 */
export async function startNodeBackend(
  backend: string,
  baseUrl: string,
  host: NodeHost,
): Promise<StartedNodeBackend> {
  function unavailable(reason: string): never {
    const e = new Error(`${backend}: ${reason}`) as Error & { unavailable: boolean }
    e.unavailable = true
    throw e
  }
  const firstLine = (e: unknown): string =>
    String(e instanceof Error ? e.message : e)
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim() ?? 'unknown error'
  const { createRequire, pathToFileURL, importModule } = host
  const req = createRequire(baseUrl)
  const state = ((globalThis as Record<symbol, unknown>)[Symbol.for('normc.gpu.node')] ??= {
    dawn: null,
    device: '',
  }) as { dawn: unknown; device: string }

  let gpujs: GpuJsModule
  try {
    gpujs = req('gpu.js') as GpuJsModule
  } catch (e) {
    return unavailable(`gpu.js is not installed (${firstLine(e)})`)
  }
  const glHasContext = (): boolean =>
    (gpujs.HeadlessGLKernel as unknown as { testContext?: unknown }).testContext != null
  let device = ''
  let gpu: GpuJsInstance

  if (backend === 'headlessgl') {
    try {
      req('gl')
    } catch (e) {
      unavailable(`headless-gl (npm "gl") did not build or does not load: ${firstLine(e)}`)
    }
    if (state.dawn) {
      unavailable(
        'Node WebGPU (Dawn) already started in this process, and headless-gl cannot share a process with it',
      )
    }
    if (!process.env.DISPLAY) unavailable('no X server (DISPLAY is unset; run under xvfb-run -a)')
    if (!gpujs.GPU.isHeadlessGLSupported) {
      unavailable(
        `headless-gl could not create a GL context on DISPLAY=${process.env.DISPLAY} (X server without GLX, or Mesa missing?)`,
      )
    }
    device = `headless-gl on DISPLAY=${process.env.DISPLAY}`
    gpu = new gpujs.GPU({ mode: 'headlessgl' })
  } else if (backend === 'webgpu') {
    if (!state.dawn) {
      if (glHasContext()) {
        unavailable(
          'headless-gl already holds a GL context in this process, and Dawn cannot share a process with it',
        )
      }
      let version = ''
      try {
        version = (req('webgpu/package.json') as { version: string }).version
      } catch {
        unavailable('the npm package "webgpu" (Dawn) is not installed; install webgpu@^0.6.2')
      }
      const [major, minor] = version.split('.').map(Number) as [number, number]
      if (major === 0 && minor < 6) {
        unavailable(
          `the npm package "webgpu" here is ${version} (gpu.js's own dependency, which does not load on this system); install webgpu@^0.6.2`,
        )
      }
      // Dawn's GL backend on Mesa's EGL without a display server; read when Dawn opens EGL
      process.env.EGL_PLATFORM ||= 'surfaceless'
      let dawnModule: { create(flags: string[]): unknown; globals: Record<string, unknown> }
      try {
        dawnModule = (await importModule(
          pathToFileURL(req.resolve('webgpu')).href,
        )) as typeof dawnModule
      } catch (e) {
        return unavailable(`the npm package "webgpu" does not load: ${firstLine(e)}`)
      }
      const dawn = dawnModule.create(['backend=opengles']) as {
        requestAdapter(options?: Record<string, unknown>): Promise<unknown>
        wgslLanguageFeatures?: unknown
      }
      // gpu.js asks for its device with WebGPU's default of 8 storage buffers per shader
      // stage; a fused kernel may bind 9: ask for the adapter's maximum instead.
      const requestAdapter = async (options: Record<string, unknown> = {}): Promise<unknown> => {
        const a = (await dawn.requestAdapter({ ...options, featureLevel: 'compatibility' })) as {
          limits: { maxStorageBuffersPerShaderStage: number }
          requestDevice(d?: { requiredLimits?: Record<string, number> }): Promise<unknown>
        } | null
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
      const adapter = (await requestAdapter()) as {
        info?: { description?: string; vendor?: string }
      } | null
      if (!adapter) {
        unavailable(
          `Dawn found no adapter on its OpenGL ES backend (EGL_PLATFORM=${process.env.EGL_PLATFORM}; needs Mesa's EGL, e.g. libegl-mesa0)`,
        )
      }
      // gpu.js looks for WebGPU at navigator.gpu and uses the GPU* constants (GPUShaderStage...)
      Object.assign(globalThis, dawnModule.globals)
      const shim = {
        requestAdapter,
        getPreferredCanvasFormat: () => 'rgba8unorm',
        wgslLanguageFeatures: dawn.wgslLanguageFeatures,
      }
      const g = globalThis as { navigator?: Record<string, unknown> }
      if (g.navigator) {
        Object.defineProperty(g.navigator, 'gpu', { value: shim, configurable: true })
      } else {
        Object.defineProperty(globalThis, 'navigator', {
          value: { gpu: shim },
          configurable: true,
          writable: true,
        })
      }
      state.dawn = dawn
      state.device = `Dawn ${version} (OpenGL ES, compatibility): ${adapter!.info?.description || adapter!.info?.vendor || 'unknown adapter'}`
    }
    device = state.device
    gpu = new gpujs.GPU({ mode: 'webgpu' })
  } else if (backend === 'webasm') {
    if (!gpujs.GPU.isWebAssemblySupported) unavailable('WebAssembly is not available')
    device = 'gpu.js WebAssembly (CPU)'
    gpu = new gpujs.GPU({ mode: 'webasm' })
  } else if (backend === 'cpu') {
    device = 'gpu.js JavaScript (CPU)'
    gpu = new gpujs.GPU({ mode: 'cpu' })
  } else if (backend === 'webgl2') {
    return unavailable('a browser backend: run it in Chromium with runInChromium()')
  } else {
    return unavailable('unknown backend')
  }

  // prove it: one tiny kernel, on the backend asked for
  const run = gpu.createKernel('function (a) { return a[this.thread.x] + 1 }', {
    output: [2],
    precision: 'single',
    tactic: 'precision',
  })
  let result: unknown
  try {
    result = run(new Float32Array([1, 2]))
    if (result instanceof Promise) result = await result
  } catch (e) {
    unavailable(`a test kernel failed: ${firstLine(e)}`)
  }
  const k = run.kernel
  const classes = gpujs as unknown as Record<string, unknown>
  const ran =
    backend === 'headlessgl'
      ? k instanceof (classes.HeadlessGLKernel as never)
      : backend === 'webgpu'
        ? k instanceof (classes.WebGPUKernel as never)
        : backend === 'webasm'
          ? k instanceof (classes.WebAssemblyKernel as never)
          : k instanceof (classes.CPUKernel as never)
  if (!ran) {
    unavailable(
      `a test kernel ran on ${k.constructor.name}${k.fallbackReason ? ` (${k.fallbackReason})` : ''}`,
    )
  }
  const values = Array.from(result as ArrayLike<number>)
  if (values[0] !== 2 || values[1] !== 3) unavailable(`a test kernel returned [${values}]`)
  try {
    run.destroy?.()
  } catch {
    // nothing to free
  }
  return { gpu, device }
}

/** A gpu.js GPU instance bound to one Node backend, proven to run kernels on it. */
export interface GpuHandle {
  readonly backend: NodeGpuBackend
  /** The gpu.js GPU instance (`createKernel` etc.). */
  readonly gpu: GpuJsInstance
  /** The gpu.js module it came from (Input, kernel classes). */
  readonly gpujs: GpuJsModule
  /** What it runs on, in words (e.g. "headless-gl on DISPLAY=:99"). */
  readonly device: string
  /** Which backend a kernel created on this instance actually ran on. */
  detect(kernel: GpuJsKernelRun | { kernel?: unknown }): RanBackend
  destroy(): Promise<void>
}

function isUnavailable(e: unknown): e is Error & { unavailable: true } {
  return e instanceof Error && (e as { unavailable?: unknown }).unavailable === true
}

/**
 * A gpu.js GPU instance on exactly `backend` (Node: headlessgl, webgpu, webasm, cpu). Throws
 * BackendUnavailableError when it cannot run there; never falls back.
 */
export async function createGpu(backend: GpuBackend): Promise<GpuHandle> {
  if (!GPU_BACKENDS.includes(backend)) {
    throw new BackendUnavailableError(backend, 'unknown backend')
  }
  let started: StartedNodeBackend
  try {
    started = await startNodeBackend(backend, import.meta.url, nodeHost)
  } catch (e) {
    if (isUnavailable(e)) {
      throw new BackendUnavailableError(backend, e.message.slice(backend.length + 2))
    }
    throw e
  }
  const gpujs = loadGpuJs()
  const { gpu, device } = started
  return {
    backend: backend as NodeGpuBackend,
    gpu,
    gpujs,
    device,
    detect: (kernel) => kernelBackendOf(gpujs, kernel) as RanBackend,
    destroy: async () => {
      await gpu.destroy()
    },
  }
}

export interface BackendStatus {
  backend: GpuBackend
  /** Where it runs. */
  runtime: 'node' | 'chromium'
  ok: boolean
  /** Why not (one line), or what it runs on. */
  reason: string
}

/**
 * Probes every backend by running a kernel on it: Node backends each in a child process (a probe
 * must not tie this process to headless-gl or Dawn), Chromium's unless `browser: false`.
 */
export async function availableBackends(
  options: { browser?: boolean; timeoutMs?: number } = {},
): Promise<BackendStatus[]> {
  const timeoutMs = options.timeoutMs ?? 60_000
  const node = await Promise.all(
    NODE_GPU_BACKENDS.map(async (backend): Promise<BackendStatus> => {
      const r = await probeInChild(backend, timeoutMs)
      return { backend, runtime: 'node', ...r }
    }),
  )
  if (options.browser === false) return node
  const { probeChromium } = await import('./browser/index.js')
  const browser = await probeChromium()
  return [...node, ...browser.map((b): BackendStatus => ({ ...b, runtime: 'chromium' }))]
}

/** Runs startNodeBackend(backend) in a fresh Node process. */
export function probeInChild(
  backend: NodeGpuBackend,
  timeoutMs = 60_000,
): Promise<{ ok: boolean; reason: string }> {
  const script =
    "import { createRequire } from 'node:module'\n" +
    "import { pathToFileURL } from 'node:url'\n" +
    // esbuild's keepNames (tsx) wraps nested functions in __name(): make it a no-op
    'const __name = (f) => f;\n' +
    `const start = ${startNodeBackend.toString()};\n` +
    `start(${JSON.stringify(backend)}, ${JSON.stringify(import.meta.url)}, ` +
    `{ createRequire, pathToFileURL, importModule: (u) => import(u) }).then(` +
    `(r) => { process.stdout.write(JSON.stringify({ ok: true, reason: r.device })); process.exit(0) },` +
    `(e) => { process.stdout.write(JSON.stringify({ ok: false, reason: e.unavailable ? e.message.slice(${backend.length + 2}) : 'probe failed: ' + String(e && e.message || e).split('\\n')[0] })); process.exit(0) })`
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      try {
        resolve(JSON.parse(out) as { ok: boolean; reason: string })
      } catch {
        const last = err
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l && !l.startsWith('Warning:'))
          .pop()
        resolve({
          ok: false,
          reason: `probe process ${signal ? `killed (${signal})` : `exited ${code}`}${last ? `: ${last}` : ''}`,
        })
      }
    })
  })
}
