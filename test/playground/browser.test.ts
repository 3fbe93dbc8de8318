// The playground end to end in headless Chromium (playwright-core driving Debian's chromium):
// build the page with Vite, serve it from 127.0.0.1, load it, type an error and see it located
// (the message in the list, the range marked in the editor), fix it, see the check pass, and
// take a screenshot; then run BatchNorm2d's gpu.js kernels in the GPU tab on WebGL2 and WebGPU
// (SwiftShader) and compare them with float64. Without /usr/bin/chromium the test is skipped
// with the reason, except under CI=true, where it must run (.ci/run installs chromium).
//
// NORMC_UPDATE_SCREENSHOT=1 (or a missing docs/playground.png) writes the screenshot to
// docs/playground.png, the one the README shows.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { extname, join, normalize, sep } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHROMIUM_ARGS } from '../../runtime/gpu/browser/index.js'
import { root } from '../helpers/oracle.js'

const CHROMIUM = '/usr/bin/chromium'
// The GPU runtime's flags (WebGL2 and WebGPU on SwiftShader where there is no GPU, as for
// runInChromium), so that the GPU tab runs its kernels.
const ARGS = ['--headless', '--no-sandbox', ...CHROMIUM_ARGS]
const SCREENSHOT = join(root, 'docs', 'playground.png')

const available = existsSync(CHROMIUM)
if (!available) {
  if (process.env['CI'] === 'true')
    throw new Error(`${CHROMIUM} is missing under CI=true: the playground test must run in CI`)
  console.log(`test/playground/browser.test.ts: skipped: ${CHROMIUM} is not installed`)
}

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
}

