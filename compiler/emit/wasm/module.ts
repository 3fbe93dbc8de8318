// A small WebAssembly module, as the wasm target emits it, and its two spellings: the binary
// that WebAssembly.Module compiles, and WAT text for people to read. Both are synchronous and
// dependency-free, since kernels are compiled while a layer is being built, where an async
// assembler cannot wait. test/wasm/module.test.ts checks the bytes against wabt's assembler
// for the printed text, op by op.
//
// Only what the kernels need is here: one imported memory, imported and defined functions,
// function exports, and the scalar and 128-bit SIMD instructions in the table below.

export type ValType = 'i32' | 'f32' | 'f64' | 'v128'

export type Instr =
  // No immediate; 'block', 'loop' and 'if' take the empty block type.
  | { op: string }
  | { op: 'br' | 'br_if'; depth: number }
  | { op: 'local.get' | 'local.set' | 'local.tee'; local: number }
  // Function index space: imports first, then funcs.
  | { op: 'call'; func: number }
  | { op: 'i32.const'; value: number }
  | { op: 'f64.const'; value: number }
  | { op: 'v128.const'; f64x2: [number, number] }
  // Memory ops; align is log2 of bytes.
  | { op: string; offset: number; align: number }
  | {
      op: 'v128.load64_lane' | 'v128.store64_lane' | 'v128.load32_lane' | 'v128.store32_lane'
      offset: number
      align: number
      lane: number
    }
  | {
      op: 'f64x2.extract_lane' | 'f64x2.replace_lane' | 'f32x4.extract_lane' | 'f32x4.replace_lane'
      lane: number
    }

export interface Func {
  params: ValType[]
  results: ValType[]
  locals: ValType[]
  /** Without the final 'end': the encoder and the printer add it. */
  body: Instr[]
  export?: string
}

export interface ImportFunc {
  module: string
  name: string
  params: ValType[]
  results: ValType[]
}

export interface WasmModule {
  imports: ImportFunc[]
  /** The memory is always imported, so that the host owns the buffers. */
  memory: { module: string; name: string; minPages: number }
  funcs: Func[]
}

// ---------------------------------------------------------------------------------------------
// Opcodes

type Imm =
  | 'none'
  | 'block' // empty block type
  | 'depth'
  | 'local'
  | 'func'
  | 'i32'
  | 'f64'
  | 'v128'
  | 'mem' // memarg
  | 'memlane' // memarg, then a lane index
  | 'lane'

interface OpInfo {
  /** The opcode's bytes; SIMD ops are 0xfd then the sub-opcode as an unsigned LEB128. */
  bytes: number[]
  imm: Imm
  /** Natural alignment (log2 bytes) of a memory op: WAT omits `align=` when it is this. */
  align?: number
  /** How many lanes a lane index may address. */
  lanes?: number
}

const op = (code: number, imm: Imm = 'none', more: Partial<OpInfo> = {}): OpInfo => ({
  bytes: [code],
  imm,
  ...more,
})
// Sub-opcodes from 0x80 up take two LEB bytes (f64x2.abs is fd ec 01), not one.
const simd = (code: number, imm: Imm = 'none', more: Partial<OpInfo> = {}): OpInfo => ({
  bytes: [0xfd, ...uleb(code)],
  imm,
  ...more,
})
const mem = (code: number, align: number) => op(code, 'mem', { align })
const simdMem = (code: number, align: number) => simd(code, 'mem', { align })
const simdMemLane = (code: number, align: number) =>
  simd(code, 'memlane', { align, lanes: 16 >> align })
const simdLane = (code: number, lanes: number) => simd(code, 'lane', { lanes })

