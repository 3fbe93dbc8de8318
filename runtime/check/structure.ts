// What the forward graph of a layer says about the properties its gradient must have. Nothing
// here knows a layer by name: the properties are read off the structure of the lowered graph.
//
// - A *centering* of input x is `X − mean(X, R)` with X = x or a regrouping of x (`x as [...]`),
//   the mean written as mean(X, R) or sum(X, R) / count(R). When x reaches the outputs only
//   through centerings over one R, the output is a function of the centered values alone:
//   the input gradient sums to zero over every group of R, for any eps, and (when no
//   stop_gradient value depends on x either) the output is invariant to shifting a group.
// - A *normalization* is c · (V + eps)^(−1/2) (as c / sqrt(V + eps), c * rsqrt(V + eps), with
//   other factors around it), where V is a positive bind-time multiple of Σ_R c² and c is a
//   centering over R, or x itself (RMSNorm). When x reaches the outputs only through such
//   products, then with every eps set to 0 the output is a function of c / ‖c‖ per group: the
//   gradient is orthogonal to c (to x̂), and the output is invariant to scaling a group.
// - stop_gradient values the outputs depend on: their gradient is cut, so finite differences
//   of the surrogate (the values frozen) must match, and those of the true function need not.

import type { CheckedLayer } from '../../compiler/check/index.js'
import { topoOrder, type Node, type Program } from '../../compiler/ir/index.js'
import { isBindTime } from '../interp.js'

const unwrap = (n: Node): Node => (n.op === 'broadcast' ? n.args[0]! : n)

function constOf(n: Node): number | undefined {
  const u = unwrap(n)
  return u.op === 'const' ? u.value : undefined
}

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x) => b.includes(x))

/** A node that is the raw data of input `x`: x itself or a regrouping of it. */
function isRawOf(n: Node, x: Node): boolean {
  return n === x || (n.op === 'regroup' && n.args[0] === x)
}

/** mean(X, R) in one of its written forms. */
function meanOf(n: Node): { X: Node; R: readonly string[] } | undefined {
  const u = unwrap(n)
  if (u.op === 'mean') return { X: u.args[0]!, R: u.over! }
  if (u.op === 'div' && u.args[0]!.op === 'sum') {
    const c = unwrap(u.args[1]!)
    if (c.op === 'count' && sameSet(c.over!, u.args[0]!.over!))
      return { X: u.args[0]!.args[0]!, R: u.args[0]!.over! }
  }
  return undefined
}

/** A group of a tensor: the axes of the view it is taken in, and the axes reduced. */
export interface Group {
  /** The axes of the view (x's own, or those of `x as [...]`): same data, same order. */
  axes: readonly string[]
  /** The reduced axes: one group per combination of the other axes. */
  over: readonly string[]
}

export interface Centering {
  node: Node
  group: Group
}

/** The centering `X − mean(X, R)` that `n` is, for input x. */
function centeringOf(n: Node, x: Node): Centering | undefined {
  if (n.op !== 'sub') return undefined
  const [a, b] = n.args as [Node, Node]
  if (!isRawOf(a, x) || b.op !== 'broadcast') return undefined
  const m = meanOf(b)
  if (!m || m.X !== a || m.R.length === 0) return undefined
  return { node: n, group: { axes: a.axes, over: m.R } }
}

export type EpsSource =
  | { kind: 'hyper'; name: string }
  | { kind: 'tensor'; name: string }
  | { kind: 'const'; value: number }
  | { kind: 'expr' }
  | { kind: 'none' }

/** The base b of b², written b ^ 2 or b * b. */
function squareBase(n: Node): Node | undefined {
  if (n.op === 'pow' && constOf(n.args[1]!) === 2) return n.args[0]
  if (n.op === 'mul' && n.args[0] === n.args[1]) return n.args[0]
  return undefined
}

/** V = k · Σ_R b² with k a bind-time constant (mean, sum / count, sum / (m − 1), …). */
function varianceOf(n: Node): { base: Node; R: readonly string[] } | undefined {
  const u = unwrap(n)
  const sq = (r: Node) => {
    const base = squareBase(r.args[0]!)
    return base ? { base, R: r.over! } : undefined
  }
  if (u.op === 'mean' || u.op === 'sum') return sq(u)
  if ((u.op === 'div' || u.op === 'mul') && isBindTime(u.args[1]!) && u.args[0]!.op === 'sum')
    return sq(u.args[0]!)
  if (u.op === 'mul' && isBindTime(u.args[0]!) && u.args[1]!.op === 'sum') return sq(u.args[1]!)
  return undefined
}

