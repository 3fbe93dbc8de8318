// Differential testing of one checked layer at small random sizes, every check against the
// float64 interpreter:
//
// - fd: derived gradients (simplified, as users get them) vs float64 central differences of
//   L = Σ y·dy, with stop_gradient frozen at its forward value (the surrogate whose derivative a
//   stop-gradient program claims; runtime/fd.ts). Elements where a perturbation of ±h crosses a
//   kink (abs, sign, clamp, max/min, the comparisons, which element attains a max/min) are
//   skipped: there the function has no derivative for differences to estimate.
// - unsimplified: the simplified forward, updates and backward vs the unsimplified graphs.
// - js-f64 / js-f32: the js target vs the interpreter (f32: on the same f32-rounded inputs).
// - backward-program: the derived backward printed as `.norm`, checked and run again.
//
// Tolerances are relative to each tensor's scale (max(1, max |reference|)), plus an allowance
// for the layer's conditioning measured by perturbing its inputs (ill-conditioned random
// programs must not pass for bugs, and honest rounding must not fail).

import { backwardLayer } from '../compiler/backward.js'
import type { CheckedLayer } from '../compiler/check/index.js'
import { NormcError } from '../compiler/diagnostics.js'
import { frontend } from '../compiler/frontend.js'
import { topoOrder, type Builder, type Node } from '../compiler/ir/index.js'
import { compileLayerGraphs, type LayerGraphs } from '../compiler/pipeline.js'
import { printLayer } from '../compiler/print/index.js'
import type { RunCase } from '../runtime/case.js'
import { evaluate, type Bindings } from '../runtime/interp.js'
import { runStepJs } from '../runtime/js/step.js'
import type { GpuBackend } from '../runtime/gpu/backends.js'
import { runStepGpu } from '../runtime/gpu/step.js'
import { rng } from '../runtime/random.js'
import { bindCase, runStepInterp, type StepResult } from '../runtime/step.js'
import { JsLayer } from '../runtime/js/index.js'
import { WasmLayer } from '../runtime/wasm/index.js'
import { knownFinding } from './known.js'
import { chooseSizes, randomCase } from './stages.js'

export type Check =
  'fd' | 'unsimplified' | 'js-f64' | 'js-f32' | 'wasm-f64' | 'wasm-f32' | 'backward-program' | 'gpu'
export const ALL_CHECKS: readonly Check[] = [
  'fd',
  'unsimplified',
  'js-f64',
  'js-f32',
  'wasm-f64',
  'wasm-f32',
  'backward-program',
]

export interface Finding {
  check: Check
  mode: 'train' | 'eval'
  /** e.g. `grads.x`, `outputs.y`, `state.s`. */
  tensor: string
  index: number
  got: number
  want: number
  /** The error, relative to the tensor's scale, and the bound it broke. */
  err: number
  tol: number
  /** The known issue it belongs to (fuzz/known.ts), if any. */
  known?: string
  note?: string
}

export interface DiffResult {
  findings: Finding[]
  /** Why the layer was not compared (sizes refused, values not finite). */
  skipped?: string
  /** Worst error / tolerance ratio seen per check (1 = at the bound). */
  worst: Partial<Record<Check, number>>
  /** Worst scale-relative error per check. */
  worstErr: Partial<Record<Check, number>>
  fdElements: number
  fdKinks: number
}

export interface DiffOptions {
  seed: number
  checks?: readonly Check[]
  /** Elements checked by finite differences per tensor (a random subset beyond this). */
  fdPerTensor?: number
}

/** Relative tolerances before the conditioning allowance. */
export const TOL = {
  fd: 1e-6,
  unsimplified: 1e-11,
  'js-f64': 1e-11,
  'js-f32': 2e-7,
  // The js target's numerics, two lanes at a time: the same bounds.
  'wasm-f64': 1e-11,
  'wasm-f32': 2e-7,
  'backward-program': 1e-11,
  // float32 arithmetic throughout (not only storage), reductions in trees.
  gpu: 1e-5,
} as const

const modesOf = (l: CheckedLayer): ('train' | 'eval')[] =>
  l.hasForward ? ['train'] : ['train', 'eval']
const scaleOf = (a: ArrayLike<number>) => {
  let m = 1
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i]!)) m = Math.max(m, Math.abs(a[i]!))
  return m
}
const allFinite = (a: ArrayLike<number>) => {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false
  return true
}

class Recorder {
  readonly findings: Finding[] = []
  readonly worst: Partial<Record<Check, number>> = {}
  readonly worstErr: Partial<Record<Check, number>> = {}

