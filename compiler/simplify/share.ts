// Sharing partial reductions: when the graph sums the same tensor over R1 and over a larger R,
// the larger sum is computed from the smaller (sum(x, R) = sum(sum(x, R1), R − R1)), so one
// pass over the full-size tensor serves both. This is how InstanceNorm's and GroupNorm's dβ
// reuse the per-(n, c) sums of dy that their dx needs.

import { topoOrder, type Node } from '../ir/index.js'
import type { Simplifier } from './index.js'

/** The attributes of a node besides its operation, arguments and axes. */
function attrsOf(n: Node): Partial<Pick<Node, 'value' | 'name' | 'role' | 'over'>> {
  const a: { -readonly [K in 'value' | 'name' | 'role' | 'over']?: Node[K] } = {}
  if (n.value !== undefined) a.value = n.value
  if (n.name !== undefined) a.name = n.name
  if (n.role !== undefined) a.role = n.role
  if (n.over !== undefined) a.over = n.over
  return a
}

export function shareReductions(roots: readonly Node[], s: Simplifier): Node[] {
  const order = topoOrder(roots)
  const sums = order.filter((n) => n.op === 'sum')
  // Group sums by the tensor they read, seeing through a split regrouping.
  const base = (n: Node) =>
    n.op === 'regroup' && n.args[0]!.axes.length < n.axes.length ? n.args[0]! : n
  const replace = new Map<number, { inner: Node; rest: string[] }>()
  for (const big of sums) {
    const src = big.args[0]!
    let best: Node | undefined
    for (const small of sums) {
      if (small === big || base(small.args[0]!) !== base(src)) continue
      const fineAxes = small.args[0]!.axes
      const R = s.refineAxes(big.over!, fineAxes)
      const R1 = small.over!
      if (
        R1.length < R.length &&
        R1.every((a) => R.includes(a)) &&
        (src === small.args[0] || src === base(small.args[0]!))
      ) {
        if (!best || best.over!.length < R1.length) best = small
      }
    }
    if (best) {
      const R = s.refineAxes(big.over!, best.args[0]!.axes)
      replace.set(big.id, { inner: best, rest: R.filter((a) => !best.over!.includes(a)) })
    }
  }
  if (replace.size === 0) return [...roots]
  const map = new Map<number, Node>()
  // Rebuilt in dependency order, where a replaced sum also depends on the sum it reuses.
  const build = (n: Node): Node => {
    const hit = map.get(n.id)
    if (hit) return hit
    const r = replace.get(n.id)
    let m: Node
    if (r) m = s.regroup(s.reduce('sum', build(r.inner), r.rest), n.axes)
    else {
      const args = n.args.map(build)
      m = args.every((a, i) => a === n.args[i]) ? n : s.make(n.op, args, n.axes, attrsOf(n))
    }
    if (!m.hint && n.hint) m.hint = n.hint
    if (!m.span && n.span) m.span = n.span
    map.set(n.id, m)
    return m
  }
  return s.withoutRules(() => {
    for (const n of order) build(n)
    return roots.map((r) => map.get(r.id)!)
  })
}
