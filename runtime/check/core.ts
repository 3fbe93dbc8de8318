// Shared by the checks: the rows of the report, the accumulation of the worst error of a row
// over the trials, the tolerances, and finite differences against a derived gradient.

import type { Node } from '../../compiler/ir/index.js'
import type { Bindings } from '../interp.js'
import { compare, directional, elementwise, type Comparison, type Kink } from './numeric.js'
import type { Variant } from './trials.js'

export type Status = 'PASS' | 'FAIL' | 'INFO' | 'SKIP'

export interface Failure {
  /** What disagrees: `dx`, `running_var <-`, `sum dx over the group`. */
  quantity: string
  /** `x[n=1, c=2]`, or a group `x[n=*, c=2]`. */
  element: string
  coords: Record<string, number>
  expected: number
  actual: number
  /** Where the expected value comes from (`finite differences`, `spec FILE:LINE`). */
  expectedFrom: string
  /** Where the actual value comes from (`normc's derived gradient`, `the layer's update`). */
  actualFrom: string
  /** The trial and the data it ran on. */
  trial: string
  /** A guess at the cause, from the pattern of the disagreement. */
  hint?: string
}

export interface Row {
  layer: string
  /** train, eval, or forward (a layer with one forward block: both modes at once). */
  mode: string
  /** The tensor (an input or param), a state update (`running_var <-`), or `all`. */
  wrt: string
  check: string
  maxAbs: number | null
  maxRel: number | null
  tol: number | null
  status: Status
  /** For SKIP and INFO: why, or what was seen; for PASS and FAIL, what else was seen. */
  note?: string
  /** For a property that applies: why it does, from the structure of the graph. */
  why?: string
  failure?: Failure
  order: 1 | 2
}

/** Tolerances, relative (see `compare`). Large offsets scale them by κ = max|x| / std(x). */
export const TOL = {
  /** Finite differences against the derived gradient (Richardson, float64). */
  fd: 1e-6,
  /** Two exact float64 evaluations: the spec's closed form against the derived gradient. */
  spec: 1e-10,
  /** Properties that hold exactly (up to rounding). */
  property: 1e-10,
}

/** κ scaling for inputs far from zero: tol · max(1, κ / 1000). */
export const offsetScale = (kappa: number) => Math.max(1, kappa / 1000)

/** Finite-difference steps (absolute): see the README section "Checking derivatives". */
export const STEP: Record<Variant, number> = {
  plain: 1e-4,
  constant: 1e-5,
  lowvar: 1e-5,
  offset: 1e-3,
}

/** Tensors with at most this many elements are differenced element by element. */
const FULL_FD = 32
/** Else this many elements (covering the groups) plus random directions. */
const SUBSET_FD = 16
const DIRECTIONS = 3

/** The worst disagreement of one row over all trials. */
export class Acc {
  maxAbs = 0
  maxRel = 0
  /** The worst error relative to its tolerance (tolerances grow on large offsets). */
  worst = 0
  /** The largest tolerance used (shown in the report). */
  tolShown: number
  any = false
  failure?: Failure
  /** The worst error / tolerance per variant (for the hint about eps). */
  byVariant = new Map<Variant, number>()
  notes: string[] = []
  constructor(
    readonly wrt: string,
    readonly check: string,
    readonly tol: number,
  ) {
    this.tolShown = tol
  }

  add(
    c: Comparison,
    v: Variant,
    fail: () => Omit<Failure, 'trial'>,
    trial: string,
    tol = this.tol,
  ): void {
    if (c.at < 0) return
    this.any = true
    const ratio = Number.isNaN(c.maxRel) ? Infinity : c.maxRel / tol
    this.byVariant.set(v, Math.max(this.byVariant.get(v) ?? 0, ratio))
    this.maxAbs = Math.max(this.maxAbs, Number.isNaN(c.maxAbs) ? Infinity : c.maxAbs)
    this.maxRel = Math.max(this.maxRel, Number.isNaN(c.maxRel) ? Infinity : c.maxRel)
    this.tolShown = Math.max(this.tolShown, tol)
    if (ratio > this.worst || (!this.failure && ratio > 1)) {
      this.worst = Math.max(this.worst, ratio)
      if (ratio > 1) this.failure = { ...fail(), trial }
    }
  }

  /** Elements where the function is not differentiable (left out of the comparison). */
  kinks(k: Map<number, Kink>, name: (i: number) => string, trial: string): void {
    if (k.size === 0) return
    const [i, e] = [...k.entries()][0]!
    this.notes.push(
      `not differentiable at ${k.size} element${k.size > 1 ? 's' : ''} on ${trial} (e.g. ${name(i)}: one-sided derivatives ${e.left.toPrecision(4)} and ${e.right.toPrecision(4)}), left out there`,
    )
  }

  /** A failure that is not a numerical disagreement (e.g. the spec refuses the sizes). */
  fail(f: Failure): void {
    this.any = true
    this.maxAbs = this.maxRel = this.worst = Infinity
    this.failure ??= f
  }

