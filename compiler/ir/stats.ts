// Facts about a graph that tests and `normc plan` report: how many reductions read a tensor of
// the full input size.

import { topoOrder, type Node } from './index.js'
import type { AxisTable } from '../check/axes.js'

/** The leaf axes a node spans (a factorised axis counts as its factors). */
function leafSet(n: Node, axes: AxisTable): string {
  return n.axes
    .flatMap((a) => axes.leaves(a))
    .sort()
    .join(',')
}

/** Nodes whose value depends on an upstream gradient (`dy`): the backward's own work. */
export function dependsOnDy(roots: readonly Node[]): Set<number> {
  const out = new Set<number>()
  for (const n of topoOrder(roots))
    if (n.role === 'dy' || n.args.some((a) => out.has(a.id))) out.add(n.id)
  return out
}

/**
 * Reductions (sum, mean, max, min) whose operand spans every axis of `full` (the input's
 * size). With `backwardOnly`, only those that read the upstream gradient: the forward's
 * statistics (mean, variance) are computed once in the forward and reused.
 */
export function fullSizeReductions(
  roots: readonly Node[],
  full: Node,
  axes: AxisTable,
  backwardOnly = false,
): Node[] {
  const target = leafSet(full, axes)
  const dy = backwardOnly ? dependsOnDy(roots) : undefined
  return topoOrder(roots).filter(
    (n) =>
      (n.op === 'sum' || n.op === 'mean' || n.op === 'rmax' || n.op === 'rmin') &&
      leafSet(n.args[0]!, axes) === target &&
      (!dy || dy.has(n.id)),
  )
}
