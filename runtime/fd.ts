// Finite differences in float64: the independent check of derived gradients. The loss is
// L = Σ_outputs Σ y · dy with a given cotangent dy. Central differences are Richardson-
// extrapolated (error O(h⁴)), with a step scaled to each element's magnitude but never beyond
// the spread of its tensor: inputs at a large offset (1e4 + noise) are differenced on the
// scale of the noise, which is the scale a normalisation layer sees them at.
//
// With `surrogate`, the values of stop_gradient nodes are frozen at their unperturbed forward
// values: that is the function whose derivative a stop-gradient program claims to compute.

import type { Node } from '../compiler/ir/index.js'
import { topoOrder } from '../compiler/ir/index.js'
import { evaluate, type Bindings } from './interp.js'

export interface FdOptions {
  /** Freeze stop_gradient nodes at their forward values. */
  surrogate: boolean
  /** Relative step (default 1e-4), scaled by `stepScale`. */
  step?: number
  /** `step` as it is, whatever the data (for comparisons; not for checking). */
  absolute?: boolean
}

/**
 * What the relative step of each element of `x` is scaled by: its magnitude |x_i|, but no
 * more than 10 times the spread of the tensor (max |x − mean| over its finite elements), and
 * never less than 1 (the floor: an absolute step of 1e-4 for small values, constant tensors
 * and scalars). At a 1e4 offset with noise of ±1, max(1, |x|) would be a step of
 * 1e4 · 1e-4 = 1, as large as the noise: a normalisation layer is far from linear on that
 * scale, and central differences were off by O(1). Capped, the step is 1e-3 of the noise:
 * large enough that the rounding of values near 1e4 (≈ 1e-12) stays small against it, small
 * enough that Richardson's O(h⁴) truncation is negligible. Values within 10 spreads of zero
 * keep the step they had.
 */
export function stepScale(x: ArrayLike<number>): Float64Array {
  let n = 0
  let mean = 0
  for (let i = 0; i < x.length; i++)
    if (Number.isFinite(x[i]!)) {
      n++
      mean += (x[i]! - mean) / n
    }
  let spread = 0
  for (let i = 0; i < x.length; i++)
    if (Number.isFinite(x[i]!)) spread = Math.max(spread, Math.abs(x[i]! - mean))
  return Float64Array.from({ length: x.length }, (_, i) =>
    Math.max(1, Math.min(Math.abs(x[i]!), 10 * spread)),
  )
}

/** Σ over outputs of Σ y·dy, at the given bindings. */
function loss(outputs: readonly Node[], dys: readonly Float64Array[], env: Bindings): number {
  const ys = evaluate(outputs, env)
  let s = 0
  ys.forEach((y, k) => {
    const d = dys[k]!
    for (let i = 0; i < y.length; i++) s += y[i]! * d[i]!
  })
  return s
}

/** The frozen values of every stop_gradient node at the given bindings. */
export function freezeStops(outputs: readonly Node[], env: Bindings): Map<number, Float64Array> {
  const stops = topoOrder(outputs).filter((n) => n.op === 'stop_gradient')
  const vals = stops.length ? evaluate(stops, env) : []
  return new Map(stops.map((n, i) => [n.id, vals[i]!]))
}

/**
 * The numerical gradient of L with respect to each element of tensor `wrt` (or only the
 * elements listed in `indices`).
 */
export function numericGradient(
  outputs: readonly Node[],
  dys: readonly Float64Array[],
  env: Bindings,
  wrt: string,
  opts: FdOptions,
  indices?: readonly number[],
): Float64Array {
  const base = env.tensors.get(wrt)!
  const frozen = opts.surrogate ? freezeStops(outputs, env) : undefined
  const h0 = opts.step ?? 1e-4
  const grad = new Float64Array(base.length).fill(NaN)
  const x = Float64Array.from(base)
  const tensors = new Map(env.tensors)
  tensors.set(wrt, x)
  const at: Bindings = { ...env, tensors, ...(frozen ? { frozen } : {}) }
  const central = (i: number, step: number) => {
    const v = base[i]!
    // The step as the arithmetic takes it: v + h rounds, (v + h) − v is exact.
    const h = v + step - v
    x[i] = v + h
    const up = loss(outputs, dys, at)
    x[i] = v - h
    const down = loss(outputs, dys, at)
    x[i] = v
    return (up - down) / (2 * h)
  }
  const scale = opts.absolute ? undefined : stepScale(base)
  for (const i of indices ?? base.keys()) {
    const h = h0 * (scale ? scale[i]! : 1)
    const d1 = central(i, h)
    const d2 = central(i, h / 2)
    grad[i] = (4 * d2 - d1) / 3
  }
  return grad
}

/** The largest |a − b| / max(1, |b|) over the listed elements (NaN counts as infinitely wrong). */
export function maxScaledError(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  indices?: readonly number[],
): { err: number; at: number } {
  let err = 0
  let at = -1
  const idx = indices ?? Array.from({ length: b.length }, (_, i) => i)
  for (const i of idx) {
    const e = Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!))
    const v = Number.isNaN(e) ? (Number.isNaN(a[i]!) && Number.isNaN(b[i]!) ? 0 : Infinity) : e
    if (v > err || at < 0) {
      if (v > err) err = v
      at = i
    }
  }
  return { err, at }
}
