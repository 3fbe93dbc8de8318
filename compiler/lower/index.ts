// Lowering: a checked layer's block (or a spec) → IR. Sugar disappears here: `lerp` becomes
// a + t·(b − a); everything else maps to one IR operation.

import type { Expr, Stmt } from '../../grammar/ast.js'
import type { CheckedLayer, CheckedSpec } from '../check/index.js'
import { upstreamName } from '../check/index.js'
import { Builder, type Node, type Program, type UnaryOp } from '../ir/index.js'

const binaryOf = { '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '^': 'pow' } as const

const unaryBuiltins: Record<string, UnaryOp> = {
  sqrt: 'sqrt',
  rsqrt: 'rsqrt',
  exp: 'exp',
  log: 'log',
  abs: 'abs',
  tanh: 'tanh',
  sigmoid: 'sigmoid',
  sign: 'sign',
}
const compareBuiltins = { ge: 'ge', gt: 'gt', le: 'le', lt: 'lt', eq: 'eq' } as const

export class Lowerer {
  constructor(
    readonly b: Builder,
    readonly env: Map<string, Node>,
  ) {}

  expr(e: Expr): Node {
    const n = this.exprInner(e)
    if (!n.span) n.span = e.span
    return n
  }

  private exprInner(e: Expr): Node {
    const b = this.b
    switch (e.kind) {
      case 'num':
        return b.c(e.value)
      case 'name': {
        const n = this.env.get(e.name)
        if (!n) throw new Error(`internal: unbound name ${e.name} after checking`)
        return n
      }
      case 'neg':
        return b.neg(this.expr(e.operand))
      case 'binary':
        return b.binary(binaryOf[e.op], this.expr(e.left), this.expr(e.right))
      case 'as':
        return b.regroup(
          this.expr(e.operand),
          e.axes.map((a) => a.name),
        )
      case 'axes':
        throw new Error('internal: axis list outside a call')
      case 'call':
        return this.call(e)
    }
  }

  private call(e: Extract<Expr, { kind: 'call' }>): Node {
    const b = this.b
    const args = e.args
    const axesOf = (x: Expr) => (x.kind === 'axes' ? x.axes.map((a) => a.name) : undefined)
    const name = e.callee
    if (name === 'count') return b.count(axesOf(args[0]!)!)
    if (name === 'sum' || name === 'mean' || name === 'max' || name === 'min') {
      const over = axesOf(args[1]!)
      if (over) {
        const op = name === 'max' ? 'rmax' : name === 'min' ? 'rmin' : name
        return b.reduce(op, this.expr(args[0]!), over)
      }
      return b.binary(name as 'max' | 'min', this.expr(args[0]!), this.expr(args[1]!))
    }
    if (name === 'broadcast')
      return b.broadcast(this.expr(args[0]!), b.axes.sort(axesOf(args[1]!)!))
    const vs = args.map((a) => this.expr(a))
    if (name in unaryBuiltins) return b.unary(unaryBuiltins[name]!, vs[0]!)
    if (name in compareBuiltins)
      return b.binary(compareBuiltins[name as keyof typeof compareBuiltins], vs[0]!, vs[1]!)
    switch (name) {
      case 'lerp': // lerp(a, b, t) = a + t·(b − a): PyTorch's momentum update.
        return b.add(vs[0]!, b.mul(vs[2]!, b.sub(vs[1]!, vs[0]!)))
      case 'clamp':
        return b.clamp(vs[0]!, vs[1]!, vs[2]!)
      case 'stop_gradient':
        return b.stopGradient(vs[0]!)
    }
    throw new Error(`internal: unknown builtin ${name}`)
  }

  /** Binds each statement in order; returns the state updates. */
  stmts(stmts: Stmt[]): { name: string; node: Node }[] {
    const updates: { name: string; node: Node }[] = []
    for (const s of stmts) {
      const n = this.expr(s.value)
      if (s.kind === 'update') updates.push({ name: s.name, node: n })
      else {
        if (!n.hint && n.op !== 'input' && n.op !== 'const' && n.op !== 'hyper') n.hint = s.name
        this.env.set(s.name, n)
      }
    }
    return updates
  }
}

/** The leaf nodes of a layer (inputs, params, state, hypers) in a builder, with an environment. */
export function layerLeaves(layer: CheckedLayer, b: Builder) {
  const env = new Map<string, Node>()
  const inputs = layer.inputs.map((t) => b.input(t.name, 'input', layer.axes.sort(t.axes)))
  const params = layer.params.map((t) => b.input(t.name, 'param', t.axes))
  const states = layer.states.map((t) => b.input(t.name, 'state', t.axes))
  const hypers = layer.hypers.map((h) => ({ name: h.name, value: h.value, node: b.hyper(h.name) }))
  for (const n of [...inputs, ...params, ...states]) env.set(n.name!, n)
  for (const h of hypers) env.set(h.name, h.node)
  return { env, inputs, params, states, hypers }
}

/** Lowers one mode of a checked layer. A fresh builder unless one is given. */
export function lowerLayer(
  layer: CheckedLayer,
  mode: 'train' | 'eval',
  builder?: Builder,
): Program {
  const b = builder ?? new Builder(layer.axes)
  const leaves = layerLeaves(layer, b)
  const lw = new Lowerer(b, leaves.env)
  const block = layer.blocks[mode]
  const updates = lw.stmts(block.stmts)
  return {
    name: layer.decl.name,
    mode,
    builder: b,
    inputs: leaves.inputs,
    params: leaves.params,
    states: leaves.states,
    hypers: leaves.hypers,
    outputs: layer.outputs.map((o) => ({
      name: o.name,
      node: leaves.env.get(o.name) ?? lw.env.get(o.name)!,
    })),
    updates: mode === 'train' ? updates : [],
  }
}

/** The upstream-gradient input nodes of a program, one per output (`dy`, or `dy_NAME`). */
export function upstreamInputs(p: Program, layer: CheckedLayer): Node[] {
  return p.outputs.map((o) => p.builder.input(upstreamName(layer, o.name), 'dy', o.node.axes))
}

/** Lowers a spec in the builder of the program it describes: its `dNAME` bindings and updates. */
export function lowerSpec(spec: CheckedSpec, p: Program) {
  const b = p.builder
  const leaves = layerLeaves(spec.layer, b)
  const dys = upstreamInputs(p, spec.layer)
  for (const d of dys) leaves.env.set(d.name!, d)
  const lw = new Lowerer(b, leaves.env)
  const updates = lw.stmts(spec.decl.stmts)
  const grads = new Map<string, { node: Node; stmt: Stmt }>()
  for (const s of spec.decl.stmts) {
    if (s.kind !== 'bind' || !s.name.startsWith('d')) continue
    const target = s.name.slice(1)
    if ([...spec.layer.inputs, ...spec.layer.params].some((t) => t.name === target))
      grads.set(target, { node: lw.env.get(s.name)!, stmt: s })
  }
  return { grads, updates }
}
