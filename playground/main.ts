// The normc playground: type a layer, see its diagnostics, its derived backward (as `.norm`
// and as math), the generated JS and gpu.js kernels and the `normc check` report, live, and run
// the gpu.js kernels in the page against float64 (the GPU tab). The compiler runs in a worker
// (worker.ts); this file is the page.

import { EditorState, type Extension } from '@codemirror/state'
import { EditorView } from '@codemirror/view'
import { lintGutter, setDiagnostics, type Diagnostic as CmDiagnostic } from '@codemirror/lint'
import { basicSetup } from 'codemirror'
import katex from 'katex'
import 'katex/dist/katex.min.css'
import './style.css'
import type { Analysis, CheckOutcome, PlaygroundDiagnostic } from './analyse.js'
import type { GpuJob } from './gpu-job.js'
import type { GpuJs, GpuRunner, GpuRunReport } from './gpu-run.js'
import { EDITOR_FILE } from './protocol.js'
import { normLanguage } from './norm-language.js'
import type { WorkerReply, WorkerRequest } from './worker.js'

type Mode = 'train' | 'eval'

const examples = import.meta.glob('../examples/*.norm', {
  query: '?raw',
  import: 'default',
  eager: true,
}) as Record<string, string>
const specSources = Object.entries(
  import.meta.glob('../spec/*.spec.norm', {
    query: '?raw',
    import: 'default',
    eager: true,
  }) as Record<string, string>,
).map(([path, text]) => ({ file: path.replace(/^\.\.\//, ''), text }))

const exampleName = (path: string) => path.replace(/^.*\//, '').replace(/\.norm$/, '')
const DEFAULT_EXAMPLE = 'batchrenorm'

const $ = <T extends HTMLElement>(id: string) => {
  const el = document.getElementById(id)
  if (!el) throw new Error(`playground: no #${id}`)
  return el as T
}

// ---------------------------------------------------------------------------------------------
// Panels. Each tab of the right-hand side is one of these.

interface Panel {
  id: string
  title: string
  /** Fills the panel from an analysis of text that compiled. */
  render(el: HTMLElement, a: Analysis): void
}

function pre(text: string, className = 'code'): HTMLElement {
  const p = document.createElement('pre')
  p.className = className
  p.textContent = text
  return p
}

/** LaTeX typeset by KaTeX (inline, or as a display block). */
function tex(src: string, display = false): HTMLElement {
  const el = document.createElement(display ? 'div' : 'span')
  el.className = display ? 'math' : 'math-inline'
  katex.render(src, el, { displayMode: display, throwOnError: false })
  return el
}

function para(...parts: (string | Node)[]): HTMLElement {
  const p = document.createElement('p')
  p.append(...parts)
  return p
}

/** A table row of `cells` (th for a header row). */
function tableRow(cells: string[], header = false): HTMLTableRowElement {
  const tr = document.createElement('tr')
  for (const c of cells) {
    const cell = document.createElement(header ? 'th' : 'td')
    cell.textContent = c
    tr.append(cell)
  }
  return tr
}

function note(text: string): HTMLElement {
  const p = document.createElement('p')
  p.className = 'note'
  p.textContent = text
  return p
}

/** A read-only editor for `.norm` text (highlighted like the main one). */
function readOnlyNorm(): { el: HTMLElement; set(text: string): void } {
  const el = document.createElement('div')
  el.className = 'readonly'
  const view = new EditorView({
    parent: el,
    state: EditorState.create({
      doc: '',
      extensions: [
        basicSetup,
        normLanguage,
        EditorView.lineWrapping,
        EditorState.readOnly.of(true),
        EditorView.editable.of(false),
      ],
    }),
  })
  return {
    el,
    set(text) {
      if (view.state.doc.toString() !== text)
        view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } })
    },
  }
}

const backwardView = readOnlyNorm()

/** The Graph tab: `normc graph` drawn by Graphviz (WebAssembly, loaded on first use). */
const graph = {
  dot: undefined as Analysis['graph'],
  el: undefined as HTMLElement | undefined,
  drawn: '',
  withBackward: true,
}

async function drawGraph(): Promise<void> {
  const { el, dot } = graph
  if (!el || !dot) return
  const text = graph.withBackward ? dot.backward : dot.forward
  if (text === graph.drawn) return
  graph.drawn = text
  let toggle = el.querySelector<HTMLInputElement>('#graph-backward')
  if (!toggle) {
    const label = document.createElement('label')
    toggle = document.createElement('input')
    toggle.type = 'checkbox'
    toggle.id = 'graph-backward'
    toggle.checked = graph.withBackward
    toggle.addEventListener('change', () => {
      graph.withBackward = toggle!.checked
      void drawGraph()
    })
    label.append(toggle, ' the derived backward too')
    const box = document.createElement('div')
    box.className = 'graph'
    el.replaceChildren(label, box)
  }
  const box = el.querySelector<HTMLElement>('.graph')!
  try {
    const { dotToSvg } = await import('../compiler/graph/svg.js')
    const svg = await dotToSvg(text)
    if (graph.drawn !== text) return // a newer graph is on its way
    box.innerHTML = svg.replace(/^[\s\S]*?(<svg)/, '$1')
  } catch (e) {
    box.replaceChildren(
      note(`The graph could not be drawn: ${e instanceof Error ? e.message : String(e)}`),
    )
  }
}

/**
 * The GPU tab: the layer's gpu.js kernels (compiler/emit/gpu), built by the worker at small
 * sizes with random inputs and the float64 interpreter's results on them (gpu-job.ts), run here
 * on the page's thread (WebGL needs a canvas) through gpu.js on the backend chosen, which is
 * checked: gpu.js falls back to another one silently (gpu-run.ts).
 */
const gpuTab = {
  job: undefined as GpuJob | undefined,
  /** The job the report on show is about. */
  shown: undefined as GpuJob | undefined,
  runner: undefined as Promise<GpuRunner> | undefined,
  busy: false,
  again: false,
}

function details(id: string, title: string, open: boolean): HTMLDetailsElement {
  const d = document.createElement('details')
  d.id = id
  d.open = open
  const s = document.createElement('summary')
  s.textContent = title
  d.append(s, pre(''))
  return d
}

function buildGpuPanel(el: HTMLElement): void {
  const controls = document.createElement('div')
  controls.className = 'gpu-controls'
  const backend = document.createElement('select')
  backend.id = 'gpu-backend'
  backend.append(new Option('webgl2', 'webgl2'), new Option('webgpu', 'webgpu'))
  backend.addEventListener('change', () => void runGpu())
  const label = document.createElement('label')
  label.append('gpu.js backend ', backend)
  const button = document.createElement('button')
  button.type = 'button'
  button.id = 'gpu-run'
  button.textContent = 'Run on GPU'
  button.addEventListener('click', () => void runGpu())
  const auto = document.createElement('input')
  auto.type = 'checkbox'
  auto.id = 'gpu-auto'
  auto.checked = true
  const autoLabel = document.createElement('label')
  autoLabel.append(auto, ' run on every change')
  controls.append(label, button, autoLabel)
  const summary = document.createElement('p')
  summary.id = 'gpu-summary'
  summary.dataset['state'] = 'idle'
  summary.setAttribute('role', 'status')
  const detail = document.createElement('p')
  detail.id = 'gpu-detail'
  detail.className = 'note'
  const table = document.createElement('table')
  table.id = 'gpu-table'
  const result = document.createElement('div')
  result.id = 'gpu-result'
  result.append(summary, detail, table)
  el.append(
    controls,
    result,
    note(
      'One training or evaluation step, forward then backward, on random inputs at small sizes: ' +
        'float32 on the GPU through gpu.js, in this page, against normc’s float64 interpreter on ' +
        'the same inputs. Error = max |gpu − f64| / max(|f64|, 1) over each tensor; tolerance ' +
        '1e-4. Times are upload, kernels and readback; without a GPU the browser draws with a ' +
        'software renderer (SwiftShader), good for checking, not for speed.',
    ),
    details('gpu-forward', 'forward kernels', true),
    details('gpu-backward', 'backward kernels', false),
  )
}

function setGpuSummary(kind: string, text: string): void {
  const s = $('gpu-summary')
  s.dataset['state'] = kind
  s.textContent = text
}

function renderGpuPanel(el: HTMLElement, a: Analysis): void {
  if (!el.querySelector('#gpu-summary')) buildGpuPanel(el)
  const job = a.gpu?.job
  gpuTab.job = job
  const forward = el.querySelector<HTMLElement>('#gpu-forward')!
  const backward = el.querySelector<HTMLElement>('#gpu-backward')!
  forward.hidden = backward.hidden = !job
  if (!job) {
    $('gpu-table').replaceChildren()
    $('gpu-detail').textContent = ''
    setGpuSummary(
      'error',
      `No GPU kernels for ${a.layer} (${a.mode}): ${a.gpu?.failure ?? 'the layer did not compile'}`,
    )
    return
  }
  const [fs, bs] = [job.forward, job.backward].map((s) => s.program.kernels.length)
  forward.querySelector('summary')!.textContent =
    `forward: ${fs} gpu.js kernel${fs === 1 ? '' : 's'} at ${job.sizes}`
  forward.querySelector('pre')!.textContent = job.forward.source
  backward.querySelector('summary')!.textContent =
    `backward: ${bs} gpu.js kernel${bs === 1 ? '' : 's'} at ${job.sizes}`
  backward.querySelector('pre')!.textContent = job.backward.source
  if (gpuTab.shown !== job) {
    // What is on show is about an earlier text, until this job runs.
    $('gpu-summary').dataset['stale'] = 'true'
    $('gpu-result').classList.add('stale')
    if ($('gpu-summary').dataset['state'] === 'idle')
      setGpuSummary('idle', `Not run yet: ${job.layer} ${job.mode} at ${job.sizes}.`)
  }
  if (state.active === 'gpu' && $<HTMLInputElement>('gpu-auto').checked) void runGpu()
}

/** gpu.js's browser build (loaded on first use) and a runner on it. */
async function loadRunner(): Promise<GpuRunner> {
  const [{ GpuRunner }, mod] = await Promise.all([import('./gpu-run.js'), import('gpu.js')])
  const m = mod as unknown as { default?: Partial<GpuJs> } & Partial<GpuJs>
  const gpujs = (m.GPU && m.Input ? m : m.default) as GpuJs | undefined
  if (!gpujs?.GPU || !gpujs.Input) throw new Error('gpu.js loaded, but without its GPU export')
  return new GpuRunner(gpujs)
}

async function runGpu(): Promise<void> {
  if (gpuTab.busy) {
    gpuTab.again = true
    return
  }
  const job = gpuTab.job
  if (!job) return
  gpuTab.busy = true
  const backend = $<HTMLSelectElement>('gpu-backend').value
  setGpuSummary('running', `running ${job.layer} ${job.mode} on ${backend}…`)
  try {
    const runner = await (gpuTab.runner ??= loadRunner())
    const report = await runner.run(job, backend)
    if (gpuTab.job === job && $<HTMLSelectElement>('gpu-backend').value === backend) {
      gpuTab.shown = job
      renderGpuReport(report)
    }
  } catch (e) {
    gpuTab.runner = undefined
    setGpuSummary('error', `gpu.js did not load: ${e instanceof Error ? e.message : String(e)}`)
  } finally {
    gpuTab.busy = false
    if (gpuTab.again) {
      gpuTab.again = false
      void runGpu()
    }
  }
}

const ms = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(v < 10 ? 1 : 0)} ms`)

function renderGpuReport(r: GpuRunReport): void {
  const s = $('gpu-summary')
  delete s.dataset['stale']
  $('gpu-result').classList.remove('stale')
  s.dataset['backend'] = r.ran ?? ''
  s.dataset['requested'] = r.requested
  if (r.maxError !== undefined) s.dataset['maxError'] = String(r.maxError)
  else delete s.dataset['maxError']
  const table = $('gpu-table')
  table.replaceChildren()
  const detail = $('gpu-detail')
  detail.textContent = ''
  const what = `${r.layer} ${r.mode} at ${r.sizes}`
  if (r.unavailable) {
    setGpuSummary(
      'unavailable',
      `${r.requested} is not available here: ${r.unavailable}. Nothing ran${r.requested === 'webgl2' ? '' : '; webgl2 is the default'}.`,
    )
    return
  }
  if (r.error) {
    setGpuSummary('error', `${what} on ${r.requested}: ${r.error}`)
    return
  }
  setGpuSummary(
    r.ok ? 'ok' : 'fail',
    `${r.ok ? 'matches float64' : 'DIFFERS FROM FLOAT64'} on ${r.ran}: ${r.layer} ${r.mode}, ` +
      `max error ${fmt(r.maxError ?? null)} ${r.ok ? '<' : '≥'} 1e-4`,
  )
  const { forward, backward } = r.kernels
  detail.textContent =
    `${forward + backward} kernels (${forward} forward, ${backward} backward) at ${r.sizes} ran on ` +
    `${r.ran}${r.device ? `: ${r.device}` : ''}. ` +
    (r.firstMs !== undefined ? `First run ${ms(r.firstMs)} (builds the kernels), then ` : '') +
    `${ms(r.ms)} a step (uploads, kernels, readback).`
  table.append(tableRow(['tensor', 'values', 'max rel err vs f64', 'result'], true))
  for (const t of r.tensors) {
    const tr = tableRow([t.label, String(t.size), fmt(t.maxRelError), t.ok ? 'PASS' : 'FAIL'])
    tr.className = t.ok ? 'pass' : 'fail'
    tr.dataset['tensor'] = t.label
    table.append(tr)
  }
}

const panels: Panel[] = [
  {
    id: 'backward',
    title: 'Backward (.norm)',
    render(el, a) {
      if (!el.contains(backwardView.el)) el.replaceChildren(backwardView.el)
      backwardView.set(a.backward ?? '')
    },
  },
  {
    id: 'math',
    title: 'Math',
    render(el, a) {
      el.replaceChildren()
      if (!a.math) return
      el.append(
        note(
          `The derived backward of ${a.layer} (${a.mode}), simplified: x̄ is ∂ℓ/∂x for ℓ = Σ y·ȳ; sg(·) is stop_gradient.`,
        ),
        tex(a.math.tex, true),
      )
      const d = a.derivation
      if (!d) return
      const box = document.createElement('details')
      box.className = 'derivation'
      const summary = document.createElement('summary')
      summary.textContent = 'The derivation, step by step (normc grad --explain)'
      box.append(summary, para('The loss is ', tex(d.loss), '; the bindings in reverse order:'))
      const ol = document.createElement('ol')
      for (const s of d.steps) {
        const li = document.createElement('li')
        li.append(para('From ', tex(s.def), ':'))
        if (s.rules.length) {
          const ul = document.createElement('ul')
          for (const r of s.rules) {
            const item = document.createElement('li')
            item.textContent = r
            ul.append(item)
          }
          li.append(ul)
        }
        if (s.stopped) li.append(tex(s.stopped, true))
        if (s.contributions) li.append(tex(s.contributions, true))
        ol.append(li)
      }
      box.append(ol, para('The gradients, the sums of their contributions:'), tex(d.totals, true))
      el.append(box)
    },
  },
  {
    id: 'kernels',
    title: 'JS kernels',
    render(el, a) {
      el.replaceChildren()
      const k = a.kernels
      if (!k) return
      for (const [what, src, passes] of [
        ['forward', k.forward, k.forwardPasses],
        ['backward', k.backward, k.backwardPasses],
      ] as const) {
        const d = document.createElement('details')
        d.open = true
        const s = document.createElement('summary')
        s.textContent = `${what} step: ${passes} pass${passes === 1 ? '' : 'es'} over the full-size tensors`
        d.append(s, pre(src))
        el.append(d)
      }
    },
  },
  {
    id: 'graph',
    title: 'Graph',
    render(el, a) {
      graph.dot = a.graph
      graph.el = el
      if (state.active === 'graph') void drawGraph()
    },
  },
  {
    id: 'gpu',
    title: 'GPU',
    render(el, a) {
      renderGpuPanel(el, a)
    },
  },
  {
    id: 'wasm',
    title: 'WASM',
    render(el, a) {
      el.replaceChildren()
      const v = a.wasm?.view
      if (!v) {
        el.append(
          note(
            `No WebAssembly kernels for ${a.layer} (${a.mode}): ${a.wasm?.failure ?? 'the layer did not compile'}`,
          ),
        )
        return
      }
      const worst = Math.max(0, ...v.rows.map((r) => r.err))
      const ok = worst < v.tolerance
      const summary = para(
        `The WebAssembly SIMD kernels (compile(src, { target: 'wasm' })) at ${v.sizes}, ${v.bytes} bytes, ` +
          `ran one step in this page's worker on float32 inputs: largest difference from float64 ` +
          `${worst.toExponential(1)} (${ok ? 'within' : 'beyond'} ${v.tolerance}).`,
      )
      summary.id = 'wasm-summary'
      summary.dataset['state'] = ok ? 'pass' : 'fail'
      const table = document.createElement('table')
      table.id = 'wasm-table'
      table.append(tableRow(['tensor', 'max |wasm − float64| / max(1, |float64|)'], true))
      for (const r of v.rows) {
        const tr = tableRow([r.label, r.err.toExponential(1)])
        tr.dataset['tensor'] = r.label
        table.append(tr)
      }
      const d = document.createElement('details')
      const s = document.createElement('summary')
      s.textContent = 'the module as text (forward and backward): two float64 lanes at a time'
      d.append(s, pre(v.wat))
      el.append(summary, table, d)
    },
  },
]

