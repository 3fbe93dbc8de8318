// Emit WebAssembly (with 128-bit SIMD) from a kernel plan: the same loop nests as the js target
// (compiler/emit/layout.ts decides them), written for a machine that can load, compute and
// store two float64 lanes at once. JavaScript cannot: its floor on this work is a scalar loop.
//
// Numerics are the js target's: every value is computed in float64 (f64x2 lanes) and rounded
// once when stored to a float32 buffer; accumulators are float64. Only the order of a sum's
// terms differs (two lanes, then the tail), as it does between any two unrollings.
//
// A module is made for one layer instance: axis sizes are constants (the vector loop, its
// remainder and its scalar tail are sized at compile time; a loop of one iteration is no loop). Buffers are addresses in an
// imported memory; a step's one parameter is the address of its frame there, which holds the
// buffers' addresses (i32) and then the hypers (f64).
// Nothing from the .norm file reaches the module but numbers: names never do.

import type { CheckedLayer } from '../../check/index.js'
import type { Node } from '../../ir/index.js'
import { leafAxes, viewed, type KernelPlan, type Stage } from '../../schedule/index.js'
import { isWorkBuffer, leafAxisOrder, StepLayout, type BufferSpec, type Loop } from '../layout.js'
import type { Func, ImportFunc, Instr, ValType, WasmModule } from './module.js'
import { f64, i, LANES, opInstrs, vconst, wasmImports } from './ops.js'

export { wasmImports } from './ops.js'

export type ElemType = 'f32' | 'f64'

/** The byte offset of the hypers in a step's frame of `buffers` addresses. */
export const frameHypers = (buffers: number) => Math.ceil((4 * buffers) / 8) * 8

/** The bytes of a step's frame. */
export const frameBytes = (buffers: number, hypers: number) => frameHypers(buffers) + 8 * hypers

export interface WasmStep {
  buffers: BufferSpec[]
  /** The element type of each buffer, as the step reads and writes it. */
  elem: ElemType[]
}

export interface WasmLayer {
  module: WasmModule
  /** Exported function names: `forward`, `backward`. */
  forward: WasmStep
  backward: WasmStep
  hypers: string[]
}

/** Copies of the vector body per innermost iteration, each with its own accumulators: the adds
 * of a sum do not wait on each other (the loop is latency-bound otherwise). */
const UNROLL = 2
/**
 * Rows of the loop around the innermost that run together (unroll-and-jam), when the innermost
 * loop reads values that do not depend on that loop (LayerNorm's γ) or accumulates into a
 * buffer indexed without it (BatchNorm NHWC's per-channel sums, LayerNorm's dγ): each such load,
 * or read-add-write of an accumulator, then serves JAM rows.
 */
const JAM = 2

/** The element type of a buffer: results and work buffers accumulate in float64. */
export function elemTypeOf(role: BufferSpec['role'], storage: ElemType): ElemType {
  return isWorkBuffer(role) ? 'f64' : storage
}

/**
 * One function's locals. A stage's locals are dead once it ends (stages talk through buffers),
 * so `release` returns them for the next stage: long programs stay under the engine's limit on
 * locals (50,000 in V8).
 */
class FuncBuilder {
  readonly locals: ValType[] = []
  private readonly free = new Map<ValType, number[]>()
  private taken: number[] = []
  constructor(readonly params: ValType[]) {}
  local(t: ValType): number {
    const reused = this.free.get(t)?.pop()
    const l = reused ?? this.params.length + this.locals.push(t) - 1
    this.taken.push(l)
    return l
  }
  /** Locals from here on are returned by the next `release`. */
  keep(): void {
    this.taken = []
  }
  release(): void {
    for (const l of this.taken) {
      const t = this.locals[l - this.params.length]!
      if (!this.free.has(t)) this.free.set(t, [])
      this.free.get(t)!.push(l)
    }
    this.taken = []
  }
}

const get = (local: number): Instr => ({ op: 'local.get', local })
const set = (local: number): Instr => ({ op: 'local.set', local })

/** out.push(...xs) for any length (a spread of a long program's body overflows the stack). */
function append(out: Instr[], xs: readonly Instr[]): void {
  for (const x of xs) out.push(x)
}
const i32 = (value: number): Instr => ({ op: 'i32.const', value })

