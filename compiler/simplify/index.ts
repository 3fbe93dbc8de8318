// The simplifier: rebuilds a graph through a Builder whose `make` applies local rewrites, so
// every node is simplified as it is made and the hash-consing shares what the rewrites expose.
//
// What it does, in the order a reader meets it below:
// - constant folding and algebraic identities (x·1, x+0, −−x, signs pulled outward);
// - broadcasts hoisted above elementwise operations, so per-channel arithmetic stays per channel;
// - mean(x, R) → sum(x, R) / count(R), so means and sums of the same thing are one reduction;
// - sums: of a broadcast (a count times the value), of a sum (merged), of a centred value
//   x − mean(x, R) over R (exactly zero), distributed over + and −, and with the factors
//   that do not vary over R pulled out: sum(a·b, R) → a·sum(b, R) when a lacks R.
//
// Accuracy is never traded: the centring x − μ of raw data is never expanded (not into
// x·inv − μ·inv, and sum(x − μ) never into sum(x) − m·μ), and no variance is rewritten into
// E[x²] − E[x]². Reassociating a float64 sum is the only freedom taken. See spec/simplify.md.

import type { AxisTable } from '../check/axes.js'
import { shareReductions } from './share.js'
import { Builder, opKind, topoOrder, type Node, type Op } from '../ir/index.js'

type Extra = Partial<Pick<Node, 'value' | 'name' | 'role' | 'over'>>

const unaryFns: Record<string, (x: number) => number> = {
  neg: (x) => -x,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  exp: Math.exp,
  log: Math.log,
  abs: Math.abs,
  recip: (x) => 1 / x,
  tanh: Math.tanh,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  sign: Math.sign,
}
const binaryFns: Record<string, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => a ** b,
  max: Math.max,
  min: Math.min,
  ge: (a, b) => +(a >= b),
  gt: (a, b) => +(a > b),
  le: (a, b) => +(a <= b),
  lt: (a, b) => +(a < b),
  eq: (a, b) => +(a === b),
}

/** The constant a node stands for (a const, or a broadcast of one). */
export function constOf(n: Node): number | undefined {
  if (n.op === 'const') return n.value
  if (n.op === 'broadcast' && n.args[0]!.op === 'const') return n.args[0]!.value
  return undefined
}

/** `n` without an outer broadcast. */
const unwrap = (n: Node) => (n.op === 'broadcast' ? n.args[0]! : n)

/** A value that does not vary over R: a broadcast (or scalar) whose data lacks every axis of R. */
function invariant(n: Node, R: readonly string[]): boolean {
  return !unwrap(n).axes.some((a) => R.includes(a))
}

/** Whether n is mean(x, R) in one of its forms. */
function isMeanOf(n: Node, x: Node, R: readonly string[]): boolean {
  const sameR = (m: Node) => m.over!.length === R.length && m.over!.every((a) => R.includes(a))
  if (n.op === 'mean') return n.args[0] === x && sameR(n)
  if (n.op === 'div' && n.args[0]!.op === 'sum' && unwrap(n.args[1]!).op === 'count') {
    const s = n.args[0]!
    return s.args[0] === x && sameR(s) && sameR(unwrap(n.args[1]!))
  }
  return false
}

/** The raw data a centring subtracts from: an input or a regrouping of one. */
const isRaw = (n: Node) => n.op === 'input' || (n.op === 'regroup' && n.args[0]!.op === 'input')

/** `a ± b` where one side is invariant over R and the other raw data: a centring not to expand. */
function isCentring(n: Node, R: readonly string[]): boolean {
  if (n.op !== 'add' && n.op !== 'sub') return false
  const [a, b] = n.args as [Node, Node]
  return (invariant(a, R) && isRaw(b)) || (invariant(b, R) && isRaw(a))
}

interface Factors {
  num: Node[]
  den: Node[]
  negative: boolean
}

/** Flattens a product/quotient/negation tree into factors. */
function factorsOf(
  n: Node,
  out: Factors = { num: [], den: [], negative: false },
  inverted = false,
): Factors {
  if (n.op === 'mul') {
    factorsOf(n.args[0]!, out, inverted)
    factorsOf(n.args[1]!, out, inverted)
  } else if (n.op === 'div') {
    factorsOf(n.args[0]!, out, inverted)
    factorsOf(n.args[1]!, out, !inverted)
  } else if (n.op === 'neg') {
    out.negative = !out.negative
    factorsOf(n.args[0]!, out, inverted)
  } else if (constOf(n) !== 1) (inverted ? out.den : out.num).push(n)
  // (A factor 1 is dropped: kept, sum(1 / d, R) would be rebuilt as 1 · sum(1 / d, R), forever.)
  return out
}