  /**
   * Compares `got` with `want` elementwise; an error beyond `tol · scale + allow[i]` is a
   * finding. NaN must meet NaN and ±Infinity the same infinity.
   */
  compare(
    check: Check,
    mode: 'train' | 'eval',
    tensor: string,
    got: ArrayLike<number>,
    want: ArrayLike<number>,
    tol: number,
    allow?: ArrayLike<number>,
    only?: readonly number[],
  ): void {
    if (got.length !== want.length) {
      this.findings.push({
        check,
        mode,
        tensor,
        index: -1,
        got: got.length,
        want: want.length,
        err: Infinity,
        tol,
      })
      return
    }
    const scale = scaleOf(want)
    for (const i of only ?? Array.from({ length: want.length }, (_, k) => k)) {
      const a = got[i]!
      const b = want[i]!
      let err: number
      if (Number.isFinite(b)) err = Math.abs(a - b) / scale
      else err = Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)) ? 0 : Infinity
      if (Number.isNaN(err)) err = Infinity
      const bound = tol + (allow ? allow[i]! / scale : 0)
      this.worst[check] = Math.max(this.worst[check] ?? 0, err / bound)
      this.worstErr[check] = Math.max(this.worstErr[check] ?? 0, err)
      if (err > bound)
        this.findings.push({ check, mode, tensor, index: i, got: a, want: b, err, tol: bound })
    }
  }
}

/** Kink switches: nodes whose values say which branch of a non-smooth operation is taken. */
function switches(roots: readonly Node[], b: Builder): Node[] {
  const stops = new Set(
    topoOrder(roots)
      .filter((n) => n.op === 'stop_gradient')
      .map((n) => n.id),
  )
  const out: Node[] = []
  const sgn = (n: Node) => b.unary('sign', n)
  for (const n of topoOrder(roots, stops)) {
    if (stops.has(n.id)) continue
    const [x, y, z] = n.args
    switch (n.op) {
      case 'abs':
      case 'sign':
        out.push(sgn(x!))
        break
      case 'max':
      case 'min':
      case 'ge':
      case 'gt':
      case 'le':
      case 'lt':
      case 'eq':
        out.push(sgn(b.sub(x!, y!)))
        break
      case 'clamp':
        out.push(sgn(b.sub(x!, y!)), sgn(b.sub(x!, z!)), sgn(b.sub(y!, z!)))
        break
      case 'rmax':
      case 'rmin':
        out.push(b.binary('eq', x!, b.broadcast(n, x!.axes)))
        break
    }
  }
  return out
}

/** Numerical gradients with kink detection: NaN marks an element skipped. */
function fdGradient(
  outputs: readonly Node[],
  sw: readonly Node[],
  dys: readonly Float64Array[],
  env: Bindings,
  wrt: string,
  indices: readonly number[],
): { grad: Float64Array; allow: Float64Array; kinks: number } {
  const base = env.tensors.get(wrt)!
  const x = Float64Array.from(base)
  const tensors = new Map(env.tensors)
  tensors.set(wrt, x)
  const at: Bindings = { ...env, tensors }
  const roots = [...outputs, ...sw]
  const evalAt = (): { loss: number; abs: number; sig: string } => {
    const vals = evaluate(roots, at)
    let loss = 0
    let abs = 0
    outputs.forEach((_, k) => {
      const y = vals[k]!
      const d = dys[k]!
      for (let i = 0; i < y.length; i++) {
        loss += y[i]! * d[i]!
        abs += Math.abs(y[i]! * d[i]!)
      }
    })
    let sig = ''
    for (let k = outputs.length; k < vals.length; k++) sig += vals[k]!.join(',') + ';'
    return { loss, abs, sig }
  }
  const ref = evalAt()
  const grad = new Float64Array(base.length).fill(NaN)
  const allow = new Float64Array(base.length)
  let kinks = 0
  for (const i of indices) {
    const v = base[i]!
    const h = 1e-4 * Math.max(1, Math.abs(v))
    const pts: { loss: number; abs: number; sig: string }[] = []
    for (const d of [h, -h, h / 2, -h / 2]) {
      x[i] = v + d
      pts.push(evalAt())
    }
    x[i] = v
    if (pts.some((p) => p.sig !== ref.sig)) {
      kinks++
      continue
    }
    if (pts.some((p) => !Number.isFinite(p.loss))) continue
    const d1 = (pts[0]!.loss - pts[1]!.loss) / (2 * h)
    const d2 = (pts[2]!.loss - pts[3]!.loss) / h
    grad[i] = (4 * d2 - d1) / 3
    // Truncation (what Richardson removed, times a margin) and rounding in the loss.
    allow[i] = 0.1 * Math.abs(d2 - d1) + (1e-15 * Math.max(ref.abs, 1)) / h
  }
  return { grad, allow, kinks }
}

