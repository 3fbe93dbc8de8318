// Grammar-aware generators of `.norm` layers, as fast-check arbitraries.
//
// A layer is built by a small typed generator driven by a sequence of random choices (the
// "choice sequence" technique): fast-check generates and shrinks an array of integers, and
// `buildLayer` turns it into a layer. A shorter array or smaller numbers mean a simpler layer
// (every choice's 0 is its simplest option, and a sequence that runs out answers 0), so
// fast-check's shrinking of the array shrinks the program.
//
// The generator keeps its own model of the language rules (named axes, canonical order,
// factorisations, what a reduction or `as` may name), independent of compiler/check, so that a
// generated layer the checker refuses is a disagreement to look at, not a tautology.
//
// In `safe` mode it also tracks an interval for every value (inputs in [-1, 1], params near
// their initial value, state in [0.5, 1.5]) and only writes sqrt, log, division, pow and exp
// where their arguments are well inside the domain, so the layer is finite and differentiable
// away from the kinks of abs, clamp, max, min, sign and the comparisons: what the differential
// tests need. `wild` mode writes any operation anywhere (crash fuzzing).

import fc from 'fast-check'

export const KEYWORDS = [
  'layer',
  'spec',
  'hyper',
  'param',
  'state',
  'axis',
  'train',
  'eval',
  'forward',
  'as',
] as const

export const BUILTIN_NAMES = [
  'sum',
  'mean',
  'max',
  'min',
  'count',
  'lerp',
  'clamp',
  'stop_gradient',
  'broadcast',
  'sqrt',
  'rsqrt',
  'exp',
  'log',
  'abs',
  'tanh',
  'sigmoid',
  'sign',
  'ge',
  'gt',
  'le',
  'lt',
  'eq',
] as const

/** Axis names: ordinary ones and names that mean something to JavaScript. */
export const AXIS_POOL = [
  'N',
  'C',
  'H',
  'W',
  'B',
  'D',
  'T',
  'L',
  'M',
  'constructor',
  '__proto__',
  'toString',
  'NaN',
  'S',
  'x',
  'ax_1',
] as const

/**
 * Value names (inputs, params, state, hypers, bindings, outputs): ordinary ones, JavaScript
 * builtins, names that look like the emitter's own identifiers (b0, v1, s0, H, S, B, i1, o0_1),
 * and `dx`-style names that meet the derived gradients' names.
 */
export const VALUE_POOL = [
  'x',
  'z',
  'u',
  'w',
  'gamma',
  'beta',
  'mu',
  'sigma',
  't',
  'r',
  'eps',
  'momentum',
  'a1',
  'dx',
  'dgamma',
  '__proto__',
  'constructor',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'Function',
  'process',
  'require',
  'globalThis',
  'Infinity',
  'NaN',
  'undefined',
  'prototype',
  'this',
  'arguments',
  'Math',
  'B',
  'S',
  'H',
  'b0',
  'v1',
  's0',
  'i1',
  'o0_1',
  'N',
  'y',
] as const

/** A deterministic source of choices: the integers fast-check generated, then zeros. */
export class Chooser {
  private i = 0
  constructor(private readonly xs: readonly number[]) {}

  /** An integer in [0, n). */
  int(n: number): number {
    const v = this.i < this.xs.length ? this.xs[this.i]! : 0
    this.i++
    return n <= 1 ? 0 : v % n
  }

  /** True with about `percent`% probability (false when the choices have run out). */
  chance(percent: number): boolean {
    return this.int(100) >= 100 - percent
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!
  }

  /** A sub-list of `xs` in its order, each element kept with `percent`% probability. */
  subset<T>(xs: readonly T[], percent: number): T[] {
    return xs.filter(() => this.chance(percent))
  }

  /** `xs` in a random order. */
  shuffle<T>(xs: readonly T[]): T[] {
    const a = [...xs]
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      ;[a[i], a[j]] = [a[j]!, a[i]!]
    }
    return a
  }

  get used(): number {
    return this.i
  }
}

// ---------------------------------------------------------------------------------------------
// The generator's model of a layer's axes.

export interface AxisDef {
  name: string
  kind: 'input' | 'factor' | 'free'
  parent?: string
  factors?: string[]
  /** `axis G = <size>`: the text of the size expression and its value. */
  size?: { text: string; value: number }
  rank: number[]
}

export class Axes {
  readonly defs = new Map<string, AxisDef>()

  add(d: AxisDef): void {
    this.defs.set(d.name, d)
  }

  get(name: string): AxisDef {
    return this.defs.get(name)!
  }

  sort(names: Iterable<string>): string[] {
    const cmp = (a: number[], b: number[]) => {
      for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!
      return a.length - b.length
    }
    return [...new Set(names)].sort((a, b) => cmp(this.get(a).rank, this.get(b).rank))
  }

  leaves(name: string): string[] {
    const f = this.get(name).factors
    return f ? f.flatMap((x) => this.leaves(x)) : [name]
  }

  ancestors(name: string): string[] {
    const out: string[] = []
    let p = this.get(name).parent
    while (p !== undefined) {
      out.push(p)
      p = this.get(p).parent
    }
    return out
  }

  /** Every axis related to `name` (itself excluded): its ancestors and descendants. */
  relatives(name: string): string[] {
    const desc: string[] = []
    const walk = (n: string) => {
      for (const f of this.get(n).factors ?? []) {
        desc.push(f)
        walk(f)
      }
    }
    walk(name)
    return [...this.ancestors(name), ...desc]
  }

  /** Axes that may not appear next to `axes` in one expression. */
  forbiddenBy(axes: readonly string[]): Set<string> {
    return new Set(axes.flatMap((a) => this.relatives(a)))
  }

  /** `axes` with `from` replaced by its factors (a split) in place. */
  split(axes: readonly string[], from: string): string[] {
    return axes.flatMap((a) => (a === from ? this.get(a).factors! : [a]))
  }

  /** `axes` with the factors of `to` replaced by `to` (a merge), when they are all there. */
  merge(axes: readonly string[], to: string): string[] | undefined {
    const fs = this.get(to).factors!
    const i = axes.indexOf(fs[0]!)
    if (i < 0 || !fs.every((f, j) => axes[i + j] === f)) return undefined
    return [...axes.slice(0, i), to, ...axes.slice(i + fs.length)]
  }
}

