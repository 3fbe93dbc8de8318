// The wasm module encoder against wabt: for each module, wabt assembles printModule's text and
// must produce encodeModule's bytes exactly, so every opcode, immediate and section layout in
// the table is checked by an independent assembler (which also validates the types). Then the
// encoded module runs, to check what the numbers mean and not only how they are spelled.

import { beforeAll, describe, expect, it } from 'vitest'
import {
  encodeModule,
  printModule,
  wasmOps,
  type Func,
  type ImportFunc,
  type Instr,
  type ValType,
  type WasmModule,
} from '../../compiler/emit/wasm/module.js'

import type wabtInit from 'wabt'

type Wabt = Awaited<ReturnType<typeof wabtInit>>
let wabt: Wabt

beforeAll(async () => {
  wabt = await (await import('wabt')).default()
})

/** wabt's bytes for a WAT text, after wabt has validated it. */
function wat2wasm(text: string): Uint8Array {
  const mod = wabt.parseWat('m.wat', text, { simd: true })
  try {
    mod.validate()
    return mod.toBinary({}).buffer
  } finally {
    mod.destroy()
  }
}

/** The part of the WebAssembly JS API used here (tsconfig's lib has no DOM, where it is typed). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean
  Memory: new (d: { initial: number }) => { readonly buffer: ArrayBuffer }
  Module: new (bytes: Uint8Array) => object
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> }
  RuntimeError: new () => Error
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

function expectSameAsWabt(m: WasmModule): Uint8Array {
  const ours = encodeModule(m)
  const text = printModule(m)
  expect(hex(ours), text).toBe(hex(wat2wasm(text)))
  expect(WA.validate(ours)).toBe(true)
  return ours
}

// Instruction shorthands.
const o = (op: string): Instr => ({ op })
const get = (local: number): Instr => ({ op: 'local.get', local })
const set = (local: number): Instr => ({ op: 'local.set', local })
const tee = (local: number): Instr => ({ op: 'local.tee', local })
const i32 = (value: number): Instr => ({ op: 'i32.const', value })
const f64 = (value: number): Instr => ({ op: 'f64.const', value })
const v128 = (a: number, b: number): Instr => ({ op: 'v128.const', f64x2: [a, b] })
const call = (func: number): Instr => ({ op: 'call', func })
const br = (depth: number): Instr => ({ op: 'br', depth })
const brIf = (depth: number): Instr => ({ op: 'br_if', depth })
const mem = (op: string, offset: number, align: number): Instr => ({ op, offset, align })
const memLane = (op: string, offset: number, align: number, lane: number): Instr =>
  ({ op, offset, align, lane }) as Instr
const lane = (op: string, l: number): Instr => ({ op, lane: l }) as Instr

const fn = (
  exportName: string | undefined,
  params: ValType[],
  results: ValType[],
  locals: ValType[],
  body: Instr[],
): Func => ({ params, results, locals, body, ...(exportName ? { export: exportName } : {}) })

/** f64 values whose spelling is easy to get wrong. */
const EDGE_F64 = [
  0,
  -0,
  NaN,
  Infinity,
  -Infinity,
  1e-310, // subnormal
  5e-324, // the smallest subnormal
  2.2250738585072014e-308, // the smallest normal
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  0.1,
  1 / 3,
  -1.5,
  1.2345678901234568e20, // JS prints this without an exponent
  1e21,
  2 ** 53 + 2,
  Math.PI,
]

const EDGE_I32 = [0, 1, -1, 63, 64, -64, -65, 127, 128, 8191, 8192, 2 ** 31 - 1, -(2 ** 31)]

// Imports: function indices 0..2.
const IMPORTS: ImportFunc[] = [
  { module: 'math', name: 'exp', params: ['f64'], results: ['f64'] },
  { module: 'math', name: 'pow', params: ['f64', 'f64'], results: ['f64'] },
  { module: 'env', name: 'tick', params: [], results: [] },
]