class WasmStepEmitter extends StepLayout {
  readonly elem: ElemType[]
  private readonly fn: FuncBuilder
  private readonly body: Instr[] = []

  constructor(
    step: KernelPlan['forward'],
    layer: CheckedLayer,
    leafOrder: string[],
    private readonly sizes: Map<string, number>,
    storage: ElemType,
  ) {
    super(step, layer, leafOrder)
    this.elem = this.buffers.map((b) => elemTypeOf(b.role, storage))
    // One parameter, the address of the step's frame: the buffers' addresses (i32 each), then
    // the hypers (f64, from frameHypers on). Engines cap parameters (1,000 in V8), not memory.
    this.fn = new FuncBuilder(['i32'])
    this.buffers.forEach((_, bi) => {
      this.fn.local('i32')
      this.body.push(get(0), { op: 'i32.load', offset: 4 * bi, align: 2 }, set(this.base(bi)))
    })
    layer.hypers.forEach((_, h) => {
      this.fn.local('f64')
      const at = frameHypers(this.buffers.length) + 8 * h
      this.body.push(get(0), { op: 'f64.load', offset: at, align: 3 }, set(this.hyper(h)))
    })
    this.fn.keep()
  }

  /** The local holding buffer bi's address. */
  private base(bi: number): number {
    return 1 + bi
  }

  /** The local holding hyper h. */
  private hyper(h: number): number {
    return 1 + this.buffers.length + h
  }

  run(): Func {
    for (const st of this.step.stages) {
      this.stage(st)
      this.fn.release()
    }
    return { params: this.fn.params, results: [], locals: this.fn.locals, body: this.body }
  }

  private size(axes: readonly string[]): number {
    return axes.reduce((p, a) => p * this.sizes.get(a)!, 1)
  }

  private bytes(bi: number): number {
    return this.elem[bi] === 'f32' ? 4 : 8
  }

  /**
   * Pushes the address of element `offset` (an i32 local, or none for 0) of buffer bi; the
   * memory access then adds `delta` elements as its constant offset (the copies of an unrolled
   * loop body).
   */
  private addr(out: Instr[], bi: number, offset: number | undefined): void {
    out.push(get(this.base(bi)))
    if (offset === undefined) return
    out.push(get(offset), i32(Math.log2(this.bytes(bi))), i('i32.shl'), i('i32.add'))
  }

  private loadScalar(out: Instr[], bi: number, offset: number | undefined): void {
    this.addr(out, bi, offset)
    if (this.elem[bi] === 'f32')
      out.push({ op: 'f32.load', offset: 0, align: 2 }, i('f64.promote_f32'))
    else out.push({ op: 'f64.load', offset: 0, align: 3 })
  }

  private loadVector(out: Instr[], bi: number, offset: number | undefined, delta = 0): void {
    this.addr(out, bi, offset)
    const at = delta * this.bytes(bi)
    if (this.elem[bi] === 'f32')
      out.push({ op: 'v128.load64_zero', offset: at, align: 2 }, i('f64x2.promote_low_f32x4'))
    else out.push({ op: 'v128.load', offset: at, align: 3 })
  }

  private load(out: Instr[], bi: number, offset: number | undefined, vec: boolean, delta = 0) {
    if (vec) this.loadVector(out, bi, offset, delta)
    else this.loadScalar(out, bi, offset)
  }

  /** Stores the value computed by `value` (scalar or vector) at element `offset` of buffer bi. */
  private store(
    out: Instr[],
    bi: number,
    offset: number | undefined,
    vec: boolean,
    value: Instr[],
    delta = 0,
  ) {
    this.addr(out, bi, offset)
    out.push(...value)
    const at = delta * this.bytes(bi)
    if (!vec) {
      if (this.elem[bi] === 'f32')
        out.push(i('f32.demote_f64'), { op: 'f32.store', offset: 0, align: 2 })
      else out.push({ op: 'f64.store', offset: 0, align: 3 })
    } else if (this.elem[bi] === 'f32')
      out.push(i('f32x4.demote_f64x2_zero'), {
        op: 'v128.store64_lane',
        offset: at,
        align: 2,
        lane: 0,
      })
    else out.push({ op: 'v128.store', offset: at, align: 3 })
  }