// ---------------------------------------------------------------------------------------------
// Values, with an interval of what they may hold (safe mode).

interface Iv {
  lo: number
  hi: number
}

/** A generated expression: its text, precedence, axes (canonical) and value interval. */
export interface Ex {
  text: string
  /** 0 `as`, 1 `+ -`, 2 `* /`, 3 unary minus, 4 `^`, 5 atoms. */
  prec: number
  axes: string[]
  iv: Iv
}

interface Value {
  name: string
  axes: string[]
  iv: Iv
}

const WIDE: Iv = { lo: -1e300, hi: 1e300 }
const mag = (iv: Iv) => Math.max(Math.abs(iv.lo), Math.abs(iv.hi))
const ivOf = (...xs: number[]): Iv => {
  const ys = xs.map((v) => (Number.isNaN(v) ? 0 : v))
  return { lo: Math.min(...ys), hi: Math.max(...ys) }
}
const ivAdd = (a: Iv, b: Iv): Iv => ({ lo: a.lo + b.lo, hi: a.hi + b.hi })
const ivSub = (a: Iv, b: Iv): Iv => ({ lo: a.lo - b.hi, hi: a.hi - b.lo })
const ivMul = (a: Iv, b: Iv): Iv => ivOf(a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi)
const ivRecip = (b: Iv): Iv => ivOf(1 / b.lo, 1 / b.hi)
/** Far enough from zero to divide by, with a margin. */
const awayFromZero = (iv: Iv) => iv.lo >= 0.05 || iv.hi <= -0.05
const positive = (iv: Iv, m = 0.05) => iv.lo >= m
const ivSquare = (a: Iv): Iv => {
  const lo = a.lo <= 0 && a.hi >= 0 ? 0 : Math.min(a.lo * a.lo, a.hi * a.hi)
  return { lo, hi: Math.max(a.lo * a.lo, a.hi * a.hi) }
}

/** Numbers as the lexer accepts them, in several spellings. */
const NUMBER_TEXTS: { text: string; value: number }[] = [
  { text: '1', value: 1 },
  { text: '2', value: 2 },
  { text: '0.5', value: 0.5 },
  { text: '.5', value: 0.5 },
  { text: '2.', value: 2 },
  { text: '3', value: 3 },
  { text: '1e-5', value: 1e-5 },
  { text: '1E+1', value: 10 },
  { text: '0.25', value: 0.25 },
  { text: '0', value: 0 },
  { text: '1.5e0', value: 1.5 },
  { text: '100', value: 100 },
  { text: '0.001', value: 0.001 },
  { text: '007', value: 7 },
]

// ---------------------------------------------------------------------------------------------
// The layer model.

export interface Stmt {
  name: string
  op: '=' | '<-'
  expr: string
}

export interface Block {
  mode: 'forward' | 'train' | 'eval'
  stmts: Stmt[]
}

export interface LayerModel {
  name: string
  inputs: { name: string; axes: string[] }[]
  axisDecls: string[]
  hypers: { name: string; text: string; value: number }[]
  tensors: { kind: 'param' | 'state'; name: string; axes: string[]; init?: string; value: number }[]
  outputs: { name: string; shape?: string[] }[]
  blocks: Block[]
  axes: Axes
  /** Largest size the differential tests give each leaf axis (for intervals of sums, counts). */
  maxLeaf: number
}

export interface GenOptions {
  /** Safe values (differential tests) or anything goes (crash fuzzing). */
  safe: boolean
  /** Largest expression depth. */
  depth?: number
}

class Gen {
  readonly axes = new Axes()
  readonly valueNames = new Set<string>()
  readonly maxLeaf = 3
  readonly depth: number

  constructor(
    readonly c: Chooser,
    readonly safe: boolean,
    depth = 4,
  ) {
    this.depth = depth
  }

  /** A fresh value name (never a keyword, builtin or dy-name, never used before). */
  freshValue(prefer?: readonly string[]): string {
    const pool = prefer ?? VALUE_POOL
    for (let k = 0; k < 4; k++) {
      const n = this.c.pick(pool)
      if (!this.valueNames.has(n)) {
        this.valueNames.add(n)
        return n
      }
    }
    let i = this.valueNames.size
    while (this.valueNames.has(`t${i}`)) i++
    this.valueNames.add(`t${i}`)
    return `t${i}`
  }

  freshAxis(): string {
    for (let k = 0; k < 4; k++) {
      const n = this.c.pick(AXIS_POOL)
      if (!this.axes.defs.has(n)) return n
    }
    let i = this.axes.defs.size
    while (this.axes.defs.has(`A${i}`)) i++
    return `A${i}`
  }

  /** The largest number of elements `axes` span at the differential tests' sizes. */
  maxCount(axes: readonly string[]): number {
    return axes.reduce((acc, a) => acc * this.maxLeaf ** this.axes.leaves(a).length, 1)
  }

  /** Some axes of the layer, in canonical order, with no two related. */
  axisSet(percent: number, pool?: readonly string[]): string[] {
    const all = this.axes.sort(pool ?? this.axes.defs.keys())
    const out: string[] = []
    for (const a of this.c.shuffle(all)) {
      if (!this.c.chance(percent)) continue
      if (out.some((b) => this.axes.relatives(b).includes(a))) continue
      out.push(a)
    }
    return this.axes.sort(out)
  }
}

/** Prints `e` as an operand that needs precedence at least `min`. */
const operand = (e: Ex, min: number) => (e.prec >= min ? e.text : `(${e.text})`)

class ExprGen {
  constructor(
    readonly g: Gen,
    readonly env: Value[],
  ) {}

  get c(): Chooser {
    return this.g.c
  }

  get axes(): Axes {
    return this.g.axes
  }

  /** A number literal (safe: never 0 where it could end up a divisor, handled by intervals). */
  num(): Ex {
    const n = this.c.pick(NUMBER_TEXTS)
    return { text: n.text, prec: 5, axes: [], iv: { lo: n.value, hi: n.value } }
  }