export class Simplifier extends Builder {
  private readonly memo = new Map<string, Node>()
  private rulesOn = true

  /** Runs `f` building plain hash-consed nodes, with no rewriting. */
  withoutRules<T>(f: () => T): T {
    this.rulesOn = false
    try {
      return f()
    } finally {
      this.rulesOn = true
    }
  }

  /** `axes` with each axis that `fine` splits replaced by its factors. */
  refineAxes(axes: readonly string[], fine: readonly string[]): string[] {
    return this.refine(axes, fine)
  }

  constructor(axes: AxisTable) {
    super(axes)
  }

  override make(op: Op, args: readonly Node[], axes: readonly string[], extra: Extra = {}): Node {
    if (!this.rulesOn) return super.make(op, args, axes, extra)
    const key = `${op}|${args.map((a) => a.id).join(',')}|${axes.join(',')}|${extra.value ?? ''}|${extra.name ?? ''}|${extra.role ?? ''}|${extra.over?.join(',') ?? ''}`
    const hit = this.memo.get(key)
    if (hit) return hit
    const r = this.rewrite(op, args, axes, extra) ?? super.make(op, args, axes, extra)
    this.memo.set(key, r)
    return r
  }

  /** A product of factors, in a canonical order (by id) so equal products are one node. */
  product(num: Node[], den: Node[], axes?: readonly string[]): Node {
    // Numeric constants among the factors are multiplied into one (2 · 0.5 / m → 1 / m).
    const flat: Factors = { num: [], den: [], negative: false }
    for (const n of num) factorsOf(n, flat, false)
    for (const n of den) factorsOf(n, flat, true)
    let k = flat.negative ? -1 : 1
    num = flat.num.filter((n) => (constOf(n) !== undefined ? ((k *= constOf(n)!), false) : true))
    // (Except a zero: dividing data by a zero known at bind time is refused, not folded into
    // an infinite coefficient.)
    den = flat.den.filter((n) => {
      const v = constOf(n)
      if (v === undefined || v === 0) return true
      k /= v
      return false
    })
    if (k !== 1 || num.length === 0) num = [this.c(k), ...num]
    const sort = (xs: Node[]) => [...xs].sort((a, b) => a.id - b.id)
    const chain = (xs: Node[]) =>
      sort(xs).reduce<Node | undefined>((acc, f) => (acc ? this.mul(acc, f) : f), undefined)
    const top = chain(num) ?? this.c(1)
    const bottom = chain(den)
    const r = bottom ? this.div(top, bottom) : top
    return axes ? this.broadcast(r, axes) : r
  }

  private rewrite(
    op: Op,
    args: readonly Node[],
    axes: readonly string[],
    extra: Extra,
  ): Node | undefined {
    const kind = opKind(op)
    if (kind === 'unary' || kind === 'binary' || op === 'clamp')
      return this.elementwise(op, args, axes)
    if (op === 'mean')
      return this.div(this.reduce('sum', args[0]!, extra.over!), this.count(extra.over!))
    if (op === 'sum') return this.sum(args[0]!, extra.over!, axes)
    if (op === 'regroup') return this.regroupRule(args[0]!, axes)
    if (op === 'rmax' || op === 'rmin') {
      const x = args[0]!
      if (x.op === 'broadcast' && invariant(x, extra.over!)) return this.broadcast(unwrap(x), axes)
    }
    return undefined
  }

  /**
   * Regroupings are normalised to the finest view: a split (`x as [N, G, K, H, W]`) moves
   * toward the leaves, a merge (`… as [N, C, H, W]`) toward the roots. Then every full-size
   * computation happens in one view, and reductions in it can be shared.
   */
  private regroupRule(x: Node, to: readonly string[]): Node | undefined {
    if (to.length <= x.axes.length) return undefined
    if (x.op === 'broadcast') {
      const y = x.args[0]!
      return this.broadcast(this.regroup(y, this.refine(y.axes, to)), to)
    }
    const k = opKind(x.op)
    if (k === 'unary' || k === 'binary' || x.op === 'clamp')
      return this.rebuild(
        x.op,
        x.args.map((a) => this.regroup(a, to)),
      )
    return undefined
  }

