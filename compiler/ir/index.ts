// The IR: a DAG of operations over named-axis tensors. Nodes are hash-consed by a Builder, so
// equal subexpressions are one node by construction (common-subexpression elimination for
// free, and no exponential blow-up when differentiating shared DAGs).
//
// Broadcasting is explicit: an elementwise operation's operands always have the operation's
// axes; the builder inserts `broadcast` nodes. That is what makes "the adjoint of a reduction
// is a broadcast and the adjoint of a broadcast is a sum" two ordinary rules in the table.

import type { Span } from '../../grammar/ast.js'
import type { AxisTable } from '../check/axes.js'

export const unaryOps = [
  'neg',
  'sqrt',
  'rsqrt',
  'exp',
  'log',
  'abs',
  'recip',
  'tanh',
  'sigmoid',
  'sign',
] as const
export const binaryOps = [
  'add',
  'sub',
  'mul',
  'div',
  'pow',
  'max',
  'min',
  'ge',
  'gt',
  'le',
  'lt',
  'eq',
] as const
export const reduceOps = ['sum', 'mean', 'rmax', 'rmin'] as const

export type UnaryOp = (typeof unaryOps)[number]
export type BinaryOp = (typeof binaryOps)[number]
export type ReduceOp = (typeof reduceOps)[number]

export type Op =
  | 'input' // a tensor given to the step: an input, param, state or upstream gradient
  | 'hyper' // a scalar known when the layer is instantiated
  | 'const'
  | 'count' // the number of elements `axes` span; known when sizes are bound
  | UnaryOp
  | BinaryOp
  | 'clamp' // clamp(x, lo, hi)
  | ReduceOp // attrs.axes: the axes removed
  | 'broadcast' // to node.axes
  | 'regroup' // `as`: same data, axes split or merged in place
  | 'stop_gradient'

export type Role = 'input' | 'param' | 'state' | 'dy'

export interface Node {
  readonly id: number
  readonly op: Op
  readonly args: readonly Node[]
  /** The node's axes, in the layer's canonical order. */
  readonly axes: readonly string[]
  /** const: the value. */
  readonly value?: number
  /** input / hyper: the name. */
  readonly name?: string
  readonly role?: Role
  /** Reductions and count: the axes reduced or counted. */
  readonly over?: readonly string[]
  /** Where in the source this node was first written (for located run-time errors). */
  span?: Span
  /** A readable name from the source (`mu`, `var`) for printing. */
  hint?: string
}

const isUnary = new Set<string>(unaryOps)
const isBinary = new Set<string>(binaryOps)
const isReduce = new Set<string>(reduceOps)
export const opKind = (op: Op): 'unary' | 'binary' | 'reduce' | 'other' =>
  isUnary.has(op) ? 'unary' : isBinary.has(op) ? 'binary' : isReduce.has(op) ? 'reduce' : 'other'

const commutative = new Set<Op>(['add', 'mul', 'max', 'min', 'eq'])

/** Builds hash-consed nodes over one layer's axes. */
export class Builder {
  private readonly table = new Map<string, Node>()
  private nextId = 0

  constructor(readonly axes: AxisTable) {}

  get size(): number {
    return this.table.size
  }

  /** The one node with these fields, made if new. */
  make(
    op: Op,
    args: readonly Node[],
    axes: readonly string[],
    extra: Partial<Pick<Node, 'value' | 'name' | 'role' | 'over'>> = {},
  ): Node {
    let a = args
    if (commutative.has(op) && a.length === 2 && a[0]!.id > a[1]!.id) a = [a[1]!, a[0]!]
    const key = `${op}|${a.map((x) => x.id).join(',')}|${axes.join(',')}|${extra.value === undefined ? '' : Object.is(extra.value, -0) ? '-0' : extra.value}|${extra.name ?? ''}|${extra.role ?? ''}|${extra.over?.join(',') ?? ''}`
    const hit = this.table.get(key)
    if (hit) return hit
    const node: Node = { id: this.nextId++, op, args: a, axes, ...extra }
    this.table.set(key, node)
    return node
  }

  input(name: string, role: Role, axes: readonly string[]): Node {
    return this.make('input', [], axes, { name, role })
  }

  hyper(name: string): Node {
    return this.make('hyper', [], [], { name })
  }

  c(value: number): Node {
    return this.make('const', [], [], { value })
  }