  /** A leaf: a value of the environment whose axes avoid `forbid` (or a regrouping of one). */
  leaf(forbid: ReadonlySet<string>): Ex {
    const ok = (axes: readonly string[]) => axes.every((a) => !forbid.has(a))
    const cands: Ex[] = []
    for (const v of this.env) {
      if (ok(v.axes)) cands.push({ text: v.name, prec: 5, axes: v.axes, iv: v.iv })
      else {
        // A split or merge may make it fit.
        for (const a of v.axes) {
          const d = this.axes.get(a)
          if (d.factors) {
            const to = this.axes.split(v.axes, a)
            if (ok(to))
              cands.push({ text: `${v.name} as [${to.join(', ')}]`, prec: 0, axes: to, iv: v.iv })
          }
          if (d.parent) {
            const to = this.axes.merge(v.axes, d.parent)
            if (to && ok(to))
              cands.push({ text: `${v.name} as [${to.join(', ')}]`, prec: 0, axes: to, iv: v.iv })
          }
        }
      }
    }
    if (cands.length === 0 || this.c.chance(15)) return this.num()
    return this.c.pick(cands)
  }

  /** An expression with axes avoiding `forbid`. */
  expr(depth: number, forbid: ReadonlySet<string>): Ex {
    const e = this.exprInner(depth, forbid)
    if (this.g.safe && mag(e.iv) > 1e4) return this.call('tanh', [e], ivOf(-1, 1))
    return e
  }

  private exprInner(depth: number, forbid: ReadonlySet<string>): Ex {
    if (depth <= 0) return this.leaf(forbid)
    const k = this.c.int(16)
    const sub = (f: ReadonlySet<string> = forbid) => this.expr(depth - 1, f)
    switch (k) {
      case 0:
      case 1:
        return this.leaf(forbid)
      case 2: {
        const a = sub()
        const text = this.c.chance(20) && a.prec >= 3 ? `-${a.text}` : `-${operand(a, 4)}`
        return { text, prec: 3, axes: a.axes, iv: { lo: -a.iv.hi, hi: -a.iv.lo } }
      }
      case 3:
      case 4:
      case 5:
        return this.binary(depth, forbid)
      case 6:
        return this.power(depth, forbid)
      case 7:
        return this.unaryCall(depth, forbid)
      case 8:
      case 9:
        return this.reduction(depth, forbid)
      case 10:
        return this.pairCall(depth, forbid)
      case 11:
        return this.clamp(depth, forbid)
      case 12: {
        const a = sub()
        const b = sub(this.union(forbid, a))
        const t = this.c.chance(50) ? this.num() : sub(this.union(forbid, a, b))
        const axes = this.axes.sort([...a.axes, ...b.axes, ...t.axes])
        const iv = ivAdd(a.iv, ivMul(t.iv, ivSub(b.iv, a.iv)))
        return this.call('lerp', [a, b, t], iv, axes)
      }
      case 13: {
        const a = sub()
        return this.call('stop_gradient', [a], a.iv)
      }
      case 14:
        return this.regroup(depth, forbid)
      default:
        return this.countExpr(forbid)
    }
  }

  /** `forbid` plus what the axes of `es` exclude. */
  union(forbid: ReadonlySet<string>, ...es: Ex[]): Set<string> {
    const s = new Set(forbid)
    for (const e of es) for (const a of this.axes.forbiddenBy(e.axes)) s.add(a)
    return s
  }

  call(f: string, args: Ex[], iv: Iv, axes?: string[]): Ex {
    const ax = axes ?? this.axes.sort(args.flatMap((a) => a.axes))
    return { text: `${f}(${args.map((a) => a.text).join(', ')})`, prec: 5, axes: ax, iv }
  }

  private binary(depth: number, forbid: ReadonlySet<string>): Ex {
    const op = this.c.pick(['+', '-', '*', '/'] as const)
    const a = this.expr(depth - 1, forbid)
    let b = this.expr(depth - 1, this.union(forbid, a))
    const axes = this.axes.sort([...a.axes, ...b.axes])
    const prec = op === '+' || op === '-' ? 1 : 2
    if (op === '/' && this.g.safe && !awayFromZero(b.iv)) b = this.makePositive(b)
    const left = operand(a, prec)
    const right = operand(b, prec + 1)
    const iv =
      op === '+'
        ? ivAdd(a.iv, b.iv)
        : op === '-'
          ? ivSub(a.iv, b.iv)
          : op === '*'
            ? ivMul(a.iv, b.iv)
            : awayFromZero(b.iv)
              ? ivMul(a.iv, ivRecip(b.iv))
              : WIDE
    return { text: `${left} ${op} ${right}`, prec, axes, iv }
  }

  /** A positive expression from `e`: e ^ 2 + c, abs(e) + c, exp(tanh(e)) or sigmoid(e) + c. */
  makePositive(e: Ex): Ex {
    const k = this.c.int(4)
    const c = this.c.pick([0.5, 1, 0.1, 2])
    const cs = String(c)
    switch (k) {
      case 0: {
        const sq = ivSquare(e.iv)
        return {
          text: `${operand(e, 5)} ^ 2 + ${cs}`,
          prec: 1,
          axes: e.axes,
          iv: { lo: sq.lo + c, hi: sq.hi + c },
        }
      }
      case 1:
        return {
          text: `abs(${e.text}) + ${cs}`,
          prec: 1,
          axes: e.axes,
          iv: { lo: c, hi: mag(e.iv) + c },
        }
      case 2:
        return this.call(
          'exp',
          [this.call('tanh', [e], ivOf(-1, 1))],
          ivOf(Math.exp(-1), Math.exp(1)),
        )
      default:
        return {
          text: `sigmoid(${e.text}) + ${cs}`,
          prec: 1,
          axes: e.axes,
          iv: { lo: c, hi: 1 + c },
        }
    }
  }

