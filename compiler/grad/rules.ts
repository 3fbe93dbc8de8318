// Every derivative rule of normc, one per IR operation, in one table (tinygrad's gradient.py,
// TF.js's *_grad.ts). A rule gets the node, its adjoint `g` (same axes as the node) and the
// builder, and returns one contribution per argument (null: no gradient flows there).
//
// Subgradient conventions, matching PyTorch where it has one:
// - abs'(0) = sign(0) = 0.
// - clamp(x, lo, hi) passes the gradient to x where lo <= x <= hi (inclusive, as torch.clamp),
//   to lo where x < lo < hi and to hi where x > hi; with lo > hi the result is hi, and all of
//   the gradient goes to hi (torch.clamp's min > max convention).
// - max(a, b) / min(a, b) elementwise split the gradient evenly at ties (torch.maximum).
// - max(x, [R]) / min(x, [R]) split it evenly among the elements that attain the extreme
//   (torch.amax / torch.amin).
// - sqrt'(0), rsqrt'(0), log'(0) are infinite, as IEEE arithmetic says.
// - stop_gradient, comparisons and sign have zero derivative; counts, constants, hypers and
//   inputs are leaves.

import type { Builder, Node, Op } from '../ir/index.js'

export type Rule = (n: Node, g: Node, b: Builder) => (Node | null)[]

const none: Rule = (n) => n.args.map(() => null)
const arg = (n: Node, i: number) => n.args[i]!
const half = (b: Builder) => b.c(0.5)

export const rules: Record<Op, Rule> = {
  input: none,
  hyper: none,
  const: none,
  count: none,
  neg: (_n, g, b) => [b.neg(g)],
  sqrt: (n, g, b) => [b.div(g, b.mul(b.c(2), n))],
  rsqrt: (n, g, b) => [b.mul(g, b.mul(b.c(-0.5), b.div(n, arg(n, 0))))],
  exp: (n, g, b) => [b.mul(g, n)],
  log: (n, g, b) => [b.div(g, arg(n, 0))],
  abs: (n, g, b) => [b.mul(g, b.unary('sign', arg(n, 0)))],
  recip: (n, g, b) => [b.neg(b.mul(g, b.mul(n, n)))],
  tanh: (n, g, b) => [b.mul(g, b.sub(b.c(1), b.mul(n, n)))],
  sigmoid: (n, g, b) => [b.mul(g, b.mul(n, b.sub(b.c(1), n)))],
  sign: none,
  add: (_n, g) => [g, g],
  sub: (_n, g, b) => [g, b.neg(g)],
  mul: (n, g, b) => [b.mul(g, arg(n, 1)), b.mul(g, arg(n, 0))],
  div: (n, g, b) => [b.div(g, arg(n, 1)), b.neg(b.div(b.mul(g, n), arg(n, 1)))],
  pow: (n, g, b) => [
    b.mul(g, b.mul(arg(n, 1), b.binary('pow', arg(n, 0), b.sub(arg(n, 1), b.c(1))))),
    b.mul(g, b.mul(n, b.unary('log', arg(n, 0)))),
  ],
  max: (n, g, b) => [
    b.mul(
      g,
      b.add(
        b.binary('gt', arg(n, 0), arg(n, 1)),
        b.mul(half(b), b.binary('eq', arg(n, 0), arg(n, 1))),
      ),
    ),
    b.mul(
      g,
      b.add(
        b.binary('lt', arg(n, 0), arg(n, 1)),
        b.mul(half(b), b.binary('eq', arg(n, 0), arg(n, 1))),
      ),
    ),
  ],
  min: (n, g, b) => [
    b.mul(
      g,
      b.add(
        b.binary('lt', arg(n, 0), arg(n, 1)),
        b.mul(half(b), b.binary('eq', arg(n, 0), arg(n, 1))),
      ),
    ),
    b.mul(
      g,
      b.add(
        b.binary('gt', arg(n, 0), arg(n, 1)),
        b.mul(half(b), b.binary('eq', arg(n, 0), arg(n, 1))),
      ),
    ),
  ],
  ge: none,
  gt: none,
  le: none,
  lt: none,
  eq: none,
  clamp: (n, g, b) => [
    b.mul(g, b.mul(b.binary('ge', arg(n, 0), arg(n, 1)), b.binary('le', arg(n, 0), arg(n, 2)))),
    // With lo > hi the result is hi everywhere (torch.clamp): lo gets nothing, hi everything.
    b.mul(g, b.mul(b.binary('lt', arg(n, 0), arg(n, 1)), b.binary('lt', arg(n, 1), arg(n, 2)))),
    b.mul(
      g,
      b.binary('max', b.binary('gt', arg(n, 0), arg(n, 2)), b.binary('lt', arg(n, 2), arg(n, 1))),
    ),
  ],
  sum: (n, g, b) => [b.broadcast(g, arg(n, 0).axes)],
  mean: (n, g, b) => [b.broadcast(b.div(g, b.count(n.over!)), arg(n, 0).axes)],
  rmax: (n, g, b) => [extremeAdjoint(n, g, b)],
  rmin: (n, g, b) => [extremeAdjoint(n, g, b)],
  broadcast: (n, g, b) => [
    b.reduce(
      'sum',
      g,
      n.axes.filter((a) => !arg(n, 0).axes.includes(a)),
    ),
  ],
  regroup: (n, g, b) => [b.regroup(g, arg(n, 0).axes)],
  stop_gradient: none,
}

/** max/min over axes: the gradient goes to the elements equal to the extreme, split evenly. */
function extremeAdjoint(n: Node, g: Node, b: Builder): Node {
  const x = arg(n, 0)
  const hit = b.binary('eq', x, b.broadcast(n, x.axes))
  const ties = b.reduce('sum', hit, n.over!)
  return b.mul(b.broadcast(b.div(g, ties), x.axes), hit)
}
