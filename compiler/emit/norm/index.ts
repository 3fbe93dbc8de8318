// IR → `.norm`: a derived program becomes an ordinary layer (an AST printed by the canonical
// printer), so a backward pass can be read, linted, run and differentiated again.
//
// A node gets a binding of its own when it is used more than once or is a reduction; the rest
// is written inline. Broadcasts are implicit (the language broadcasts by name) except where a
// value must have more axes than its expression (an output that is a broadcast).

import type {
  AxisRef,
  Expr,
  LayerDecl,
  LayerItem,
  OutputDecl,
  Span,
  Stmt,
  TensorDecl,
} from '../../../grammar/ast.js'
import { emptySpan } from '../../../grammar/ast.js'
import { builtins } from '../../builtins.js'
import type { CheckedLayer } from '../../check/index.js'
import { topoOrder, type Node } from '../../ir/index.js'

const sp: Span = emptySpan
const noComments = () => ({ leading: [] as string[] })
const axisRefs = (axes: readonly string[]): AxisRef[] => axes.map((name) => ({ name, span: sp }))
const name = (n: string): Expr => ({ kind: 'name', name: n, span: sp })
const num = (v: number): Expr =>
  v < 0 || Object.is(v, -0)
    ? { kind: 'neg', operand: num(-v), span: sp }
    : { kind: 'num', value: v, text: String(v), span: sp }
const call = (callee: string, args: Expr[]): Expr => ({
  kind: 'call',
  callee,
  calleeSpan: sp,
  args,
  span: sp,
})
const axesArg = (axes: readonly string[]): Expr => ({
  kind: 'axes',
  axes: axisRefs(axes),
  span: sp,
})
const bin = (op: '+' | '-' | '*' | '/' | '^', left: Expr, right: Expr): Expr => ({
  kind: 'binary',
  op,
  left,
  right,
  span: sp,
})

const infix = { add: '+', sub: '-', mul: '*', div: '/', pow: '^' } as const
const reduceName = { sum: 'sum', mean: 'mean', rmax: 'max', rmin: 'min' } as const

export interface ProgramText {
  /** The inputs of the derived layer, in order, with their axes. */
  inputs: { name: string; axes: readonly string[] }[]
  outputs: { name: string; node: Node }[]
}

/**
 * A `forward` layer computing `outputs` from `inputs`. The forward layer's axis declarations
 * and hypers are carried over so the result checks on its own.
 */
