// The graph of a layer as Graphviz DOT, for `normc graph`: the forward step in one mode and,
// with `backward`, the derived backward step, each as the plan runs it. Every fused kernel
// (a stage of compiler/schedule) is a cluster holding the values it stores, the reductions it
// accumulates and the values it computes inline.
//
// What is drawn distinctly:
// - `stop_gradient`: an octagon, entered by a red dashed edge ending in a bar (no gradient
//   flows back along it);
// - state updates: an orange `NAME <-` box, fed by a bold orange edge, with a dashed orange edge
//   back to the state it replaces at the next step;
// - values the forward saves for the backward: double-bordered, blue, and read by the backward
//   through dotted blue edges;
// - the backward's own nodes: lavender; materialized values (with a buffer): a thicker border.
// Views (broadcasts, regroupings) are drawn as edges, and scalar expressions of constants and
// hypers (`1 / rmax`, `-dmax`) as small text next to the node that reads them.

import type { CheckedLayer } from '../check/index.js'
import { topoOrder, type Node } from '../ir/index.js'
import type { LayerGraphs } from '../pipeline.js'
import type { KernelPlan, StepPlan } from '../schedule/index.js'

export interface GraphOptions {
  /** Also draw the derived backward step (default: the forward step only). */
  backward?: boolean
}