/** Every op the encoder knows: the WebAssembly core spec's and the SIMD proposal's numbers. */
const OPS: Record<string, OpInfo> = {
  // Control
  unreachable: op(0x00),
  nop: op(0x01),
  block: op(0x02, 'block'),
  loop: op(0x03, 'block'),
  if: op(0x04, 'block'),
  else: op(0x05),
  end: op(0x0b),
  br: op(0x0c, 'depth'),
  br_if: op(0x0d, 'depth'),
  return: op(0x0f),
  call: op(0x10, 'func'),
  drop: op(0x1a),
  select: op(0x1b),
  // Locals
  'local.get': op(0x20, 'local'),
  'local.set': op(0x21, 'local'),
  'local.tee': op(0x22, 'local'),
  // Memory
  'i32.load': mem(0x28, 2),
  'f32.load': mem(0x2a, 2),
  'f64.load': mem(0x2b, 3),
  'f32.store': mem(0x38, 2),
  'f64.store': mem(0x39, 3),
  // Constants
  'i32.const': op(0x41, 'i32'),
  'f64.const': op(0x44, 'f64'),
  // i32 comparisons
  'i32.eqz': op(0x45),
  'i32.eq': op(0x46),
  'i32.ne': op(0x47),
  'i32.lt_s': op(0x48),
  'i32.lt_u': op(0x49),
  'i32.gt_s': op(0x4a),
  'i32.gt_u': op(0x4b),
  'i32.le_s': op(0x4c),
  'i32.le_u': op(0x4d),
  'i32.ge_s': op(0x4e),
  'i32.ge_u': op(0x4f),
  // f64 comparisons
  'f64.eq': op(0x61),
  'f64.ne': op(0x62),
  'f64.lt': op(0x63),
  'f64.gt': op(0x64),
  'f64.le': op(0x65),
  'f64.ge': op(0x66),
  // i32 arithmetic
  'i32.add': op(0x6a),
  'i32.sub': op(0x6b),
  'i32.mul': op(0x6c),
  'i32.and': op(0x71),
  'i32.or': op(0x72),
  'i32.xor': op(0x73),
  'i32.shl': op(0x74),
  'i32.shr_s': op(0x75),
  'i32.shr_u': op(0x76),
  // f64 arithmetic
  'f64.abs': op(0x99),
  'f64.neg': op(0x9a),
  'f64.ceil': op(0x9b),
  'f64.floor': op(0x9c),
  'f64.trunc': op(0x9d),
  'f64.nearest': op(0x9e),
  'f64.sqrt': op(0x9f),
  'f64.add': op(0xa0),
  'f64.sub': op(0xa1),
  'f64.mul': op(0xa2),
  'f64.div': op(0xa3),
  'f64.min': op(0xa4),
  'f64.max': op(0xa5),
  'f64.copysign': op(0xa6),
  // Conversions
  'f32.demote_f64': op(0xb6),
  'f64.convert_i32_s': op(0xb7),
  'f64.convert_i32_u': op(0xb8),
  'f64.promote_f32': op(0xbb),
  // SIMD memory
  'v128.load': simdMem(0x00, 4),
  'v128.store': simdMem(0x0b, 4),
  'v128.const': simd(0x0c, 'v128'),
  'v128.load32_zero': simdMem(0x5c, 2),
  'v128.load64_zero': simdMem(0x5d, 3),
  'v128.load32_lane': simdMemLane(0x56, 2),
  'v128.load64_lane': simdMemLane(0x57, 3),
  'v128.store32_lane': simdMemLane(0x5a, 2),
  'v128.store64_lane': simdMemLane(0x5b, 3),
  // SIMD lanes
  'f32x4.splat': simd(0x13),
  'f64x2.splat': simd(0x14),
  'f32x4.extract_lane': simdLane(0x1f, 4),
  'f32x4.replace_lane': simdLane(0x20, 4),
  'f64x2.extract_lane': simdLane(0x21, 2),
  'f64x2.replace_lane': simdLane(0x22, 2),
  // SIMD f64x2 comparisons: all-ones or all-zeros lanes, for v128.bitselect
  'f64x2.eq': simd(0x47),
  'f64x2.ne': simd(0x48),
  'f64x2.lt': simd(0x49),
  'f64x2.gt': simd(0x4a),
  'f64x2.le': simd(0x4b),
  'f64x2.ge': simd(0x4c),
  // SIMD bitwise: andnot comes before or in the numbering
  'v128.not': simd(0x4d),
  'v128.and': simd(0x4e),
  'v128.andnot': simd(0x4f),
  'v128.or': simd(0x50),
  'v128.xor': simd(0x51),
  'v128.bitselect': simd(0x52),
  'v128.any_true': simd(0x53),
  // SIMD conversions
  'f32x4.demote_f64x2_zero': simd(0x5e),
  'f64x2.promote_low_f32x4': simd(0x5f),
  // SIMD f64x2 arithmetic (ceil/floor/trunc/nearest were slotted in among the integer ops)
  'f64x2.ceil': simd(0x74),
  'f64x2.floor': simd(0x75),
  'f64x2.trunc': simd(0x7a),
  'f64x2.nearest': simd(0x94),
  'f64x2.abs': simd(0xec),
  'f64x2.neg': simd(0xed),
  'f64x2.sqrt': simd(0xef),
  'f64x2.add': simd(0xf0),
  'f64x2.sub': simd(0xf1),
  'f64x2.mul': simd(0xf2),
  'f64x2.div': simd(0xf3),
  'f64x2.min': simd(0xf4),
  'f64x2.max': simd(0xf5),
  'f64x2.pmin': simd(0xf6),
  'f64x2.pmax': simd(0xf7),
}