  private power(depth: number, forbid: ReadonlySet<string>): Ex {
    let a = this.expr(depth - 1, forbid)
    const k = this.c.int(6)
    const base = () => operand(a, 5)
    if (!this.g.safe) {
      const b = k < 3 ? this.num() : this.expr(depth - 1, this.union(forbid, a))
      const right = b.prec >= 3 ? b.text : `(${b.text})`
      return {
        text: `${base()} ^ ${right}`,
        prec: 4,
        axes: this.axes.sort([...a.axes, ...b.axes]),
        iv: WIDE,
      }
    }
    switch (k) {
      case 0:
        return { text: `${base()} ^ 2`, prec: 4, axes: a.axes, iv: ivSquare(a.iv) }
      case 1: {
        const iv = ivOf(a.iv.lo ** 3, a.iv.hi ** 3)
        return { text: `${base()} ^ 3`, prec: 4, axes: a.axes, iv }
      }
      case 2:
        if (!awayFromZero(a.iv)) a = this.makePositive(a)
        return { text: `${base()} ^ -1`, prec: 4, axes: a.axes, iv: ivRecip(a.iv) }
      case 3:
        if (!positive(a.iv)) a = this.makePositive(a)
        return {
          text: `${base()} ^ 0.5`,
          prec: 4,
          axes: a.axes,
          iv: ivOf(Math.sqrt(a.iv.lo), Math.sqrt(a.iv.hi)),
        }
      default: {
        // A variable exponent: base > 0, |exponent| ≤ 1 (tanh of something).
        if (!positive(a.iv)) a = this.makePositive(a)
        const e = this.call('tanh', [this.expr(depth - 1, this.union(forbid, a))], ivOf(-1, 1))
        const axes = this.axes.sort([...a.axes, ...e.axes])
        const lo = Math.min(a.iv.lo, 1 / a.iv.hi, 1)
        const hi = Math.max(a.iv.hi, 1 / a.iv.lo, 1)
        return { text: `${base()} ^ ${e.text}`, prec: 4, axes, iv: { lo, hi } }
      }
    }
  }

  private unaryCall(depth: number, forbid: ReadonlySet<string>): Ex {
    const f = this.c.pick([
      'sqrt',
      'rsqrt',
      'exp',
      'log',
      'abs',
      'tanh',
      'sigmoid',
      'sign',
    ] as const)
    let a = this.expr(depth - 1, forbid)
    if (!this.g.safe) return this.call(f, [a], WIDE)
    switch (f) {
      case 'sqrt':
      case 'rsqrt':
      case 'log':
        if (!positive(a.iv)) a = this.makePositive(a)
        return this.call(
          f,
          [a],
          f === 'sqrt'
            ? ivOf(Math.sqrt(a.iv.lo), Math.sqrt(a.iv.hi))
            : f === 'rsqrt'
              ? ivOf(1 / Math.sqrt(a.iv.lo), 1 / Math.sqrt(a.iv.hi))
              : ivOf(Math.log(a.iv.lo), Math.log(a.iv.hi)),
        )
      case 'exp':
        if (a.iv.hi > 5) a = this.call('tanh', [a], ivOf(-1, 1))
        return this.call('exp', [a], ivOf(Math.exp(a.iv.lo), Math.exp(a.iv.hi)))
      case 'abs':
        return this.call('abs', [a], {
          lo: a.iv.lo > 0 ? a.iv.lo : a.iv.hi < 0 ? -a.iv.hi : 0,
          hi: mag(a.iv),
        })
      case 'tanh':
        return this.call('tanh', [a], ivOf(Math.tanh(a.iv.lo), Math.tanh(a.iv.hi)))
      case 'sigmoid':
        return this.call('sigmoid', [a], ivOf(0, 1))
      default:
        return this.call('sign', [a], ivOf(-1, 1))
    }
  }

  /** sum / mean / max / min over some axes of the operand (in any order in the list). */
  private reduction(depth: number, forbid: ReadonlySet<string>): Ex {
    const f = this.c.pick(['sum', 'mean', 'max', 'min', 'mean'] as const)
    const a = this.expr(depth - 1, new Set())
    let R = this.c.subset(a.axes, 50)
    if (R.length === 0 && a.axes.length && !this.c.chance(10)) R = [this.c.pick(a.axes)]
    let axes = a.axes.filter((x) => !R.includes(x))
    // The result must avoid `forbid`: reduce what would clash, too.
    const clash = axes.filter((x) => forbid.has(x))
    R = [...R, ...clash]
    axes = axes.filter((x) => !clash.includes(x))
    const n = this.g.maxCount(R)
    const iv = f === 'sum' ? ivOf(a.iv.lo, a.iv.hi, a.iv.lo * n, a.iv.hi * n) : a.iv
    return this.call(
      f,
      [a, { text: `[${this.c.shuffle(R).join(', ')}]`, prec: 5, axes: [], iv: a.iv }],
      iv,
      axes,
    )
  }

  /** max(a, b), min(a, b) elementwise, or a comparison. */
  private pairCall(depth: number, forbid: ReadonlySet<string>): Ex {
    const f = this.c.pick(['max', 'min', 'ge', 'gt', 'le', 'lt', 'eq', 'max'] as const)
    const a = this.expr(depth - 1, forbid)
    const b = this.c.chance(30) ? this.num() : this.expr(depth - 1, this.union(forbid, a))
    const iv =
      f === 'max'
        ? { lo: Math.max(a.iv.lo, b.iv.lo), hi: Math.max(a.iv.hi, b.iv.hi) }
        : f === 'min'
          ? { lo: Math.min(a.iv.lo, b.iv.lo), hi: Math.min(a.iv.hi, b.iv.hi) }
          : ivOf(0, 1)
    return this.call(f, [a, b], iv)
  }

  /** clamp(x, lo, hi), in safe mode with lo and hi apart (either way), of constants, hypers or expressions. */
  private clamp(depth: number, forbid: ReadonlySet<string>): Ex {
    const x = this.expr(depth - 1, forbid)
    let lo = this.c.chance(60) ? this.num() : this.expr(depth - 1, this.union(forbid, x))
    let hi = this.c.chance(60) ? this.num() : this.expr(depth - 1, this.union(forbid, x, lo))
    if (this.g.safe && !(lo.iv.hi < hi.iv.lo)) {
      // hi = lo + a positive gap.
      const gap = this.makePositive(this.c.chance(50) ? this.num() : hi)
      const lo2 = lo
      lo = { ...lo2, text: operand(lo2, 2) }
      hi = {
        text: `${operand(lo2, 1)} + ${operand(gap, 2)}`,
        prec: 1,
        axes: this.axes.sort([...lo2.axes, ...gap.axes]),
        iv: ivAdd(lo2.iv, gap.iv),
      }
    }
    // Sometimes the other way round, lo > hi: the result is then hi (torch.clamp's convention).
    if (this.g.safe && this.c.chance(15)) [lo, hi] = [hi, lo]
    const iv = {
      lo: Math.min(Math.max(x.iv.lo, lo.iv.lo), hi.iv.lo),
      hi: Math.min(Math.max(x.iv.hi, lo.iv.hi), hi.iv.hi),
    }
    const axes = this.axes.sort([...x.axes, ...lo.axes, ...hi.axes])
    if (axes.some((a) => this.axes.forbiddenBy(axes).has(a))) return x
    return this.call('clamp', [x, lo, hi], ivOf(iv.lo, iv.hi), axes)
  }