/** The same case with every value perturbed by a relative `delta` (a conditioning probe). */
function perturbCase(c: RunCase, delta: number, r: () => number): RunCase {
  const p = (a: Float64Array) => a.map((v) => v * (1 + delta * (2 * r() - 1)))
  const inputs: Record<string, Float64Array> = Object.create(null)
  for (const k of Object.keys(c.inputs)) inputs[k] = p(c.inputs[k]!)
  return { ...c, inputs }
}

function roundCase(c: RunCase): RunCase {
  const f = (a: Float64Array) => a.map(Math.fround)
  const inputs: Record<string, Float64Array> = Object.create(null)
  for (const k of Object.keys(c.inputs)) inputs[k] = f(c.inputs[k]!)
  const out: RunCase = { ...c, inputs }
  if (c.dy instanceof Float64Array) out.dy = f(c.dy)
  else if (c.dy) {
    const dy: Record<string, Float64Array> = Object.create(null)
    for (const k of Object.keys(c.dy)) dy[k] = f(c.dy[k]!)
    out.dy = dy
  }
  return out
}

/** The tensors of a step result, by `outputs.y`, `grads.x`, `state.s`. */
function tensorsOf(r: StepResult): Map<string, Float64Array> {
  const m = new Map<string, Float64Array>()
  for (const k of Object.keys(r.outputs)) m.set(`outputs.${k}`, r.outputs[k]!)
  for (const k of Object.keys(r.grads ?? {})) m.set(`grads.${k}`, r.grads![k]!)
  for (const k of Object.keys(r.state)) m.set(`state.${k}`, r.state[k]!)
  return m
}

/** For each result (outputs.y, state.s, grads.x): the largest |value| of any node it is computed from. */
function magnitudes(g: LayerGraphs, env: Bindings): Map<string, number> {
  const roots: [string, Node][] = [
    ...g.forward.outputs.map((o): [string, Node] => [`outputs.${o.name}`, o.node]),
    ...g.forward.updates.map((u): [string, Node] => [`state.${u.name}`, u.node]),
    ...g.backward.program.outputs.map((o): [string, Node] => [
      `grads.${g.backward.of.get(o.name)!}`,
      o.node,
    ]),
  ]
  const all = topoOrder(roots.map(([, n]) => n))
  const vals = evaluate(all, env)
  const big = new Map<number, number>()
  all.forEach((n, k) => {
    let m = 0
    for (const v of vals[k]!) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v))
    big.set(n.id, m)
  })
  const out = new Map<string, number>()
  for (const [k, n] of roots) {
    let m = 0
    for (const a of topoOrder([n])) m = Math.max(m, big.get(a.id) ?? 0)
    out.set(k, m)
  }
  return out
}

/** |perturbed − reference| per element: how far honest rounding may move each value. */
function sensitivity(
  ref: Map<string, Float64Array>,
  pert: Map<string, Float64Array>,
  scale: number,
): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>()
  for (const [k, a] of ref) {
    const b = pert.get(k)!
    out.set(
      k,
      a.map((v, i) =>
        Number.isFinite(v) && Number.isFinite(b[i]!) ? scale * Math.abs(b[i]! - v) : 0,
      ),
    )
  }
  return out
}

function compareSteps(
  rec: Recorder,
  check: Check,
  mode: 'train' | 'eval',
  got: StepResult,
  want: StepResult,
  tol: number,
  allow: Map<string, Float64Array>,
): void {
  const g = tensorsOf(got)
  for (const [k, w] of tensorsOf(want)) {
    const a = g.get(k)
    if (!a) {
      rec.findings.push({
        check,
        mode,
        tensor: k,
        index: -1,
        got: NaN,
        want: NaN,
        err: Infinity,
        tol,
      })
      continue
    }
    rec.compare(check, mode, k, a, w, tol, allow.get(k))
  }
}

/** A random case of a mode and the interpreter's step on it, or why there is none. */
interface Reference {
  c: RunCase
  g: LayerGraphs
  ref: StepResult
  refT: Map<string, Float64Array>
  env: Bindings
  /** The interpreter on the case perturbed by a relative PROBE (a conditioning probe). */
  pert: Map<string, Float64Array>
}

/** Relative size of the conditioning probe. */
const PROBE = 1e-9

