// Binding sizes: the axis sizes of one instantiation of a layer, from the sizes the user gives
// (input and free axes) and the hypers (`axis G = groups`), with every inconsistency refused
// in one clear line before anything is allocated.

import type { Expr } from '../grammar/ast.js'
import type { CheckedLayer } from '../compiler/check/index.js'
import { NormcError } from '../compiler/diagnostics.js'

/** Tensors larger than this many elements are refused before allocation (2^31 − 1 indices). */
export const MAX_ELEMENTS = 2 ** 31 - 1

/**
 * The most memory one step may allocate (8 GiB): the interpreter's values, or the js target's
 * buffers, in total. Sizes that would need more are refused, with the amount, before anything
 * is allocated: a case file cannot make normc exhaust the machine's memory.
 */
export const MAX_BYTES = 2 ** 33

/** `bytes` as GiB, for messages. */
export const gib = (bytes: number) => `${(bytes / 2 ** 30).toPrecision(3)} GiB`

/** Refuses a total allocation beyond MAX_BYTES: `what` says what would be allocated. */
export function checkBytes(bytes: number, what: string): void {
  if (bytes > MAX_BYTES)
    throw new NormcError(
      `${what} would need ${gib(bytes)}, more than the ${gib(MAX_BYTES)} normc allows in one step`,
    )
}

export function evalSize(e: Expr, hypers: ReadonlyMap<string, number>): number {
  switch (e.kind) {
    case 'num':
      return e.value
    case 'name':
      return hypers.get(e.name)!
    case 'neg':
      return -evalSize(e.operand, hypers)
    case 'binary': {
      const a = evalSize(e.left, hypers)
      const b = evalSize(e.right, hypers)
      return e.op === '+' ? a + b : e.op === '-' ? a - b : e.op === '*' ? a * b : a / b
    }
    default:
      return NaN
  }
}

/** The hypers of a layer: declared defaults, then overrides (unknown names refused). */
export function bindHypers(
  layer: CheckedLayer,
  overrides: Record<string, number> = {},
): Map<string, number> {
  const hypers = new Map(layer.hypers.map((h) => [h.name, h.value]))
  for (const [k, v] of Object.entries(overrides)) {
    if (!hypers.has(k)) {
      const known = layer.hypers.map((h) => h.name).join(', ') || 'none'
      throw new NormcError(`unknown hyper '${k}' for layer ${layer.decl.name} (hypers: ${known})`)
    }
    if (typeof v !== 'number' || Number.isNaN(v))
      throw new NormcError(`hyper '${k}' must be a number`)
    hypers.set(k, v)
  }
  return hypers
}

/** All axis sizes of the layer, from the given sizes of input and free axes and the hypers. */
export function bindSizes(
  layer: CheckedLayer,
  given: Record<string, number>,
  hypers: ReadonlyMap<string, number>,
): Map<string, number> {
  const axes = layer.axes
  const sizes = new Map<string, number>()
  const where = `layer ${layer.decl.name}`
  for (const [name, v] of Object.entries(given)) {
    const info = axes.get(name)
    if (!info)
      throw new NormcError(
        `unknown axis '${name}' for ${where} (axes: ${[...axes.axes.keys()].join(', ')})`,
      )
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
      throw new NormcError(`axis ${name} must be a positive integer, got ${JSON.stringify(v)}`)
    sizes.set(name, v)
  }
  for (const info of axes.axes.values()) {
    if (info.size) {
      const v = evalSize(info.size, hypers)
      if (!Number.isInteger(v) || v < 1)
        throw new NormcError(
          `axis ${info.name} = ${v} must be a positive integer`,
          info.size.span,
          layer.file,
        )
      const prev = sizes.get(info.name)
      if (prev !== undefined && prev !== v)
        throw new NormcError(`axis ${info.name} is given as ${prev} but its declared size is ${v}`)
      sizes.set(info.name, v)
    }
  }
  for (const info of axes.axes.values()) {
    if (info.kind !== 'factor' && !sizes.has(info.name))
      throw new NormcError(`no size given for axis ${info.name} of ${where}`)
  }
  // Factorisations, outermost first: the parent's size and all but one factor determine the rest.
  const parents = [...axes.axes.values()]
    .filter((i) => i.factors)
    .sort((a, b) => a.rank.length - b.rank.length)
  for (const p of parents) {
    const total = sizes.get(p.name)
    if (total === undefined) throw new NormcError(`no size for axis ${p.name}`)
    const unknown = p.factors!.filter((f) => !sizes.has(f))
    const known = p.factors!.filter((f) => sizes.has(f)).reduce((acc, f) => acc * sizes.get(f)!, 1)
    if (unknown.length > 1)
      throw new NormcError(
        `axis ${p.name} = ${p.factors!.join(' * ')}: give the size of all but one factor`,
      )
    if (unknown.length === 1) {
      if (total % known !== 0)
        throw new NormcError(
          `axis ${p.name} = ${total} is not divisible by ${p.factors!.filter((f) => sizes.has(f)).join(' * ')} = ${known}`,
        )
      sizes.set(unknown[0]!, total / known)
    } else if (known !== total)
      throw new NormcError(`axis ${p.name} = ${total}, but ${p.factors!.join(' * ')} = ${known}`)
  }
  let total = 0
  for (const t of [...layer.inputs, ...layer.params, ...layer.states, ...layer.outputs]) {
    const n = t.axes.reduce((acc, a) => acc * sizes.get(a)!, 1)
    if (n > MAX_ELEMENTS)
      throw new NormcError(
        `'${t.name}' would have ${n} elements, more than the ${MAX_ELEMENTS} normc supports`,
      )
    total += n * 8
  }
  checkBytes(total, `the inputs, params, state and outputs of ${layer.decl.name}`)
  return sizes
}