  /** `(e) as [...]`: a split or a merge of a factorised axis of e. */
  private regroup(depth: number, forbid: ReadonlySet<string>): Ex {
    const a = this.expr(depth - 1, new Set())
    const options: string[][] = []
    for (const x of a.axes) {
      const d = this.axes.get(x)
      if (d.factors) options.push(this.axes.split(a.axes, x))
      if (d.parent) {
        const m = this.axes.merge(a.axes, d.parent)
        if (m) options.push(m)
      }
    }
    const ok = options.filter((o) => o.every((x) => !forbid.has(x)))
    if (ok.length === 0) return a.axes.every((x) => !forbid.has(x)) ? a : this.leaf(forbid)
    const to = this.c.pick(ok)
    // `as` is loosest: as an operand it is parenthesised by `operand`.
    return { text: `${operand(a, 1)} as [${to.join(', ')}]`, prec: 0, axes: to, iv: a.iv }
  }

  /** Size arithmetic: count([A, B]), count(..) - 1, m / (m - 1). */
  private countExpr(forbid: ReadonlySet<string>): Ex {
    void forbid
    const axes = this.g.axisSet(40)
    const n = this.g.maxCount(axes)
    const m = `count([${axes.join(', ')}])`
    const k = this.c.int(3)
    if (k === 0 || (this.g.safe && n < 2)) return { text: m, prec: 5, axes: [], iv: ivOf(1, n) }
    if (k === 1) return { text: `${m} - 1`, prec: 1, axes: [], iv: ivOf(0, n - 1) }
    if (this.g.safe) return { text: `${m} / (${m} + 1)`, prec: 2, axes: [], iv: ivOf(0.5, 1) }
    return { text: `${m} / (${m} - 1)`, prec: 2, axes: [], iv: WIDE }
  }

  /**
   * An expression with exactly the axes `target` (in canonical order): axes it has beyond them
   * are reduced, axes it lacks are broadcast (with `broadcast`, or by a product with a value
   * that has them).
   */
  fit(depth: number, target: readonly string[]): Ex {
    const forbid = this.axes.forbiddenBy(target)
    let e = this.expr(depth, forbid)
    const extra = e.axes.filter((a) => !target.includes(a))
    if (extra.length) {
      const f = this.c.pick(['mean', 'sum', 'max', 'mean'] as const)
      const n = this.g.maxCount(extra)
      const iv = f === 'sum' ? ivOf(e.iv.lo, e.iv.hi, e.iv.lo * n, e.iv.hi * n) : e.iv
      e = this.call(
        f,
        [e, { text: `[${extra.join(', ')}]`, prec: 5, axes: [], iv }],
        iv,
        e.axes.filter((a) => target.includes(a)),
      )
    }
    const missing = target.filter((a) => !e.axes.includes(a))
    if (missing.length) {
      const withAll = this.env.find(
        (v) => missing.every((a) => v.axes.includes(a)) && v.axes.every((a) => target.includes(a)),
      )
      if (withAll && this.c.chance(40)) {
        // e + 0 * v, or e * (v - v + 1): a value that has the axes, contributing nothing.
        e = {
          text: `${operand(e, 1)} + 0 * ${withAll.name}`,
          prec: 1,
          axes: this.axes.sort([...e.axes, ...withAll.axes]),
          iv: e.iv,
        }
      }
      const still = target.filter((a) => !e.axes.includes(a))
      if (still.length)
        e = this.call(
          'broadcast',
          [e, { text: `[${target.join(', ')}]`, prec: 5, axes: [], iv: e.iv }],
          e.iv,
          [...target],
        )
    }
    return e
  }
}