// ---------------------------------------------------------------------------------------------
// The page.

const state = {
  layer: undefined as string | undefined,
  mode: 'train' as Mode,
  last: undefined as Analysis | undefined,
  active: 'backward',
}

function setupTabs(): void {
  const tabs = $('tabs')
  const body = $('panels')
  for (const p of panels) {
    const b = document.createElement('button')
    b.type = 'button'
    b.textContent = p.title
    b.dataset['panel'] = p.id
    b.id = `tab-${p.id}`
    b.addEventListener('click', () => selectTab(p.id))
    tabs.append(b)
    const el = document.createElement('section')
    el.id = `panel-${p.id}`
    el.className = 'panel'
    body.append(el)
  }
  selectTab(state.active)
}

function selectTab(id: string): void {
  state.active = id
  for (const b of $('tabs').querySelectorAll('button'))
    b.classList.toggle('active', b.dataset['panel'] === id)
  for (const p of panels) $(`panel-${p.id}`).hidden = p.id !== id
  $('panels').scrollTop = 0
  if (id === 'graph') void drawGraph()
  if (id === 'gpu' && gpuTab.job && gpuTab.shown !== gpuTab.job) {
    const auto = document.getElementById('gpu-auto') as HTMLInputElement | null
    if (auto?.checked) void runGpu()
  }
}