const I32_BINOPS = [
  'i32.add',
  'i32.sub',
  'i32.mul',
  'i32.and',
  'i32.or',
  'i32.xor',
  'i32.shl',
  'i32.shr_s',
  'i32.shr_u',
  'i32.eq',
  'i32.ne',
  'i32.lt_s',
  'i32.lt_u',
  'i32.gt_s',
  'i32.gt_u',
  'i32.le_s',
  'i32.le_u',
  'i32.ge_s',
  'i32.ge_u',
]

/** JS's meaning of each i32 binop, to run the chain against. */
const I32_JS: Record<string, (a: number, b: number) => number> = {
  'i32.add': (a, b) => (a + b) | 0,
  'i32.sub': (a, b) => (a - b) | 0,
  'i32.mul': (a, b) => Math.imul(a, b),
  'i32.and': (a, b) => a & b,
  'i32.or': (a, b) => a | b,
  'i32.xor': (a, b) => a ^ b,
  'i32.shl': (a, b) => a << b,
  'i32.shr_s': (a, b) => a >> b,
  'i32.shr_u': (a, b) => (a >>> b) | 0,
  'i32.eq': (a, b) => +(a === b),
  'i32.ne': (a, b) => +(a !== b),
  'i32.lt_s': (a, b) => +(a < b),
  'i32.lt_u': (a, b) => +(a >>> 0 < b >>> 0),
  'i32.gt_s': (a, b) => +(a > b),
  'i32.gt_u': (a, b) => +(a >>> 0 > b >>> 0),
  'i32.le_s': (a, b) => +(a <= b),
  'i32.le_u': (a, b) => +(a >>> 0 <= b >>> 0),
  'i32.ge_s': (a, b) => +(a >= b),
  'i32.ge_u': (a, b) => +(a >>> 0 >= b >>> 0),
}

/** (a, b) -> each binop in turn folded with b, then eqz's complement, then the edge constants. */
const i32ops = fn(
  'i32ops',
  ['i32', 'i32'],
  ['i32'],
  [],
  [
    get(0),
    ...I32_BINOPS.flatMap((op) => [get(1), o(op)]),
    o('i32.eqz'),
    ...EDGE_I32.flatMap((c) => [i32(c), o('i32.add')]),
    i32(0xffffffff), // the unsigned spelling of -1
    o('i32.add'),
  ],
)

function i32opsJs(a: number, b: number): number {
  let acc = a
  for (const op of I32_BINOPS) acc = I32_JS[op]!(acc, b)
  acc = +(acc === 0)
  for (const c of EDGE_I32) acc = (acc + c) | 0
  return (acc - 1) | 0
}

const f64ops = fn(
  'f64ops',
  ['f64', 'f64'],
  ['f64'],
  ['f64'],
  [
    get(0),
    ...['add', 'sub', 'mul', 'div', 'min', 'max', 'copysign'].flatMap((op) => [
      get(1),
      o(`f64.${op}`),
    ]),
    ...['abs', 'neg', 'ceil', 'floor', 'trunc', 'nearest', 'sqrt'].map((op) => o(`f64.${op}`)),
    ...['eq', 'ne', 'lt', 'gt', 'le', 'ge'].flatMap((op) => [
      get(0),
      get(1),
      o(`f64.${op}`),
      o('f64.convert_i32_u'),
      o('f64.add'),
    ]),
    i32(-3),
    o('f64.convert_i32_s'),
    o('f64.sub'),
    o('f32.demote_f64'),
    o('f64.promote_f32'),
    tee(2),
    f64(7),
    get(0),
    get(1),
    o('f64.lt'),
    o('select'),
    f64(0),
    o('drop'),
    ...EDGE_F64.flatMap((c) => [f64(c), o('f64.add')]),
  ],
)

