// Crash fuzzing: one input through every stage of the compiler. Each stage either succeeds or
// ends in diagnostics (front end) or a NormcError (binding sizes at run time); anything else
// (an exception from lowering, grad, simplify, schedule or emit, generated code that does not
// parse or does more than arithmetic, a derived program that does not check) is a bug.

import { backwardLayer } from '../compiler/backward.js'
import type { CheckedLayer } from '../compiler/check/index.js'
import { NormcError, type Diagnostic } from '../compiler/diagnostics.js'
import { emitLayer } from '../compiler/emit/js/index.js'
import { layerModule } from '../compiler/emit/js/module.js'
import { frontend } from '../compiler/frontend.js'
import { deriveBackward } from '../compiler/grad/index.js'
import { lowerLayer } from '../compiler/lower/index.js'
import { compileLayerGraphs } from '../compiler/pipeline.js'
import { formatFile, printLayer } from '../compiler/print/index.js'
import { planLayer } from '../compiler/schedule/index.js'
import { sizeOf } from '../runtime/interp.js'
import { runStepJs } from '../runtime/js/step.js'
import { WasmLayer } from '../runtime/wasm/index.js'
import { rng } from '../runtime/random.js'
import { evalSize, bindHypers } from '../runtime/sizes.js'
import { runStepInterp } from '../runtime/step.js'
import type { RunCase } from '../runtime/case.js'
import { checkModule, checkStepBody } from './codecheck.js'
import { knownStageBug } from './known.js'

export type Stage =
  | 'frontend'
  | 'diagnostics'
  | 'format'
  | 'lower'
  | 'grad'
  | 'simplify'
  | 'schedule'
  | 'emit'
  | 'codecheck'
  | 'backward-program'
  | 'module'
  | 'run-interp'
  | 'run-js'
  | 'run-wasm'
  | 'time'

export interface Outcome {
  /** ok: compiled (and ran); diagnostics: refused by the front end; refused: a NormcError at run time; bug. */
  result: 'ok' | 'diagnostics' | 'refused' | 'bug'
  stage?: Stage
  message?: string
  /** Layers that checked clean and went through the back end. */
  layers: number
  ms: number
}

export interface StageOptions {
  /** Also build the ES module (prettier; slower). */
  module?: boolean
  /** Also run one step on the interpreter and the js and wasm targets at small random sizes. */
  run?: boolean
  /** Seed for the run stage's sizes and values. */
  seed?: number
  /** Per-case time bound in ms (a case slower than this is reported as a bug). */
  timeoutMs?: number
  /** Called when a known issue (fuzz/known.ts) shows; the case goes on. */
  onKnown?: (id: string) => void
}

class Bug extends Error {
  constructor(
    readonly stage: Stage,
    message: string,
  ) {
    super(message)
  }
}

const describeError = (e: unknown) => {
  const err = e as Error
  const where = (err.stack ?? '')
    .split('\n')
    .slice(1, 4)
    .map((l) => l.trim())
    .join(' | ')
  return `${err.name ?? 'Error'}: ${err.message ?? String(e)}${where ? ` [${where}]` : ''}`
}

function at<T>(stage: Stage, f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (e instanceof Bug) throw e
    throw new Bug(stage, describeError(e))
  }
}