/** A static file server for `dir` on 127.0.0.1 (an ephemeral port). */
function serve(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname)
    const file = normalize(join(dir, path.endsWith('/') ? `${path}index.html` : path))
    if (!file.startsWith(dir + sep) || !existsSync(file)) {
      res.writeHead(404).end('not found')
      return
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' })
    res.end(readFileSync(file))
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

describe.skipIf(!available)('playground in Chromium', () => {
  let out: string
  let server: Server
  let browser: Browser
  let page: Page
  const pageErrors: string[] = []

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'normc-playground-'))
    const { build } = await import('vite')
    await build({
      configFile: join(root, 'playground', 'vite.config.ts'),
      logLevel: 'warn',
      build: { outDir: out, emptyOutDir: true },
    })
    server = await serve(out)
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS })
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
    page.on('pageerror', (e) => pageErrors.push(String(e)))
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()))
  }, 180_000)

  afterAll(async () => {
    await browser?.close()
    await new Promise((r) => (server ? server.close(r) : r(undefined)))
    if (out) rmSync(out, { recursive: true, force: true })
  })

  it('loads, locates an error, checks the fixed layer, and takes a screenshot', async () => {
    const { port } = server.address() as AddressInfo
    await page.goto(`http://127.0.0.1:${port}/`)
    // The default example compiles and its check passes.
    const summary = page.locator('#check-summary')
    await page.waitForSelector('#check-summary[data-ok="true"]', { timeout: 60_000 })
    expect(await summary.textContent()).toMatch(
      /^check passed: BatchRenorm train: \d+ passed, 0 failed/,
    )
    expect(await page.locator('#layer').inputValue()).toBe('BatchRenorm')
    expect(await page.locator('#panel-backward').textContent()).toContain(
      'layer BatchRenorm_train_grad(',
    )

    // Type an error: an axis the layer does not have.
    const example = readFileSync(join(root, 'examples', 'batchrenorm.norm'), 'utf8').split('\n')
    const line = example.findIndex((l) => l.includes('muB = mean(x, [N])')) + 1
    const col = example[line - 1]!.indexOf('[N]') + 5 // after "[N, "
    await page.locator('.cm-line', { hasText: 'muB = mean(x, [N])' }).click()
    await page.keyboard.press('End')
    await page.keyboard.press('ArrowLeft')
    await page.keyboard.press('ArrowLeft')
    await page.keyboard.type(', Q', { delay: 30 })
    await page.waitForSelector('#status[data-state="error"]', { timeout: 20_000 })
    const diag = page.locator('#diagnostics li.error').first()
    expect(await diag.textContent()).toBe(`${line}:${col}: error: unknown axis Q`)
    // Marked in the editor, on the Q.
    const marked = page.locator('.cm-lintRange-error')
    await marked.first().waitFor({ timeout: 10_000 })
    expect(await marked.first().textContent()).toBe('Q')
    expect(await summary.textContent()).toMatch(/not checked/)
    // Clicking the message puts the cursor on it.
    await diag.click()
    const sel = await page.evaluate(() => {
      const v = (
        globalThis as unknown as {
          normcPlayground: {
            view: {
              state: {
                selection: { main: { from: number; to: number } }
                doc: { toString(): string }
              }
            }
          }
        }
      ).normcPlayground.view
      const { from, to } = v.state.selection.main
      return v.state.doc.toString().slice(from, to)
    })
    expect(sel).toBe('Q')

    // Fix it: delete what was typed.
    await page.locator('.cm-line', { hasText: 'muB = mean(x, [N, Q])' }).click()
    await page.keyboard.press('End')
    await page.keyboard.press('ArrowLeft')
    await page.keyboard.press('ArrowLeft')
    for (let i = 0; i < 3; i++) await page.keyboard.press('Backspace')
    await page.waitForSelector('#check-summary[data-ok="true"]', { timeout: 60_000 })
    expect(await page.locator('#status').getAttribute('data-state')).toBe('ok')
    expect(await page.locator('#diagnostics li').count()).toBe(0)
    expect(await page.locator('.cm-lintRange-error').count()).toBe(0)
    expect(await page.locator('#check-table tr.fail').count()).toBe(0)
    expect(await page.locator('#check-table tr.pass').count()).toBeGreaterThan(5)

    // The other views: kernels and typeset math.
    await page.click('#tab-kernels')
    expect(await page.locator('#panel-kernels').textContent()).toContain('function step(B, S, H)')
    // The graph, drawn by Graphviz compiled to WebAssembly, with the stop_gradient nodes.
    await page.click('#tab-graph')
    await page.locator('#panel-graph svg').first().waitFor({ timeout: 30_000 })
    expect(await page.locator('#panel-graph svg').textContent()).toContain('stop_gradient')
    // The WASM tab: the WebAssembly SIMD kernels compiled and ran in the page's worker.
    await page.click('#tab-wasm')
    await page.waitForSelector('#wasm-summary[data-state="pass"]', { timeout: 30_000 })
    expect(await page.locator('#wasm-summary').textContent()).toContain('largest difference')
    expect(await page.locator('#wasm-table tr[data-tensor="dx"]').count()).toBe(1)
    expect(await page.locator('#panel-wasm pre').textContent()).toContain('f64x2.mul')
    await page.click('#tab-math')
    await page.locator('#panel-math .katex').first().waitFor()
    expect(await page.locator('#panel-math .katex-error').count()).toBe(0)
    expect(await page.locator('#panel-math .derivation li').count()).toBeGreaterThan(3)

    const png = await page.screenshot()
    expect(png.subarray(1, 4).toString()).toBe('PNG')
    expect(png.length).toBeGreaterThan(20_000)
    if (process.env['NORMC_UPDATE_SCREENSHOT'] === '1' || !existsSync(SCREENSHOT)) {
      mkdirSync(join(root, 'docs'), { recursive: true })
      writeFileSync(SCREENSHOT, png)
    }
    expect(pageErrors).toEqual([])
  }, 180_000)
  /** Waits for the GPU tab to finish a run; its state and text. */
  async function gpuOutcome(p: Page): Promise<{ state: string; text: string }> {
    const done = ['ok', 'fail', 'error', 'unavailable'].map((k) => `[data-state="${k}"]`)
    await p.waitForSelector(`#gpu-summary:is(${done.join(',')}):not([data-stale])`, {
      timeout: 120_000,
    })
    const s = p.locator('#gpu-summary')
    return { state: (await s.getAttribute('data-state'))!, text: (await s.textContent())! }
  }

  /** The GPU tab's table: max relative error and result by tensor. */
  async function gpuTable(p: Page): Promise<Record<string, { err: number; result: string }>> {
    const rows = await p
      .locator('#gpu-table tr[data-tensor]')
      .evaluateAll((trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
      )
    return Object.fromEntries(rows.map((r) => [r[0]!, { err: Number(r[2]), result: r[3]! }]))
  }

  it('runs BatchNorm2d on the GPU through gpu.js (webgl2, then webgpu) and matches float64', async () => {
    const { port } = server.address() as AddressInfo
    pageErrors.length = 0
    await page.goto(`http://127.0.0.1:${port}/`)
    await page.waitForSelector('#check-summary[data-ok="true"]', { timeout: 60_000 })
    await page.selectOption('#example', 'batchnorm2d')
    await expect
      .poll(() => page.locator('#layer').inputValue(), { timeout: 30_000 })
      .toBe('BatchNorm2d')
    await page.click('#tab-gpu')
    // The generated kernels, readable: the program's inputs named, each launch with its source.
    const forward = page.locator('#gpu-forward pre')
    expect(await forward.textContent()).toContain('// forward step of BatchNorm2d (train) at N=')
    expect(await forward.textContent()).toMatch(/in0 = input x \[N, C, H, W\]/)
    expect(await forward.textContent()).toContain('const k0 = function (a0)')
    expect(await page.locator('#gpu-backward pre').textContent()).toContain(
      '// backward step of BatchNorm2d (train)',
    )
    expect(await page.locator('#gpu-backend').inputValue()).toBe('webgl2')

    // Opening the tab runs the step on webgl2 (auto-run is on by default).
    const gl = await gpuOutcome(page)
    expect(gl, gl.text).toMatchObject({ state: 'ok' })
    const summary = page.locator('#gpu-summary')
    expect(await summary.getAttribute('data-requested')).toBe('webgl2')
    expect(await summary.getAttribute('data-backend')).toBe('webgl2')
    expect(gl.text).toMatch(/^matches float64 on webgl2: BatchNorm2d train, max error \S+ < 1e-4$/)
    const detail = (await page.locator('#gpu-detail').textContent())!
    expect(detail).toMatch(
      /^\d+ kernels \(\d+ forward, \d+ backward\) at N=\d+ C=\d+ H=\d+ W=\d+ ran on webgl2: .+\. First run [\d.]+ ms \(builds the kernels\), then [\d.]+ ms a step/,
    )
    const maxError = Number(await summary.getAttribute('data-max-error'))
    expect(maxError).toBeGreaterThanOrEqual(0)
    expect(maxError).toBeLessThan(1e-4)
    const train = await gpuTable(page)
    expect(Object.keys(train)).toEqual([
      'y',
      'running_mean <-',
      'running_var <-',
      'dx',
      'dgamma',
      'dbeta',
    ])
    for (const [name, t] of Object.entries(train)) {
      expect(t.result, name).toBe('PASS')
      expect(t.err, name).toBeLessThan(1e-4)
    }

    // The eval step: the tab runs again on the change.
    await page.selectOption('#mode', 'eval')
    await page.locator('#gpu-forward pre', { hasText: '(eval)' }).waitFor({ timeout: 30_000 })
    const ev = await gpuOutcome(page)
    expect(ev, ev.text).toMatchObject({ state: 'ok' })
    expect(ev.text).toMatch(/^matches float64 on webgl2: BatchNorm2d eval, /)
    expect(Object.keys(await gpuTable(page))).toEqual(['y', 'dx', 'dgamma', 'dbeta'])

    // WebGPU, chosen: Chromium here has an adapter (SwiftShader), so it runs there, asserted.
    const hasWebGpu = await page.evaluate(async () => {
      const gpu = (
        globalThis as unknown as {
          navigator: { gpu?: { requestAdapter(): Promise<unknown> } }
        }
      ).navigator.gpu
      return !!gpu && (await gpu.requestAdapter()) !== null
    })
    await page.selectOption('#gpu-backend', 'webgpu')
    await page.waitForSelector('#gpu-summary[data-requested="webgpu"]', { timeout: 120_000 })
    const wg = await gpuOutcome(page)
    if (hasWebGpu) {
      expect(wg, wg.text).toMatchObject({ state: 'ok' })
      expect(await summary.getAttribute('data-backend')).toBe('webgpu')
      expect(Number(await summary.getAttribute('data-max-error'))).toBeLessThan(1e-4)
    } else {
      console.warn(`[playground] no WebGPU adapter in this Chromium: ${wg.text}`)
      expect(wg.state).toBe('unavailable')
    }
    expect(pageErrors).toEqual([])
  }, 240_000)

  it('says clearly when the backend asked for is not there', async () => {
    const { port } = server.address() as AddressInfo
    // A browser without WebGPU: gpu.js would quietly run WebGL instead.
    const p = await browser.newPage({ viewport: { width: 1200, height: 800 } })
    try {
      await p.addInitScript(() =>
        Object.defineProperty(
          (globalThis as unknown as { Navigator: { prototype: object } }).Navigator.prototype,
          'gpu',
          { get: () => undefined },
        ),
      )
      await p.goto(`http://127.0.0.1:${port}/`)
      await p.waitForSelector('#layer option', { state: 'attached', timeout: 60_000 })
      await p.click('#tab-gpu')
      expect((await gpuOutcome(p)).state).toBe('ok')
      await p.selectOption('#gpu-backend', 'webgpu')
      await p.waitForSelector('#gpu-summary[data-requested="webgpu"]', { timeout: 60_000 })
      const o = await gpuOutcome(p)
      expect(o.state).toBe('unavailable')
      expect(o.text).toMatch(/^webgpu is not available here: this browser has no WebGPU/)
      expect(await p.locator('#gpu-summary').getAttribute('data-backend')).toBe('')
      expect(await p.locator('#gpu-table tr').count()).toBe(0)
    } finally {
      await p.close()
    }
  }, 180_000)
})
