// The float64 reference interpreter: evaluates any IR graph on named-axis tensors. It is the
// oracle every compiled target is compared with, so it is kept simple and obviously right:
// plain loops, float64 everywhere, no cleverness.

import { NormcError } from '../compiler/diagnostics.js'
import { topoOrder, type Node } from '../compiler/ir/index.js'
import type { KernelPlan } from '../compiler/schedule/index.js'

export type Sizes = ReadonlyMap<string, number>

export interface Bindings {
  sizes: Sizes
  /** Data of `input` nodes by name (inputs, params, state, upstream gradients), row-major. */
  tensors: ReadonlyMap<string, Float64Array>
  hypers: ReadonlyMap<string, number>
  /** Values that replace nodes (by id): finite differences of a surrogate freeze stop_gradient nodes. */
  frozen?: ReadonlyMap<number, Float64Array>
}

export function sizeOf(axes: readonly string[], sizes: Sizes): number {
  let n = 1
  for (const a of axes) n *= sizes.get(a)!
  return n
}

/** Row-major strides of `sub` axes inside the index space of `full` (0 where absent). */
function stridesIn(full: readonly string[], sub: readonly string[], sizes: Sizes): number[] {
  const s = new Map<string, number>()
  let acc = 1
  for (let i = sub.length - 1; i >= 0; i--) {
    s.set(sub[i]!, acc)
    acc *= sizes.get(sub[i]!)!
  }
  return full.map((a) => s.get(a) ?? 0)
}

/** For each flat index over `full`, the flat index over `sub` (broadcast / reduction maps). */
function indexMap(full: readonly string[], sub: readonly string[], sizes: Sizes): Int32Array {
  const shape = full.map((a) => sizes.get(a)!)
  const strides = stridesIn(full, sub, sizes)
  const total = sizeOf(full, sizes)
  const map = new Int32Array(total)
  const idx = new Array<number>(shape.length).fill(0)
  let off = 0
  for (let i = 0; i < total; i++) {
    map[i] = off
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d]!++
      off += strides[d]!
      if (idx[d]! < shape[d]!) break
      off -= strides[d]! * shape[d]!
      idx[d] = 0
    }
  }
  return map
}

const unary: Record<string, (x: number) => number> = {
  neg: (x) => -x,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  exp: Math.exp,
  log: Math.log,
  abs: Math.abs,
  recip: (x) => 1 / x,
  tanh: Math.tanh,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : x === 0 ? 0 : NaN),
}

const binary: Record<string, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => a ** b,
  max: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)),
  min: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)),
  ge: (a, b) => (a >= b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  eq: (a, b) => (a === b ? 1 : 0),
}

/** Whether a node's value is known once sizes and hypers are bound (no tensor data). */
export function isBindTime(n: Node, memo = new Map<number, boolean>()): boolean {
  const hit = memo.get(n.id)
  if (hit !== undefined) return hit
  const r = n.op === 'input' ? false : n.args.every((a) => isBindTime(a, memo))
  memo.set(n.id, r)
  return r
}

/** The axes counted and the hypers read by a bind-time expression. */
/**
 * Whether a node is a constant expression (numbers only: no data, sizes or hypers). Such a
 * division by zero is IEEE's (`1 / 0`, `0 / 0`), as the simplifier folds it; a division of
 * anything else by a zero known at bind time is refused.
 */
function isConstant(n: Node, memo = new Map<number, boolean>()): boolean {
  const hit = memo.get(n.id)
  if (hit !== undefined) return hit
  const r =
    n.op === 'const' ||
    (n.op !== 'input' &&
      n.op !== 'hyper' &&
      n.op !== 'count' &&
      n.args.length > 0 &&
      n.args.every((a) => isConstant(a, memo)))
  memo.set(n.id, r)
  return r
}

function leavesOf(
  n: Node,
  out = { counts: new Set<string>(), hypers: new Set<string>() },
): { counts: Set<string>; hypers: Set<string> } {
  if (n.op === 'count') for (const a of n.over!) out.counts.add(a)
  if (n.op === 'hyper') out.hypers.add(n.name!)
  for (const a of n.args) leavesOf(a, out)
  return out
}

/**
 * The located error for a division by a zero known at bind time. The message says what the
 * divisor is made of: size arithmetic (`m / (m - 1)` at m = 1, with the sizes, and any hypers
 * it uses), a hyper or hyper arithmetic (with the values), or constants only (`x / 0`).
 */
function divisionByZero(
  n: Node,
  env: Pick<Bindings, 'sizes' | 'hypers'>,
  file?: string,
): NormcError {
  const d = n.args[1]!.op === 'broadcast' ? n.args[1]!.args[0]! : n.args[1]!
  const { counts, hypers } = leavesOf(d)
  const num = (v: number | undefined) => (Object.is(v, -0) ? '-0' : String(v))
  const given = [
    ...[...counts].map((ax) => `${ax} = ${env.sizes.get(ax)}`),
    ...[...hypers].map((h) => `hyper ${h} = ${num(env.hypers.get(h))}`),
  ].join(', ')
  const message = counts.size
    ? `division by zero in size ${hypers.size ? 'and hyper ' : ''}arithmetic: the divisor is 0 with ${given}`
    : d.op === 'hyper'
      ? `division by zero: the divisor is the ${given}`
      : hypers.size
        ? `division by zero: the divisor is 0 with ${given}`
        : `division by zero: the divisor is the constant ${num(d.op === 'const' ? d.value : 0)}`
  // The place: the divisor as written, or the nearest part of it that has a place.
  let span = n.args[1]!.span
  const queue = [n.args[1]!]
  while (!span && queue.length) {
    const d = queue.shift()!
    span = d.span
    queue.push(...d.args)
  }
  return new NormcError(message, span ?? n.span, file)
}

