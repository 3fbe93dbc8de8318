// The playground end to end in headless Chromium (playwright-core driving Debian's chromium):
// build the page with Vite, serve it from 127.0.0.1, load it, type an error and see it located
// (the message in the list, the range marked in the editor), fix it, see the check pass, and
// take a screenshot. Without /usr/bin/chromium the test is skipped with the reason, except
// under CI=true, where it must run (.ci/run installs chromium).
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
import { root } from '../helpers/oracle.js'

const CHROMIUM = '/usr/bin/chromium'
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
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
})