/** What is added to the variance under the root: a hyper, a tensor, a constant… */
function epsOf(e: Node, V: Node): EpsSource | undefined {
  const u = unwrap(e)
  if (u.op === 'hyper') return { kind: 'hyper', name: u.name! }
  if (u.op === 'const') return { kind: 'const', value: u.value! }
  if (u.op === 'input' && u.axes.every((a) => unwrap(V).axes.includes(a)))
    return { kind: 'tensor', name: u.name! }
  if (isBindTime(u)) return { kind: 'expr' }
  return undefined
}

/** The argument of a square root: V or V + eps. */
function rootArg(A: Node): { V: Node; eps: EpsSource } | undefined {
  const u = unwrap(A)
  if (varianceOf(u)) return { V: u, eps: { kind: 'none' } }
  if (u.op === 'add') {
    for (const [v, e] of [
      [u.args[0]!, u.args[1]!],
      [u.args[1]!, u.args[0]!],
    ] as const) {
      if (!varianceOf(v)) continue
      const eps = epsOf(e, v)
      if (eps) return { V: unwrap(v), eps }
    }
  }
  return undefined
}

/** sqrt(A) or A ^ 0.5 (power +1/2), rsqrt(A) or A ^ −0.5 (power −1/2). */
function rootOf(n: Node): { power: 1 | -1; V: Node; eps: EpsSource } | undefined {
  const u = unwrap(n)
  let power: 1 | -1 | undefined
  let A: Node | undefined
  if (u.op === 'sqrt') [power, A] = [1, u.args[0]]
  else if (u.op === 'rsqrt') [power, A] = [-1, u.args[0]]
  else if (u.op === 'pow' && constOf(u.args[1]!) === 0.5) [power, A] = [1, u.args[0]]
  else if (u.op === 'pow' && constOf(u.args[1]!) === -0.5) [power, A] = [-1, u.args[0]]
  if (!power || !A) return undefined
  const r = rootArg(A)
  return r && { power, ...r }
}

interface Factors {
  num: Node[]
  den: Node[]
}

function factorsOf(n: Node, out: Factors = { num: [], den: [] }, inv = false): Factors {
  if (n.op === 'mul') {
    factorsOf(n.args[0]!, out, inv)
    factorsOf(n.args[1]!, out, inv)
  } else if (n.op === 'div') {
    factorsOf(n.args[0]!, out, inv)
    factorsOf(n.args[1]!, out, !inv)
  } else if (n.op === 'neg') factorsOf(n.args[0]!, out, inv)
  else (inv ? out.den : out.num).push(n)
  return out
}

export interface Normalization {
  /** The product node c · (V + eps)^(−1/2) · (other factors). */
  node: Node
  /** The normalized value: a centering, or the raw input (RMSNorm). */
  base: Node
  centered: boolean
  group: Group
  eps: EpsSource
  /** The factors of the product that are not part of the normalization (gamma, r, …). */
  others: Node[]
}

/** Whether `n` is a product holding a normalization of input x (centered, or raw). */
function normalizationOf(
  n: Node,
  x: Node,
  centerings: Map<number, Centering>,
): Normalization | undefined {
  if (n.op !== 'mul' && n.op !== 'div') return undefined
  const f = factorsOf(n)
  for (const cand of f.num) {
    const c = unwrap(cand)
    const cen = centerings.get(c.id)
    const raw = isRawOf(c, x)
    if (!cen && !raw) continue
    const tryRoot = (list: Node[], power: 1 | -1) => {
      for (const s of list) {
        const r = rootOf(s)
        if (!r || r.power !== power) continue
        const v = varianceOf(r.V)!
        if (v.base !== c) continue
        if (cen && !sameSet(v.R, cen.group.over)) continue
        if (!cen && v.R.some((a) => !c.axes.includes(a))) continue
        return { s, r, R: v.R }
      }
      return undefined
    }
    const hit = tryRoot(f.den, 1) ?? tryRoot(f.num, -1)
    if (!hit) continue
    const others = [
      ...f.num.filter((m) => m !== cand && m !== hit.s),
      ...f.den.filter((m) => m !== hit.s),
    ]
    return {
      node: n,
      base: c,
      centered: !!cen,
      group: { axes: c.axes, over: hit.R },
      eps: hit.r.eps,
      others,
    }
  }
  return undefined
}

/** Why a property holds or not, in words. */
export interface Verdict {
  holds: boolean
  why: string
}

export interface StopInfo {
  node: Node
  /** Its name in the source (`r`), or a description. */
  label: string
  /** Inputs and params its value depends on. */
  dependsOn: string[]
  /** State buffers its value depends on. */
  states: string[]
}