function setStatus(kind: 'ok' | 'error' | 'busy' | 'fail', text: string): void {
  const s = $('status')
  s.dataset['state'] = kind
  s.textContent = text
}

function renderDiagnostics(ds: PlaygroundDiagnostic[]): void {
  view.dispatch(
    setDiagnostics(
      view.state,
      ds
        .filter((d) => d.file === EDITOR_FILE)
        .map((d): CmDiagnostic => ({
          from: Math.min(d.from, view.state.doc.length),
          to: Math.min(d.to, view.state.doc.length),
          severity: d.severity,
          message: d.message,
          source: 'normc',
        })),
    ),
  )
  const list = $('diagnostics')
  list.replaceChildren()
  for (const d of ds) {
    const li = document.createElement('li')
    li.className = `diag ${d.severity}`
    li.dataset['line'] = String(d.line)
    li.dataset['col'] = String(d.col)
    li.textContent = `${d.file === EDITOR_FILE ? '' : `${d.file}:`}${d.line}:${d.col}: ${d.severity}: ${d.message}`
    if (d.file === EDITOR_FILE)
      li.addEventListener('click', () => {
        view.dispatch({ selection: { anchor: d.from, head: d.to }, scrollIntoView: true })
        view.focus()
      })
    list.append(li)
  }
  list.hidden = ds.length === 0
}