/** The names of every op the encoder and the printer accept. */
export const wasmOps: readonly string[] = Object.keys(OPS)

function opInfo(name: string): OpInfo {
  const info = Object.hasOwn(OPS, name) ? OPS[name] : undefined
  if (!info) throw new Error(`wasm: unknown op '${name}'`)
  return info
}

/** An immediate of `instr`, checked: a typo'd field would otherwise encode as garbage. */
function field(instr: Instr, name: string): number {
  const v = (instr as unknown as Record<string, unknown>)[name]
  if (typeof v !== 'number') {
    throw new Error(`wasm: '${instr.op}' needs a number '${name}', got ${String(v)}`)
  }
  return v
}

/** An index, offset or alignment: a u32 in the binary. */
function index(instr: Instr, name: string): number {
  const v = field(instr, name)
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** 32) {
    throw new Error(`wasm: '${instr.op}' ${name} ${v} is not an unsigned 32-bit integer`)
  }
  return v
}

function memarg(instr: Instr, info: OpInfo): { align: number; offset: number } {
  const align = index(instr, 'align')
  // Validation would reject it anyway, but far from the code that chose it.
  if (align > info.align!) {
    throw new Error(`wasm: '${instr.op}' align ${align} is above its natural ${info.align}`)
  }
  return { align, offset: index(instr, 'offset') }
}

function lane(instr: Instr, info: OpInfo): number {
  const l = field(instr, 'lane')
  if (!Number.isInteger(l) || l < 0 || l >= info.lanes!) {
    throw new Error(`wasm: '${instr.op}' lane ${l} is not in 0..${info.lanes! - 1}`)
  }
  return l
}

function int32(instr: Instr): number {
  const v = field(instr, 'value')
  // Unsigned spellings of the same 32 bits are welcome (0xffffffff is -1); fractions are not.
  if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 32) {
    throw new Error(`wasm: i32.const ${v} is not a 32-bit integer`)
  }
  return v | 0
}

// ---------------------------------------------------------------------------------------------
// LEB128 and a byte writer

function uleb(n: number): number[] {
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) {
    throw new Error(`wasm: ${n} is not an unsigned 32-bit integer`)
  }
  const out: number[] = []
  do {
    let b = n & 0x7f
    n = Math.floor(n / 128)
    if (n !== 0) b |= 0x80
    out.push(b)
  } while (n !== 0)
  return out
}

function sleb32(n: number): number[] {
  const out: number[] = []
  for (;;) {
    const b = n & 0x7f
    n >>= 7
    // Done once the rest is all sign bits and the sign bit of this byte agrees with them.
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b)
      return out
    }
    out.push(b | 0x80)
  }
}

const utf8 = new TextEncoder()

class Bytes {
  readonly data: number[] = []
  byte(...bs: number[]): this {
    return this.bytes(bs)
  }
  /** Not by spreading: a function body can outgrow the limit on a call's arguments. */
  bytes(bs: ArrayLike<number>): this {
    for (let i = 0; i < bs.length; i++) this.data.push(bs[i]!)
    return this
  }
  u32(n: number): this {
    return this.bytes(uleb(n))
  }
  name(s: string): this {
    const b = utf8.encode(s)
    return this.u32(b.length).bytes(b)
  }
  /** A length-prefixed run: section contents, function bodies. */
  sized(inner: Bytes): this {
    return this.u32(inner.data.length).bytes(inner.data)
  }
  vec<T>(items: readonly T[], each: (item: T) => void): this {
    this.u32(items.length)
    for (const item of items) each(item)
    return this
  }
}

/** Little-endian, as the binary format wants; NaN is the one quiet NaN wabt's `nan` means. */
function f64Bytes(v: number): number[] {
  const view = new DataView(new ArrayBuffer(8))
  if (Number.isNaN(v)) view.setBigUint64(0, 0x7ff8000000000000n, true)
  else view.setFloat64(0, v, true)
  return [...new Uint8Array(view.buffer)]
}

const VALTYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b }