const C = {
  input: '#dbeafe',
  param: '#fef3c7',
  state: '#ffedd5',
  dy: '#fce7f3',
  output: '#dcfce7',
  gradient: '#ede9fe',
  backwardNode: '#f5f0ff',
  stop: '#b91c1c',
  stopFill: '#fee2e2',
  update: '#c2410c',
  saved: '#1d4ed8',
  forwardKernel: '#2563eb',
  backwardKernel: '#7c3aed',
  muted: '#6b7280',
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const small = (s: string, color: string = C.muted) =>
  `<FONT POINT-SIZE="9" COLOR="${color}">${esc(s)}</FONT>`
const axesText = (axes: readonly string[]) => `[${axes.join(', ')}]`

const isTrivial = (n: Node) => n.op === 'const' || n.op === 'hyper' || n.op === 'count'
const isCollapsedView = (n: Node) => n.op === 'broadcast' || n.op === 'regroup'

const opSymbol: Partial<Record<string, string>> = {
  add: '+',
  sub: '−',
  mul: '×',
  div: '÷',
  pow: '^',
  ge: '≥',
  gt: '>',
  le: '≤',
  lt: '<',
  eq: '==',
  neg: 'negate',
  recip: '1 / x',
}

function opText(n: Node): string {
  switch (n.op) {
    case 'sum':
    case 'mean':
      return `${n.op} over ${axesText(n.over ?? [])}`
    case 'rmax':
    case 'rmin':
      return `${n.op === 'rmax' ? 'max' : 'min'} over ${axesText(n.over ?? [])}`
    case 'regroup':
      return `as ${axesText(n.axes)}`
    default:
      return opSymbol[n.op] ?? n.op
  }
}

/** A scalar made of constants, hypers and counts only, as text (`1 / rmax`). */
function scalarText(n: Node, top = true): string {
  const wrap = (s: string) => (top ? s : `(${s})`)
  switch (n.op) {
    case 'const':
      return String(n.value)
    case 'hyper':
      return n.name ?? '?'
    case 'count':
      return `count${axesText(n.over ?? [])}`
    case 'broadcast':
    case 'regroup':
      return scalarText(n.args[0]!, top)
    case 'neg':
      return `-${scalarText(n.args[0]!, false)}`
    default: {
      const sym = { add: '+', sub: '-', mul: '*', div: '/', pow: '^' }[n.op as string]
      if (sym && n.args.length === 2)
        return wrap(`${scalarText(n.args[0]!, false)} ${sym} ${scalarText(n.args[1]!, false)}`)
      return `${n.op}(${n.args.map((a) => scalarText(a)).join(', ')})`
    }
  }
}

/** Whether n depends on no tensor: constants, hypers and counts only. */
function scalarOnly(n: Node, memo: Map<number, boolean>): boolean {
  const hit = memo.get(n.id)
  if (hit !== undefined) return hit
  let r: boolean
  if (isTrivial(n)) r = true
  else if (n.op === 'input' || n.args.length === 0) r = false
  else r = n.args.every((a) => scalarOnly(a, memo))
  memo.set(n.id, r)
  return r
}

class Dot {
  readonly lines: string[] = []
  /** What the legend explains: only what is drawn. */
  readonly seen = { stop: false, update: false, saved: false }
  private textNodes = 0
  readonly scalarMemo = new Map<number, boolean>()

  node(id: string, attrs: Record<string, string | number>): void {
    this.lines.push(`  ${id} [${attrList(attrs)}]`)
  }
  edge(from: string, to: string, attrs: Record<string, string | number> = {}): void {
    const a = attrList(attrs)
    this.lines.push(`  ${from} -> ${to}${a ? ` [${a}]` : ''}`)
  }
  /** A small text node for one use of a scalar expression. */
  text(label: string): string {
    const id = `k${this.textNodes++}`
    const shown = label.length > 32 ? label.slice(0, 31) + '…' : label
    this.node(id, {
      shape: 'plaintext',
      label: `"${shown.replace(/"/g, '\\"')}"`,
      fontsize: 9,
      fontcolor: `"${C.muted}"`,
      height: 0.2,
      margin: 0,
    })
    return id
  }
}

function attrList(attrs: Record<string, string | number>): string {
  return Object.entries(attrs)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')
}

const html = (s: string) => `<${s}>`
const q = (s: string) => `"${s}"`

/** The DOT id of a tensor given to a step (input, param, state, upstream gradient). */
const tensorId = (n: Node) => `t${n.id}`

function drawTensors(dot: Dot, tensors: Node[]): void {
  const what: Record<string, [string, string]> = {
    input: [C.input, 'input'],
    param: [C.param, 'param'],
    state: [C.state, 'state'],
    dy: [C.dy, 'upstream gradient'],
  }
  for (const t of tensors) {
    const [fill, kind] = what[t.role ?? 'input']!
    dot.node(tensorId(t), {
      shape: 'box',
      style: q('rounded,filled'),
      fillcolor: q(fill),
      label: html(`<B>${esc(t.name ?? '?')}</B><BR/>${small(`${kind} ${axesText(t.axes)}`)}`),
    })
  }
}

interface StepDraw {
  step: StepPlan
  /** `f` or `b`: the prefix of this step's node ids. */
  prefix: string
  title: string
  color: string
  /** Ids of forward nodes the backward reads as saved values (backward only). */
  savedFrom?: Set<number>
}

/** Draws one step: its nodes, clusters per stage, edges, outputs and updates. */
function drawStep(dot: Dot, d: StepDraw, saved: Set<number>): void {
  const { step, prefix } = d
  const leafIds = new Set(step.leaves.map((n) => n.id))
  const materialized = new Set(step.materialized.map((n) => n.id))
  const roots = [
    ...step.outputs.map((o) => o.node),
    ...step.updates.map((u) => u.node),
    ...step.saved.filter((n) => n.op !== 'input'),
  ]
  const order = topoOrder(roots, leafIds)
  const scalar = (n: Node) => scalarOnly(n, dot.scalarMemo)
  // Nodes drawn as nodes of this step.
  const drawn = order.filter(
    (n) =>
      !leafIds.has(n.id) &&
      !scalar(n) &&
      (!isCollapsedView(n) || materialized.has(n.id)) &&
      n.op !== 'input',
  )
  const drawnIds = new Set(drawn.map((n) => n.id))
  const id = (n: Node) => `${prefix}${n.id}`

  /** The node an argument's data comes from, after the views drawn as edges. */
  const through = (a: Node): { src: Node; viewed: boolean } => {
    let viewed = false
    while (isCollapsedView(a) && !materialized.has(a.id) && !leafIds.has(a.id) && !scalar(a)) {
      a = a.args[0]!
      viewed = true
    }
    return { src: a, viewed }
  }

  /** The DOT id to draw an edge from, for a value this step reads. */
  const source = (a: Node): { from: string; attrs: Record<string, string | number> } => {
    const { src } = through(a)
    if (scalar(src)) return { from: dot.text(scalarText(src)), attrs: { color: q(C.muted) } }
    if (src.op === 'input') return { from: tensorId(src), attrs: {} }
    if (leafIds.has(src.id)) {
      // A value saved by the forward step, read by the backward.
      return {
        from: `f${src.id}`,
        attrs: { style: 'dotted', color: q(C.saved), penwidth: 1.5 },
      }
    }
    return { from: id(src), attrs: {} }
  }

  // Clusters: each stage's own nodes, and the inline nodes first needed there.
  const stageOf = new Map<number, number>()
  step.stages.forEach((st, k) => {
    const own = [
      ...st.stores,
      ...st.reductions,
      ...st.moments.flatMap((m) => [m.sum1, m.sum2]),
    ].filter((n) => drawnIds.has(n.id))
    const stack = [...own]
    for (const n of own) if (!stageOf.has(n.id)) stageOf.set(n.id, k)
    while (stack.length) {
      const n = stack.pop()!
      for (const a of n.args) {
        const { src } = through(a)
        if (!drawnIds.has(src.id) || materialized.has(src.id) || stageOf.has(src.id)) continue
        stageOf.set(src.id, k)
        stack.push(src)
      }
    }
  })

  const nodeAttrs = (n: Node): Record<string, string | number> => {
    const lines: string[] = []
    if (n.hint) lines.push(`<B>${esc(n.hint)}</B>`)
    lines.push(esc(opText(n)))
    lines.push(small(axesText(n.axes)))
    const isSaved = saved.has(n.id) && prefix === 'f'
    if (isSaved) lines.push(small('saved for the backward', C.saved))
    if (isSaved) dot.seen.saved = true
    if (n.op === 'stop_gradient') dot.seen.stop = true
    const attrs: Record<string, string | number> = {
      label: html(lines.join('<BR/>')),
      shape: 'box',
      style: q('rounded,filled'),
      fillcolor: q(prefix === 'b' ? C.backwardNode : 'white'),
    }
    if (materialized.has(n.id)) attrs.penwidth = 2
    if (n.op === 'stop_gradient') {
      Object.assign(attrs, { shape: 'octagon', style: 'filled', color: q(C.stop) })
      Object.assign(attrs, { fillcolor: q(C.stopFill), fontcolor: q(C.stop), penwidth: 2 })
    }
    if (isSaved) Object.assign(attrs, { color: q(C.saved), peripheries: 2 })
    return attrs
  }

  const clusters = step.stages.map(() => [] as Node[])
  const loose: Node[] = []
  for (const n of drawn) {
    const k = stageOf.get(n.id)
    if (k === undefined) loose.push(n)
    else clusters[k]!.push(n)
  }
  // Kernels that compute only scalars of constants (drawn as text) have no cluster; the others
  // are numbered in the order they run.
  let shownKernels = 0
  step.stages.forEach((st, k) => {
    if (clusters[k]!.length === 0) return
    const number = ++shownKernels
    const where = st.full
      ? `one pass over ${axesText(st.space)}`
      : st.space.length
        ? `per ${axesText(st.space)}`
        : 'scalars'
    const moments = st.moments.length ? ' · one-pass moments' : ''
    dot.lines.push(`  subgraph cluster_${prefix}${k} {`)
    dot.lines.push(
      `    label=<<B>${esc(d.title)} kernel ${number}</B>  ${small(where + moments, d.color)}>`,
    )
    dot.lines.push(`    style="rounded,dashed"; color="${d.color}"; penwidth=1.5; labeljust=l`)
    for (const n of clusters[k]!) dot.lines.push(`  ${id(n)} [${attrList(nodeAttrs(n))}]`)
    dot.lines.push('  }')
  })
  for (const n of loose) dot.node(id(n), nodeAttrs(n))

  const argLabels = (n: Node): (string | undefined)[] => {
    if (n.op === 'clamp') return [undefined, 'lo', 'hi']
    if (['sub', 'div', 'pow', 'ge', 'gt', 'le', 'lt'].includes(n.op)) return ['1', '2']
    return []
  }
  for (const n of drawn) {
    const labels = argLabels(n)
    n.args.forEach((a, i) => {
      const { from, attrs } = source(a)
      const e: Record<string, string | number> = { ...attrs }
      const l = labels[i]
      if (l) Object.assign(e, { headlabel: q(l), labelfontsize: 8, labelfontcolor: q(C.muted) })
      if (n.op === 'stop_gradient') {
        Object.assign(e, { color: q(C.stop), style: 'dashed', penwidth: 2, arrowhead: 'tee' })
        Object.assign(e, { label: q('stop_gradient'), fontcolor: q(C.stop) })
      }
      dot.edge(from, id(n), e)
    })
  }

  for (const o of step.outputs) {
    const sink = `o${prefix}_${o.name}`
    dot.node(sink, {
      shape: 'box',
      style: q('rounded,filled,bold'),
      fillcolor: q(prefix === 'b' ? C.gradient : C.output),
      label: html(`<B>${esc(o.name)}</B><BR/>${small(`output ${axesText(o.node.axes)}`)}`),
    })
    const { from, attrs } = source(o.node)
    dot.edge(from, sink, { ...attrs, penwidth: 1.5 })
  }
  for (const u of step.updates) {
    dot.seen.update = true
    const sink = `u${prefix}_${u.name}`
    dot.node(sink, {
      shape: 'box',
      style: q('filled,bold'),
      color: q(C.update),
      fillcolor: q(C.state),
      fontcolor: q(C.update),
      label: html(`<B>${esc(u.name)} &lt;-</B><BR/>${small('state update', C.update)}`),
    })
    const { from } = source(u.node)
    dot.edge(from, sink, { color: q(C.update), penwidth: 2.5 })
  }
}

/** The Graphviz DOT text of a layer's plan in one mode. */
export function layerDot(graphs: LayerGraphs, plan: KernelPlan, opts: GraphOptions = {}): string {
  const layer: CheckedLayer = graphs.layer
  const dot = new Dot()
  const mode = layer.hasForward ? 'forward' : graphs.mode
  const what = opts.backward ? 'forward and backward' : 'forward'
  const saved = new Set(plan.forward.saved.map((n) => n.id))

  const tensors = [
    ...graphs.forward.inputs,
    ...graphs.forward.params,
    ...graphs.forward.states,
    ...(opts.backward ? graphs.backward.program.inputs.filter((n) => n.role === 'dy') : []),
  ]
  drawTensors(dot, tensors)
  drawStep(
    dot,
    { step: plan.forward, prefix: 'f', title: 'forward', color: C.forwardKernel },
    saved,
  )
  if (opts.backward)
    drawStep(
      dot,
      { step: plan.backward, prefix: 'b', title: 'backward', color: C.backwardKernel },
      saved,
    )
  // The state each update replaces, at the next step.
  for (const u of plan.forward.updates) {
    const st = graphs.forward.states.find((s) => s.name === u.name)
    if (st)
      dot.edge(`uf_${u.name}`, tensorId(st), {
        style: 'dashed',
        color: q(C.update),
        fontcolor: q(C.update),
        label: q('next step'),
        constraint: 'false',
      })
  }

  const colors = [
    dot.seen.update ? `<FONT COLOR="${C.update}">orange: state update</FONT>` : '',
    dot.seen.saved
      ? `<FONT COLOR="${C.saved}">blue: saved by the forward for the backward</FONT>`
      : '',
    opts.backward ? 'lavender: backward' : '',
  ].filter(Boolean)
  const legend = [
    `<B>${esc(layer.decl.name)}</B> (${esc(mode)}): ${what}, as planned by normc`,
    'dashed boxes: fused kernels · thick border: stored value',
    ...(dot.seen.stop
      ? [`<FONT COLOR="${C.stop}">red ⊣ edge: stop_gradient (no gradient flows back)</FONT>`]
      : []),
    ...(colors.length ? [colors.join(' · ')] : []),
  ].join('<BR/>')
  return [
    `digraph ${q(`${layer.decl.name} ${mode}`)} {`,
    '  graph [rankdir=TB, fontname="Helvetica", fontsize=11, labelloc=b, nodesep=0.25, ranksep=0.35]',
    '  node [fontname="Helvetica", fontsize=11, margin="0.08,0.04"]',
    '  edge [fontname="Helvetica", fontsize=9, color="#4b5563", arrowsize=0.7]',
    `  label=<${legend}>`,
    ...dot.lines,
    '}',
    '',
  ].join('\n')
}
