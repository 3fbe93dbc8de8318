// The wasm target: the js target's layer (same API, same buffer tables, same numerics) whose
// steps run as WebAssembly SIMD kernels. A module is compiled per instance and mode, with the
// axis sizes as constants, and owns one memory: every buffer the instance owns lives there.
//
// A tensor the caller passes is used in place when it already lives in that memory (get one
// with `buffer()`), else copied in before the step (and copied out after it, for an output):
// copies cost a memcpy each, the price of a caller's array that WebAssembly cannot see.

import { NormcError } from '../../compiler/diagnostics.js'
import { isWorkBuffer, leafAxisOrder, type BufferSpec } from '../../compiler/emit/layout.js'
import {
  emitWasmLayer,
  elemTypeOf,
  frameBytes,
  frameHypers,
  wasmImports,
  type ElemType,
} from '../../compiler/emit/wasm/index.js'
import { encodeModule, printModule } from '../../compiler/emit/wasm/module.js'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { planLayer } from '../../compiler/schedule/index.js'
import { sizeOf } from '../interp.js'
import { checkBytes } from '../sizes.js'
import { JsLayer, type CompiledMode, type Mode, type Tensor } from '../js/index.js'

/** The part of the WebAssembly JS API used here (tsconfig's lib has no DOM, where it is typed). */
interface WasmMemory {
  readonly buffer: ArrayBuffer
}
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number }) => WasmMemory
  Module: new (bytes: Uint8Array) => object
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> }
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly

const PAGE = 65536
/** 4 GiB: the most a 32-bit WebAssembly memory can address. */
const MAX_PAGES = 65536
/** Regions start on 16-byte boundaries: whole vectors, whatever the element type. */
const ALIGN = 16

interface ModeMemory {
  memory: WasmMemory
  /** Per step (`f`, `b`): the region of each slot of its buffer table. */
  regions: Record<'f' | 'b', Tensor[]>
  wat: string
  bytes: Uint8Array
  /** The calling convention of each exported step. */
  table: WasmModeTable
}

/** How to call a mode's module: what each parameter of `forward` and `backward` is. */
export interface WasmModeTable {
  /** Pages (64 KiB) of the imported memory `env.memory` the layer instance uses. */
  pages: number
  /** Host functions the module imports from `math` (Math's, one f64 at a time). */
  imports: string[]
  forward: WasmStepTable
  backward: WasmStepTable
}

/**
 * A step takes one i32, the address of its frame: `frame.bytes` bytes holding one u32 byte
 * address per buffer (in `buffers` order, from 0), then one f64 per hyper (from `frame.hypersAt`).
 */
export interface WasmStepTable {
  frame: { bytes: number; hypersAt: number }
  buffers: { role: string; name?: string; axes: string[]; elem: ElemType; elements: number }[]
  hypers: string[]
}

/**
 * Whether step `key` writes a slot of this role: a staged tensor of the caller's is then copied
 * out after the step, else copied in before it. Saved values are written by the forward and
 * read by the backward (the caller may hand back copies of them: normc/tfjs does).
 */
const isWritten = (role: BufferSpec['role'], key: 'f' | 'b') =>
  role === 'output' || (isWorkBuffer(role) && !(role === 'saved' && key === 'b'))

export class WasmLayer extends JsLayer {
  // Declared, not initialised: JsLayer's constructor compiles a mode before these fields would be.
  declare private mems: Map<Mode, ModeMemory> | undefined

  private memFor(mode: Mode): ModeMemory {
    this.compiled(mode)
    return this.mems!.get(mode)!
  }

