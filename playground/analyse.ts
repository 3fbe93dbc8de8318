// What the playground shows for a source text, computed without the DOM (the worker runs it,
// and the tests call it under Node): diagnostics located by offset, the derived backward as
// `.norm` text and as LaTeX, the generated JS kernels, and the `normc check` report.
//
// Imports only browser-safe modules: grammar/, compiler/, runtime/js, runtime/check (not its
// lookup.ts, which reads files).

import type { Expr, LayerDecl } from '../grammar/ast.js'
import { backwardLayer } from '../compiler/backward.js'
import type { CheckedLayer, CheckedSpec } from '../compiler/check/index.js'
import type { Diagnostic } from '../compiler/diagnostics.js'
import { explain, type Derivation } from '../compiler/explain/index.js'
import { latex, latexAdjoint, latexName, type Names } from '../compiler/explain/latex.js'
import { frontend, type Source } from '../compiler/frontend.js'
import { layerDot } from '../compiler/graph/index.js'
import { compileLayerGraphs } from '../compiler/pipeline.js'
import { printLayer } from '../compiler/print/index.js'
import { passCount } from '../compiler/schedule/index.js'
import { checkLayer, type Row } from '../runtime/check/index.js'
import { formatReport } from '../runtime/check/report.js'
import { compileMode, type Mode } from '../runtime/js/index.js'

import { gpuJob, type GpuJob } from './gpu-job.js'
import { wasmView, type WasmView } from './wasm-view.js'
import { EDITOR_FILE } from './protocol.js'

export { EDITOR_FILE }

export interface PlaygroundDiagnostic {
  severity: 'error' | 'warning'
  message: string
  /** EDITOR_FILE, or the spec file the message is about. */
  file: string
  /** Offsets into the file's text (UTF-16 code units), end exclusive; from ≤ to. */
  from: number
  to: number
  line: number
  col: number
}

export interface LayerInfo {
  name: string
  /** The modes that differ: ['train'] for a forward layer, else ['train', 'eval']. */
  modes: Mode[]
}

export interface KernelView {
  /** Each step's function, with the buffers and sizes it reads named in comments. */
  forward: string
  backward: string
  /** Passes over the full-size tensors. */
  forwardPasses: number
  backwardPasses: number
}

export interface MathView {
  /** One `lhs &= rhs` per statement of the backward, in order. */
  lines: { lhs: string; rhs: string }[]
  /** The whole as an aligned LaTeX environment. */
  tex: string
}

/** `normc grad --explain`'s derivation, each equation as LaTeX for KaTeX, rules in words. */
export interface DerivationView {
  /** The loss, e.g. `\ell = \sum y\,\bar{y}`. */
  loss: string
  steps: {
    /** `name = definition`. */
    def: string
    rules: string[]
    /** For a stop_gradient: what is dropped, in words and math. */
    stopped?: string
    /** The contributions to the adjoints of the values it uses, aligned. */
    contributions?: string
  }[]
  /** Each gradient as the sum of its contributions, aligned. */
  totals: string
}

export interface GraphView {
  /** Graphviz DOT of the forward step, and of forward and backward (`normc graph`). */
  forward: string
  backward: string
}

export interface Analysis {
  /** No errors in the editor's text. */
  ok: boolean
  diagnostics: PlaygroundDiagnostic[]
  layers: LayerInfo[]
  /** The layer and mode shown (the requested ones when they exist, else the first). */
  layer?: string
  mode?: Mode
  /** The derived backward pass as a `.norm` layer. */
  backward?: string
  math?: MathView
  derivation?: DerivationView
  graph?: GraphView
  kernels?: KernelView
  /** The GPU tab: the gpu.js programs at small sizes and their float64 reference, or why not. */
  gpu?: { job?: GpuJob; failure?: string }
  /** The WASM tab: the WebAssembly SIMD kernels at the GPU tab's sizes, run here, or why not. */
  wasm?: { view?: WasmView; failure?: string }
  /** Specs used by the check, by file. */
  specs: string[]
  /** Why a spec was left out (it no longer checks against the edited layer). */
  specNote?: string
  /** An exception of a later phase (a compiler bug or a run-time refusal), as text. */
  failure?: string
}

export interface AnalyseRequest {
  source: string
  layer?: string
  mode?: Mode
  /** Spec sources that may describe the editor's layers (only those naming one are used). */
  specs?: Source[]
}

export interface CheckOutcome {
  layer: string
  mode: Mode
  rows: Row[]
  /** The aligned report, as `normc check` prints it. */
  report: string
  ok: boolean
  counts: { passed: number; failed: number; skipped: number; info: number }
  ms: number
}