function reference(
  layer: CheckedLayer,
  mode: 'train' | 'eval',
  r: () => number,
  round: boolean,
): Reference | { skipped: string } {
  let c: RunCase
  let bound: ReturnType<typeof bindCase>
  try {
    c = randomCase(layer, chooseSizes(layer, r), r)
    if (round) c = roundCase(c)
    bound = bindCase(layer, c)
  } catch (e) {
    if (e instanceof NormcError) return { skipped: `sizes: ${e.message}` }
    throw e
  }
  const g = compileLayerGraphs(layer, mode)
  let ref: StepResult
  try {
    ref = runStepInterp(layer, mode, c, g)
  } catch (e) {
    if (e instanceof NormcError) return { skipped: `run: ${e.message}` }
    throw e
  }
  const refT = tensorsOf(ref)
  if (![...refT.values()].every(allFinite)) return { skipped: 'values not finite' }
  const pert = tensorsOf(runStepInterp(layer, mode, perturbCase(c, PROBE, r), g))
  const env: Bindings = { sizes: bound.sizes, tensors: bound.tensors, hypers: bound.hypers }
  return { c, g, ref, refT, env, pert }
}

/**
 * How far honest rounding at `unit` (2^-53, 2^-24) may move each value: a hundred operations
 * times the layer's conditioning (the probe), with a margin of 10, plus 64 units of the
 * largest intermediate the value is computed from. (The simplifier distributes sums,
 * Σa·(1 − t²) → Σa − Σa·t², exact in reals, which leaves an absolute error of a few units of
 * the terms even where the result is tiny.)
 */
function roundingAllowance(x: Reference, unit: number): Map<string, Float64Array> {
  const allow = sensitivity(x.refT, x.pert, (100 * unit * 10) / PROBE)
  const mags = magnitudes(x.g, x.env)
  for (const [k, a] of allow) {
    const m = 64 * unit * (mags.get(k) ?? 0)
    allow.set(
      k,
      a.map((v) => v + m),
    )
  }
  return allow
}

/** Runs every check on one layer. Throws only on bugs (exceptions from compiled code or the compiler). */
export function differential(layer: CheckedLayer, opts: DiffOptions): DiffResult {
  const checks = new Set(opts.checks ?? ALL_CHECKS)
  const rec = new Recorder()
  const r = rng(opts.seed)
  let fdElements = 0
  let fdKinks = 0
  const result = (skipped?: string): DiffResult => ({
    findings: rec.findings,
    worst: rec.worst,
    worstErr: rec.worstErr,
    fdElements,
    fdKinks,
    ...(skipped ? { skipped } : {}),
  })
  for (const mode of modesOf(layer)) {
    const x = reference(layer, mode, r, false)
    if ('skipped' in x) return result(x.skipped)
    const { c, g, ref, env, pert } = x
    const allow64 = roundingAllowance(x, 2 ** -53)

    if (checks.has('unsimplified')) {
      const raw = compileLayerGraphs(layer, mode, { simplify: false })
      compareSteps(
        rec,
        'unsimplified',
        mode,
        runStepInterp(layer, mode, c, raw),
        ref,
        TOL.unsimplified,
        allow64,
      )
    }

    if (checks.has('fd')) {
      const raw = compileLayerGraphs(layer, mode, { simplify: false })
      const outs = raw.forward.outputs.map((o) => o.node)
      const sw = switches(outs, raw.forward.builder)
      const dyNodes = raw.backward.program.inputs.filter((n) => n.role === 'dy')
      const dys = raw.forward.outputs.map((_, k) => env.tensors.get(dyNodes[k]!.name!)!)
      const per = opts.fdPerTensor ?? 24
      for (const t of [...layer.inputs, ...layer.params]) {
        const n = env.tensors.get(t.name)!.length
        const all = Array.from({ length: n }, (_, i) => i)
        const idx = n <= per ? all : all.sort(() => r() - 0.5).slice(0, per)
        const frozen = new Map<number, Float64Array>()
        const stops = topoOrder(outs).filter((x) => x.op === 'stop_gradient')
        if (stops.length) evaluate(stops, env).forEach((v, k) => frozen.set(stops[k]!.id, v))
        const { grad, allow, kinks } = fdGradient(outs, sw, dys, { ...env, frozen }, t.name, idx)
        fdKinks += kinks
        const checked = idx.filter((i) => !Number.isNaN(grad[i]!))
        fdElements += checked.length
        const cond = allow64.get(`grads.${t.name}`)!
        rec.compare(
          'fd',
          mode,
          `grads.${t.name}`,
          ref.grads![t.name]!,
          grad,
          TOL.fd,
          allow.map((a, i) => a + cond[i]!),
          checked,
        )
      }
    }

    for (const [target, Layer] of [
      ['js', JsLayer],
      ['wasm', WasmLayer],
    ] as const) {
      if (checks.has(`${target}-f64`))
        compareSteps(
          rec,
          `${target}-f64`,
          mode,
          runStepJs(layer, mode, c, 'f64', Layer),
          ref,
          TOL[`${target}-f64`],
          allow64,
        )

      if (checks.has(`${target}-f32`)) {
        const c32 = roundCase(c)
        const ref32 = runStepInterp(layer, mode, c32, g)
        const ref32T = tensorsOf(ref32)
        if ([...ref32T.values()].every(allFinite)) {
          compareSteps(
            rec,
            `${target}-f32`,
            mode,
            runStepJs(layer, mode, c32, 'f32', Layer),
            ref32,
            TOL[`${target}-f32`],
            sensitivity(ref32T, pert, (100 * 2 ** -53 * 10) / PROBE),
          )
        }
      }
    }

    if (checks.has('backward-program')) backwardProgram(rec, layer, mode, g, env, ref)
  }
  return result()
}