  /** `axes` with each axis that `fine` splits replaced by its factors. */
  private refine(axes: readonly string[], fine: readonly string[]): string[] {
    // Recursively: with axis B = M * C and C = L * K, B in the view [M, L, K] is M, L, K.
    return axes.flatMap((a) => {
      if (fine.includes(a)) return [a]
      const f = this.axes.get(a)?.factors
      return f ? this.refine(f, fine) : [a]
    })
  }

  /** The same elementwise operation on new arguments. */
  private rebuild(op: Op, args: Node[]): Node {
    if (op === 'clamp') return this.clamp(args[0]!, args[1]!, args[2]!)
    return args.length === 1
      ? this.unary(op as never, args[0]!)
      : this.binary(op as never, args[0]!, args[1]!)
  }

  private elementwise(op: Op, args: readonly Node[], axes: readonly string[]): Node | undefined {
    // An operand merged from a finer view: compute in that view, merge the result.
    const merged = args.find((a) => a.op === 'regroup' && a.args[0]!.axes.length > a.axes.length)
    if (merged) {
      const fine = merged.args[0]!.axes
      return this.regroup(
        this.rebuild(
          op,
          args.map((a) => this.regroup(a, fine)),
        ),
        axes,
      )
    }
    const cs = args.map(constOf)
    // Constant folding.
    if (cs.every((v) => v !== undefined)) {
      const v =
        op === 'clamp'
          ? Math.min(Math.max(cs[0]!, cs[1]!), cs[2]!)
          : args.length === 1
            ? unaryFns[op]!(cs[0]!)
            : binaryFns[op]!(cs[0]!, cs[1]!)
      return this.broadcast(this.c(v), axes)
    }
    // Hoist broadcasts: an operation on broadcasts is a broadcast of the operation.
    if (axes.length > 0 && args.every((a) => a.op === 'broadcast' || a.axes.length === 0)) {
      const inner = args.map(unwrap)
      const u = this.axes.sort(inner.flatMap((a) => a.axes))
      if (u.length < axes.length) {
        const small =
          op === 'clamp'
            ? this.clamp(inner[0]!, inner[1]!, inner[2]!)
            : inner.length === 1
              ? this.unary(op as never, inner[0]!)
              : this.binary(op as never, inner[0]!, inner[1]!)
        return this.broadcast(small, axes)
      }
    }
    const [a, b] = args as [Node, Node]
    const [ca, cb] = cs
    const zero = () => this.broadcast(this.c(0), axes)
    const neg = (n: Node): Node | undefined =>
      n.op === 'neg'
        ? n.args[0]
        : n.op === 'broadcast' && n.args[0]!.op === 'neg'
          ? this.broadcast(n.args[0]!.args[0]!, n.axes)
          : undefined
    switch (op) {
      case 'neg':
        if (a.op === 'neg') return a.args[0]
        if (a.op === 'sub') return this.sub(a.args[1]!, a.args[0]!)
        return undefined
      case 'add': {
        if (ca === 0) return b
        if (cb === 0) return a
        const nb = neg(b)
        if (nb) return this.sub(a, nb)
        const na = neg(a)
        if (na) return this.sub(b, na)
        return undefined
      }
      case 'sub': {
        if (cb === 0) return a
        if (ca === 0) return this.neg(b)
        if (a === b) return zero()
        const nb = neg(b)
        if (nb) return this.add(a, nb)
        const na = neg(a)
        if (na) return this.neg(this.add(na, b))
        return undefined
      }
      case 'mul': {
        if (ca === 1) return b
        if (cb === 1) return a
        if (ca === 0 || cb === 0) return zero()
        if (ca === -1) return this.neg(b)
        if (cb === -1) return this.neg(a)
        const na = neg(a)
        if (na) return this.neg(this.mul(na, b))
        const nb = neg(b)
        if (nb) return this.neg(this.mul(a, nb))
        return this.gatherSmallFactors(op, args, axes)
      }
      case 'div': {
        // A division by a constant zero stays: it is refused when sizes and hypers are bound.
        if (cb === 0) return undefined
        if (cb === 1) return a
        if (ca === 0) return zero()
        const na = neg(a)
        if (na) return this.neg(this.div(na, b))
        const nb = neg(b)
        if (nb) return this.neg(this.div(a, nb))
        return this.gatherSmallFactors(op, args, axes)
      }
      case 'pow':
        if (cb === 1) return a
        if (cb === 0) return this.broadcast(this.c(1), axes)
        return undefined
      default:
        return undefined
    }
  }