function renderPickers(a: Analysis): void {
  const layerSel = $<HTMLSelectElement>('layer')
  const names = a.layers.map((l) => l.name)
  if ([...layerSel.options].map((o) => o.value).join() !== names.join()) {
    layerSel.replaceChildren(...names.map((n) => new Option(n, n)))
  }
  if (a.layer) layerSel.value = a.layer
  const modeSel = $<HTMLSelectElement>('mode')
  const modes = a.layers.find((l) => l.name === a.layer)?.modes ?? ['train']
  if ([...modeSel.options].map((o) => o.value).join() !== modes.join())
    modeSel.replaceChildren(...modes.map((m) => new Option(m, m)))
  if (a.mode) modeSel.value = a.mode
}

function renderAnalysis(a: Analysis, ms: number): void {
  renderDiagnostics(a.diagnostics)
  const errors = a.diagnostics.filter((d) => d.severity === 'error').length
  $('main').classList.toggle('stale', !a.ok)
  if (!a.ok) {
    setStatus(
      'error',
      `${errors} error${errors === 1 ? '' : 's'}: showing the last text that compiled`,
    )
    renderCheckPending('not checked: fix the errors first', true)
    return
  }
  if (a.layers.length === 0) {
    setStatus('error', 'no layer in the text')
    return
  }
  renderPickers(a)
  state.last = a
  for (const p of panels) p.render($(`panel-${p.id}`), a)
  if (a.failure) {
    setStatus('fail', `compiled with an error: ${a.failure}`)
    renderCheckPending(`not checked: ${a.failure}`, true)
    return
  }
  setStatus('busy', `compiled in ${ms.toFixed(0)} ms; checking…`)
  renderCheckPending('checking…')
  const spec = $('spec-note')
  spec.textContent = a.specNote
    ? `Spec left out: ${a.specNote}`
    : a.specs.length
      ? `Compared with ${a.specs.join(', ')}.`
      : 'No spec for this layer: finite differences and properties only.'
}