function located(d: Diagnostic, texts: ReadonlyMap<string, string>): PlaygroundDiagnostic {
  const len = texts.get(d.file)?.length ?? 0
  const from = Math.max(0, Math.min(d.span.start, len))
  const to = Math.max(from, Math.min(d.span.end, len))
  return {
    severity: d.severity,
    message: d.message,
    file: d.file,
    from,
    to,
    line: d.span.line,
    col: d.span.col,
  }
}

const specLayer = (text: string) =>
  [...text.matchAll(/^\s*spec\s+([A-Za-z_]\w*)/gm)].map((m) => m[1]!)

/** Parses and checks the editor's text with the specs that name its layers. */
function load(req: AnalyseRequest) {
  const editor: Source = { file: EDITOR_FILE, text: req.source }
  const alone = frontend([editor])
  const texts = new Map([[EDITOR_FILE, req.source]])
  const diagnostics = alone.diagnostics.map((d) => located(d, texts))
  const ok = !diagnostics.some((d) => d.severity === 'error')
  const names = new Set(alone.layers.map((l) => l.decl.name))
  const wanted = (req.specs ?? []).filter((s) => specLayer(s.text).some((n) => names.has(n)))
  let fe = alone
  let specNote: string | undefined
  if (ok && wanted.length) {
    const withSpecs = frontend([editor, ...wanted])
    const bad = withSpecs.diagnostics.find((d) => d.severity === 'error')
    if (bad)
      specNote = `${bad.file}:${bad.span.line}:${bad.span.col}: ${bad.message} (the check ran without the spec)`
    else fe = withSpecs
  }
  return { fe, diagnostics, ok, specNote }
}

function pick(layers: readonly CheckedLayer[], name: string | undefined) {
  return layers.find((l) => l.decl.name === name) ?? layers[0]
}

const modesOf = (l: CheckedLayer): Mode[] => (l.hasForward ? ['train'] : ['train', 'eval'])

/** The layer's names in math: inputs, params and state by `latexName`, dNAME as adjoints. */
function mathNames(layer: CheckedLayer): (name: string) => string {
  const known = new Set(
    [...layer.inputs, ...layer.params, ...layer.states, ...layer.outputs].map((t) => t.name),
  )
  return (name) => {
    const m = /^d(?:y_)?(.+)$/.exec(name)
    if (name === 'dy' && layer.outputs.length === 1) return latexAdjoint(layer.outputs[0]!.name)
    if (m && known.has(m[1]!)) return latexAdjoint(m[1]!)
    return latexName(name)
  }
}

const aligned = (lines: string[]) => `\\begin{aligned}\n${lines.join(' \\\\\n')}\n\\end{aligned}`

/** The statements of the backward layer as aligned LaTeX. */
export function backwardMath(decl: LayerDecl, layer: CheckedLayer): MathView {
  const names = mathNames(layer)
  const lines: { lhs: string; rhs: string }[] = []
  for (const item of decl.items) {
    if (item.kind !== 'block') continue
    for (const s of item.stmts) {
      const rhs = latex(s.value, names)
      lines.push({ lhs: s.kind === 'update' ? `${names(s.name)} \\leftarrow` : names(s.name), rhs })
    }
  }
  return { lines, tex: aligned(lines.map((l) => `${l.lhs} &= ${l.rhs}`)) }
}

/** The derivation's equations as LaTeX (adjoint names as bars, as `normc grad --latex`). */
export function derivationView(d: Derivation): DerivationView {
  const adjointOf = new Map<string, string>()
  for (const s of d.seeds) adjointOf.set(s.upstream, s.output)
  for (const s of d.steps) {
    adjointOf.set(s.adjoint, s.name)
    for (const c of s.contributions) adjointOf.set(c.adjoint, c.to)
  }
  for (const t of d.totals) adjointOf.set(t.name, t.of)
  const names: Names = (n) => {
    const of = adjointOf.get(n)
    return of !== undefined ? latexAdjoint(of) : latexName(n)
  }
  const L = (e: Expr) => latex(e, names)
  const plus = (terms: Expr[]) => (terms.length ? terms.map(L).join(' + ') : '0')
  return {
    loss: `\\ell = ${d.seeds.map((s) => `\\sum ${latexName(s.output)}\\,${latexAdjoint(s.output)}`).join(' + ')}`,
    steps: d.steps.map((s) => ({
      def: `${latexName(s.name)} = ${L(s.def)}`,
      rules: s.rules.map((r) => r.text),
      ...(s.stopped
        ? {
            stopped: `${latexAdjoint(s.name)} = ${plus(s.dropped ?? [])}\\quad\\text{is dropped: a stop\\_gradient}`,
          }
        : {}),
      ...(s.contributions.length
        ? {
            contributions: aligned(
              s.contributions.map((c) => `${latexAdjoint(c.to)} &\\mathrel{+}= ${L(c.expr)}`),
            ),
          }
        : {}),
    })),
    totals: aligned(d.totals.map((t) => `${latexAdjoint(t.of)} &= ${plus(t.terms)}`)),
  }
}