function valType(t: ValType): number {
  const b = Object.hasOwn(VALTYPE, t) ? VALTYPE[t] : undefined
  if (b === undefined) throw new Error(`wasm: unknown value type '${t}'`)
  return b
}

// ---------------------------------------------------------------------------------------------
// Types, shared by the encoder and the printer so that both number them alike

interface Signature {
  params: ValType[]
  results: ValType[]
}

/** Distinct signatures in first-use order (imports, then funcs), and each function's index. */
function signatures(m: WasmModule): {
  types: Signature[]
  importType: number[]
  funcType: number[]
} {
  const types: Signature[] = []
  const index = new Map<string, number>()
  const typeOf = (s: Signature): number => {
    const key = `${s.params.join(' ')} -> ${s.results.join(' ')}`
    let i = index.get(key)
    if (i === undefined) {
      i = types.length
      index.set(key, i)
      types.push({ params: s.params, results: s.results })
    }
    return i
  }
  return { types, importType: m.imports.map(typeOf), funcType: m.funcs.map(typeOf) }
}

function checkExports(m: WasmModule): void {
  const seen = new Set<string>()
  for (const f of m.funcs) {
    if (f.export === undefined) continue
    if (seen.has(f.export)) throw new Error(`wasm: export '${f.export}' is defined twice`)
    seen.add(f.export)
  }
}

// ---------------------------------------------------------------------------------------------
// Binary encoder

function encodeInstr(out: Bytes, instr: Instr): void {
  const info = opInfo(instr.op)
  out.bytes(info.bytes)
  switch (info.imm) {
    case 'none':
      return
    case 'block':
      out.byte(0x40)
      return
    case 'depth':
    case 'local':
    case 'func':
      out.u32(index(instr, info.imm))
      return
    case 'i32':
      out.bytes(sleb32(int32(instr)))
      return
    case 'f64':
      out.bytes(f64Bytes(field(instr, 'value')))
      return
    case 'v128': {
      const [a, b] = v128Lanes(instr)
      out.bytes(f64Bytes(a)).bytes(f64Bytes(b))
      return
    }
    case 'mem':
    case 'memlane': {
      const { align, offset } = memarg(instr, info)
      out.u32(align).u32(offset)
      if (info.imm === 'memlane') out.byte(lane(instr, info))
      return
    }
    case 'lane':
      out.byte(lane(instr, info))
      return
  }
}

function v128Lanes(instr: Instr): [number, number] {
  const lanes = (instr as { f64x2?: unknown }).f64x2
  if (!Array.isArray(lanes) || lanes.length !== 2 || lanes.some((x) => typeof x !== 'number')) {
    throw new Error(`wasm: 'v128.const' needs f64x2: [number, number]`)
  }
  return lanes as [number, number]
}

function section(out: Bytes, id: number, fill: (b: Bytes) => void): void {
  const body = new Bytes()
  fill(body)
  out.byte(id).sized(body)
}

/** The module's binary, ready for `new WebAssembly.Module(...)`. */
export function encodeModule(m: WasmModule): Uint8Array {
  checkExports(m)
  const { types, importType, funcType } = signatures(m)
  const out = new Bytes().byte(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00)

  // Empty sections are left out, as wabt leaves them out.
  if (types.length > 0) {
    section(out, 1, (b) =>
      b.vec(types, (t) => {
        b.byte(0x60)
        b.vec(t.params, (p) => b.byte(valType(p)))
        b.vec(t.results, (r) => b.byte(valType(r)))
      }),
    )
  }

  section(out, 2, (b) => {
    b.u32(m.imports.length + 1)
    m.imports.forEach((imp, i) => b.name(imp.module).name(imp.name).byte(0x00).u32(importType[i]))
    b.name(m.memory.module).name(m.memory.name).byte(0x02, 0x00).u32(m.memory.minPages)
  })

  if (m.funcs.length > 0) {
    section(out, 3, (b) => b.vec(funcType, (t) => b.u32(t)))
  }

  const exported = m.funcs.flatMap((f, i) =>
    f.export === undefined ? [] : [{ name: f.export, index: m.imports.length + i }],
  )
  if (exported.length > 0) {
    section(out, 7, (b) => b.vec(exported, (e) => b.name(e.name).byte(0x00).u32(e.index)))
  }

  if (m.funcs.length > 0) {
    section(out, 10, (b) =>
      b.vec(m.funcs, (f) => {
        const body = new Bytes()
        body.vec(localRuns(f.locals), (run) => body.u32(run.count).byte(valType(run.type)))
        for (const instr of f.body) encodeInstr(body, instr)
        body.byte(0x0b)
        b.sized(body)
      }),
    )
  }

  return Uint8Array.from(out.data)
}