/** Builds a layer from a chooser. */
export function buildLayer(c: Chooser, opts: GenOptions): LayerModel {
  const g = new Gen(c, opts.safe, opts.depth ?? 4)
  const ax = g.axes
  // Inputs and their axes.
  const nInputs = 1 + c.int(3)
  const inputs: { name: string; axes: string[] }[] = []
  let rank = 0
  for (let i = 0; i < nInputs; i++) {
    const known = [...ax.defs.keys()]
    const shape: string[] = []
    const nAxes = i === 0 ? 1 + c.int(4) : c.int(4)
    for (let k = 0; k < nAxes; k++) {
      if (known.length && c.chance(i === 0 ? 0 : 70)) {
        const a = c.pick(known)
        if (!shape.includes(a)) shape.push(a)
      } else {
        const a = g.freshAxis()
        ax.add({ name: a, kind: 'input', rank: [rank++] })
        known.push(a)
        shape.push(a)
      }
    }
    inputs.push({
      name: g.freshValue(i === 0 ? ['x', 'x', '__proto__', 'constructor'] : undefined),
      axes: shape,
    })
  }
  // Hypers.
  const hypers: { name: string; text: string; value: number }[] = []
  const nHypers = c.int(4)
  for (let i = 0; i < nHypers; i++) {
    const n = c.pick(NUMBER_TEXTS)
    const neg = !opts.safe && c.chance(20)
    hypers.push({
      name: g.freshValue(),
      text: neg ? `-${n.text}` : n.text,
      value: neg ? -n.value : n.value,
    })
  }
  // Factorisations and free axes.
  const axisDecls: string[] = []
  const inputAxes = [...ax.defs.keys()]
  if (c.chance(45)) {
    const parent = c.pick(inputAxes)
    const nf = c.chance(20) ? 3 : 2
    const factors: string[] = []
    for (let j = 0; j < nf; j++) {
      const f = g.freshAxis()
      ax.add({ name: f, kind: 'factor', parent, rank: [...ax.get(parent).rank, j] })
      factors.push(f)
    }
    ax.get(parent).factors = factors
    axisDecls.push(`axis ${parent} = ${factors.join(' * ')}`)
    // Size all but one factor (or none: then the run gives the sizes).
    for (const f of factors.slice(0, factors.length - 1)) {
      if (!c.chance(60)) continue
      const hs = hypers.filter(
        (h) => Number.isInteger(h.value) && h.value >= 1 && h.value <= g.maxLeaf,
      )
      if (hs.length && c.chance(60)) {
        const h = c.pick(hs)
        ax.get(f).size = { text: h.name, value: h.value }
      } else {
        const v = 1 + c.int(g.maxLeaf)
        ax.get(f).size = { text: String(v), value: v }
      }
      axisDecls.push(`axis ${f} = ${ax.get(f).size!.text}`)
    }
    // A factor factorised again, rarely.
    const last = factors[factors.length - 1]!
    if (c.chance(15)) {
      const sub = [g.freshAxis(), g.freshAxis()].filter(
        (v, i, a) => a.indexOf(v) === i && !ax.defs.has(v),
      )
      if (sub.length === 2) {
        sub.forEach((f, j) =>
          ax.add({ name: f, kind: 'factor', parent: last, rank: [...ax.get(last).rank, j] }),
        )
        ax.get(last).factors = sub
        axisDecls.push(`axis ${last} = ${sub.join(' * ')}`)
      }
    }
  }
  let free = 0
  if (c.chance(25)) {
    const a = g.freshAxis()
    if (!ax.defs.has(a)) {
      ax.add({ name: a, kind: 'free', rank: [1e6 + free++] })
      axisDecls.push(`axis ${a}`)
    }
  }
  // Params and state.
  const tensors: LayerModel['tensors'] = []
  const hasTrain = c.chance(45)
  const nParams = c.int(4)
  for (let i = 0; i < nParams; i++) {
    const axes = g.axisSet(35)
    const init = c.pick([undefined, '1', '0', '0.5', '-1'])
    tensors.push({
      kind: 'param',
      name: g.freshValue(),
      axes,
      ...(init !== undefined ? { init } : {}),
      value: init ? Number(init) : 0,
    })
  }
  const nStates = c.int(3)
  for (let i = 0; i < nStates; i++) {
    const axes = g.axisSet(35)
    const init = c.pick([undefined, '1', '0'])
    tensors.push({
      kind: 'state',
      name: g.freshValue(),
      axes,
      ...(init !== undefined ? { init } : {}),
      value: init ? Number(init) : 0,
    })
  }
  // Outputs: names and target axes (the same in every block).
  const nOutputs = 1 + (c.chance(30) ? c.int(3) : 0)
  const outputs: { name: string; shape?: string[]; target: string[] }[] = []
  const x0 = inputs[0]!
  for (let i = 0; i < nOutputs; i++) {
    const name = g.freshValue(['y', 'out', 'z2', 'y1', 'toString', '__proto__', 'valueOf'])
    let target = c.chance(65) ? ax.sort(x0.axes) : g.axisSet(40)
    // Sometimes in the split view of a factorised axis.
    const fz = target.find((a) => ax.get(a).factors)
    if (fz && c.chance(30)) target = ax.split(target, fz)
    outputs.push({ name, target, ...(c.chance(30) ? { shape: target } : {}) })
  }
  // Blocks.
  const leavesEnv = (mode: Block['mode']): Value[] => {
    const env: Value[] = []
    for (const inp of inputs)
      env.push({ name: inp.name, axes: ax.sort(inp.axes), iv: { lo: -1, hi: 1 } })
    for (const h of hypers) env.push({ name: h.name, axes: [], iv: { lo: h.value, hi: h.value } })
    for (const t of tensors)
      env.push({
        name: t.name,
        axes: t.axes,
        iv: t.kind === 'state' ? { lo: 0.5, hi: 1.5 } : { lo: t.value - 0.5, hi: t.value + 0.5 },
      })
    void mode
    return env
  }
  const blockOf = (mode: Block['mode']): Block => {
    const env = leavesEnv(mode)
    const eg = new ExprGen(g, env)
    const stmts: Stmt[] = []
    const nBind = c.int(6)
    const localNames = new Set<string>()
    for (let i = 0; i < nBind; i++) {
      const e = eg.expr(g.depth, new Set())
      const name = freshLocal(
        g,
        localNames,
        outputs.map((o) => o.name),
      )
      stmts.push({ name, op: '=', expr: e.text })
      env.push({ name, axes: e.axes, iv: e.iv })
    }
    for (const o of outputs) {
      const e = eg.fit(g.depth, o.target)
      stmts.push({ name: o.name, op: '=', expr: e.text })
    }
    if (mode === 'train') {
      for (const t of tensors) {
        if (t.kind !== 'state' || !c.chance(70)) continue
        const e = eg.fit(g.depth - 1, t.axes)
        const text = c.chance(60)
          ? `lerp(${t.name}, ${e.text}, ${c.pick(['0.1', '0.5', '1', ...hypers.map((h) => h.name)])})`
          : e.text
        stmts.push({ name: t.name, op: '<-', expr: text })
      }
    }
    // State updates read the old state and bind nothing: they may stand anywhere after the
    // bindings they use, so among the outputs' statements.
    const updates = stmts.filter((s) => s.op === '<-')
    const rest = stmts.filter((s) => s.op === '=')
    for (const u of updates) rest.splice(nBind + c.int(rest.length - nBind + 1), 0, u)
    return { mode, stmts: rest }
  }
  const blocks: Block[] = hasTrain ? [blockOf('train'), blockOf('eval')] : [blockOf('forward')]
  if (hasTrain && c.chance(30)) blocks.reverse()
  return {
    name: c.pick(['L', 'Norm', 'constructor', '__proto__', 'layer_1', 'Function']),
    inputs,
    axisDecls,
    hypers,
    tensors,
    outputs: outputs.map((o) => ({ name: o.name, ...(o.shape ? { shape: o.shape } : {}) })),
    blocks,
    axes: ax,
    maxLeaf: g.maxLeaf,
  }
}