/** A step's body as a named function, its buffers, sizes and hypers named in a header. */
function kernelSource(
  what: string,
  step: { body: string; buffers: { role: string; name?: string; axes: string[] }[] },
  axes: string[],
  hypers: string[],
): string {
  const head = [
    `// ${what}`,
    `// S = [${axes.join(', ')}] (axis sizes), H = [${hypers.join(', ')}] (hypers)`,
    ...step.buffers.map(
      (b, i) => `// b${i} = B[${i}]: ${b.role}${b.name ? ` ${b.name}` : ''} [${b.axes.join(', ')}]`,
    ),
  ]
  const body = step.body
    .split('\n')
    .map((l) => (l ? `  ${l}` : l))
    .join('\n')
  return `${head.join('\n')}\nfunction step(B, S, H) {\n${body}\n}\n`
}

/** Everything but the check: fast enough to run on every edit. */
export function analyse(req: AnalyseRequest): Analysis {
  const { fe, diagnostics, ok, specNote } = load(req)
  const layers = fe.layers
    .filter((l) => l.file === EDITOR_FILE)
    .map((l) => ({ name: l.decl.name, modes: modesOf(l) }))
  const result: Analysis = {
    ok,
    diagnostics,
    layers,
    specs: [...new Set(fe.specs.map((s) => s.file))],
    ...(specNote ? { specNote } : {}),
  }
  const layer = ok ? pick(fe.layers, req.layer) : undefined
  if (!layer) return result
  const mode: Mode = req.mode && modesOf(layer).includes(req.mode) ? req.mode : 'train'
  result.layer = layer.decl.name
  result.mode = mode
  try {
    const graphs = compileLayerGraphs(layer, mode)
    const decl = backwardLayer(graphs)
    result.backward = printLayer(decl)
    result.math = backwardMath(decl, layer)
    const c = compileMode(layer, mode)
    result.graph = {
      forward: layerDot(graphs, c.plan),
      backward: layerDot(graphs, c.plan, { backward: true }),
    }
    // The derivation is an explanation: when it cannot be made, the rest still stands.
    try {
      result.derivation = derivationView(explain(graphs))
    } catch {
      // Leave it out.
    }
    const name = `${layer.decl.name} (${layer.hasForward ? 'forward' : mode})`
    result.kernels = {
      forward: kernelSource(
        `forward step of ${name}`,
        c.emitted.forward,
        c.emitted.axes,
        c.emitted.hypers,
      ),
      backward: kernelSource(
        `backward step of ${name}`,
        c.emitted.backward,
        c.emitted.axes,
        c.emitted.hypers,
      ),
      forwardPasses: passCount(c.plan.forward),
      backwardPasses: passCount(c.plan.backward),
    }
    // The GPU target is a view of its own: when it cannot be built, the rest still stands.
    try {
      result.gpu = { job: gpuJob(layer, mode, graphs, c.plan) }
    } catch (e) {
      result.gpu = { failure: e instanceof Error ? e.message : String(e) }
    }
    try {
      result.wasm = { view: wasmView(layer, mode, graphs, c.plan) }
    } catch (e) {
      result.wasm = { failure: e instanceof Error ? e.message : String(e) }
    }
  } catch (e) {
    result.failure = e instanceof Error ? e.message : String(e)
  }
  return result
}

/** `normc check` of one layer in one mode (seeded, so the same text gives the same report). */
export function runCheck(
  req: AnalyseRequest & { trials?: number; seed?: number },
): CheckOutcome | undefined {
  const { fe, ok } = load(req)
  const layer = ok ? pick(fe.layers, req.layer) : undefined
  if (!layer) return undefined
  const mode: Mode = req.mode && modesOf(layer).includes(req.mode) ? req.mode : 'train'
  const specs: CheckedSpec[] = fe.specs.filter((s) => s.layer === layer)
  const t0 = performance.now()
  const rows = checkLayer(layer, mode, {
    trials: req.trials ?? 2,
    seed: req.seed ?? 1,
    specs,
    sources: fe.sources,
  })
  const ms = performance.now() - t0
  const count = (s: Row['status']) => rows.filter((r) => r.status === s).length
  const counts = {
    passed: count('PASS'),
    failed: count('FAIL'),
    skipped: count('SKIP'),
    info: count('INFO'),
  }
  return {
    layer: layer.decl.name,
    mode,
    rows,
    report: formatReport(rows),
    ok: counts.failed === 0,
    counts,
    ms,
  }
}