/** Every scalar memory op, with offsets past one LEB byte and alignments below natural. */
const memops = fn(
  'memops',
  ['i32'],
  ['f64'],
  [],
  [
    get(0),
    get(0),
    mem('i32.load', 0, 2),
    mem('i32.load', 200, 0),
    o('i32.add'),
    o('drop'),
    get(0),
    mem('f32.load', 4, 2),
    o('f64.promote_f32'),
    get(0),
    mem('f64.load', 50_000, 3),
    o('f64.add'),
    get(0),
    mem('f64.load', 8, 1),
    o('f64.add'),
    get(0),
    f64(0.1),
    o('f32.demote_f64'),
    mem('f32.store', 16, 2),
    get(0),
    f64(0.1),
    o('f32.demote_f64'),
    mem('f32.store', 20, 0),
    get(0),
    f64(0.25),
    mem('f64.store', 40_000, 3),
    get(0),
    f64(0.5),
    mem('f64.store', 0, 2),
  ],
)

const F64X2_BINOPS = [
  'eq',
  'ne',
  'lt',
  'gt',
  'le',
  'ge',
  'add',
  'sub',
  'mul',
  'div',
  'min',
  'max',
  'pmin',
  'pmax',
]
const F64X2_UNOPS = ['abs', 'neg', 'sqrt', 'ceil', 'floor', 'trunc', 'nearest']

/** Every SIMD op; locals 2..4 are v128. */
const simdops = fn(
  'simdops',
  ['i32', 'f64'],
  ['f64'],
  ['v128', 'v128', 'v128'],
  [
    get(1),
    o('f64x2.splat'),
    set(2),
    get(0),
    mem('v128.load', 0, 4),
    set(3),
    get(0),
    mem('v128.load', 16, 3),
    set(4),
    v128(1, -0),
    v128(NaN, Infinity),
    o('f64x2.add'),
    ...F64X2_BINOPS.flatMap((op) => [get(3), o(`f64x2.${op}`)]),
    ...F64X2_UNOPS.map((op) => o(`f64x2.${op}`)),
    ...['and', 'or', 'xor', 'andnot'].flatMap((op) => [get(4), o(`v128.${op}`)]),
    o('v128.not'),
    get(2),
    get(3),
    o('v128.bitselect'),
    o('f32x4.demote_f64x2_zero'),
    o('f64x2.promote_low_f32x4'),
    get(1),
    lane('f64x2.replace_lane', 1),
    set(2),
    // Lanes of f32x4.
    get(1),
    o('f32.demote_f64'),
    o('f32x4.splat'),
    get(1),
    o('f32.demote_f64'),
    lane('f32x4.replace_lane', 3),
    lane('f32x4.extract_lane', 2),
    o('drop'),
    // Lane and zero-extending loads and stores.
    get(0),
    mem('v128.load32_zero', 4, 2),
    get(0),
    mem('v128.load64_zero', 1_000_000, 3),
    o('v128.or'),
    set(3),
    get(0),
    get(3),
    memLane('v128.load32_lane', 0, 2, 3),
    set(3),
    get(0),
    get(3),
    memLane('v128.load64_lane', 128, 1, 1),
    set(3),
    get(0),
    get(3),
    memLane('v128.store32_lane', 12, 0, 2),
    get(0),
    get(3),
    memLane('v128.store64_lane', 8, 3, 0),
    get(0),
    get(3),
    mem('v128.store', 32, 4),
    get(2),
    o('v128.any_true'),
    o('drop'),
    get(2),
    lane('f64x2.extract_lane', 1),
  ],
)

/** Index of a defined function, past the imports. */
const F = (i: number) => IMPORTS.length + i

/**
 * x -> doubles x until |x| > 100, then |x|; exp is called and dropped; 0 returns early (and
 * would loop forever otherwise); unreachable guards a branch never taken for finite x.
 */
const control = fn(
  'control',
  ['f64'],
  ['f64'],
  [],
  [
    get(0),
    f64(0),
    o('f64.eq'),
    o('if'),
    f64(0),
    o('return'),
    o('end'),
    o('block'),
    o('loop'),
    get(0),
    o('f64.abs'),
    f64(100),
    o('f64.gt'),
    brIf(1),
    get(0),
    f64(2),
    o('f64.mul'),
    set(0),
    br(0),
    o('end'),
    o('end'),
    get(0),
    f64(0),
    o('f64.lt'),
    o('if'),
    get(0),
    o('f64.neg'),
    set(0),
    o('else'),
    o('nop'),
    o('end'),
    get(0),
    call(0),
    o('drop'),
    call(2),
    get(0),
    f64(Infinity),
    o('f64.eq'),
    o('if'),
    o('unreachable'),
    o('end'),
    get(0),
  ],
)

