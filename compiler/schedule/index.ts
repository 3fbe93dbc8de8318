// The schedule: how the simplified forward and backward run as loop nests (Halide's split: the
// IR says what, this says how). Shared by every target.
//
// A step (forward in a mode, or backward) becomes a list of stages. A stage is one loop nest
// over a space of leaf axes (in memory order) that stores some nodes per element and
// accumulates some reductions. Which nodes get a buffer ("materialized") and in which stage:
// - every reduction, every output and state update, and every node the backward reuses from
//   the forward ("saved": only small per-channel values, never a full-size tensor);
// - every non-trivial node used inside a larger loop nest than its own (so per-channel values
//   are computed once per channel, not once per element).
// Everything else is computed inline where it is used. Stages are grouped by (time, space):
// time is the longest chain of materialized dependencies, so reductions that do not depend on
// each other share one pass. A centred second moment sum((x − mean(x))², R) joins the pass
// of sum(x, R) as a shifted-sums "moment": one pass, numerically stable (see emit/js).

import type { AxisTable } from '../check/axes.js'
import type { CheckedLayer } from '../check/index.js'
import { topoOrder, type Node } from '../ir/index.js'
import type { LayerGraphs } from '../pipeline.js'

export interface Moment {
  /** sum(src, R) */
  sum1: Node
  /** sum((src − sum1 / m)², R) */
  sum2: Node
  src: Node
}

export interface Stage {
  /** Leaf axes iterated, outermost first. */
  space: string[]
  stores: Node[]
  reductions: Node[]
  moments: Moment[]
  /** Whether the stage iterates a full-size space (a pass over the large tensors). */
  full: boolean
}

export interface StepPlan {
  name: 'forward' | 'backward'
  /** Nodes given to the step (inputs, params, state, dy; for the backward also the saved values). */
  leaves: Node[]
  stages: Stage[]
  /** Nodes with a buffer of their own, computed by some stage. */
  materialized: Node[]
  outputs: { name: string; node: Node }[]
  updates: { name: string; node: Node }[]
  /** Forward only: small values the backward reuses. */
  saved: Node[]
}

export interface KernelPlan {
  layer: CheckedLayer
  mode: 'train' | 'eval'
  /** The leaf axes of the largest input, in memory order: the full-size space. */
  fullSpace: string[]
  forward: StepPlan
  backward: StepPlan
}

export const leafAxes = (n: Node, axes: AxisTable): string[] =>
  n.axes.flatMap((a) => axes.leaves(a))

const isReduction = (n: Node) =>
  n.op === 'sum' || n.op === 'rmax' || n.op === 'rmin' || n.op === 'mean'
/** Nodes that are never stored: they are written as scalars or read through. */
const isTrivial = (n: Node) => n.op === 'const' || n.op === 'hyper' || n.op === 'count'
const isView = (n: Node) => n.op === 'broadcast' || n.op === 'regroup' || n.op === 'stop_gradient'

/**
 * What a step stores for a root (an output or update): the node itself when it broadcasts to
 * more axes than its data has, else the node whose data it views.
 */
export function rootTarget(n: Node): Node {
  const v = viewed(n)
  if (v.op === 'const' || v.op === 'hyper' || v.op === 'count') return n
  // A broadcast anywhere along the chain of views (e.g. a regrouping of a broadcast, the
  // gradient of mean(x as [H, C], [C])) means the root has more data than the node it views.
  for (let m = n; isView(m); m = m.args[0]!) if (m.op === 'broadcast') return n
  return v
}

/** The node whose data a view reads. */
export function viewed(n: Node): Node {
  while (isView(n)) n = n.args[0]!
  return n
}