export interface InputStructure {
  input: string
  /** The group the normalization (or the centering) works on, when there is one. */
  group?: Group
  centered: boolean
  normalized: boolean
  /** The eps terms of the normalizations (to set to 0 for the exact properties). */
  eps: EpsSource[]
  /** dx sums to zero over each group (surrogate gradient). */
  zeroSum: Verdict
  /** y(x + t per group) = y(x). */
  shift: Verdict
  /** With eps = 0, dx ⟂ x̂ (or ⟂ x for an uncentered normalization). */
  ortho: Verdict
  /** With eps = 0, y(λ x per group) = y(x). */
  scale: Verdict
}

export interface Structure {
  inputs: InputStructure[]
  stops: StopInfo[]
}

/** Describes a node for a reason message: its source text and place, or its name. */
export type Describe = (n: Node) => string

/**
 * A path from an output to input x that avoids the wrapper nodes (and, unless `throughStops`,
 * stop_gradient), or undefined when every path to x passes through a wrapper.
 */
function pathOutside(
  roots: readonly Node[],
  x: Node,
  wrap: (n: Node) => readonly Node[] | undefined,
  throughStops: boolean,
): Node[] | undefined {
  const seen = new Set<number>()
  const path: Node[] = []
  const visit = (n: Node): boolean => {
    if (seen.has(n.id)) return false
    seen.add(n.id)
    path.push(n)
    if (n === x) return true
    let next: readonly Node[] = n.args
    const w = wrap(n)
    if (w) next = w
    else if (n.op === 'stop_gradient' && !throughStops) next = []
    for (const a of next) if (visit(a)) return true
    path.pop()
    return false
  }
  for (const r of roots) if (visit(r)) return path
  return undefined
}

/** Analyses the forward program of a layer (lowered, not simplified). */
export function analyse(layer: CheckedLayer, p: Program, describe: Describe): Structure {
  const roots = p.outputs.map((o) => o.node)
  const order = topoOrder(roots)
  const leafNames = new Set([...layer.inputs, ...layer.params, ...layer.states].map((t) => t.name))
  const stateNames = new Set(layer.states.map((t) => t.name))
  // stop_gradient values the outputs depend on, and what they depend on.
  const deps = new Map<number, Set<string>>()
  for (const n of order) {
    const s = new Set<string>()
    if (n.op === 'input' && leafNames.has(n.name!)) s.add(n.name!)
    for (const a of n.args) for (const d of deps.get(a.id)!) s.add(d)
    deps.set(n.id, s)
  }
  const stops: StopInfo[] = order
    .filter((n) => n.op === 'stop_gradient')
    .map((n) => {
      const all = [...deps.get(n.id)!]
      return {
        node: n,
        label: n.hint ?? describe(n),
        dependsOn: all.filter((d) => !stateNames.has(d)),
        states: all.filter((d) => stateNames.has(d)),
      }
    })

  const inputs: InputStructure[] = []
  for (const x of p.inputs) {
    const centerings = new Map<number, Centering>()
    for (const n of order) {
      const c = centeringOf(n, x)
      if (c) centerings.set(n.id, c)
    }
    const norms = new Map<number, Normalization>()
    for (const n of order) {
      const m = normalizationOf(n, x, centerings)
      if (m) norms.set(n.id, m)
    }
    const name = x.name!
    const why = (path: Node[]): string => {
      const stop = path.find((n) => n.op === 'stop_gradient')
      if (stop) {
        const info = stops.find((s) => s.node === stop)!
        const st = info.states.length
          ? ` (which also depends on the state ${info.states.join(', ')})`
          : ''
        return `through the stop_gradient value ${info.label}${st}`
      }
      const user = path[path.length - 2]
      return user ? `at ${describe(user)}` : 'directly'
    }
    const sameGroups = (gs: Group[]) =>
      gs.every(
        (g) => sameLeaves(layer, g.axes, gs[0]!.axes) && sameLeaves(layer, g.over, gs[0]!.over),
      )
    // Centering: zero-sum (surrogate) and shift invariance (true function).
    let zeroSum: Verdict
    let shift: Verdict
    const cens = [...centerings.values()]
    if (cens.length === 0) {
      const no = `${name} is never centered (no ${name} − mean(${name}, R) in the forward graph)`
      zeroSum = { holds: false, why: no }
      shift = { holds: false, why: no }
    } else if (!sameGroups(cens.map((c) => c.group))) {
      const no = `${name} is centered over different axes in different places`
      zeroSum = { holds: false, why: no }
      shift = { holds: false, why: no }
    } else {
      const g = cens[0]!.group
      const wrapC = (n: Node) => (centerings.has(n.id) ? [] : undefined)
      const what = `${name} − mean(${name}, [${g.over.join(', ')}])`
      const sur = pathOutside(roots, x, wrapC, false)
      zeroSum = sur
        ? {
            holds: false,
            why: `${name} reaches the output outside its centering ${what}, ${why(sur)}`,
          }
        : { holds: true, why: `the output depends on ${name} only through ${what}` }
      const tru = pathOutside(roots, x, wrapC, true)
      shift = tru
        ? {
            holds: false,
            why: `${name} reaches the output outside its centering ${what}, ${why(tru)}`,
          }
        : { holds: true, why: `the output depends on ${name} only through ${what}` }
    }
    // Normalization: orthogonality and scale invariance, at eps = 0.
    let ortho: Verdict
    let scale: Verdict
    const ns = [...norms.values()]
    const eps: EpsSource[] = []
    for (const m of ns)
      if (!eps.some((e) => JSON.stringify(e) === JSON.stringify(m.eps))) eps.push(m.eps)
    const fixed = eps.find((e) => e.kind === 'const' || e.kind === 'expr')
    if (ns.length === 0) {
      const no = `${name} is not normalized by a root mean square over a group (no c / sqrt(mean(c ^ 2, R) + eps))`
      ortho = { holds: false, why: no }
      scale = { holds: false, why: no }
    } else if (!sameGroups(ns.map((m) => m.group)) || new Set(ns.map((m) => m.base.id)).size > 1) {
      const no = `${name} is normalized over different groups in different places`
      ortho = { holds: false, why: no }
      scale = { holds: false, why: no }
    } else if (fixed) {
      const no =
        fixed.kind === 'const'
          ? `eps is the constant ${fixed.value} in the source: it cannot be set to 0`
          : `eps is an expression of hypers: it cannot be set to 0`
      ortho = { holds: false, why: no }
      scale = { holds: false, why: no }
    } else {
      const wrapN = (n: Node) => norms.get(n.id)?.others
      const m = ns[0]!
      const what = m.centered
        ? `${name}̂ = (${name} − mean) / sqrt(var + eps)`
        : `${name} / rms(${name})`
      const sur = pathOutside(roots, x, wrapN, false)
      ortho = sur
        ? { holds: false, why: `${name} reaches the output outside ${what}, ${why(sur)}` }
        : { holds: true, why: `the output depends on ${name} only through ${what}` }
      const tru = pathOutside(roots, x, wrapN, true)
      scale = tru
        ? { holds: false, why: `${name} reaches the output outside ${what}, ${why(tru)}` }
        : { holds: true, why: `the output depends on ${name} only through ${what}` }
    }
    const group = ns[0]?.group ?? cens[0]?.group ?? firstReduction(order, x)
    inputs.push({
      input: name,
      ...(group ? { group } : {}),
      centered: cens.length > 0,
      normalized: ns.length > 0,
      eps,
      zeroSum,
      shift,
      ortho,
      scale,
    })
  }
  return { inputs, stops }
}