  protected override compileMode(mode: Mode): CompiledMode {
    const plan = planLayer(compileLayerGraphs(this.layer, mode))
    const storage: ElemType = this.precision
    const wasm = emitWasmLayer(plan, this.sizes, storage)
    // Regions: every slot of both steps; the backward reads the forward's saved values in place.
    let top = 0
    const place = (specs: BufferSpec[]) =>
      specs.map((s) => {
        const at = top
        const n = sizeOf(s.axes, this.sizes)
        top += Math.ceil((n * (elemTypeOf(s.role, storage) === 'f32' ? 4 : 8)) / ALIGN) * ALIGN
        return { at, n }
      })
    const fPlace = place(wasm.forward.buffers)
    const bPlace = place(wasm.backward.buffers)
    // Each step's frame: its buffers' addresses, then the hypers (see compiler/emit/wasm).
    const hypers = this.layer.hypers.length
    const frameAt = (n: number) => {
      const at = top
      top += Math.ceil(frameBytes(n, hypers) / ALIGN) * ALIGN
      return at
    }
    const frames = {
      f: frameAt(wasm.forward.buffers.length),
      b: frameAt(wasm.backward.buffers.length),
    }
    checkBytes(top, `the wasm target's memory for ${this.layer.decl.name}`)
    const pages = Math.max(1, Math.ceil(top / PAGE))
    if (pages > MAX_PAGES)
      throw new NormcError(
        `the wasm target's buffers for ${this.layer.decl.name} would take ${top} bytes; a WebAssembly memory holds at most 4 GiB (the js target has no such limit)`,
      )
    let memory: WasmMemory
    try {
      memory = new WA.Memory({ initial: pages, maximum: pages })
    } catch (e) {
      if (!(e instanceof RangeError)) throw e
      throw new NormcError(
        `could not allocate ${pages * PAGE} bytes of WebAssembly memory for ${this.layer.decl.name}`,
      )
    }
    const math: Record<string, (...a: number[]) => number> = {}
    for (const f of wasmImports) math[f] = Math[f]
    const bytes = encodeModule(wasm.module)
    let module: object
    try {
      module = new WA.Module(bytes)
    } catch (e) {
      // An engine's limits (a function's size or locals) on a very long program: say so.
      throw new NormcError(
        `the wasm target cannot compile ${this.layer.decl.name}: the engine refused its module (${e instanceof Error ? e.message : String(e)})`,
      )
    }
    const instance = new WA.Instance(module, { math, env: { memory } })
    const view = (elem: ElemType, at: number, n: number): Tensor =>
      elem === 'f32'
        ? new Float32Array(memory.buffer, at, n)
        : new Float64Array(memory.buffer, at, n)
    const regions = {
      f: fPlace.map((p, i) => view(wasm.forward.elem[i]!, p.at, p.n)),
      b: bPlace.map((p, i) => view(wasm.backward.elem[i]!, p.at, p.n)),
    }
    const wat = printModule(wasm.module)
    const stepTable = (w: typeof wasm.forward): WasmStepTable => ({
      frame: {
        bytes: frameBytes(w.buffers.length, wasm.hypers.length),
        hypersAt: frameHypers(w.buffers.length),
      },
      buffers: w.buffers.map((b, i) => ({
        role: b.role,
        ...(b.name !== undefined ? { name: b.name } : {}),
        axes: b.axes,
        elem: w.elem[i]!,
        elements: sizeOf(b.axes, this.sizes),
      })),
      hypers: wasm.hypers,
    })
    const table: WasmModeTable = {
      pages,
      imports: [...wasmImports],
      forward: stepTable(wasm.forward),
      backward: stepTable(wasm.backward),
    }
    ;(this.mems ??= new Map()).set(mode, { memory, regions, wat, bytes, table })
    const step = (key: 'f' | 'b') => {
      const specs = key === 'f' ? wasm.forward.buffers : wasm.backward.buffers
      const elem = key === 'f' ? wasm.forward.elem : wasm.backward.elem
      const fn = instance.exports[key === 'f' ? 'forward' : 'backward'] as (f: number) => void
      const own = regions[key]
      const frame = frames[key]
      const addresses = new Uint32Array(memory.buffer, frame, specs.length)
      const hyperValues = new Float64Array(memory.buffer, frame + frameHypers(specs.length), hypers)
      const staged: number[] = []
      return (B: Tensor[], _S: unknown, H: Float64Array) => {
        staged.length = 0
        for (let i = 0; i < specs.length; i++) {
          const t = B[i]!
          const inPlace =
            t.buffer === memory.buffer && (elem[i] === 'f32') === t instanceof Float32Array
          if (inPlace) addresses[i] = t.byteOffset
          else {
            const r = own[i]!
            if (!isWritten(specs[i]!.role, key)) r.set(t)
            else staged.push(i)
            addresses[i] = r.byteOffset
          }
        }
        hyperValues.set(H)
        fn(frame)
        for (const i of staged) B[i]!.set(own[i]!)
      }
    }
    return {
      plan,
      emitted: {
        axes: leafAxisOrder(this.layer),
        hypers: wasm.hypers,
        // `source(mode)` gives the module's text for either step: one module holds both.
        forward: { body: wat, buffers: wasm.forward.buffers },
        backward: { body: wat, buffers: wasm.backward.buffers },
      },
      forward: step('f'),
      backward: step('b'),
    }
  }

  /** Work buffers and outputs live in the mode's memory: the step reads and writes them in place. */
  protected override ownBuffer(key: string, i: number): Tensor {
    const mode = key.slice(1) as Mode
    return this.memFor(mode).regions[key[0] as 'f' | 'b'][i]!
  }

  /**
   * The layer's own buffer for a forward input, param or state (`step: 'forward'`) or an
   * upstream gradient (`step: 'backward'`, named as the backward's inputs are: `dy`, `dy_out`),
   * in the given mode. Filled by the caller and passed back, it is read in place: no copy.
   */
  buffer(name: string, opts: { mode?: Mode; step?: 'forward' | 'backward' } = {}): Tensor {
    const mode = opts.mode ?? 'train'
    const key = opts.step === 'backward' ? 'b' : 'f'
    const c = this.compiled(mode)
    const specs = key === 'f' ? c.emitted.forward.buffers : c.emitted.backward.buffers
    const i = specs.findIndex(
      (s) =>
        s.name === name &&
        (s.role === 'input' || s.role === 'param' || s.role === 'state' || s.role === 'dy'),
    )
    if (i < 0)
      throw new NormcError(
        `the ${opts.step ?? 'forward'} step of ${this.layer.decl.name} reads no tensor '${name}'`,
      )
    return this.memFor(mode).regions[key][i]!
  }

  /** The WebAssembly text of a mode's module (both steps), for reading and debugging. */
  wat(mode: Mode): string {
    return this.memFor(mode).wat
  }

  /** A mode's module as bytes, its text, and how to call it (`normc compile --target wasm`). */
  artifact(mode: Mode): { wasm: Uint8Array; wat: string; table: WasmModeTable } {
    const m = this.memFor(mode)
    return { wasm: m.bytes, wat: m.wat, table: m.table }
  }
}