export function programToLayer(
  layerName: string,
  source: CheckedLayer,
  prog: ProgramText,
  comment: string[] = [],
): LayerDecl {
  const roots = prog.outputs.map((o) => o.node)
  const order = topoOrder(roots)
  const uses = new Map<number, number>()
  for (const n of order) for (const a of n.args) uses.set(a.id, (uses.get(a.id) ?? 0) + 1)
  // An output may not take the name of an input or hyper (a gradient dx of a layer that also has
  // a tensor or hyper called dx): it gets a trailing underscore, and a comment says so.
  const reserved = new Set<string>([
    ...builtins.keys(),
    ...prog.inputs.map((i) => i.name),
    ...source.hypers.map((h) => h.name),
  ])
  const outs = prog.outputs.map((o) => {
    let n = o.name
    while (reserved.has(n)) n += '_'
    reserved.add(n)
    if (n !== o.name)
      comment = [...comment, `# ${o.name} is called ${n} here: the name ${o.name} is taken.`]
    return { name: n, node: o.node }
  })
  // Nor may an input take the name of the new layer's own upstream gradient (the forward's dy is
  // an input; when the derived layer has one output, its upstream gradient is dy too).
  const upstream = new Set(outs.length === 1 ? ['dy'] : outs.map((o) => `dy_${o.name}`))
  const inputNames = new Map<string, string>()
  for (const i of prog.inputs) {
    if (!upstream.has(i.name)) continue
    let n = i.name
    while (reserved.has(n) || upstream.has(n)) n += '_'
    reserved.add(n)
    inputNames.set(i.name, n)
    comment = [
      ...comment,
      `# ${i.name} is called ${n} here: ${i.name} names this layer's own upstream gradient.`,
    ]
  }
  const inputName = (n: string) => inputNames.get(n) ?? n
  const taken = new Set<string>([
    ...builtins.keys(),
    ...prog.inputs.map((i) => inputName(i.name)),
    ...outs.map((o) => o.name),
  ])
  for (const h of source.hypers) taken.add(h.name)
  const bound = new Map<number, string>()
  const stmts: Stmt[] = []
  const trivial = (n: Node) =>
    n.op === 'input' ||
    n.op === 'hyper' ||
    n.op === 'const' ||
    n.op === 'count' ||
    n.op === 'broadcast'
  let counter = 0
  const fresh = (hint?: string) => {
    if (hint && !taken.has(hint)) {
      taken.add(hint)
      return hint
    }
    let n: string
    do n = `t${++counter}`
    while (taken.has(n))
    taken.add(n)
    return n
  }

  // Broadcasts are implicit in the language, except where an operand's axes decide the result's:
  // the operand of a reduction, `as`, a unary function, or an operation whose operands are all
  // broadcasts to more axes than they have together. There the broadcast is written out.
  const explicit = (n: Node): Expr =>
    n.op === 'broadcast' && !bound.has(n.id)
      ? call('broadcast', [expr(n.args[0]!), axesArg(n.axes)])
      : expr(n)
  const ownAxes = (n: Node) => (n.op === 'broadcast' && !bound.has(n.id) ? n.args[0]!.axes : n.axes)
  const argsOf = (n: Node): Expr[] => {
    if (n.args.length === 1) return [explicit(n.args[0]!)]
    const have = new Set(n.args.flatMap(ownAxes))
    if (n.axes.every((a) => have.has(a))) return n.args.map(expr)
    const k = n.args.findIndex((a) => a.op === 'broadcast')
    return n.args.map((a, i) => (i === k ? explicit(a) : expr(a)))
  }

  const expr = (n: Node): Expr => {
    const b = bound.get(n.id)
    if (b) return name(b)
    const a = n.op === 'broadcast' ? [expr(n.args[0]!)] : argsOf(n)
    switch (n.op) {
      case 'input':
        return name(inputName(n.name!))
      case 'hyper':
        return name(n.name!)
      case 'const':
        return num(n.value!)
      case 'count':
        return call('count', [axesArg(n.over!)])
      case 'broadcast':
        return a[0]!
      case 'regroup':
        return { kind: 'as', operand: a[0]!, axes: axisRefs(n.axes), axesSpan: sp, span: sp }
      case 'stop_gradient':
        return call('stop_gradient', a)
      case 'clamp':
        return call('clamp', a)
      case 'neg':
        return { kind: 'neg', operand: a[0]!, span: sp }
      case 'recip':
        return bin('/', num(1), a[0]!)
      case 'sum':
      case 'mean':
      case 'rmax':
      case 'rmin':
        return call(reduceName[n.op], [a[0]!, axesArg(n.over!)])
      case 'add':
      case 'sub':
      case 'mul':
      case 'div':
      case 'pow':
        return bin(infix[n.op], a[0]!, a[1]!)
      default:
        return call(n.op, a)
    }
  }

  for (const n of order) {
    if (trivial(n)) continue
    const shared = (uses.get(n.id) ?? 0) > 1
    const isReduce = n.op === 'sum' || n.op === 'mean' || n.op === 'rmax' || n.op === 'rmin'
    const named = !!n.hint && !taken.has(n.hint)
    if (!shared && !isReduce && !named) continue
    const e = expr(n)
    const v = fresh(n.hint)
    stmts.push({ kind: 'bind', name: v, nameSpan: sp, value: e, span: sp, comments: noComments() })
    bound.set(n.id, v)
  }
  for (const o of outs) {
    let e = expr(o.node)
    // An output that is a broadcast must say so: the language would otherwise give it fewer axes.
    if (o.node.op === 'broadcast') e = call('broadcast', [e, axesArg(o.node.axes)])
    stmts.push({
      kind: 'bind',
      name: o.name,
      nameSpan: sp,
      value: e,
      span: sp,
      comments: noComments(),
    })
  }

  const inputs: TensorDecl[] = prog.inputs.map((i) => ({
    name: inputName(i.name),
    nameSpan: sp,
    shape: axisRefs(i.axes),
    span: sp,
  }))
  const outputs: OutputDecl[] = outs.map((o) => ({ name: o.name, nameSpan: sp, span: sp }))
  const items: LayerItem[] = []
  // Every axis declaration is carried over as it is: an input of the derived layer (a param, a
  // state, an upstream gradient) may use a factor or free axis, which keeps its place in the
  // canonical order, so the derived layer lays its tensors out as the forward does.
  for (const it of source.decl.items)
    if (it.kind === 'axis' || it.kind === 'hyper') items.push({ ...it, comments: noComments() })
  items.push({
    kind: 'block',
    mode: 'forward',
    modeSpan: sp,
    stmts,
    danglingComments: [],
    span: sp,
    comments: noComments(),
  })
  return {
    kind: 'layer',
    name: layerName,
    nameSpan: sp,
    inputs,
    outputs,
    items,
    danglingComments: [],
    span: sp,
    comments: { leading: comment },
  }
}
