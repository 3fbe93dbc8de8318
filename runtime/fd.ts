// Finite differences in float64: the independent check of derived gradients. The loss is
// L = Σ_outputs Σ y · dy with a given cotangent dy. Central differences are Richardson-
// extrapolated (error O(h⁴)), with a step scaled to each element's magnitude, so inputs at
// large offsets (1e4 + noise) still give ~1e-9 accuracy.
//
// With `surrogate`, the values of stop_gradient nodes are frozen at their unperturbed forward
// values: that is the function whose derivative a stop-gradient program claims to compute.

import type { Node } from '../compiler/ir/index.js'
import { topoOrder } from '../compiler/ir/index.js'
import { evaluate, type Bindings } from './interp.js'

export interface FdOptions {
  /** Freeze stop_gradient nodes at their forward values. */
  surrogate: boolean
  /** Relative step (scaled by max(1, |x|)). */
  step?: number
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
  const central = (i: number, h: number) => {
    const v = base[i]!
    x[i] = v + h
    const up = loss(outputs, dys, at)
    x[i] = v - h
    const down = loss(outputs, dys, at)
    x[i] = v
    return (up - down) / (2 * h)
  }
  for (const i of indices ?? base.keys()) {
    const h = h0 * Math.max(1, Math.abs(base[i]!))
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