  count(over: readonly string[]): Node {
    return this.make('count', [], [], { over: this.axes.sort(over) })
  }

  /** `x` broadcast to `axes` (a superset of its own); x itself when nothing is added. */
  broadcast(x: Node, axes: readonly string[]): Node {
    if (x.axes.length === axes.length) return x
    if (x.op === 'broadcast') x = x.args[0]!
    return this.make('broadcast', [x], axes)
  }

  private unionAxes(nodes: readonly Node[]): string[] {
    return this.axes.sort(nodes.flatMap((n) => n.axes))
  }

  unary(op: UnaryOp, x: Node): Node {
    return this.make(op, [x], x.axes)
  }

  binary(op: BinaryOp, a: Node, b: Node): Node {
    const axes = this.unionAxes([a, b])
    return this.make(op, [this.broadcast(a, axes), this.broadcast(b, axes)], axes)
  }

  clamp(x: Node, lo: Node, hi: Node): Node {
    const axes = this.unionAxes([x, lo, hi])
    return this.make(
      'clamp',
      [x, lo, hi].map((n) => this.broadcast(n, axes)),
      axes,
    )
  }

  reduce(op: ReduceOp, x: Node, over: readonly string[]): Node {
    if (over.length === 0) return x
    const set = new Set(over)
    return this.make(
      op,
      [x],
      x.axes.filter((a) => !set.has(a)),
      { over: this.axes.sort(over) },
    )
  }

  regroup(x: Node, axes: readonly string[]): Node {
    if (x.axes.join() === axes.join()) return x
    if (x.op === 'regroup') return this.regroup(x.args[0]!, axes)
    return this.make('regroup', [x], axes)
  }

  stopGradient(x: Node): Node {
    return x.op === 'stop_gradient' ? x : this.make('stop_gradient', [x], x.axes)
  }

  // Shorthands used by the derivative rules and the simplifier.
  add = (a: Node, b: Node) => this.binary('add', a, b)
  sub = (a: Node, b: Node) => this.binary('sub', a, b)
  mul = (a: Node, b: Node) => this.binary('mul', a, b)
  div = (a: Node, b: Node) => this.binary('div', a, b)
  neg = (a: Node) => this.unary('neg', a)
}

/**
 * Nodes reachable from `roots`, each after its arguments (iterative: deep graphs are fine).
 * The walk does not go past nodes in `stop` (they are listed, their arguments are not).
 */
export function topoOrder(roots: readonly Node[], stop?: ReadonlySet<number>): Node[] {
  const out: Node[] = []
  const seen = new Set<number>()
  const stack: [Node, number][] = []
  for (const r of roots) {
    if (seen.has(r.id)) continue
    stack.push([r, 0])
    seen.add(r.id)
    while (stack.length) {
      const top = stack[stack.length - 1]!
      const [n, i] = top
      if (i < n.args.length && !stop?.has(n.id)) {
        top[1]++
        const a = n.args[i]!
        if (!seen.has(a.id)) {
          seen.add(a.id)
          stack.push([a, 0])
        }
      } else {
        stack.pop()
        out.push(n)
      }
    }
  }
  return out
}

/** One lowered step of a layer in one mode: its outputs and its state updates. */
export interface Program {
  name: string
  mode: 'train' | 'eval'
  builder: Builder
  inputs: Node[]
  params: Node[]
  states: Node[]
  hypers: { name: string; value: number; node: Node }[]
  outputs: { name: string; node: Node }[]
  updates: { name: string; node: Node }[]
}

/** A short readable dump of a graph, one node per line, for `--dump ir`. */
export function dumpGraph(roots: { name: string; node: Node }[]): string {
  const order = topoOrder(roots.map((r) => r.node))
  const lines = order.map((n) => {
    const args = n.args.map((a) => `%${a.id}`).join(', ')
    const attr =
      n.op === 'const'
        ? String(n.value)
        : n.op === 'input'
          ? `${n.name} (${n.role})`
          : n.op === 'hyper'
            ? n.name
            : n.over
              ? `${args}; over [${n.over.join(', ')}]`
              : args
    return `%${n.id} = ${n.op}(${attr}) : [${n.axes.join(', ')}]${n.hint ? `  # ${n.hint}` : ''}`
  })
  for (const r of roots) lines.push(`${r.name} = %${r.node.id}`)
  return lines.join('\n')
}