/** Whether n is sum((src − sum1 / m)², R) with sum1 = sum(src, R): the one-pass moment pattern. */
function momentOf(n: Node): { sum1: Node; src: Node } | undefined {
  if (n.op !== 'sum') return undefined
  const sq = n.args[0]!
  let d: Node | undefined
  if (
    sq.op === 'pow' &&
    sq.args[1]!.op === 'broadcast' &&
    sq.args[1]!.args[0]!.op === 'const' &&
    sq.args[1]!.args[0]!.value === 2
  )
    d = sq.args[0]
  if (sq.op === 'mul' && sq.args[0] === sq.args[1]) d = sq.args[0]
  if (!d || d.op !== 'sub' || d.args[1]!.op !== 'broadcast') return undefined
  const src = d.args[0]!
  const mu = d.args[1]!.args[0]!
  if (mu.op !== 'div' || mu.args[0]!.op !== 'sum' || viewed(mu.args[1]!).op !== 'count')
    return undefined
  const sum1 = mu.args[0]!
  const same = (a: readonly string[], b: readonly string[]) =>
    a.length === b.length && a.every((x) => b.includes(x))
  if (
    sum1.args[0] !== src ||
    !same(sum1.over!, n.over!) ||
    !same(viewed(mu.args[1]!).over!, n.over!)
  )
    return undefined
  // The shift is read from the source at the first element of each group: it must be stored data.
  if (viewed(src).op !== 'input') return undefined
  return { sum1, src }
}

/** The most nodes a value may recompute inline before it gets a buffer (see planStep). */
const MAX_INLINE = 64

function planStep(
  name: 'forward' | 'backward',
  roots: { name: string; node: Node }[],
  updates: { name: string; node: Node }[],
  leaves: Node[],
  axes: AxisTable,
  fullSpace: string[],
  savedWanted: Node[] = [],
): StepPlan {
  const leafSet = new Set(leaves.map((n) => n.id))
  const all = [...roots.map((r) => r.node), ...updates.map((u) => u.node), ...savedWanted]
  const order = topoOrder(all, leafSet).filter((n) => !leafSet.has(n.id))
  const space = (n: Node) => leafAxes(isReduction(n) ? n.args[0]! : n, axes)
  const mat = new Set<number>()
  // A root that views a leaf aliases it, unless it broadcasts the leaf: then it is computed.
  for (const r of [...roots, ...updates])
    if (!leafSet.has(viewed(r.node).id) || rootTarget(r.node) !== viewed(r.node))
      mat.add(rootTarget(r.node).id)
  for (const n of savedWanted) if (!leafSet.has(n.id) && !isTrivial(n)) mat.add(n.id)
  for (const n of order) if (isReduction(n)) mat.add(n.id)
  // A non-trivial node read inside a larger space than its own is computed once, into a buffer.
  for (const n of order) {
    if (isView(n) || leafSet.has(n.id)) continue
    const s = space(n).length
    for (const a of n.args) {
      const v = viewed(a)
      if (leafSet.has(v.id) || isTrivial(v) || v.op === 'input') continue
      if (leafAxes(v, axes).length < s) mat.add(v.id)
    }
  }
  // Inline code is recomputed in every stage that uses it, so a long elementwise chain (a
  // program of hundreds of statements) would be recomputed stage after stage: generated code
  // quadratic in the program. A value whose inline cone (counted with repeats) exceeds
  // MAX_INLINE nodes is computed once, into a buffer. Normalisation layers stay far below.
  const cone = new Map<number, number>()
  for (const n of order) {
    if (mat.has(n.id) || leafSet.has(n.id) || isTrivial(n)) continue
    let c = isView(n) ? 0 : 1
    for (const a of n.args) c += cone.get(a.id) ?? 0
    if (c > MAX_INLINE && !isView(n)) {
      mat.add(n.id)
      continue
    }
    cone.set(n.id, Math.min(c, MAX_INLINE + 1))
  }
  // time: longest chain of materialized dependencies.
  const time = new Map<number, number>()
  const deps = (n: Node): Node[] => {
    const out: Node[] = []
    const stack = [...n.args]
    const seen = new Set<number>()
    while (stack.length) {
      const a = stack.pop()!
      if (seen.has(a.id)) continue
      seen.add(a.id)
      if (mat.has(a.id)) out.push(a)
      else if (!leafSet.has(a.id)) stack.push(...a.args)
    }
    return out
  }
  const moments = new Map<number, Moment>()
  for (const n of order) {
    if (!mat.has(n.id)) continue
    const m = momentOf(n)
    if (m && mat.has(m.sum1.id)) {
      moments.set(n.id, { sum1: m.sum1, sum2: n, src: m.src })
      time.set(n.id, time.get(m.sum1.id)!)
      continue
    }
    time.set(n.id, 1 + Math.max(0, ...deps(n).map((d) => time.get(d.id) ?? 0)))
  }
  const groups = new Map<string, Stage & { time: number }>()
  for (const n of order) {
    if (!mat.has(n.id)) continue
    const sp = space(n)
    const key = `${time.get(n.id)}|${sp.join(',')}`
    let st = groups.get(key)
    if (!st) {
      st = {
        time: time.get(n.id)!,
        space: sp,
        stores: [],
        reductions: [],
        moments: [],
        full: sp.length === fullSpace.length && sp.length > 0,
      }
      groups.set(key, st)
    }
    const m = moments.get(n.id)
    if (m) {
      st.moments.push(m)
      st.reductions = st.reductions.filter((r) => r !== m.sum1)
    } else if (isReduction(n)) {
      if (![...st.moments].some((x) => x.sum1 === n)) st.reductions.push(n)
    } else st.stores.push(n)
  }
  const stages = [...groups.values()].sort((a, b) => a.time - b.time).map(({ time: _t, ...s }) => s)
  return {
    name,
    leaves,
    stages,
    materialized: order.filter((n) => mat.has(n.id)),
    outputs: roots,
    updates,
    saved: savedWanted,
  }
}