/** Calls a defined function and an import with another signature: pow(control(x), 2). */
const squared = fn('squared', ['f64'], ['f64'], [], [get(0), call(F(4)), f64(2), call(1)])

/**
 * Sums n f32s at ptr into float64, two at a time: v128.load64_zero reads a pair, promote_low
 * widens it, and the odd element is added to lane 0 at the end.
 */
const sumF32 = fn(
  'sumF32',
  ['i32', 'i32'],
  ['f64'],
  ['v128', 'i32'],
  [
    f64(0),
    o('f64x2.splat'),
    set(2),
    i32(0),
    set(3),
    o('block'),
    o('loop'),
    get(3),
    i32(1),
    o('i32.add'),
    get(1),
    o('i32.ge_s'),
    brIf(1),
    get(2),
    get(0),
    get(3),
    i32(2),
    o('i32.shl'),
    o('i32.add'),
    mem('v128.load64_zero', 0, 2),
    o('f64x2.promote_low_f32x4'),
    o('f64x2.add'),
    set(2),
    get(3),
    i32(2),
    o('i32.add'),
    set(3),
    br(0),
    o('end'),
    o('end'),
    get(3),
    get(1),
    o('i32.lt_s'),
    o('if'),
    get(2),
    get(2),
    lane('f64x2.extract_lane', 0),
    get(0),
    get(3),
    i32(2),
    o('i32.shl'),
    o('i32.add'),
    mem('f32.load', 0, 2),
    o('f64.promote_f32'),
    o('f64.add'),
    lane('f64x2.replace_lane', 0),
    set(2),
    o('end'),
    get(2),
    lane('f64x2.extract_lane', 0),
    get(2),
    lane('f64x2.extract_lane', 1),
    o('f64.add'),
  ],
)

/** Stores EDGE_F64 at ptr with f64.store, then again in pairs with v128.const. */
const consts = fn(
  'consts',
  ['i32'],
  [],
  [],
  [
    ...EDGE_F64.flatMap((v, k) => [get(0), f64(v), mem('f64.store', 8 * k, 3)]),
    ...EDGE_F64.flatMap((v, k) => [
      get(0),
      v128(v, EDGE_F64[(k + 1) % EDGE_F64.length]!),
      mem('v128.store', 8 * EDGE_F64.length + 16 * k, 4),
    ]),
  ],
)

const negZero = fn('negZero', [], ['f64'], [], [f64(-0)])
const tiny = fn('tiny', [], ['f64'], [], [f64(1e-310)])

/** Local indices past one LEB byte, in runs of equal types. */
const manyLocals = fn(
  'many "locals" \u00e9\n',
  ['i32'],
  ['i32'],
  [...Array<ValType>(100).fill('i32'), ...Array<ValType>(50).fill('f64'), 'i32', 'i32', 'v128'],
  [get(0), set(151), get(151), tee(100), o('drop'), get(151)],
)

const unexported = fn(undefined, [], [], [], [])

const FUNCS = [
  i32ops,
  f64ops,
  memops,
  simdops,
  control,
  squared,
  sumF32,
  consts,
  negZero,
  tiny,
  manyLocals,
  unexported,
]

const everything: WasmModule = {
  imports: IMPORTS,
  memory: { module: 'env', name: 'memory', minPages: 1 },
  funcs: FUNCS,
}

function instantiate(m: WasmModule) {
  const memory = new WA.Memory({ initial: m.memory.minPages })
  let ticks = 0
  const instance = new WA.Instance(new WA.Module(encodeModule(m)), {
    math: { exp: Math.exp, pow: Math.pow },
    env: { memory, tick: () => ticks++ },
  })
  return {
    memory,
    ticks: () => ticks,
    exports: instance.exports as Record<string, (...args: number[]) => number>,
  }
}