/** The derived backward as `.norm`, compiled again, computes the same gradients. */
function backwardProgram(
  rec: Recorder,
  layer: CheckedLayer,
  mode: 'train' | 'eval',
  g: LayerGraphs,
  env: Bindings,
  ref: StepResult,
): void {
  const text = printLayer(backwardLayer(g))
  const fe = frontend([{ file: 'derived.norm', text }])
  const derived = fe.layers[0]
  const errors = fe.diagnostics.filter((d) => d.severity === 'error')
  if (!derived || errors.length) {
    const note = errors[0]?.message ?? 'no layer'
    const f: Finding = {
      check: 'backward-program',
      mode,
      tensor: 'does not check',
      index: -1,
      got: NaN,
      want: NaN,
      err: Infinity,
      tol: 0,
      note,
    }
    const known = knownFinding(f, { derivedError: note })
    rec.findings.push(known ? { ...f, known } : f)
    return
  }
  // Its inputs, in order: the forward's inputs, params, state, then the upstream gradients
  // (compiler/backward.ts); names may carry a trailing _ where they would collide.
  const p = g.backward.program
  const ordered = [
    ...p.inputs.filter((n) => n.role === 'input'),
    ...p.params,
    ...p.states,
    ...p.inputs.filter((n) => n.role === 'dy'),
  ]
  const tensors = new Map(
    derived.inputs.map((t, k) => [t.name, env.tensors.get(ordered[k]!.name!)!]),
  )
  const g2 = compileLayerGraphs(derived, 'train')
  const vals = evaluate(
    g2.forward.outputs.map((o) => o.node),
    { ...env, tensors },
  )
  g.backward.program.outputs.forEach((o, k) => {
    const name = g.backward.of.get(o.name)!
    rec.compare(
      'backward-program',
      mode,
      `grads.${name}`,
      vals[k]!,
      ref.grads![name]!,
      TOL['backward-program'],
    )
  })
  void layer
}

/**
 * The gpu target (compiler/emit/gpu, gpu.js) against the interpreter on the same f32-rounded
 * inputs. Shaders compute in float32, so the allowance is the layer's conditioning at float32's
 * rounding (2^-24 per operation, a hundred operations, a margin of 10), plus a few ulps of the
 * largest intermediate each value is computed from (float32 sums). Asynchronous (gpu.js is);
 * a run on another backend than `backend` throws (runtime/gpu checks every kernel).
 */
export async function differentialGpu(
  layer: CheckedLayer,
  opts: { seed: number; backend: GpuBackend },
): Promise<DiffResult> {
  const rec = new Recorder()
  const r = rng(opts.seed)
  const result = (skipped?: string): DiffResult => ({
    findings: rec.findings,
    worst: rec.worst,
    worstErr: rec.worstErr,
    fdElements: 0,
    fdKinks: 0,
    ...(skipped ? { skipped } : {}),
  })
  for (const mode of modesOf(layer)) {
    const x = reference(layer, mode, r, true)
    if ('skipped' in x) return result(x.skipped)
    const allow = roundingAllowance(x, 2 ** -24)
    const got = await runStepGpu(layer, mode, x.c, opts.backend)
    compareSteps(rec, 'gpu', mode, got, x.ref, TOL.gpu, allow)
  }
  return result()
}
