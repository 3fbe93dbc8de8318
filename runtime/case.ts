// The `normc run` JSON contract (DESIGN.md): reading a case and writing results. Every value is
// validated; non-finite numbers travel as the strings "NaN", "Infinity", "-Infinity".

import { NormcError } from '../compiler/diagnostics.js'

export interface RunCase {
  axes: Record<string, number>
  hyper: Record<string, number>
  inputs: Record<string, Float64Array>
  /** The upstream gradient: one array, or an object keyed by output name for several outputs. */
  dy?: Float64Array | Record<string, Float64Array>
}

const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k)

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A short description of a JSON value (never stringifying a deep array or object). */
function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array'
  if (v !== null && typeof v === 'object') return 'an object'
  return String(JSON.stringify(v)).slice(0, 40)
}

export function toNumber(v: unknown, where: string): number {
  if (typeof v === 'number') return v
  if (v === 'NaN') return NaN
  if (v === 'Infinity') return Infinity
  if (v === '-Infinity') return -Infinity
  throw new NormcError(
    `${where}: expected a number (or "NaN", "Infinity", "-Infinity"), got ${describe(v)}`,
  )
}

function toArray(v: unknown, where: string): Float64Array {
  if (typeof v === 'number' || typeof v === 'string') return Float64Array.of(toNumber(v, where))
  if (!Array.isArray(v)) throw new NormcError(`${where}: expected an array of numbers`)
  const out = new Float64Array(v.length)
  for (let i = 0; i < v.length; i++) out[i] = toNumber(v[i], `${where}[${i}]`)
  return out
}

function entries(v: unknown, where: string): [string, unknown][] {
  if (v === undefined) return []
  if (!isPlainObject(v)) throw new NormcError(`${where}: expected an object`)
  return Object.keys(v).map((k) => [k, v[k]])
}

/** Parses and validates the JSON text of a case (shape only; names are checked against the layer later). */
export function parseCase(text: string, file: string): RunCase {
  let raw: unknown
  // A byte order mark is not JSON, but editors write one: RFC 8259 lets a parser ignore it.
  if (text.startsWith('\uFEFF')) text = text.slice(1)
  try {
    raw = JSON.parse(text)
  } catch (e) {
    const m = /position (\d+)/.exec((e as Error).message)
    let where = file
    if (m) {
      const pos = Number(m[1])
      const before = text.slice(0, pos).split('\n')
      where = `${file}:${before.length}:${before[before.length - 1]!.length + 1}`
    }
    throw new NormcError(`${where}: malformed JSON: ${(e as Error).message.split('\n')[0]}`)
  }
  if (!isPlainObject(raw))
    throw new NormcError(`${file}: expected a JSON object with "axes" and "inputs"`)
  for (const k of Object.keys(raw))
    if (!['axes', 'hyper', 'inputs', 'dy'].includes(k))
      throw new NormcError(`${file}: unknown key "${k}" (expected axes, hyper, inputs, dy)`)
  if (!own(raw, 'axes')) throw new NormcError(`${file}: missing "axes"`)
  const axes: Record<string, number> = Object.create(null)
  for (const [k, v] of entries(raw.axes, `${file}: axes`)) {
    if (typeof v !== 'number')
      throw new NormcError(`${file}: axes.${k}: expected a positive integer`)
    axes[k] = v
  }
  const hyper: Record<string, number> = Object.create(null)
  for (const [k, v] of entries(raw.hyper, `${file}: hyper`))
    hyper[k] = toNumber(v, `${file}: hyper.${k}`)
  const inputs: Record<string, Float64Array> = Object.create(null)
  for (const [k, v] of entries(raw.inputs ?? {}, `${file}: inputs`))
    inputs[k] = toArray(v, `${file}: inputs.${k}`)
  const c: RunCase = { axes, hyper, inputs }
  if (own(raw, 'dy') && raw.dy !== null) {
    if (isPlainObject(raw.dy)) {
      const dy: Record<string, Float64Array> = Object.create(null)
      for (const [k, v] of entries(raw.dy, `${file}: dy`)) dy[k] = toArray(v, `${file}: dy.${k}`)
      c.dy = dy
    } else c.dy = toArray(raw.dy, `${file}: dy`)
  }
  return c
}

function numberOut(v: number): number | string {
  if (Number.isFinite(v)) return v
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity'
}

/** JSON text of a result, written piecewise so that megabytes do not build one giant array of strings. */
export function resultJson(result: {
  outputs: Record<string, ArrayLike<number>>
  grads?: Record<string, ArrayLike<number>>
  state: Record<string, ArrayLike<number>>
}): string {
  const arr = (a: ArrayLike<number>) => {
    const parts: string[] = new Array(a.length)
    for (let i = 0; i < a.length; i++) parts[i] = JSON.stringify(numberOut(a[i]!))
    return `[${parts.join(', ')}]`
  }
  const obj = (o: Record<string, ArrayLike<number>>, indent: string) =>
    `{${Object.keys(o)
      .map((k) => `\n${indent}  ${JSON.stringify(k)}: ${arr(o[k]!)}`)
      .join(',')}${Object.keys(o).length ? '\n' + indent : ''}}`
  const lines: string[] = []
  for (const [k, v] of Object.entries(result.outputs))
    lines.push(`  ${JSON.stringify(k)}: ${arr(v)}`)
  if (result.grads) lines.push(`  "grads": ${obj(result.grads, '  ')}`)
  lines.push(`  "state": ${obj(result.state, '  ')}`)
  return `{\n${lines.join(',\n')}\n}\n`
}

/**
 * When every number a case gives is finite and the step still made NaN or ±Infinity, a one-line
 * account of where (IEEE's answer is right, but rarely what the user meant: a constant channel
 * with eps = 0 gives 0 / 0). Undefined when the inputs already hold non-finite numbers or the
 * results are all finite.
 */
export function nonFiniteFromFinite(
  c: RunCase,
  result: {
    outputs: Record<string, Float64Array>
    grads?: Record<string, Float64Array>
    state: Record<string, Float64Array>
  },
): string | undefined {
  const given = [
    ...Object.values(c.inputs),
    ...(c.dy === undefined ? [] : c.dy instanceof Float64Array ? [c.dy] : Object.values(c.dy)),
  ]
  if (!given.every((a) => a.every(Number.isFinite))) return undefined
  if (!Object.values(c.hyper).every(Number.isFinite)) return undefined
  const parts: string[] = []
  const scan = (prefix: string, m: Record<string, Float64Array> | undefined) => {
    for (const k of Object.keys(m ?? {})) {
      const a = m![k]!
      let nan = 0
      let inf = 0
      for (const v of a) {
        if (Number.isNaN(v)) nan++
        else if (!Number.isFinite(v)) inf++
      }
      if (nan + inf === 0) continue
      const what = [nan ? `${nan} NaN` : '', inf ? `${inf} infinite` : ''].filter(Boolean)
      parts.push(`${prefix}${k} (${what.join(', ')} of ${a.length})`)
    }
  }
  scan('', result.outputs)
  scan('grads.', result.grads)
  scan('state.', result.state)
  if (!parts.length) return undefined
  return `finite inputs gave non-finite values: ${parts.join(', ')} (a division by zero, or the log or sqrt of a negative number, somewhere in the step)`
}