function renderCheckPending(text: string, clear = false): void {
  const s = $('check-summary')
  s.dataset['ok'] = 'pending'
  s.textContent = text
  if (clear) {
    $('check-table').replaceChildren()
    $('check-details').textContent = ''
  }
}

const fmt = (v: number | null) => (v === null ? '-' : v === 0 ? '0' : v.toExponential(1))

function renderCheck(c: CheckOutcome | undefined): void {
  const s = $('check-summary')
  const table = $('check-table')
  table.replaceChildren()
  if (!c) {
    renderCheckPending('not checked')
    return
  }
  const { passed, failed, skipped, info } = c.counts
  s.dataset['ok'] = String(c.ok)
  s.textContent = `${c.ok ? 'check passed' : 'CHECK FAILED'}: ${c.layer} ${c.mode}: ${passed} passed, ${failed} failed, ${skipped} skipped, ${info} information (${(c.ms / 1000).toFixed(2)} s)`
  setStatus(c.ok ? 'ok' : 'fail', c.ok ? 'compiled and checked' : 'a gradient check failed')
  table.append(tableRow(['w.r.t.', 'check', 'max abs err', 'max rel err', 'tol', 'result'], true))
  for (const r of c.rows) {
    const tr = tableRow([r.wrt, r.check, fmt(r.maxAbs), fmt(r.maxRel), fmt(r.tol), r.status])
    tr.className = r.status.toLowerCase()
    if (r.note || r.failure) tr.title = r.note ?? ''
    table.append(tr)
  }
  const details = c.report.split('\n\n').slice(1).join('\n\n').trim()
  $('check-details').textContent = details
}