/** The group of the first reduction of x's raw data, for the adversarial inputs. */
function firstReduction(order: readonly Node[], x: Node): Group | undefined {
  for (const n of order) {
    if ((n.op === 'mean' || n.op === 'sum') && n.args.length) {
      const a = n.args[0]!
      const base = isRawOf(a, x) ? a : squareBase(a)
      if (base && isRawOf(base, x)) return { axes: base.axes, over: n.over! }
    }
  }
  return undefined
}

function sameLeaves(layer: CheckedLayer, a: readonly string[], b: readonly string[]): boolean {
  const la = a.flatMap((x) => layer.axes.leaves(x))
  const lb = b.flatMap((x) => layer.axes.leaves(x))
  return sameSet(la, lb)
}

/**
 * For each flat index of a tensor viewed with `group.axes` (row-major), the index of its group
 * (the combination of the non-reduced axes); and the number of groups.
 */
export function groupIndex(
  group: Group,
  sizes: ReadonlyMap<string, number>,
): { ids: Int32Array; count: number } {
  const shape = group.axes.map((a) => sizes.get(a)!)
  const total = shape.reduce((p, s) => p * s, 1)
  const keep = group.axes.map((a) => !group.over.includes(a))
  const ids = new Int32Array(total)
  const idx = new Array<number>(shape.length).fill(0)
  let count = 1
  for (let d = 0; d < shape.length; d++) if (keep[d]) count *= shape[d]!
  for (let i = 0; i < total; i++) {
    let g = 0
    for (let d = 0; d < shape.length; d++) if (keep[d]) g = g * shape[d]! + idx[d]!
    ids[i] = g
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break
      idx[d] = 0
    }
  }
  return { ids, count }
}