function freshLocal(g: Gen, local: Set<string>, reserved: string[]): string {
  for (let k = 0; k < 4; k++) {
    const n = g.c.pick(VALUE_POOL)
    if (!g.valueNames.has(n) && !local.has(n) && !reserved.includes(n)) {
      local.add(n)
      return n
    }
  }
  let i = 0
  while (g.valueNames.has(`b${i}_`) || local.has(`b${i}_`) || reserved.includes(`b${i}_`)) i++
  local.add(`b${i}_`)
  return `b${i}_`
}

// ---------------------------------------------------------------------------------------------
// Printing, with varied layout: spacing, comments, CRLF, one-line layers.

export interface Layout {
  oneLine: boolean
  crlf: boolean
  comments: boolean
  tabs: boolean
}

export function printLayer(
  m: LayerModel,
  layout: Layout = { oneLine: false, crlf: false, comments: false, tabs: false },
): string {
  const ind = layout.tabs ? '\t' : '  '
  const lines: string[] = []
  const sig = m.inputs.map((i) => `${i.name}: [${i.axes.join(', ')}]`).join(', ')
  const outs = m.outputs
    .map((o) => (o.shape ? `${o.name}: [${o.shape.join(', ')}]` : o.name))
    .join(', ')
  if (layout.comments) lines.push('# a generated layer')
  lines.push(`layer ${m.name}(${sig}) -> ${outs} {`)
  for (const h of m.hypers) lines.push(`${ind}hyper ${h.name} = ${h.text}`)
  for (const a of m.axisDecls) lines.push(`${ind}${a}`)
  for (const t of m.tensors)
    lines.push(
      `${ind}${t.kind} ${t.name}: [${t.axes.join(', ')}]${t.init !== undefined ? ` = ${t.init}` : ''}`,
    )
  for (const b of m.blocks) {
    lines.push(`${ind}${b.mode} {${layout.comments ? ' # block' : ''}`)
    for (const s of b.stmts) lines.push(`${ind}${ind}${s.name} ${s.op} ${s.expr}`)
    lines.push(`${ind}}`)
  }
  lines.push('}')
  if (layout.oneLine && !layout.comments) return lines.map((l) => l.trim()).join(' ') + '\n'
  return lines.join(layout.crlf ? '\r\n' : '\n') + '\n'
}

// ---------------------------------------------------------------------------------------------
// Near-valid layers: one mutation away from a valid one.

export type MutationKind =
  | 'swap-statements'
  | 'update-in-eval'
  | 'update-twice'
  | 'reorder-param-axes'
  | 'rebind-input'
  | 'drop-output'
  | 'drop-block'
  | 'keyword-name'
  | 'builtin-name'
  | 'unknown-axis'
  | 'duplicate-axis-decl'
  | 'token-delete'
  | 'token-duplicate'
  | 'token-replace'
  | 'token-swap'
  | 'char-insert'

export const MUTATIONS: readonly MutationKind[] = [
  'swap-statements',
  'update-in-eval',
  'update-twice',
  'reorder-param-axes',
  'rebind-input',
  'drop-output',
  'drop-block',
  'keyword-name',
  'builtin-name',
  'unknown-axis',
  'duplicate-axis-decl',
  'token-delete',
  'token-duplicate',
  'token-replace',
  'token-swap',
  'char-insert',
]

const TOKEN_RE =
  /[A-Za-z_][A-Za-z0-9_]*|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|->|<-|#[^\n]*|\s+|./g

/** Replacement tokens: every kind of token, and a few that are not. */
const REPLACEMENTS = [
  ...KEYWORDS,
  ...BUILTIN_NAMES,
  'x',
  'y',
  'N',
  'C',
  'G',
  'dy',
  '1e999',
  '1.2.3',
  '0',
  '-',
  '+',
  '*',
  '/',
  '^',
  '=',
  '<-',
  '->',
  ':',
  ',',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  '@',
  '\u2212',
  '\u0421',
  '\u00a0',
  '"',
  '`',
  '${',
  '\\u0061',
  '\0',
]

/** Applies one mutation to a layer model (or to its text). */
export function mutate(m: LayerModel, kind: MutationKind, c: Chooser): string {
  const clone = (): LayerModel => ({
    ...m,
    blocks: m.blocks.map((b) => ({ mode: b.mode, stmts: b.stmts.map((s) => ({ ...s })) })),
    tensors: m.tensors.map((t) => ({ ...t, axes: [...t.axes] })),
    outputs: m.outputs.map((o) => ({ ...o })),
    axisDecls: [...m.axisDecls],
    inputs: m.inputs.map((i) => ({ ...i, axes: [...i.axes] })),
  })
  const mm = clone()
  const block = c.pick(mm.blocks)
  switch (kind) {
    case 'swap-statements': {
      if (block.stmts.length >= 2) {
        const i = c.int(block.stmts.length - 1)
        ;[block.stmts[i], block.stmts[i + 1]] = [block.stmts[i + 1]!, block.stmts[i]!]
        // Make a use-before-bind likely: move the last statement first.
        if (c.chance(50)) block.stmts.unshift(block.stmts.pop()!)
      }
      return printLayer(mm)
    }
    case 'update-in-eval':
    case 'update-twice': {
      const st = mm.tensors.find((t) => t.kind === 'state') ?? mm.tensors[0]
      const target = st?.name ?? mm.inputs[0]!.name
      const b =
        kind === 'update-in-eval' ? (mm.blocks.find((x) => x.mode !== 'train') ?? block) : block
      b.stmts.push({ name: target, op: '<-', expr: target })
      if (kind === 'update-twice') b.stmts.push({ name: target, op: '<-', expr: target })
      return printLayer(mm)
    }
    case 'reorder-param-axes': {
      const t = mm.tensors.find((x) => x.axes.length >= 2)
      if (t) t.axes.reverse()
      else if (mm.inputs[0]!.axes.length) mm.inputs[0]!.axes.push(mm.inputs[0]!.axes[0]!)
      return printLayer(mm)
    }
    case 'rebind-input':
      block.stmts.splice(c.int(block.stmts.length + 1), 0, {
        name: c.pick(mm.inputs).name,
        op: '=',
        expr: '1',
      })
      return printLayer(mm)
    case 'drop-output': {
      const o = c.pick(mm.outputs)
      block.stmts = block.stmts.filter((s) => s.name !== o.name)
      return printLayer(mm)
    }
    case 'drop-block':
      mm.blocks = c.chance(50)
        ? mm.blocks.slice(1)
        : [...mm.blocks, { mode: c.pick(['forward', 'train', 'eval'] as const), stmts: [] }]
      return printLayer(mm)
    case 'keyword-name':
    case 'builtin-name': {
      const n = kind === 'keyword-name' ? c.pick(KEYWORDS) : c.pick(BUILTIN_NAMES)
      if (block.stmts.length && c.chance(60)) c.pick(block.stmts).name = n
      else c.pick(mm.inputs).name = n
      return printLayer(mm)
    }
    case 'unknown-axis': {
      const i = c.pick(mm.inputs)
      const t = mm.tensors[0]
      if (t && c.chance(50)) t.axes = [...t.axes, 'Q_unknown']
      else i.axes = [...i.axes, ...(i.axes.length ? [i.axes[0]!] : ['Q'])]
      return printLayer(mm)
    }
    case 'duplicate-axis-decl':
      mm.axisDecls.push(
        mm.axisDecls.length ? c.pick(mm.axisDecls) : `axis ${mm.inputs[0]!.axes[0] ?? 'Z'}`,
      )
      return printLayer(mm)
    default:
      return mutateText(printLayer(m), kind, c)
  }
}