  /**
   * A counted loop `for (v = from; v < to; v += step) body`: the bounds are constants, and
   * `to − from` a multiple of `step` (the callers size them so); one iteration is written
   * without a loop, none as nothing.
   */
  private loop(out: Instr[], v: number, from: number, to: number, step: number, body: Instr[]) {
    if (from >= to) return
    out.push(i32(from), set(v))
    if (from + step >= to) {
      append(out, body)
      return
    }
    out.push(i('loop'))
    append(out, body)
    out.push(get(v), i32(step), i('i32.add'), { op: 'local.tee', local: v }, i32(to))
    out.push(i('i32.lt_u'), { op: 'br_if', depth: 0 }, i('end'))
  }

  /** Fills a float64 buffer with a value. */
  private fill(out: Instr[], bi: number, value: number): void {
    const n = this.size(this.buffers[bi]!.axes)
    const t = this.fn.local('i32')
    const body: Instr[] = []
    this.store(body, bi, t, false, [f64(value)])
    this.loop(out, t, 0, n, 1, body)
  }

  private stage(st: Stage): void {
    const { inline, loads, accessed, loops, level, flushLevel } = this.nest(st)
    const L = loops.length
    const out = this.body
    // Prologue: reset accumulators; moments take their shift from each group's first element.
    for (const r of st.reductions)
      this.fill(out, this.acc(r), r.op === 'rmax' ? -Infinity : r.op === 'rmin' ? Infinity : 0)
    for (const m of st.moments) {
      this.fill(out, this.bufferOf(m.sum1), 0)
      this.fill(out, this.bufferOf(m.sum2), 0)
      this.shiftLoop(out, m.sum1, viewed(m.src), this.shiftOf.get(m.sum1.id)!)
    }
    const bufs = [
      ...new Set([
        ...accessed.map((n) => this.bufferOf(n)),
        ...st.moments.map((m) => this.shiftOf.get(m.sum1.id)!),
      ]),
    ]
    const loopSize = (j: number) => this.size(loops[j - 1]!.axes)
    const touches = (bi: number, lp: Loop) =>
      lp.axes.some((a) => this.buffers[bi]!.axes.includes(a))
    const stride = (bi: number, lp: Loop) => {
      const axes = this.buffers[bi]!.axes
      return this.size(axes.slice(axes.indexOf(lp.axes[lp.axes.length - 1]!) + 1))
    }
    // The innermost loop runs LANES elements at a time where every buffer it walks is contiguous
    // along it.
    const vectorize =
      L > 0 &&
      bufs.every((bi) => !touches(bi, loops[L - 1]!) || stride(bi, loops[L - 1]!) === 1) &&
      st.stores.every((s) => touches(this.bufferOf(s), loops[L - 1]!))

    // Reductions and moments: what each accumulates, and where it is complete.
    const init = (op: string) => (op === 'rmax' ? -Infinity : op === 'rmin' ? Infinity : 0)
    const fold = (op: string, vec: boolean) =>
      i(`${vec ? 'f64x2' : 'f64'}.${op === 'rmax' ? 'max' : op === 'rmin' ? 'min' : 'add'}`)
    const accumulated = [
      ...st.reductions.map((r) => ({ id: r.id, op: r.op })),
      ...st.moments.flatMap((m) => [
        { id: m.sum1.id, op: 'sum' },
        { id: m.sum2.id, op: 'sum' },
      ]),
    ]
    const flushOf = (id: number) => {
      const m = st.moments.find((x) => x.sum2.id === id)
      return flushLevel.get(m ? m.sum1.id : id)!
    }
    const nodeOf = (id: number) =>
      st.reductions.find((r) => r.id === id) ??
      st.moments.flatMap((m) => [m.sum1, m.sum2]).find((n) => n.id === id)!

    // Unroll-and-jam (see JAM) of loop J, the one around the innermost: JAM rows at a time when
    // the innermost loop reads values or accumulates into buffers that do not depend on J.
    // Values, offsets and accumulators that depend on loop J get one copy per row (their keys
    // end in `:row` while jamming); the others are shared by the rows.
    const J = L - 1
    const jamAxes = J >= 1 ? loops[J - 1]!.axes : []
    const variesAxes = (axes: readonly string[]) => axes.some((a) => jamAxes.includes(a))
    const varies = (n: Node) => variesAxes(leafAxes(n, this.axes))
    const bufVaries = (bi: number) => variesAxes(this.buffers[bi]!.axes)
    const jamPays =
      J >= 1 &&
      loopSize(J) >= JAM &&
      (loads.some((n) => level(n) === L && !varies(n)) ||
        accumulated.some((a) => flushOf(a.id) === L && !bufVaries(this.bufferOf(nodeOf(a.id)))))
    let jamming = false
    let row = 0
    const rowKey = (base: string, perRow: boolean) => (jamming && perRow ? `${base}:${row}` : base)
    let inRows = false
    /** f once per jammed row, `row` set (keys depend on it: never nested). */
    const eachRow = (rows: number, f: () => void) => {
      if (inRows) throw new Error('internal: nested eachRow would reset the row of the outer one')
      inRows = true
      for (row = 0; row < rows; row++) f()
      row = 0
      inRows = false
    }

    // Element offsets (i32 locals) per memory layout and loop level.
    const offsets = new Map<string, number>()
    const offsetKey = (bi: number, l: number) =>
      rowKey(`${this.layout(bi)}:${l}`, l >= J && bufVaries(bi))
    const offsetOf = (bi: number, lv: number): number | undefined => {
      for (let l = lv; l >= 1; l--)
        if (touches(bi, loops[l - 1]!)) return offsets.get(offsetKey(bi, l))
      return undefined
    }
    const counter = loops.map(() => this.fn.local('i32'))
    /** Offsets of loop j's iteration (counter already set; jammed row `row` at loop J). */
    const defineOffsets = (o: Instr[], j: number, seen = new Set<string>()) => {
      const lp = loops[j - 1]!
      for (const bi of bufs) {
        const key = offsetKey(bi, j)
        if (seen.has(key) || !touches(bi, lp)) continue
        seen.add(key)
        const prev = offsetOf(bi, j - 1)
        const local = offsets.get(key) ?? this.fn.local('i32')
        offsets.set(key, local)
        o.push(get(counter[j - 1]!))
        if (jamming && j === J && row > 0) o.push(i32(row), i('i32.add'))
        const s = stride(bi, lp)
        if (s !== 1) o.push(i32(s), i('i32.mul'))
        if (prev !== undefined) o.push(get(prev), i('i32.add'))
        o.push(set(local))
      }
    }
    const defineRowOffsets = (o: Instr[], j: number) => {
      const seen = new Set<string>()
      eachRow(jamming ? JAM : 1, () => defineOffsets(o, j, seen))
    }

    // Values: float64 locals outside the innermost loop; in the innermost, vector or scalar locals.
    const scalars = new Map<string, number>()
    let inner = new Map<string, number>()
    let splats = new Map<number, number>()
    let preheader: Instr[] = []
    const valueKey = (n: Node) => rowKey(`${n.id}`, varies(n))
    const val = (n: Node, vec: boolean): Instr[] => {
      const v = viewed(n)
      if (v.op === 'const') return [vec ? vconst(v.value!) : f64(v.value!)]
      if (v.op === 'count') {
        const c = this.size(v.over!.flatMap((a) => this.axes.leaves(a)))
        return [vec ? vconst(c) : f64(c)]
      }
      const own = inner.get(valueKey(v))
      if (own !== undefined) return [get(own)]
      const s =
        v.op === 'hyper'
          ? this.hyper(this.layer.hypers.findIndex((h) => h.name === v.name))
          : scalars.get(valueKey(v))
      if (s === undefined)
        throw new Error(`internal: wasm value v${v.id} used before it is defined`)
      if (!vec) return [get(s)]
      let sp = splats.get(s)
      if (sp === undefined) {
        sp = this.fn.local('v128')
        splats.set(s, sp)
        preheader.push(get(s), i('f64x2.splat'), set(sp))
      }
      return [get(sp)]
    }
    const define = (n: Node, lv: number, vec: boolean) => {
      const local = this.fn.local(vec ? 'v128' : 'f64')
      if (lv === L && L > 0) inner.set(valueKey(n), local)
      else scalars.set(valueKey(n), local)
      return local
    }
    /**
     * Loads and values of level lv for the current row (the rows after the first skip what
     * does not depend on loop J); in copy u of the unrolled innermost loop, u · LANES on.
     */
    const emitAt = (o: Instr[], lv: number, vec: boolean, u = 0) => {
      const mine = (n: Node) => level(n) === lv && !(jamming && row > 0 && !varies(n))
      for (const b of loads)
        if (mine(b)) {
          const bi = this.bufferOf(b)
          this.load(o, bi, offsetOf(bi, lv), vec, u * LANES)
          o.push(set(define(b, lv, vec)))
        }
      for (const n of inline)
        if (mine(n)) {
          o.push(...opInstrs(n, (a) => val(a, vec), vec))
          o.push(set(define(n, lv, vec)))
        }
    }

    // Accumulators of reductions (and moments) complete above the innermost loop: a scalar and
    // UNROLL vectors each (one set per row when complete after loop J).
    const accs = new Map<string, { s: number; v: number[]; op: string }>()
    const accKey = (id: number) => rowKey(`${id}`, flushOf(id) === J)
    const accOf = (id: number) => accs.get(accKey(id))!
    const rows = () => (jamming ? JAM : 1)

    /** The innermost body (copy u of the unrolled loop, every jammed row): stores, accumulation. */
    const innermost = (o: Instr[], vec: boolean, u = 0) => {
      const delta = u * LANES
      const rmw = (bi: number, op: string, value: Instr[]) => {
        const off = offsetOf(bi, L)
        const cur: Instr[] = []
        this.load(cur, bi, off, vec, delta)
        this.store(o, bi, off, vec, [...cur, ...value, fold(op, vec)], delta)
      }
      /** The values of every row folded into one (for a buffer that does not depend on J). */
      const allRows = (op: string, value: () => Instr[]) => {
        const out: Instr[] = []
        eachRow(rows(), () => out.push(...value(), ...(row > 0 ? [fold(op, vec)] : [])))
        return out
      }
      const accumulate = (id: number, op: string, value: () => Instr[]) => {
        eachRow(rows(), () => {
          const a = accOf(id)
          const local = vec ? a.v[u]! : a.s
          o.push(get(local), ...value(), fold(op, vec), set(local))
        })
      }
      eachRow(rows(), () => {
        for (const s of st.stores) {
          const bi = this.bufferOf(s)
          this.store(o, bi, offsetOf(bi, L), vec, val(s, vec), delta)
        }
      })
      for (const r of st.reductions) {
        const v = () => val(r.args[0]!, vec)
        const bi = this.acc(r)
        if (flushLevel.get(r.id) !== L) accumulate(r.id, r.op, v)
        else if (bufVaries(bi)) eachRow(rows(), () => rmw(bi, r.op, v()))
        else rmw(bi, r.op, allRows(r.op, v))
      }
      for (const m of st.moments) {
        const sh = this.shiftOf.get(m.sum1.id)!
        const atL = flushLevel.get(m.sum1.id) === L
        const ds = new Map<number, number>()
        eachRow(rows(), () => {
          const d = this.fn.local(vec ? 'v128' : 'f64')
          const k: Instr[] = []
          // The shift: per element of the sums' buffer, or a scalar loaded where the group starts.
          if (atL) this.load(k, sh, offsetOf(sh, L), vec, delta)
          else k.push(...val(m.sum1, vec))
          o.push(...val(m.src, vec), ...k, i(vec ? 'f64x2.sub' : 'f64.sub'), set(d))
          ds.set(row, d)
        })
        const d = () => [get(ds.get(row)!)]
        const sq = () => [get(ds.get(row)!), get(ds.get(row)!), i(vec ? 'f64x2.mul' : 'f64.mul')]
        if (!atL) {
          accumulate(m.sum1.id, 'sum', d)
          accumulate(m.sum2.id, 'sum', sq)
        } else if (bufVaries(this.bufferOf(m.sum1)))
          eachRow(rows(), () => {
            rmw(this.bufferOf(m.sum1), 'sum', d())
            rmw(this.bufferOf(m.sum2), 'sum', sq())
          })
        else {
          rmw(this.bufferOf(m.sum1), 'sum', allRows('sum', d))
          rmw(this.bufferOf(m.sum2), 'sum', allRows('sum', sq))
        }
      }
    }

    /** Level j's values and accumulators, the loops inside it, and its flush. */
    const body = (o: Instr[], j: number): void => {
      const here = accumulated.filter((a) => flushOf(a.id) === j && j < L)
      eachRow(jamming && j === J ? JAM : 1, () => {
        emitAt(o, j, false)
        for (const a of here) {
          const s = this.fn.local('f64')
          o.push(f64(init(a.op)), set(s))
          const v = vectorize ? Array.from({ length: UNROLL }, () => this.fn.local('v128')) : []
          for (const l of v) o.push(vconst(init(a.op)), set(l))
          accs.set(accKey(a.id), { s, v, op: a.op })
        }
        // A moment's shift for a group reduced by the loops inside: a scalar of this level.
        for (const m of st.moments)
          if (flushLevel.get(m.sum1.id) === j && j < L) {
            const sh = this.shiftOf.get(m.sum1.id)!
            this.loadScalar(o, sh, offsetOf(sh, j))
            o.push(set(define(m.sum1, j, false)))
          }
      })
      if (j === L) {
        innermost(o, false)
        return
      }
      if (j + 1 < L) {
        const n = loopSize(j + 1)
        const nj = j + 1 === J && jamPays ? n - (n % JAM) : 0
        if (nj > 0) {
          jamming = true
          const b: Instr[] = []
          defineRowOffsets(b, j + 1)
          body(b, j + 1)
          jamming = false
          this.loop(o, counter[j]!, 0, nj, JAM, b)
        }
        const b: Instr[] = []
        defineOffsets(b, j + 1)
        body(b, j + 1)
        this.loop(o, counter[j]!, nj, n, 1, b)
      } else {
        // The innermost loop: UNROLL copies of LANES at a time, the pairs left, the scalar tail.
        const n = loopSize(L)
        const nu = vectorize ? n - (n % (LANES * UNROLL)) : 0
        const nv = vectorize ? n - (n % LANES) : 0
        for (const [copies, from, to] of [
          [UNROLL, 0, nu],
          [1, nu, nv],
          [0, nv, n],
        ] as const) {
          if (from >= to) continue
          splats = new Map()
          preheader = []
          const b: Instr[] = []
          defineRowOffsets(b, L)
          for (let u = 0; u < Math.max(copies, 1); u++) {
            inner = new Map()
            eachRow(rows(), () => emitAt(b, L, copies > 0, u))
            innermost(b, copies > 0, u)
          }
          append(o, preheader)
          this.loop(o, counter[L - 1]!, from, to, copies ? copies * LANES : 1, b)
        }
      }
      // Flush: the accumulators of this level into their buffers.
      eachRow(jamming && j === J ? JAM : 1, () => {
        for (const a of here) {
          const acc = accOf(a.id)
          const bi = this.bufferOf(nodeOf(a.id))
          const total: Instr[] = [get(acc.s)]
          if (acc.v.length) {
            // The copies' accumulators lane by lane, then the lanes.
            const all = this.fn.local('v128')
            o.push(get(acc.v[0]!))
            for (const l of acc.v.slice(1)) o.push(get(l), fold(a.op, true))
            o.push(set(all))
            for (let lane = 0; lane < LANES; lane++)
              total.push(get(all), { op: 'f64x2.extract_lane', lane }, fold(a.op, false))
          }
          const off = offsetOf(bi, j)
          const cur: Instr[] = []
          this.loadScalar(cur, bi, off)
          this.store(o, bi, off, false, [...cur, ...total, fold(a.op, false)])
        }
      })
    }
    body(out, 0)
    // Epilogue: undo the shift: Σx = Σ(x − k) + m·k; Σ(x − μ)² = Σ(x − k)² − (Σ(x − k))² / m.
    for (const m of st.moments) {
      const b1 = this.bufferOf(m.sum1)
      const b2 = this.bufferOf(m.sum2)
      const sh = this.shiftOf.get(m.sum1.id)!
      const count = this.size(this.reducedLeaves(m.sum1))
      const t = this.fn.local('i32')
      const s = this.fn.local('f64')
      const b: Instr[] = []
      this.loadScalar(b, b1, t)
      b.push(set(s))
      const shift: Instr[] = []
      this.loadScalar(shift, sh, t)
      this.store(b, b1, t, false, [get(s), f64(count), ...shift, i('f64.mul'), i('f64.add')])
      const s2: Instr[] = []
      this.loadScalar(s2, b2, t)
      this.store(b, b2, t, false, [
        f64(0),
        ...s2,
        get(s),
        get(s),
        i('f64.mul'),
        f64(count),
        i('f64.div'),
        i('f64.sub'),
        i('f64.max'),
      ])
      this.loop(out, t, 0, this.size(this.buffers[b1]!.axes), 1, b)
    }
    for (const n of [
      ...st.stores,
      ...st.reductions,
      ...st.moments.flatMap((m) => [m.sum1, m.sum2]),
    ])
      if (this.copyOf.has(n.id)) {
        const from = this.bufferOf(n)
        const to = this.copyOf.get(n.id)!
        const t = this.fn.local('i32')
        const b: Instr[] = []
        const v: Instr[] = []
        this.loadScalar(v, from, t)
        this.store(b, to, t, false, v)
        this.loop(out, t, 0, this.size(this.buffers[from]!.axes), 1, b)
      }
  }

