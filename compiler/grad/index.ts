// Reverse mode: walks the graph from the outputs back to the leaves, applying one rule per
// operation from ./rules.ts and summing the contributions that meet at a node.

import type { CheckedLayer } from '../check/index.js'
import { topoOrder, type Builder, type Node, type Program } from '../ir/index.js'
import { upstreamInputs } from '../lower/index.js'
import { rules as defaultRules, type Rule } from './rules.js'
import type { Op } from '../ir/index.js'

export { rules } from './rules.js'
export type RuleTable = Record<Op, Rule>

/**
 * The adjoint of every node in `wrt`, given the adjoint seed of each root. A node outside the
 * influence of the seeds (or cut off by stop_gradient) gets undefined.
 */
export function adjoints(
  seeds: { node: Node; seed: Node }[],
  wrt: readonly Node[],
  b: Builder,
  table: RuleTable = defaultRules,
): Map<number, Node> {
  const order = topoOrder(seeds.map((s) => s.node))
  // Which nodes lie on a path from a wrt leaf (not through stop_gradient): only they need adjoints.
  const wanted = new Set(wrt.map((n) => n.id))
  const live = new Set<number>()
  for (const n of order) {
    if (wanted.has(n.id) || (n.op !== 'stop_gradient' && n.args.some((a) => live.has(a.id))))
      live.add(n.id)
  }
  const adj = new Map<number, Node>()
  const accumulate = (n: Node, g: Node) => {
    const prev = adj.get(n.id)
    adj.set(n.id, prev ? b.add(prev, g) : g)
  }
  for (const s of seeds) if (live.has(s.node.id)) accumulate(s.node, s.seed)
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]!
    const g = adj.get(n.id)
    if (!g || n.args.length === 0) continue
    const contributions = table[n.op](n, g, b)
    n.args.forEach((a, k) => {
      const c = contributions[k]
      if (c && live.has(a.id)) accumulate(a, c)
    })
  }
  const out = new Map<number, Node>()
  for (const w of wrt) {
    const g = adj.get(w.id)
    if (g) out.set(w.id, g)
  }
  return out
}

/** A derived backward pass: a program whose outputs are the gradients `dNAME`. */
export interface Backward {
  program: Program
  /** For each gradient output, the input or param it is the gradient of. */
  of: Map<string, string>
}

/**
 * Derives the backward program of a lowered forward program: inputs are the forward inputs,
 * params, state and the upstream gradient of each output; outputs are `dNAME` for every input
 * and param (zeros where no gradient flows).
 */
export function deriveBackward(
  p: Program,
  layer: CheckedLayer,
  table: RuleTable = defaultRules,
): Backward {
  const b = p.builder
  const dys = upstreamInputs(p, layer)
  const wrt = [...p.inputs, ...p.params]
  const adj = adjoints(
    p.outputs.map((o, i) => ({ node: o.node, seed: dys[i]! })),
    wrt,
    b,
    table,
  )
  const outputs = wrt.map((w) => ({
    name: 'd' + w.name,
    node: adj.get(w.id) ?? b.broadcast(b.c(0), w.axes),
  }))
  const of = new Map(wrt.map((w) => ['d' + w.name, w.name!]))
  return {
    program: { ...p, inputs: [...p.inputs, ...dys], outputs, updates: [] },
    of,
  }
}