/** Plans the forward (in `graphs.mode`) and the backward of a layer. */
export function planLayer(graphs: LayerGraphs): KernelPlan {
  const { layer, forward, backward } = graphs
  const axes = layer.axes
  // (A layer may have no inputs at all, `layer L() -> y`: then nothing is full-size.)
  const fullInput = forward.inputs.reduce<Node | undefined>(
    (a, b) => (!a || leafAxes(b, axes).length > leafAxes(a, axes).length ? b : a),
    undefined,
  )
  const fullSpace = fullInput ? leafAxes(fullInput, axes) : []
  const bwd = backward.program
  const fwdLeaves = [...forward.inputs, ...forward.params, ...forward.states]
  // What the backward needs from the forward: the small, dy-independent nodes at its frontier.
  const dyDependent = new Set<number>()
  const bwdOrder = topoOrder(bwd.outputs.map((o) => o.node))
  for (const n of bwdOrder)
    if (n.role === 'dy' || n.args.some((a) => dyDependent.has(a.id))) dyDependent.add(n.id)
  const savedSet = new Map<number, Node>()
  const consider = (a: Node) => {
    const v = viewed(a)
    if (dyDependent.has(v.id) || isTrivial(v)) return
    if (v.op === 'input' && v.role !== 'state') return // inputs and params are still there
    savedSet.set(v.id, v)
  }
  for (const n of bwdOrder) {
    if (!dyDependent.has(n.id)) continue
    for (const a of n.args) consider(a)
  }
  for (const o of bwd.outputs) if (!dyDependent.has(o.node.id)) consider(o.node)
  // A full-size dy-independent value at the frontier (x − μ, x̂) is recomputed, not saved: walk into it.
  const expand = [...savedSet.values()].filter(
    (v) => leafAxes(v, axes).length >= fullSpace.length && v.op !== 'input',
  )
  // Each node is walked into once: a shared DAG (x1 = x0 * x0 + x0, …) reaches a node by
  // exponentially many paths.
  const expanded = new Set<number>()
  while (expand.length) {
    const v = expand.pop()!
    savedSet.delete(v.id)
    if (expanded.has(v.id)) continue
    expanded.add(v.id)
    for (const a of v.args) {
      const w = viewed(a)
      if (
        isTrivial(w) ||
        savedSet.has(w.id) ||
        expanded.has(w.id) ||
        (w.op === 'input' && w.role !== 'state')
      )
        continue
      if (leafAxes(w, axes).length >= fullSpace.length && w.op !== 'input') expand.push(w)
      else savedSet.set(w.id, w)
    }
  }
  const saved = [...savedSet.values()]
  const fwdPlan = planStep(
    'forward',
    forward.outputs,
    forward.updates,
    fwdLeaves,
    axes,
    fullSpace,
    saved.filter((s) => s.op !== 'input'),
  )
  const bwdLeaves = [
    ...forward.inputs,
    ...forward.params,
    ...bwd.inputs.filter((n) => n.role === 'dy'),
    ...saved,
  ]
  const bwdPlan = planStep('backward', bwd.outputs, [], bwdLeaves, axes, fullSpace)
  return { layer, mode: graphs.mode, fullSpace, forward: fwdPlan, backward: bwdPlan }
}

/** How many times each stage of a step reads or writes each full-size tensor: the plan's traffic. */
export function passCount(step: StepPlan): number {
  return step.stages.filter((s) => s.full).length
}