  /** shift[g] = src at the first element of group g (every reduced index 0). */
  private shiftLoop(out: Instr[], sum1: Node, src: Node, shiftBuf: number): void {
    const axes = leafAxes(sum1, this.axes)
    const srcAxes = leafAxes(src, this.axes)
    const srcBuf = this.bufferOf(src)
    const strideIn = (all: readonly string[], a: string) => this.size(all.slice(all.indexOf(a) + 1))
    const idx = axes.map(() => this.fn.local('i32'))
    const dst = this.fn.local('i32')
    const from = this.fn.local('i32')
    const k = this.fn.local('f64')
    const offset = (o: Instr[], all: readonly string[], local: number) => {
      o.push(i32(0))
      axes.forEach((a, j) =>
        o.push(get(idx[j]!), i32(strideIn(all, a)), i('i32.mul'), i('i32.add')),
      )
      o.push(set(local))
    }
    let b: Instr[] = []
    offset(b, axes, dst)
    offset(b, srcAxes, from)
    this.loadScalar(b, srcBuf, from)
    b.push(set(k))
    // An infinite or NaN first value would turn x − k into Inf − Inf = NaN where IEEE gives the
    // sum an infinity: those groups are not shifted.
    this.store(b, shiftBuf, dst, false, [
      get(k),
      f64(0),
      get(k),
      get(k),
      i('f64.sub'),
      f64(0),
      i('f64.eq'),
      i('select'),
    ])
    for (let j = axes.length - 1; j >= 0; j--) {
      const o: Instr[] = []
      this.loop(o, idx[j]!, 0, this.sizes.get(axes[j]!)!, 1, b)
      b = o
    }
    append(out, b)
  }
}

