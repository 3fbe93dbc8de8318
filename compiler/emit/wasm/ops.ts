// One rule per op: the instructions that compute an IR operation from its operands' values, as
// float64 scalars or f64x2 vectors (two lanes). The host's Math supplies what WebAssembly lacks
// (exp, log, tanh, pow with a non-constant or non-2 exponent), one lane at a time; every rule
// computes what the js target's rule computes (compiler/emit/js), IEEE cases included.

import type { Node } from '../../ir/index.js'
import { viewed } from '../../schedule/index.js'
import type { Instr } from './module.js'

/** Math the instruction set lacks, imported from the host (module `math`), in this order. */
export const wasmImports = ['exp', 'log', 'tanh', 'pow'] as const
type Imported = (typeof wasmImports)[number]

/** Lanes of a vector: f64x2. */
export const LANES = 2

export const i = (op: string): Instr => ({ op })
export const f64 = (value: number): Instr => ({ op: 'f64.const', value })
export const vconst = (value: number): Instr => ({ op: 'v128.const', f64x2: [value, value] })

/** Instructions computing node n (its operands pushed by `val`), scalar or vector. */
export function opInstrs(n: Node, val: (n: Node) => Instr[], vec: boolean): Instr[] {
  const t = vec ? 'f64x2' : 'f64'
  const a = n.args.map(val)
  const k = (c: number) => (vec ? vconst(c) : f64(c))
  const op = (name: string) => i(`${t}.${name}`)
  const call = (f: Imported, args: Instr[][]): Instr[] => {
    const func = wasmImports.indexOf(f)
    if (!vec) return [...args.flat(), { op: 'call', func }]
    // One lane at a time: the host's Math has no vector form.
    const lane = (l: number) => args.flatMap((x) => [...x, { op: 'f64x2.extract_lane', lane: l }])
    const out: Instr[] = [...lane(0), { op: 'call', func }, i('f64x2.splat')]
    for (let l = 1; l < LANES; l++)
      out.push(...lane(l), { op: 'call', func }, { op: 'f64x2.replace_lane', lane: l })
    return out
  }
  const bool = (cmp: string): Instr[] =>
    vec
      ? [...a[0]!, ...a[1]!, op(cmp), vconst(1), i('v128.and')]
      : [...a[0]!, ...a[1]!, op(cmp), i('f64.convert_i32_u')]
  const choose = vec ? i('v128.bitselect') : i('select')
  switch (n.op) {
    case 'broadcast':
    case 'regroup':
    case 'stop_gradient':
    case 'const':
    case 'hyper':
    case 'count':
      return n.args.length ? a[0]! : val(n)
    case 'neg':
    case 'sqrt':
    case 'abs':
      return [...a[0]!, op(n.op)]
    case 'rsqrt':
      return [k(1), ...a[0]!, op('sqrt'), op('div')]
    case 'recip':
      return [k(1), ...a[0]!, op('div')]
    case 'exp':
    case 'log':
    case 'tanh':
      return call(n.op, [a[0]!])
    case 'sigmoid':
      return [k(1), k(1), ...call('exp', [[...a[0]!, op('neg')]]), op('add'), op('div')]
    case 'sign':
      // a > 0 ? 1 : a < 0 ? -1 : a === a ? 0 : NaN (±0 give +0, as the js target's sign expression does)
      return [
        k(1),
        k(-1),
        k(0),
        k(NaN),
        ...a[0]!,
        ...a[0]!,
        op('eq'),
        choose,
        ...a[0]!,
        k(0),
        op('lt'),
        choose,
        ...a[0]!,
        k(0),
        op('gt'),
        choose,
      ]
    case 'add':
    case 'sub':
    case 'mul':
    case 'div':
    case 'max':
    case 'min':
      return [...a[0]!, ...a[1]!, op(n.op)]
    case 'pow':
      return viewed(n.args[1]!).op === 'const' && viewed(n.args[1]!).value === 2
        ? [...a[0]!, ...a[0]!, op('mul')]
        : call('pow', [a[0]!, a[1]!])
    case 'ge':
    case 'gt':
    case 'le':
    case 'lt':
    case 'eq':
      return bool(n.op)
    case 'clamp':
      return [...a[0]!, ...a[1]!, op('max'), ...a[2]!, op('min')]
    default:
      throw new Error(`internal: cannot emit ${n.op} inline`)
  }
}