/** Locals are declared as (count, type) pairs; runs of one type share a pair, as wabt does. */
function localRuns(locals: ValType[]): { count: number; type: ValType }[] {
  const runs: { count: number; type: ValType }[] = []
  for (const t of locals) {
    const last = runs[runs.length - 1]
    if (last && last.type === t) last.count++
    else runs.push({ count: 1, type: t })
  }
  return runs
}

// ---------------------------------------------------------------------------------------------
// WAT printer

/** A WAT float literal that reads back as exactly `v`: JS's shortest round-trip decimal. */
export function watF64(v: number): string {
  if (Number.isNaN(v)) return 'nan'
  if (v === Infinity) return 'inf'
  if (v === -Infinity) return '-inf'
  if (Object.is(v, -0)) return '-0'
  return String(v)
}

function watString(s: string): string {
  let out = '"'
  for (const b of utf8.encode(s)) {
    const printable = b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c
    out += printable ? String.fromCharCode(b) : '\\' + b.toString(16).padStart(2, '0')
  }
  return out + '"'
}

function signatureText(s: Signature): string {
  const parts: string[] = []
  if (s.params.length > 0) parts.push(`(param ${s.params.join(' ')})`)
  if (s.results.length > 0) parts.push(`(result ${s.results.join(' ')})`)
  return parts.join(' ')
}

function withSpace(s: string): string {
  return s === '' ? '' : ' ' + s
}

const OPENS = new Set(['block', 'loop', 'if', 'else'])

function memargText(instr: Instr, info: OpInfo): string {
  const { align, offset } = memarg(instr, info)
  const parts: string[] = []
  if (offset !== 0) parts.push(`offset=${offset}`)
  if (align !== info.align) parts.push(`align=${2 ** align}`)
  return parts.join(' ')
}

function instrText(instr: Instr): string {
  const info = opInfo(instr.op)
  switch (info.imm) {
    case 'none':
    case 'block':
      return instr.op
    case 'depth':
    case 'local':
    case 'func':
      return `${instr.op} ${index(instr, info.imm)}`
    case 'i32':
      return `${instr.op} ${int32(instr)}`
    case 'f64':
      return `${instr.op} ${watF64(field(instr, 'value'))}`
    case 'v128':
      return `${instr.op} f64x2 ${v128Lanes(instr).map(watF64).join(' ')}`
    case 'mem':
      return instr.op + withSpace(memargText(instr, info))
    case 'memlane':
      return `${instr.op}${withSpace(memargText(instr, info))} ${lane(instr, info)}`
    case 'lane':
      return `${instr.op} ${lane(instr, info)}`
  }
}

/**
 * WAT text for the module, which wabt assembles to exactly encodeModule's bytes. Flat form, one
 * instruction a line, indented by block; `(;n;)` comments number types and functions, since
 * `call` and `(type n)` refer to them by index.
 */
export function printModule(m: WasmModule): string {
  checkExports(m)
  const { types, importType, funcType } = signatures(m)
  const lines: string[] = ['(module']
  types.forEach((t, i) => lines.push(`  (type (;${i};) (func${withSpace(signatureText(t))}))`))
  m.imports.forEach((imp, i) => {
    const head = `(import ${watString(imp.module)} ${watString(imp.name)}`
    lines.push(`  ${head} (func (;${i};) (type ${importType[i]})${withSpace(signatureText(imp))}))`)
  })
  const { memory } = m
  lines.push(
    `  (import ${watString(memory.module)} ${watString(memory.name)} (memory ${memory.minPages}))`,
  )
  m.funcs.forEach((f, i) => {
    const exp = f.export === undefined ? '' : ` (export ${watString(f.export)})`
    const sig = withSpace(signatureText(f))
    lines.push(`  (func (;${m.imports.length + i};)${exp} (type ${funcType[i]})${sig}`)
    if (f.locals.length > 0) lines.push(`    (local ${f.locals.join(' ')})`)
    let depth = 0
    for (const instr of f.body) {
      if (instr.op === 'end' || instr.op === 'else') depth--
      lines.push('    ' + '  '.repeat(Math.max(depth, 0)) + instrText(instr))
      if (OPENS.has(instr.op)) depth++
    }
    lines.push('  )')
  })
  lines.push(')')
  return lines.join('\n') + '\n'
}