/** The imports every module takes: Math's functions, and the memory. */
function importsOf(): ImportFunc[] {
  return wasmImports.map((name) => ({
    module: 'math',
    name,
    params: name === 'pow' ? ['f64', 'f64'] : ['f64'],
    results: ['f64'],
  }))
}

/**
 * The wasm module of one layer instance: its axis sizes fixed, storage f32 or f64. The memory it
 * imports is sized by whoever places the buffers (runtime/wasm): the module asks for a page.
 */
export function emitWasmLayer(
  plan: KernelPlan,
  sizes: Map<string, number>,
  storage: ElemType,
): WasmLayer {
  const order = leafAxisOrder(plan.layer)
  const fwd = new WasmStepEmitter(plan.forward, plan.layer, order, sizes, storage)
  const bwd = new WasmStepEmitter(plan.backward, plan.layer, order, sizes, storage)
  const module: WasmModule = {
    imports: importsOf(),
    memory: { module: 'env', name: 'memory', minPages: 1 },
    funcs: [
      { ...fwd.run(), export: 'forward' },
      { ...bwd.run(), export: 'backward' },
    ],
  }
  return {
    module,
    forward: { buffers: fwd.buffers, elem: fwd.elem },
    backward: { buffers: bwd.buffers, elem: bwd.elem },
    hypers: plan.layer.hypers.map((h) => h.name),
  }
}