  /**
   * In a product over full-size values, the factors that are broadcasts of smaller values
   * (per-channel γ, 1/σ, constants) are multiplied together first, at their own size:
   * dy·γ/σ·k → dy·(γ·k/σ). Per element that is one multiplication instead of several and no
   * division. Reassociating a float64 product trades no accuracy.
   */
  private gatherSmallFactors(
    op: Op,
    args: readonly Node[],
    axes: readonly string[],
  ): Node | undefined {
    if (axes.length === 0) return undefined
    const f: Factors = { num: [], den: [], negative: false }
    factorsOf(args[0]!, f, false)
    factorsOf(args[1]!, f, op === 'div')
    const small = (n: Node) => n.axes.length < axes.length || n.op === 'broadcast'
    if (f.den.some((n) => constOf(n) === 0)) return undefined
    const sNum = f.num.filter(small)
    const sDen = f.den.filter(small)
    // A lone division by a count stays a division (means keep their exact form).
    const onlyCounts = sDen.every((n) => unwrap(n).op === 'count')
    if (sNum.length + sDen.length < 2 && (sDen.length === 0 || onlyCounts)) return undefined
    // Only when the small factors together are still smaller than the product.
    const union = new Set([...sNum, ...sDen].flatMap((n) => unwrap(n).axes))
    if (union.size >= axes.length) return undefined
    const coef = this.broadcast(this.product(sNum.map(unwrap), sDen.map(unwrap)), axes)
    const bNum = f.num.filter((n) => !small(n))
    const bDen = f.den.filter((n) => !small(n))
    let r = bNum.length ? this.mul(this.product(bNum, []), coef) : coef
    if (bDen.length) r = this.div(r, this.product(bDen, []))
    return f.negative ? this.neg(r) : r
  }