/** A token-level or character-level mutation of a text. */
export function mutateText(text: string, kind: MutationKind, c: Chooser): string {
  const toks = text.match(TOKEN_RE) ?? []
  const solid = toks.map((t, i) => ({ t, i })).filter(({ t }) => !/^\s+$/.test(t))
  if (solid.length === 0) return text + c.pick(REPLACEMENTS)
  const at = c.pick(solid).i
  switch (kind) {
    case 'token-delete':
      toks.splice(at, 1)
      break
    case 'token-duplicate':
      toks.splice(at, 0, toks[at]!, ' ')
      break
    case 'token-replace':
      toks[at] = c.pick(REPLACEMENTS)
      break
    case 'token-swap': {
      const b = c.pick(solid).i
      ;[toks[at], toks[b]] = [toks[b]!, toks[at]!]
      break
    }
    default: {
      const s = toks.join('')
      const p = c.int(s.length + 1)
      return s.slice(0, p) + c.pick(REPLACEMENTS) + s.slice(p)
    }
  }
  return toks.join('')
}

// ---------------------------------------------------------------------------------------------
// The arbitraries.

/** The integers a layer is built from. */
export const choices = (maxLength = 400): fc.Arbitrary<number[]> =>
  fc.array(fc.noBias(fc.nat({ max: 0xffff })), { maxLength, size: 'max' })

export const layoutArb: fc.Arbitrary<Layout> = fc.record({
  oneLine: fc.boolean(),
  crlf: fc.boolean(),
  comments: fc.boolean(),
  tabs: fc.boolean(),
})

export interface GeneratedLayer {
  model: LayerModel
  text: string
  /** The choices it was built from (to rebuild or shrink it). */
  choices: number[]
}

/** Valid layers: the checker must accept every one. */
export function validLayer(opts: GenOptions = { safe: true }): fc.Arbitrary<GeneratedLayer> {
  return fc.tuple(choices(), layoutArb).map(([xs, layout]) => {
    const model = buildLayer(new Chooser(xs), opts)
    return { model, text: printLayer(model, layout), choices: xs }
  })
}

/** Near-valid layers: one mutation of a valid layer. */
export function nearValidLayer(
  opts: GenOptions = { safe: false },
): fc.Arbitrary<{ text: string; mutation: MutationKind }> {
  return fc.tuple(choices(), fc.constantFrom(...MUTATIONS), choices(8)).map(([xs, kind, ms]) => {
    const model = buildLayer(new Chooser(xs), opts)
    return { text: mutate(model, kind, new Chooser(ms)), mutation: kind }
  })
}

/** Several mutations of a valid layer (further from valid). */
export function mutatedLayer(): fc.Arbitrary<string> {
  return fc
    .tuple(
      choices(),
      fc.array(fc.tuple(fc.constantFrom(...MUTATIONS), choices(8)), { minLength: 2, maxLength: 6 }),
    )
    .map(([xs, muts]) => {
      const model = buildLayer(new Chooser(xs), { safe: false })
      let text = printLayer(model)
      for (const [k, ms] of muts)
        text = mutateText(
          text,
          k.startsWith('token') || k === 'char-insert' ? k : 'token-replace',
          new Chooser(ms),
        )
      return text
    })
}

/** Token soup: random sequences of tokens and near-tokens. */
export const tokenSoup: fc.Arbitrary<string> = fc
  .tuple(
    fc.array(
      fc.constantFrom(...REPLACEMENTS, '\n', ' ', '# c\n', '1', 'x', 'layer L(x: [N]) -> y {'),
      { maxLength: 60 },
    ),
    fc.constantFrom(' ', '', '\n'),
  )
  .map(([ts, sep]) => ts.join(sep))

/** Any input at all, weighted toward the interesting: valid, near-valid, mutated, soup, bytes. */
export function anyInput(): fc.Arbitrary<{ kind: string; text: string }> {
  return fc.oneof(
    {
      weight: 4,
      arbitrary: validLayer({ safe: false }).map((l) => ({ kind: 'valid-wild', text: l.text })),
    },
    {
      weight: 2,
      arbitrary: validLayer({ safe: true }).map((l) => ({ kind: 'valid-safe', text: l.text })),
    },
    {
      weight: 4,
      arbitrary: nearValidLayer().map((l) => ({ kind: `near:${l.mutation}`, text: l.text })),
    },
    { weight: 1, arbitrary: mutatedLayer().map((text) => ({ kind: 'mutated', text })) },
    { weight: 1, arbitrary: tokenSoup.map((text) => ({ kind: 'soup', text })) },
    {
      weight: 1,
      arbitrary: fc
        .string({ maxLength: 200, unit: 'binary' })
        .map((text) => ({ kind: 'bytes', text })),
    },
  )
}