  /** The row of the report; `epsHint`: the layer has an eps, so blame it when only odd groups fail. */
  row(layer: string, mode: string, order: 1 | 2, epsHint = true): Row {
    const failed = this.any && this.worst > 1
    const r: Row = {
      layer,
      mode,
      wrt: this.wrt,
      check: this.check,
      maxAbs: this.any ? this.maxAbs : null,
      maxRel: this.any ? this.maxRel : null,
      tol: this.tolShown,
      status: !this.any ? 'SKIP' : failed ? 'FAIL' : 'PASS',
      order,
    }
    if (!this.any) r.note = this.notes[0] ?? 'no trial could run this check'
    else if (this.notes.length) r.note = this.notes.join('; ')
    if (failed && this.failure) {
      const f = { ...this.failure }
      const plain = this.byVariant.get('plain') ?? 0
      const odd = Math.max(this.byVariant.get('constant') ?? 0, this.byVariant.get('lowvar') ?? 0)
      if (epsHint && odd > 1 && odd > 100 * plain && !f.hint)
        f.hint = `the error is ${plain <= 1 ? 'only' : 'far larger'} on a constant or low-variance group (${(odd * this.tol).toExponential(1)} there, ${(plain * this.tol).toExponential(1)} on random data), where eps dominates the variance: check where eps enters (inside the square root?)`
      r.failure = f
    }
    return r
  }
}

/** The largest |x| over the spread of x: how far the data sits from zero. */
export function kappa(a: Float64Array): number {
  let mean = 0
  let max = 0
  for (const v of a) {
    mean += v
    max = Math.max(max, Math.abs(v))
  }
  mean /= a.length || 1
  let ss = 0
  for (const v of a) ss += (v - mean) ** 2
  const sd = Math.sqrt(ss / (a.length || 1))
  return sd > 0 ? max / sd : 1
}

/** Indices to difference: all of a small tensor; else a subset covering the groups. */
export function fdIndices(n: number, r: () => number, ids?: Int32Array): number[] {
  if (n <= FULL_FD) return Array.from({ length: n }, (_, i) => i)
  const pick = new Set<number>([0, n - 1])
  if (ids) {
    const firstOf = new Map<number, number>()
    ids.forEach((g, i) => {
      if (!firstOf.has(g) || r() < 0.3) firstOf.set(g, i)
    })
    for (const i of firstOf.values()) if (pick.size < SUBSET_FD / 2) pick.add(i)
  }
  while (pick.size < SUBSET_FD) pick.add(Math.floor(r() * n))
  return [...pick].sort((a, b) => a - b)
}

/**
 * Finite differences of ℓ w.r.t. tensor `w` against the derived gradient: every element of a
 * small tensor; else a subset covering the groups plus random directions, and every element
 * when a direction disagrees (to name the element).
 */
export function fdCompare(
  outs: readonly Node[],
  us: readonly Float64Array[],
  env: Bindings,
  w: string,
  grad: Float64Array,
  h: number | Float64Array,
  tol: number,
  r: () => number,
  ids?: Int32Array,
  kinks: Map<number, Kink> = new Map(),
): Comparison {
  const n = grad.length
  const stepAt = (i: number) => (typeof h === 'number' ? h : h[i]!)
  // Elements where the function has a kink are left out: no derivative to compare there.
  const smooth = (idx: Iterable<number>) => [...idx].filter((i) => !kinks.has(i))
  const all = () => {
    const num = elementwise(outs, us, env, w, grad.keys(), stepAt, kinks)
    return compare(grad, num, smooth(grad.keys()))
  }
  const idx = fdIndices(n, r, ids)
  const num = elementwise(outs, us, env, w, idx, stepAt, kinks)
  const c = compare(grad, num, smooth(idx))
  if (n <= FULL_FD) return c
  if (!(c.maxRel <= tol) || kinks.size) return all()
  let h0 = 0
  for (let i = 0; i < n; i++) h0 = Math.max(h0, stepAt(i))
  for (let k = 0; k < DIRECTIONS; k++) {
    const v: [number, number][] = Array.from({ length: n }, (_, i) => [
      i,
      ((2 * r() - 1) * stepAt(i)) / h0,
    ])
    const fdv = directional(outs, us, env, w, v, h0).value
    let a = 0
    let l1 = 0
    for (const [i, wt] of v) {
      a += grad[i]! * wt
      l1 += Math.abs(grad[i]! * wt)
    }
    if (!(Math.abs(a - fdv) / Math.max(1, l1) <= tol)) return all()
  }
  return c
}

/**
 * The steps of finite differences for a tensor: by the kind of data for inputs; for params,
 * at most 1% of each value, so that a small positive param (a learned eps) stays positive.
 */
export function stepsFor(role: string, v: Variant, data: Float64Array): number | Float64Array {
  if (role === 'input') return STEP[v]
  if (role !== 'param') return STEP.plain
  return Float64Array.from(data, (x) =>
    x !== 0 ? Math.min(STEP.plain, 0.01 * Math.abs(x)) : STEP.plain,
  )
}