// ---------------------------------------------------------------------------------------------
// The worker: one request per edit (debounced); replies to older requests are dropped, and a
// worker stuck on an old request is replaced.

const spawn = () => {
  const w = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' })
  w.onmessage = (ev: MessageEvent<WorkerReply>) => onReply(ev.data)
  return w
}
let worker = spawn()
let seq = 0
let inFlight: { id: number; since: number } | undefined

function onReply(r: WorkerReply): void {
  if (r.id !== seq) return
  if (r.kind === 'analysis') {
    renderAnalysis(r.analysis, r.ms)
    if (!r.analysis.ok || r.analysis.failure) inFlight = undefined
  } else if (r.kind === 'check') {
    inFlight = undefined
    renderCheck(r.check)
  } else {
    inFlight = undefined
    setStatus('fail', `internal error: ${r.message.split('\n')[0]}`)
  }
}

function request(): void {
  const id = ++seq
  if (inFlight && performance.now() - inFlight.since > 1500) {
    worker.terminate()
    worker = spawn()
  }
  inFlight = { id, since: performance.now() }
  const req: WorkerRequest = {
    id,
    source: view.state.doc.toString(),
    ...(state.layer ? { layer: state.layer } : {}),
    mode: state.mode,
    specs: specSources,
    check: true,
  }
  worker.postMessage(req)
}