  private sum(x: Node, R: readonly string[], axes: readonly string[]): Node | undefined {
    // Of a broadcast: the axes the broadcast added contribute a count.
    if (x.op === 'broadcast') {
      const y = x.args[0]!
      const added = R.filter((a) => !y.axes.includes(a))
      if (added.length) {
        const own = R.filter((a) => y.axes.includes(a))
        return this.broadcast(this.mul(this.reduce('sum', y, own), this.count(added)), axes)
      }
    }
    if (x.op === 'sum') return this.reduce('sum', x.args[0]!, [...x.over!, ...R])
    if (x.op === 'regroup' && x.args[0]!.axes.length > x.axes.length) {
      const fine = x.args[0]!
      return this.regroup(this.reduce('sum', fine, this.refine(R, fine.axes)), axes)
    }
    if (x.op === 'neg') return this.neg(this.reduce('sum', x.args[0]!, R))
    // A centred value sums to zero over its own axes: sum(x − mean(x, R), R) = 0, exactly.
    if (
      x.op === 'sub' &&
      x.args[1]!.op === 'broadcast' &&
      isMeanOf(x.args[1]!.args[0]!, x.args[0]!, R)
    )
      return this.broadcast(this.c(0), axes)
    if ((x.op === 'add' || x.op === 'sub') && !isCentring(x, R)) {
      const p = this.reduce('sum', x.args[0]!, R)
      const q = this.reduce('sum', x.args[1]!, R)
      return x.op === 'add' ? this.add(p, q) : this.sub(p, q)
    }
    if (x.op !== 'mul' && x.op !== 'div') return undefined
    const f = factorsOf(x)
    // A division by a constant zero stays as written (refused when sizes are bound).
    if (f.den.some((n) => constOf(n) === 0)) return undefined
    const inv = f.num.filter((n) => invariant(n, R))
    const invDen = f.den.filter((n) => invariant(n, R))
    const num = f.num.filter((n) => !invariant(n, R))
    const den = f.den.filter((n) => !invariant(n, R))
    // Distribute over a sum factor with an invariant term, so that term can come out.
    const k = num.findIndex(
      (n) =>
        (n.op === 'add' || n.op === 'sub') &&
        !isCentring(n, R) &&
        n.args.some((t) => invariant(t, R)),
    )
    if (k >= 0) {
      const s = num[k]!
      const rest = [...inv, ...num.slice(0, k), ...num.slice(k + 1)]
      const allDen = [...invDen, ...den]
      const part = (t: Node) => this.reduce('sum', this.product([...rest, t], allDen, x.axes), R)
      const r =
        s.op === 'add'
          ? this.add(part(s.args[0]!), part(s.args[1]!))
          : this.sub(part(s.args[0]!), part(s.args[1]!))
      return f.negative ? this.neg(r) : r
    }
    // Split the reduction where some factors vary over only part of R: with R1 the axes they
    // do not vary over, sum(a·b, R) → sum(a·sum(b, R1), R − R1). The inner sums are the
    // partial sums an expert shares (GroupNorm's, InstanceNorm's per-(n, c) sums).
    if (inv.length === 0 && invDen.length === 0) {
      const varying = (n: Node) => unwrap(n).axes.filter((a) => R.includes(a))
      const partial = [...num, ...den].filter(
        (n) => n.op === 'broadcast' && varying(n).length < R.length,
      )
      if (partial.length) {
        const outerAxes = new Set(partial.flatMap(varying))
        const R1 = R.filter((a) => !outerAxes.has(a))
        if (R1.length) {
          const inner = this.reduce(
            'sum',
            this.product(
              num.filter((n) => !partial.includes(n)),
              den.filter((n) => !partial.includes(n)),
              x.axes,
            ),
            R1,
          )
          const outer = this.mul(
            this.product(
              num.filter((n) => partial.includes(n)).map(unwrap),
              den.filter((n) => partial.includes(n)).map(unwrap),
            ),
            inner,
          )
          const r = this.reduce(
            'sum',
            outer,
            R.filter((a) => outerAxes.has(a)),
          )
          return f.negative ? this.neg(r) : r
        }
      }
    }
    if (inv.length === 0 && invDen.length === 0) {
      const canonical = this.product(num, den, x.axes)
      if (!f.negative && canonical === x) return undefined
      const r = this.reduce('sum', canonical, R)
      return f.negative ? this.neg(r) : r
    }
    const inner = this.reduce('sum', this.product(num, den, x.axes), R)
    const outer = this.product(inv.map(unwrap), invDen.map(unwrap))
    const r = this.mul(outer, inner)
    return f.negative ? this.neg(r) : r
  }
}

/** Simplifies the graphs rooted at `roots` together; returns the new roots in order. */
export function simplifyGraphs(
  roots: readonly Node[],
  axes: AxisTable,
): { builder: Simplifier; roots: Node[] } {
  const s = new Simplifier(axes)
  const map = new Map<number, Node>()
  for (const n of topoOrder(roots)) {
    const args = n.args.map((a) => map.get(a.id)!)
    let m: Node
    switch (n.op) {
      case 'input':
        m = s.input(n.name!, n.role!, n.axes)
        break
      case 'hyper':
        m = s.hyper(n.name!)
        break
      case 'const':
        m = s.c(n.value!)
        break
      case 'count':
        m = s.count(n.over!)
        break
      case 'broadcast':
        m = s.broadcast(args[0]!, n.axes)
        break
      case 'regroup':
        m = s.regroup(args[0]!, n.axes)
        break
      case 'stop_gradient':
        m = s.stopGradient(args[0]!)
        break
      case 'clamp':
        m = s.clamp(args[0]!, args[1]!, args[2]!)
        break
      default: {
        const k = opKind(n.op)
        if (k === 'reduce') m = s.reduce(n.op as never, args[0]!, n.over!)
        else if (k === 'unary') m = s.unary(n.op as never, args[0]!)
        else m = s.binary(n.op as never, args[0]!, args[1]!)
      }
    }
    if (!m.span && n.span) m.span = n.span
    if (!m.hint && n.hint) m.hint = n.hint
    map.set(n.id, m)
  }
  return {
    builder: s,
    roots: shareReductions(
      roots.map((r) => map.get(r.id)!),
      s,
    ),
  }
}