describe('wasm module encoder = wabt', () => {
  it('uses every op in the table', () => {
    const used = new Set(FUNCS.flatMap((f) => f.body.map((i) => i.op)))
    expect([...wasmOps].filter((op) => !used.has(op))).toEqual([])
  })

  it('encodes every op as wabt assembles the printed text', () => {
    expectSameAsWabt(everything)
  })

  it('leaves out empty sections', () => {
    expectSameAsWabt({ imports: [], memory: { module: 'e', name: 'm', minPages: 300 }, funcs: [] })
    expectSameAsWabt({
      imports: [],
      memory: { module: 'e', name: 'm', minPages: 0 },
      funcs: [unexported, unexported],
    })
  })

  it('encodes a body longer than a call may have arguments', () => {
    const body = [...Array<Instr>(300_000).fill(o('nop')), i32(1), o('drop')]
    const bytes = encodeModule({
      imports: [],
      memory: { module: 'env', name: 'memory', minPages: 1 },
      funcs: [fn('f', [], [], [], body)],
    })
    expect(WA.validate(bytes)).toBe(true)
  })

  it('prints f64 constants that wabt reads back bit for bit', () => {
    // Random bit patterns reach every exponent, subnormals and NaN payloads included.
    let seed = 12345
    const view = new DataView(new ArrayBuffer(8))
    const random = (): number => {
      for (let k = 0; k < 8; k += 4) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
        view.setUint32(k, seed ^ (seed >>> 15))
      }
      return view.getFloat64(0)
    }
    const values = Array.from({ length: 2000 }, random)
    const body = values.flatMap((v, k) =>
      k % 2 === 0 ? [f64(v), o('drop')] : [v128(v, values[k - 1]!), o('drop')],
    )
    expectSameAsWabt({
      imports: [],
      memory: { module: 'env', name: 'memory', minPages: 1 },
      funcs: [fn('f', [], [], [], body)],
    })
  })

  it('prints a readable module', () => {
    const text = printModule({
      imports: [IMPORTS[0]!],
      memory: { module: 'env', name: 'memory', minPages: 1 },
      funcs: [fn('forward', ['f64'], ['f64'], ['f64'], [get(0), call(0), set(1), get(1)])],
    })
    expect(text).toBe(
      [
        '(module',
        '  (type (;0;) (func (param f64) (result f64)))',
        '  (import "math" "exp" (func (;0;) (type 0) (param f64) (result f64)))',
        '  (import "env" "memory" (memory 1))',
        '  (func (;1;) (export "forward") (type 0) (param f64) (result f64)',
        '    (local f64)',
        '    local.get 0',
        '    call 0',
        '    local.set 1',
        '    local.get 1',
        '  )',
        ')',
        '',
      ].join('\n'),
    )
    expect(printModule(everything)).toContain(
      ['    block', '      loop', '        local.get 0'].join('\n'),
    )
  })
})

