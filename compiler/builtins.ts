// The builtin functions of the language: their names and arities, in one place. The checker
// uses this table for arity and shape rules; lowering maps each to IR operations.

export type BuiltinKind =
  | 'reduce-or-elementwise' // sum(x, [A]); max(a, b) / min(a, b) elementwise
  | 'reduce' // sum / mean: only with an axis list
  | 'count' // count([A, B])
  | 'elementwise' // fixed arity, all arguments values, broadcast by name
  | 'stop_gradient'
  | 'broadcast' // broadcast(x, [axes]): x repeated along the axes it lacks

export interface Builtin {
  name: string
  kind: BuiltinKind
  arity: number
  /** What the function computes, for error messages and docs. */
  doc: string
}

const table: Builtin[] = [
  { name: 'sum', kind: 'reduce', arity: 2, doc: 'sum(x, [axes]): sum over the listed axes' },
  { name: 'mean', kind: 'reduce', arity: 2, doc: 'mean(x, [axes]): mean over the listed axes' },
  { name: 'max', kind: 'reduce-or-elementwise', arity: 2, doc: 'max(x, [axes]) or max(a, b)' },
  { name: 'min', kind: 'reduce-or-elementwise', arity: 2, doc: 'min(x, [axes]) or min(a, b)' },
  {
    name: 'count',
    kind: 'count',
    arity: 1,
    doc: 'count([axes]): the number of elements the axes span',
  },
  { name: 'lerp', kind: 'elementwise', arity: 3, doc: 'lerp(a, b, t) = a + t * (b - a)' },
  { name: 'clamp', kind: 'elementwise', arity: 3, doc: 'clamp(x, lo, hi)' },
  {
    name: 'stop_gradient',
    kind: 'stop_gradient',
    arity: 1,
    doc: 'stop_gradient(e): e, with a zero derivative',
  },
  {
    name: 'broadcast',
    kind: 'broadcast',
    arity: 2,
    doc: 'broadcast(x, [axes]): x repeated along the listed axes it lacks',
  },
  { name: 'sqrt', kind: 'elementwise', arity: 1, doc: 'square root' },
  { name: 'rsqrt', kind: 'elementwise', arity: 1, doc: 'reciprocal square root, 1 / sqrt(x)' },
  { name: 'exp', kind: 'elementwise', arity: 1, doc: 'e to the x' },
  { name: 'log', kind: 'elementwise', arity: 1, doc: 'natural logarithm' },
  { name: 'abs', kind: 'elementwise', arity: 1, doc: 'absolute value' },
  { name: 'tanh', kind: 'elementwise', arity: 1, doc: 'hyperbolic tangent' },
  { name: 'sigmoid', kind: 'elementwise', arity: 1, doc: 'logistic sigmoid, 1 / (1 + exp(-x))' },
  { name: 'sign', kind: 'elementwise', arity: 1, doc: 'sign: -1, 0 or 1 (the derivative of abs)' },
  { name: 'ge', kind: 'elementwise', arity: 2, doc: 'ge(a, b): 1 where a >= b, else 0' },
  { name: 'gt', kind: 'elementwise', arity: 2, doc: 'gt(a, b): 1 where a > b, else 0' },
  { name: 'le', kind: 'elementwise', arity: 2, doc: 'le(a, b): 1 where a <= b, else 0' },
  { name: 'lt', kind: 'elementwise', arity: 2, doc: 'lt(a, b): 1 where a < b, else 0' },
  { name: 'eq', kind: 'elementwise', arity: 2, doc: 'eq(a, b): 1 where a == b, else 0' },
]

export const builtins: ReadonlyMap<string, Builtin> = new Map(table.map((b) => [b.name, b]))

export function isBuiltin(name: string): boolean {
  return builtins.has(name)
}
