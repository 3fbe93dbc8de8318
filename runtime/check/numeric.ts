// The numerical side of `normc check`: finite differences of the loss ℓ = Σ y · u (u the random
// cotangents), element by element or along random directions, and the comparison of two
// tensors that finds the worst element.

import type { Node } from '../../compiler/ir/index.js'
import { evaluate, type Bindings } from '../interp.js'

/** ℓ = Σ over outputs of Σ y · u, and Σ |y · u| (the scale of its rounding error). */
export function lossAndScale(
  outputs: readonly Node[],
  us: readonly Float64Array[],
  env: Bindings,
): { loss: number; abs: number } {
  const ys = evaluate(outputs, env)
  let s = 0
  let a = 0
  ys.forEach((y, k) => {
    const u = us[k]!
    for (let i = 0; i < y.length; i++) {
      s += y[i]! * u[i]!
      a += Math.abs(y[i]! * u[i]!)
    }
  })
  return { loss: s, abs: a }
}

export const loss = (
  outputs: readonly Node[],
  us: readonly Float64Array[],
  env: Bindings,
): number => lossAndScale(outputs, us, env).loss

/** A one-sided derivative on each side of a point where the function has a kink. */
export interface Kink {
  left: number
  right: number
}

/**
 * Central differences with one Richardson step (error O(h⁴)) along direction `v` of tensor
 * `wrt` (v given as a sparse list of [index, weight]), with an absolute step h. Given the loss
 * at the point (`base`), also says whether the function has a kink there: the one-sided
 * derivatives differ by an amount that does not shrink with the step (at a smooth point the
 * difference is h·ℓ'' and halves with h).
 */
export function directional(
  outputs: readonly Node[],
  us: readonly Float64Array[],
  env: Bindings,
  wrt: string,
  v: readonly [number, number][],
  h: number,
  base?: { loss: number; abs: number },
): { value: number; kink?: Kink } {
  const b0 = env.tensors.get(wrt)!
  const x = Float64Array.from(b0)
  const tensors = new Map(env.tensors)
  tensors.set(wrt, x)
  const at: Bindings = { ...env, tensors }
  const side = (step: number) => {
    for (const [i, w] of v) x[i] = b0[i]! + step * w
    const l = loss(outputs, us, at)
    for (const [i] of v) x[i] = b0[i]!
    return l
  }
  const [up1, down1, up2, down2] = [side(h), side(-h), side(h / 2), side(-h / 2)]
  const d1 = (up1 - down1) / (2 * h)
  const d2 = (up2 - down2) / h
  const value = (4 * d2 - d1) / 3
  if (!base) return { value }
  // s+ − s− at h and at h / 2: h·ℓ'' and h·ℓ''/2 where ℓ is smooth, the same jump at a kink.
  const D1 = (up1 - 2 * base.loss + down1) / h
  const D2 = (up2 - 2 * base.loss + down2) / (h / 2)
  const noise = (1e4 * Number.EPSILON * base.abs) / (h / 2)
  if (
    Math.abs(D2) > noise &&
    Math.abs(D2) > 1e-6 * Math.max(1, Math.abs(value)) &&
    Math.abs(D1 - D2) < 0.25 * Math.abs(D2)
  )
    return {
      value,
      kink: { left: (base.loss - down2) / (h / 2), right: (up2 - base.loss) / (h / 2) },
    }
  return { value }
}

/**
 * The numerical gradient at the listed elements (NaN elsewhere). Where `kinks` is given, the
 * elements at which the function is not differentiable are recorded there.
 */
export function elementwise(
  outputs: readonly Node[],
  us: readonly Float64Array[],
  env: Bindings,
  wrt: string,
  indices: Iterable<number>,
  h: number | ((i: number) => number),
  kinks?: Map<number, Kink>,
): Float64Array {
  const out = new Float64Array(env.tensors.get(wrt)!.length).fill(NaN)
  const base = kinks ? lossAndScale(outputs, us, env) : undefined
  for (const i of indices) {
    const p = directional(outputs, us, env, wrt, [[i, 1]], typeof h === 'number' ? h : h(i), base)
    out[i] = p.value
    if (p.kink && kinks) kinks.set(i, p.kink)
  }
  return out
}

export interface Comparison {
  /** The largest |actual − expected|. */
  maxAbs: number
  /** The largest |actual − expected| / max(1, max |expected|): relative above 1, absolute below. */
  maxRel: number
  /** The worst element (−1 when nothing was compared). */
  at: number
  expected: number
  actual: number
}

export const noComparison = (): Comparison => ({
  maxAbs: 0,
  maxRel: 0,
  at: -1,
  expected: NaN,
  actual: NaN,
})

/**
 * Compares `actual` with `expected` over the listed elements. Errors are relative to the
 * largest expected magnitude of the tensor, and absolute when that is below 1 (gradients
 * here are in units of the cotangent, which is of order 1). Non-finite values agree only with
 * the same non-finite value.
 */
export function compare(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  indices?: Iterable<number>,
): Comparison {
  const idx = indices ? [...indices] : Array.from({ length: expected.length }, (_, i) => i)
  let scale = 1
  for (const i of idx) {
    const b = Math.abs(expected[i]!)
    if (Number.isFinite(b) && b > scale) scale = b
  }
  const c = noComparison()
  for (const i of idx) {
    const a = actual[i]!
    const b = expected[i]!
    let abs: number
    if (Number.isFinite(a) && Number.isFinite(b)) abs = Math.abs(a - b)
    else abs = Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)) ? 0 : Infinity
    const rel = abs / scale
    if (c.at < 0 || rel > c.maxRel) {
      c.maxRel = rel
      c.at = i
      c.expected = b
      c.actual = a
    }
    if (abs > c.maxAbs) c.maxAbs = abs
  }
  return c
}

/** Whether any value is not finite. */
export const hasNonFinite = (a: ArrayLike<number>): boolean => {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return true
  return false
}

/** A compact number for tables and messages. */
export function fmt(v: number | null | undefined, digits = 1): string {
  if (v === null || v === undefined) return '-'
  if (Number.isNaN(v)) return 'NaN'
  if (!Number.isFinite(v)) return v > 0 ? 'Inf' : '-Inf'
  if (v === 0) return '0'
  return v.toExponential(digits)
}

/** A value with enough digits to see where two numbers differ. */
export function fmtValue(v: number): string {
  if (!Number.isFinite(v)) return String(v)
  return Number(v.toPrecision(12)).toString()
}
