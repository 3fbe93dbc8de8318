// Runs a GpuProgram in headless Chromium (WebGL2 or WebGPU, through gpu.js's browser bundle).
//
//   const r = await runInChromium(program, { x }, 'webgl2')   // r.outputs, r.backend, r.device
//   await closeChromium()                                      // when done (tests: afterAll)
//
// One Chromium (playwright-core, /usr/bin/chromium or $CHROMIUM_PATH) and one page are shared by
// all calls until closeChromium(). The page is served by a tiny HTTP server on 127.0.0.1 (random
// port); inputs and outputs travel as binary over it, the program as JSON. The page caches the
// built kernels per (backend, program), so repeated runs of one program do not recompile.
import { randomUUID } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { BrowserGpuBackend, RanBackend } from '../backends.js'
import { BackendMismatchError, BackendUnavailableError, kernelBackendOf } from '../backends.js'
import type { GpuProgram } from '../core.js'
import { createExecutor } from '../core.js'
import { resolvePackageFile } from '../gpujs.js'
import { toFloat32, type GpuInputs } from '../runner.js'
import { pageMain, type PageRunResult } from './page.js'

/** Chromium flags: SwiftShader for WebGL and WebGPU where there is no GPU, WebGPU enabled. */
export const CHROMIUM_ARGS = [
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
]

export function chromiumPath(): string {
  return process.env.CHROMIUM_PATH || '/usr/bin/chromium'
}

export interface ChromiumRunResult {
  outputs: Record<string, Float32Array>
  /** The backend that ran every step (always the one requested; otherwise this throws). */
  backend: RanBackend
  stepBackends: RanBackend[]
  /** In-page wall time of the run (no transfers; the first run also compiles), ms. */
  ms: number
  /** The renderer, e.g. "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device ...))". */
  device: string
}

interface Job {
  inputs: Map<string, Buffer>
  outputs: Map<string, Buffer>
}

// minimal structural types for the playwright-core objects used here
interface PwPage {
  goto(url: string): Promise<unknown>
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>
  on(event: 'pageerror' | 'crash' | 'close', fn: (e?: unknown) => void): void
  isClosed(): boolean
  close(): Promise<void>
}
interface PwBrowser {
  newPage(): Promise<PwPage>
  close(): Promise<void>
  isConnected(): boolean
}

class ChromiumPool {
  private server: Server | undefined
  private origin = ''
  private browser: PwBrowser | undefined
  private page: PwPage | undefined
  private starting: Promise<PwPage> | undefined
  private readonly jobs = new Map<string, Job>()
  private readonly pageErrors: string[] = []

  /** The shared page, starting the server, Chromium and the page on first use. */
  page_(): Promise<PwPage> {
    if (this.page && !this.page.isClosed() && this.browser?.isConnected()) {
      return Promise.resolve(this.page)
    }
    this.starting ??= this.start().finally(() => (this.starting = undefined))
    return this.starting
  }

  private async start(): Promise<PwPage> {
    const exe = chromiumPath()
    if (!existsSync(exe)) {
      throw new BackendUnavailableError(
        'webgl2',
        `no Chromium at ${exe} (install chromium or set CHROMIUM_PATH)`,
      )
    }
    let chromium: {
      launch(o: { executablePath: string; headless: boolean; args: string[] }): Promise<PwBrowser>
    }
    try {
      const spec = 'playwright-core'
      ;({ chromium } = (await import(spec)) as { chromium: typeof chromium })
    } catch {
      throw new BackendUnavailableError('webgl2', 'playwright-core is not installed')
    }
    if (!this.server) await this.startServer()
    if (!this.browser || !this.browser.isConnected()) {
      try {
        this.browser = await chromium.launch({
          executablePath: exe,
          headless: true,
          args: CHROMIUM_ARGS,
        })
      } catch (e) {
        const line = String(e instanceof Error ? e.message : e).split('\n')[0]
        throw new BackendUnavailableError('webgl2', `Chromium did not start: ${line}`)
      }
    }
    const page = await this.browser.newPage()
    page.on('pageerror', (e) => this.pageErrors.push(String(e)))
    // a crashed page is not closed, but it is useless: the next run opens a new one
    page.on('crash', () => {
      if (this.page === page) this.page = undefined
    })
    await page.goto(`${this.origin}/`)
    // the page's scripts are synchronous: by the load event they have defined normcRun, or failed
    if (
      !(await page.evaluate(() => (globalThis as { normcReady?: boolean }).normcReady === true, 0))
    ) {
      await page.close().catch(() => {})
      throw new Error(
        `the normc GPU page did not load: ${this.pageErrors.join('; ') || 'no error'}`,
      )
    }
    this.page = page
    return page
  }