let timer: ReturnType<typeof setTimeout> | undefined
function schedule(delay = 250): void {
  if (timer) clearTimeout(timer)
  timer = setTimeout(() => {
    timer = undefined
    request()
    saveToHash()
  }, delay)
}

// ---------------------------------------------------------------------------------------------
// The source: from the URL (#code=…, to share a layer), else an example.

const toBase64Url = (s: string) =>
  btoa(String.fromCharCode(...new TextEncoder().encode(s)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')
const fromBase64Url = (s: string) =>
  new TextDecoder().decode(
    Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)),
  )

function initialSource(): string {
  const m = /(?:^#|&)code=([^&]*)/.exec(location.hash)
  if (m) {
    try {
      return fromBase64Url(m[1]!)
    } catch {
      // An unreadable link: fall back to the example.
    }
  }
  return examples[`../examples/${DEFAULT_EXAMPLE}.norm`] ?? Object.values(examples)[0] ?? ''
}

function saveToHash(): void {
  const code = toBase64Url(view.state.doc.toString())
  if (code.length < 6000) history.replaceState(null, '', `#code=${code}`)
}

const editorTheme: Extension = EditorView.theme({
  '&': { height: '100%' },
  '.cm-scroller': { fontFamily: 'var(--mono)' },
})

const view = new EditorView({
  parent: $('editor'),
  state: EditorState.create({
    doc: initialSource(),
    extensions: [
      basicSetup,
      normLanguage,
      lintGutter(),
      editorTheme,
      EditorView.lineWrapping,
      EditorView.updateListener.of((u) => {
        if (u.docChanged) {
          setStatus('busy', 'compiling…')
          schedule()
        }
      }),
    ],
  }),
})

function setupPickers(): void {
  const ex = $<HTMLSelectElement>('example')
  const names = Object.keys(examples).map(exampleName).sort()
  ex.replaceChildren(new Option('examples…', ''), ...names.map((n) => new Option(`${n}.norm`, n)))
  ex.addEventListener('change', () => {
    const text = examples[`../examples/${ex.value}.norm`]
    if (text === undefined) return
    state.layer = undefined
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } })
    ex.value = ''
  })
  $<HTMLSelectElement>('layer').addEventListener('change', (e) => {
    state.layer = (e.target as HTMLSelectElement).value
    schedule(0)
  })
  $<HTMLSelectElement>('mode').addEventListener('change', (e) => {
    state.mode = (e.target as HTMLSelectElement).value as Mode
    schedule(0)
  })
}

setupTabs()
setupPickers()
setStatus('busy', 'compiling…')
request()

// For tests and the curious: the editor and the last analysis.
Object.assign(window, { normcPlayground: { view, state } })