/**
 * Evaluates `roots`. A division by a zero known at bind time (size or hyper arithmetic, e.g.
 * BatchNorm's m / (m − 1) with one value per channel, or a literal 0 under data) is a located
 * error, not an Infinity; a division of numbers alone (`0 / 0`) is IEEE's.
 */
export function evaluate(roots: readonly Node[], env: Bindings, file?: string): Float64Array[] {
  const { sizes } = env
  const vals = new Map<number, Float64Array>()
  const bindMemo = new Map<number, boolean>()
  const constMemo = new Map<number, boolean>()
  for (const n of topoOrder(roots)) {
    const fixed = env.frozen?.get(n.id)
    if (fixed) {
      vals.set(n.id, fixed)
      continue
    }
    const size = sizeOf(n.axes, sizes)
    const out = new Float64Array(size)
    const a = n.args.map((x) => vals.get(x.id)!)
    switch (n.op) {
      case 'input': {
        const t = env.tensors.get(n.name!)
        if (!t) throw new NormcError(`no value for '${n.name}'`)
        if (t.length !== size)
          throw new NormcError(`'${n.name}' has ${t.length} values, expected ${size}`)
        out.set(t)
        break
      }
      case 'hyper': {
        const v = env.hypers.get(n.name!)
        if (v === undefined) throw new NormcError(`no value for hyper '${n.name}'`)
        out[0] = v
        break
      }
      case 'const':
        out[0] = n.value!
        break
      case 'count':
        out[0] = sizeOf(n.over!, sizes)
        break
      case 'broadcast': {
        const map = indexMap(n.axes, n.args[0]!.axes, sizes)
        for (let i = 0; i < size; i++) out[i] = a[0]![map[i]!]!
        break
      }
      case 'regroup':
      case 'stop_gradient':
        out.set(a[0]!)
        break
      case 'sum':
      case 'mean':
      case 'rmax':
      case 'rmin': {
        const x = n.args[0]!
        const map = indexMap(x.axes, n.axes, sizes)
        const init = n.op === 'rmax' ? -Infinity : n.op === 'rmin' ? Infinity : 0
        out.fill(init)
        const xs = a[0]!
        for (let i = 0; i < xs.length; i++) {
          const j = map[i]!
          const v = xs[i]!
          if (n.op === 'rmax')
            out[j] = Number.isNaN(v) || Number.isNaN(out[j]!) ? NaN : Math.max(out[j]!, v)
          else if (n.op === 'rmin')
            out[j] = Number.isNaN(v) || Number.isNaN(out[j]!) ? NaN : Math.min(out[j]!, v)
          else out[j]! += v
        }
        if (n.op === 'mean') {
          const m = sizeOf(n.over!, sizes)
          for (let j = 0; j < size; j++) out[j]! /= m
        }
        break
      }
      case 'clamp': {
        const [x, lo, hi] = a as [Float64Array, Float64Array, Float64Array]
        for (let i = 0; i < size; i++) out[i] = Math.min(Math.max(x[i]!, lo[i]!), hi[i]!)
        break
      }
      default: {
        const u = unary[n.op]
        if (u) {
          const x = a[0]!
          for (let i = 0; i < size; i++) out[i] = u(x[i]!)
          break
        }
        const f = binary[n.op]!
        if (
          n.op === 'div' &&
          isBindTime(n.args[1]!, bindMemo) &&
          a[1]!.some((v) => v === 0) &&
          !isConstant(n, constMemo)
        )
          throw divisionByZero(n, env, file)
        const [x, y] = a as [Float64Array, Float64Array]
        for (let i = 0; i < size; i++) out[i] = f(x[i]!, y[i]!)
      }
    }
    vals.set(n.id, out)
  }
  return roots.map((r) => vals.get(r.id)!)
}

/**
 * Evaluates every bind-time divisor of the graph (size and hyper arithmetic, constants; no
 * tensor data) and refuses a zero with the interpreter's located error. Compiled targets call this
 * when sizes and hypers are bound, so they refuse what the interpreter refuses.
 */
export function checkBindTimeDivisions(
  roots: readonly Node[],
  sizes: Sizes,
  hypers: ReadonlyMap<string, number>,
  file?: string,
): void {
  const memo = new Map<number, boolean>()
  const constMemo = new Map<number, boolean>()
  const divs = topoOrder(roots).filter(
    (n) => n.op === 'div' && isBindTime(n.args[1]!, memo) && !isConstant(n, constMemo),
  )
  if (divs.length === 0) return
  const vals = evaluate(
    divs.map((d) => d.args[1]!),
    { sizes, tensors: new Map(), hypers },
    file,
  )
  divs.forEach((d, i) => {
    if (vals[i]!.some((v) => v === 0)) throw divisionByZero(d, { sizes, hypers }, file)
  })
}

/** checkBindTimeDivisions over everything a kernel plan computes (both steps of its mode). */
export function checkPlanDivisions(
  plan: KernelPlan,
  sizes: Sizes,
  hypers: ReadonlyMap<string, number>,
  file: string,
): void {
  const roots = [...plan.forward.outputs, ...plan.forward.updates, ...plan.backward.outputs]
  checkBindTimeDivisions(
    roots.map((o) => o.node),
    sizes,
    hypers,
    file,
  )
}