/** A diagnostic is located inside its file and says something (no leaked internals). */
export function diagnosticProblem(d: Diagnostic, text: string): string | undefined {
  // Lines end as the lexer counts them: LF, CRLF or a lone CR.
  const lines = text.split(/\r\n|\r|\n/)
  if (d.span.line < 1 || d.span.line > lines.length) return `line ${d.span.line} outside the file`
  const line = lines[d.span.line - 1]!
  if (d.span.col < 1 || d.span.col > line.length + 1)
    return `column ${d.span.col} outside line ${d.span.line} (${line.length} columns)`
  // Words the source has (a name `NaN` or `undefined` may be quoted back) do not count.
  const words = new Set(text.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? [])
  const own = d.message
    .replace(/'[^']*'/g, "''")
    .replace(/[A-Za-z_][A-Za-z0-9_]*/g, (w) => (words.has(w) ? '' : w))
  if (/internal|\bundefined\b|\bNaN\b|\[object|\bnull\b/.test(own))
    return `message leaks internals: ${d.message}`
  if (!d.message.trim()) return 'empty message'
  return undefined
}

/**
 * Sizes for every axis of a layer: leaf axes 1..3 (sized factors from the hypers), parents the
 * products of their factors. The run refuses what does not fit (a hyper that is not a size).
 */
export function chooseSizes(
  layer: CheckedLayer,
  r: () => number,
  lo = 1,
  hi = 3,
): Record<string, number> {
  const hypers = bindHypers(layer, {})
  // A record without a prototype: axes may be called `__proto__` or `toString`.
  const sizes: Record<string, number> = Object.create(null)
  const of = (name: string): number => {
    if (sizes[name] !== undefined) return sizes[name]!
    const info = layer.axes.get(name)!
    let v: number
    if (info.factors) v = info.factors.reduce((acc, f) => acc * of(f), 1)
    else if (info.size) v = evalSize(info.size, hypers)
    else v = lo + Math.floor(r() * (hi - lo + 1))
    sizes[name] = v
    return v
  }
  for (const name of layer.axes.axes.keys()) of(name)
  return sizes
}

/** A random case for a layer: inputs in [-1, 1], params near their initial value, state in [0.5, 1.5], dy in [0.5, 1.5]. */
export function randomCase(
  layer: CheckedLayer,
  axes: Record<string, number>,
  r: () => number,
  withDy = true,
): RunCase {
  const sizes = new Map(Object.entries(axes))
  const inputs: Record<string, Float64Array> = Object.create(null)
  const fill = (n: number, f: () => number) => Float64Array.from({ length: n }, f)
  for (const t of layer.inputs) inputs[t.name] = fill(sizeOf(t.axes, sizes), () => 2 * r() - 1)
  for (const t of layer.params)
    inputs[t.name] = fill(sizeOf(t.axes, sizes), () => (t.init ?? 0) + r() - 0.5)
  for (const t of layer.states) inputs[t.name] = fill(sizeOf(t.axes, sizes), () => 0.5 + r())
  const c: RunCase = { axes, hyper: {}, inputs }
  if (withDy) {
    if (layer.outputs.length === 1)
      c.dy = fill(sizeOf(layer.outputs[0]!.axes, sizes), () => 0.5 + r())
    else {
      const dy: Record<string, Float64Array> = Object.create(null)
      for (const o of layer.outputs) dy[o.name] = fill(sizeOf(o.axes, sizes), () => 0.5 + r())
      c.dy = dy
    }
  }
  return c
}

const modesOf = (l: CheckedLayer): ('train' | 'eval')[] =>
  l.hasForward ? ['train'] : ['train', 'eval']

/** The back end on one checked layer: every stage, every mode. */
async function backEnd(layer: CheckedLayer, opts: StageOptions): Promise<'ok' | 'refused'> {
  for (const mode of modesOf(layer)) {
    const fwd = at('lower', () => lowerLayer(layer, mode))
    at('grad', () => deriveBackward(fwd, layer))
    at('simplify', () => compileLayerGraphs(layer, mode, { simplify: false }))
    const g = at('simplify', () => compileLayerGraphs(layer, mode))
    const plan = at('schedule', () => planLayer(g))
    const emitted = at('emit', () => emitLayer(plan))
    for (const step of [emitted.forward, emitted.backward]) {
      const problems = checkStepBody(step.body)
      if (problems.length) throw new Bug('codecheck', problems.slice(0, 3).join('; '))
      at('emit', () => new Function('B', 'S', 'H', `'use strict'\n${step.body}`))
    }
    // The derived backward prints as a layer that checks clean (when there is a gradient at
    // all: a layer with no inputs and no params has none, and no layer has zero outputs).
    if (g.backward.program.outputs.length === 0) continue
    const text = at('backward-program', () => printLayer(backwardLayer(g)))
    const fe = at('backward-program', () => frontend([{ file: 'derived.norm', text }]))
    const errs = fe.diagnostics.filter((d) => d.severity === 'error')
    if (errs.length) {
      const message = `the derived backward does not check: ${errs[0]!.message}`
      const known = knownStageBug('backward-program', message)
      // A known issue is noted, and the later stages still run.
      if (!known) throw new Bug('backward-program', message)
      opts.onKnown?.(known)
    }
  }
  if (opts.module) {
    for (const precision of ['f32', 'f64'] as const) {
      let js: string
      try {
        js = (await layerModule(layer, precision)).js
      } catch (e) {
        throw new Bug('module', describeError(e))
      }
      const problems = checkModule(js)
      if (problems.length) throw new Bug('codecheck', `module: ${problems.slice(0, 3).join('; ')}`)
    }
  }
  if (!opts.run) return 'ok'
  const r = rng(opts.seed ?? 1)
  let refused = false
  for (const mode of modesOf(layer)) {
    let c: RunCase
    try {
      c = randomCase(layer, chooseSizes(layer, r), r)
    } catch (e) {
      if (e instanceof NormcError) return 'refused'
      throw new Bug('run-interp', describeError(e))
    }
    for (const [stage, run] of [
      ['run-interp', () => runStepInterp(layer, mode, c)],
      ['run-js', () => runStepJs(layer, mode, c, 'f64')],
      ['run-js', () => runStepJs(layer, mode, c, 'f32')],
      ['run-wasm', () => runStepJs(layer, mode, c, 'f64', WasmLayer)],
      ['run-wasm', () => runStepJs(layer, mode, c, 'f32', WasmLayer)],
    ] as const) {
      try {
        const res = run()
        const outs = Object.keys(res.outputs)
        if (outs.length !== layer.outputs.length)
          throw new Bug(
            stage,
            `${outs.length} outputs in the result, the layer has ${layer.outputs.length}`,
          )
        if (
          res.grads &&
          Object.keys(res.grads).length !== layer.inputs.length + layer.params.length
        )
          throw new Bug(
            stage,
            `${Object.keys(res.grads).length} gradients in the result, expected ${layer.inputs.length + layer.params.length}`,
          )
        if (Object.keys(res.state).length !== layer.states.length)
          throw new Bug(stage, `${Object.keys(res.state).length} state buffers in the result`)
      } catch (e) {
        if (e instanceof Bug) throw e
        if (e instanceof NormcError) {
          refused = true
          continue
        }
        throw new Bug(stage, describeError(e))
      }
    }
  }
  return refused ? 'refused' : 'ok'
}

/** Runs `text` through every stage. Never throws. */
export async function runStages(text: string, opts: StageOptions = {}): Promise<Outcome> {
  const t0 = performance.now()
  let layers = 0
  const done = (o: Omit<Outcome, 'ms' | 'layers'>): Outcome => {
    const ms = performance.now() - t0
    if (opts.timeoutMs !== undefined && ms > opts.timeoutMs && o.result !== 'bug')
      return {
        result: 'bug',
        stage: 'time',
        message: `took ${ms.toFixed(0)} ms (bound ${opts.timeoutMs} ms)`,
        layers,
        ms,
      }
    return { ...o, layers, ms }
  }
  try {
    const fe = at('frontend', () => frontend([{ file: 'fuzz.norm', text }]))
    for (const d of fe.diagnostics) {
      const p = diagnosticProblem(d, text)
      if (p) throw new Bug('diagnostics', `${p} (${d.span.line}:${d.span.col}: ${d.message})`)
    }
    // Whatever parses formats to text that parses back to the same program (formatFile throws
    // otherwise), and formatting is idempotent.
    const f = at('format', () => formatFile(text, 'fuzz.norm'))
    if (f.formatted !== undefined && !f.diagnostics.some((d) => d.severity === 'error')) {
      const again = at('format', () => formatFile(f.formatted!, 'fuzz.norm'))
      if (again.formatted !== f.formatted) throw new Bug('format', 'formatting is not idempotent')
    }
    if (fe.diagnostics.some((d) => d.severity === 'error')) return done({ result: 'diagnostics' })
    let refused = false
    for (const layer of fe.layers) {
      layers++
      if ((await backEnd(layer, opts)) === 'refused') refused = true
    }
    return done({ result: refused ? 'refused' : 'ok' })
  } catch (e) {
    if (e instanceof Bug) return done({ result: 'bug', stage: e.stage, message: e.message })
    return done({ result: 'bug', stage: 'frontend', message: describeError(e) })
  }
}