  private startServer(): Promise<void> {
    const bundle = readFileSync(resolvePackageFile('gpu.js', 'dist/gpu-browser.min.js'))
    const script =
      // esbuild's keepNames (tsx) wraps nested functions and classes in __name(): make it a no-op
      'var __name = (f) => f;\n' +
      `globalThis.normcCreateExecutor = (${createExecutor.toString()});\n` +
      `globalThis.normcBackendOf = (${kernelBackendOf.toString()});\n` +
      `(${pageMain.toString()})();\n`
    const html =
      '<!doctype html><meta charset="utf-8"><title>normc gpu</title><link rel="icon" href="data:,">' +
      '<script src="/gpu-browser.min.js"></script><script src="/normc-page.js"></script>'
    const server = createServer((req, res) => this.handle(req, res, { bundle, script, html }))
    this.server = server
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo
        this.origin = `http://127.0.0.1:${port}`
        resolve()
      })
    })
  }

  private handle(
    req: IncomingMessage,
    res: ServerResponse,
    files: { bundle: Buffer; script: string; html: string },
  ): void {
    const send = (status: number, type: string, body: string | Buffer): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' })
      res.end(body)
    }
    const url = req.url ?? '/'
    if (req.method === 'GET' && url === '/') return send(200, 'text/html', files.html)
    if (req.method === 'GET' && url === '/gpu-browser.min.js') {
      return send(200, 'text/javascript', files.bundle)
    }
    if (req.method === 'GET' && url === '/normc-page.js') {
      return send(200, 'text/javascript', files.script)
    }
    const m = /^\/job\/([0-9a-f-]{36})\/(in|out)\/([^/]+)$/.exec(url)
    const job = m ? this.jobs.get(m[1]!) : undefined
    if (!m || !job) return send(404, 'text/plain', 'not found')
    const name = decodeURIComponent(m[3]!)
    if (req.method === 'GET' && m[2] === 'in') {
      const data = job.inputs.get(name)
      return data
        ? send(200, 'application/octet-stream', data)
        : send(404, 'text/plain', 'no input')
    }
    if (req.method === 'POST' && m[2] === 'out') {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        job.outputs.set(name, Buffer.concat(chunks))
        send(200, 'text/plain', 'ok')
      })
      return
    }
    send(405, 'text/plain', 'method not allowed')
  }

  async run(
    program: GpuProgram,
    inputs: GpuInputs,
    backend: BrowserGpuBackend,
  ): Promise<ChromiumRunResult> {
    let page: PwPage
    try {
      page = await this.page_()
    } catch (e) {
      // the same reason holds for either browser backend: report it for the one asked for
      if (e instanceof BackendUnavailableError) throw new BackendUnavailableError(backend, e.reason)
      throw e
    }
    const id = randomUUID()
    const job: Job = { inputs: new Map(), outputs: new Map() }
    for (const name of Object.keys(program.inputs)) {
      if (!(name in inputs)) throw new Error(`missing input "${name}"`)
      const f = toFloat32(name, inputs[name]!)
      job.inputs.set(name, Buffer.from(f.buffer, f.byteOffset, f.byteLength))
    }
    this.jobs.set(id, job)
    const errorsBefore = this.pageErrors.length
    let r: PageRunResult
    try {
      r = await page.evaluate(
        ([p, b, url, ins, outs]) =>
          (
            globalThis as unknown as {
              normcRun: (...a: unknown[]) => Promise<PageRunResult>
            }
          ).normcRun(p, b, url, ins, outs),
        [
          JSON.stringify(program),
          backend,
          `/job/${id}`,
          Object.keys(program.inputs),
          program.outputs,
        ] as const,
      )
    } finally {
      this.jobs.delete(id)
    }
    if (!r.ok) {
      const message = r.error?.message ?? 'unknown error'
      if (r.error?.kind === 'unavailable') throw new BackendUnavailableError(backend, message)
      const extra = this.pageErrors.slice(errorsBefore).join('; ')
      throw new Error(`Chromium ${backend}: ${message}${extra ? ` (page errors: ${extra})` : ''}`)
    }
    const stepBackends = (r.stepBackends ?? []) as RanBackend[]
    const bad = stepBackends.findIndex((b) => b !== backend)
    if (bad >= 0) {
      const reason = r.fallbackReasons?.[bad]
      throw new BackendMismatchError(
        backend,
        stepBackends[bad]!,
        `Chromium, step ${bad}, kernel ${program.steps[bad]!.kernel}${reason ? `: ${reason}` : ''}`,
      )
    }
    const outputs: Record<string, Float32Array> = {}
    for (const name of program.outputs) {
      const buf = job.outputs.get(name)
      if (!buf) throw new Error(`Chromium ${backend}: output "${name}" did not arrive`)
      // copy: the Buffer may be a view into a shared pool with an unaligned offset
      outputs[name] = new Float32Array(new Uint8Array(buf).buffer)
    }
    return { outputs, backend, stepBackends, ms: r.ms ?? 0, device: r.device ?? '' }
  }

  async close(): Promise<void> {
    const browser = this.browser
    const server = this.server
    this.page = undefined
    this.browser = undefined
    this.server = undefined
    if (browser) await browser.close().catch(() => {})
    if (server) {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

let pool: ChromiumPool | undefined

/**
 * Runs `program` in the shared headless Chromium on `backend` ('webgl2' or 'webgpu'). Throws
 * BackendUnavailableError (no Chromium, no adapter...) or BackendMismatchError (a step ran
 * elsewhere); never falls back.
 */
export function runInChromium(
  program: GpuProgram,
  inputs: GpuInputs,
  backend: BrowserGpuBackend,
): Promise<ChromiumRunResult> {
  if (backend !== 'webgl2' && backend !== 'webgpu') {
    return Promise.reject(new BackendUnavailableError(backend, 'not a Chromium backend'))
  }
  pool ??= new ChromiumPool()
  return pool.run(program, inputs, backend)
}

/** Closes the shared Chromium and its server (a later runInChromium starts them again). */
export async function closeChromium(): Promise<void> {
  const p = pool
  pool = undefined
  if (p) await p.close()
}

/** Runs a one-kernel program on each Chromium backend: [{ backend, ok, reason }]. */
export async function probeChromium(): Promise<
  { backend: BrowserGpuBackend; ok: boolean; reason: string }[]
> {
  const program: GpuProgram = {
    inputs: { a: [2] },
    kernels: [
      {
        name: 'inc',
        source: 'function (a) { return a[this.thread.x] + 1 }',
        output: [2],
        args: ['a'],
      },
    ],
    steps: [{ kernel: 'inc', inputs: { a: 'a' }, out: 'b' }],
    outputs: ['b'],
  }
  const results: { backend: BrowserGpuBackend; ok: boolean; reason: string }[] = []
  // a probe leaves no browser running unless one was running before
  const hadPool = pool !== undefined
  for (const backend of ['webgl2', 'webgpu'] as const) {
    try {
      const r = await runInChromium(program, { a: new Float32Array([1, 2]) }, backend)
      const ok = r.outputs.b![0] === 2 && r.outputs.b![1] === 3
      results.push({ backend, ok, reason: ok ? r.device : `wrong result [${r.outputs.b}]` })
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e)
      const reason = e instanceof BackendUnavailableError ? e.reason : message.split('\n')[0]!
      results.push({ backend, ok: false, reason })
    }
  }
  if (!hadPool) await closeChromium()
  return results
}