describe('the encoded module runs', () => {
  it('sums f32s into float64 with SIMD promote', () => {
    const { memory, exports } = instantiate(everything)
    for (const n of [0, 1, 2, 7, 100, 1001]) {
      const xs = Float32Array.from({ length: n }, (_, k) => Math.sin(k + 1) * 1e3 + 1 / (k + 3))
      new Float32Array(memory.buffer, 64, n).set(xs)
      const lanes = [0, 0]
      for (let k = 0; k + 1 < n; k += 2) {
        lanes[0]! += xs[k]!
        lanes[1]! += xs[k + 1]!
      }
      if (n % 2 === 1) lanes[0]! += xs[n - 1]!
      expect(exports.sumF32!(64, n)).toBe(lanes[0]! + lanes[1]!)
    }
  })

  it('keeps f64 constants bit for bit: -0, NaN, infinities, subnormals', () => {
    const { memory, exports } = instantiate(everything)
    expect(Object.is(exports.negZero!(), -0)).toBe(true)
    expect(exports.tiny!()).toBe(1e-310)

    exports.consts!(0)
    const bits = new BigUint64Array(memory.buffer, 0, 3 * EDGE_F64.length)
    const expected = (v: number): bigint =>
      Number.isNaN(v) ? 0x7ff8000000000000n : new BigUint64Array(Float64Array.of(v).buffer)[0]!
    const n = EDGE_F64.length
    EDGE_F64.forEach((v, k) => {
      expect(bits[k], `f64.const ${v}`).toBe(expected(v))
      expect(bits[n + 2 * k], `v128.const lane 0 ${v}`).toBe(expected(v))
      expect(bits[n + 2 * k + 1], `v128.const lane 1`).toBe(expected(EDGE_F64[(k + 1) % n]!))
    })
  })

  it('computes i32 arithmetic and comparisons as JS does', () => {
    const { exports } = instantiate(everything)
    const values = [0, 1, -1, 5, 31, 33, 2 ** 31 - 1, -(2 ** 31), 123456789, -987654321]
    for (const a of values)
      for (const b of values) expect(exports.i32ops!(a, b), `${a}, ${b}`).toBe(i32opsJs(a, b))
  })

  it('branches, loops, returns and calls', () => {
    const { exports, ticks } = instantiate(everything)
    expect(exports.control!(1)).toBe(128)
    expect(exports.control!(-3)).toBe(192)
    expect(exports.control!(0)).toBe(0)
    expect(exports.control!(1000)).toBe(1000)
    expect(ticks()).toBe(3)
    expect(exports.squared!(-3)).toBe(192 ** 2)
    expect(() => exports.control!(Infinity)).toThrow(WA.RuntimeError)
    expect(exports['many "locals" \u00e9\n']!(42)).toBe(42)
  })

  it('loads and stores through memory at offsets', () => {
    const { memory, exports } = instantiate(everything)
    const view = new DataView(memory.buffer)
    view.setFloat32(104, 1.5, true)
    view.setFloat64(100 + 50_000, 2.25, true)
    view.setFloat64(108, 4, true)
    expect(exports.memops!(100)).toBe(1.5 + 2.25 + 4)
    expect(view.getFloat32(116, true)).toBe(Math.fround(0.1))
    expect(view.getFloat32(120, true)).toBe(Math.fround(0.1))
    expect(view.getFloat64(100 + 40_000, true)).toBe(0.25)
    expect(view.getFloat64(100, true)).toBe(0.5)
  })
})

describe('wasm module errors', () => {
  const withBody = (body: Instr[]): WasmModule => ({
    imports: [],
    memory: { module: 'env', name: 'memory', minPages: 1 },
    funcs: [fn('f', [], [], [], body)],
  })

  it('rejects an unknown op in both spellings', () => {
    expect(() => encodeModule(withBody([o('f64.frobnicate')]))).toThrow(
      "wasm: unknown op 'f64.frobnicate'",
    )
    expect(() => printModule(withBody([o('f64.frobnicate')]))).toThrow(
      "wasm: unknown op 'f64.frobnicate'",
    )
    // Inherited object keys are not ops.
    expect(() => encodeModule(withBody([o('toString')]))).toThrow("unknown op 'toString'")
  })

  it('rejects missing or out-of-range immediates', () => {
    expect(() => encodeModule(withBody([o('local.get')]))).toThrow("needs a number 'local'")
    expect(() => encodeModule(withBody([{ op: 'f64.load', offset: 0 } as Instr]))).toThrow(
      "needs a number 'align'",
    )
    expect(() => encodeModule(withBody([lane('f64x2.extract_lane', 2)]))).toThrow(
      'lane 2 is not in 0..1',
    )
    expect(() => encodeModule(withBody([mem('f32.load', 0, 3)]))).toThrow(
      "'f32.load' align 3 is above its natural 2",
    )
    expect(() => encodeModule(withBody([i32(1.5)]))).toThrow('not a 32-bit integer')
    expect(() => encodeModule(withBody([get(-1)]))).toThrow('not an unsigned 32-bit integer')
  })
})
