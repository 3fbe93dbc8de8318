// Compiled JavaScript layers: the runtime side of the js target. A layer instance has fixed
// axis sizes and hypers, owns its work buffers (so a training loop allocates nothing per
// step), and runs the emitted step functions.

import type { CheckedLayer } from '../../compiler/check/index.js'
import type { Node } from '../../compiler/ir/index.js'
import { NormcError } from '../../compiler/diagnostics.js'
import {
  emitLayer,
  type BufferSpec,
  type EmittedLayer,
  type EmittedStep,
} from '../../compiler/emit/js/index.js'
import { isWorkBuffer } from '../../compiler/emit/layout.js'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { planLayer, rootTarget, type KernelPlan } from '../../compiler/schedule/index.js'
import { upstreamName } from '../../compiler/check/index.js'
import { checkPlanDivisions, sizeOf } from '../interp.js'
import { bindHypers, bindSizes, checkBytes, MAX_ELEMENTS } from '../sizes.js'
import { ownValue, setOwn } from '../step.js'

export type Precision = 'f32' | 'f64'
export type Mode = 'train' | 'eval'
export type Tensor = Float32Array | Float64Array
export type TensorMap = Record<string, Tensor>

type StepFn = (B: Tensor[], S: Int32Array | number[], H: Float64Array) => void

export interface CompiledMode {
  plan: KernelPlan
  emitted: EmittedLayer
  forward: StepFn
  backward: StepFn
}

/** Compiles one mode of a layer to JS step functions (sizes and hypers are given at run time). */
export function compileMode(layer: CheckedLayer, mode: Mode): CompiledMode {
  const plan = planLayer(compileLayerGraphs(layer, mode))
  const emitted = emitLayer(plan)
  const make = (s: EmittedStep) => new Function('B', 'S', 'H', `'use strict'\n${s.body}`) as StepFn
  return { plan, emitted, forward: make(emitted.forward), backward: make(emitted.backward) }
}

/** What forward leaves for backward: references to its inputs and the small saved values. */
export interface Saved {
  mode: Mode
  /** Buffers of the backward step's leaves, in its order (inputs, params, saved values). */
  leaves: Map<number, Tensor>
}

export interface ForwardOptions {
  mode: Mode
  params?: TensorMap
  state?: TensorMap
  /** Output buffers to write into (reused across steps). */
  out?: TensorMap
  /** Whether to apply the state updates (train mode only). Default true. */
  updateState?: boolean
}

export interface ForwardResult {
  outputs: TensorMap
  saved: Saved
}

export interface LayerOptions {
  axes: Record<string, number>
  hyper?: Record<string, number>
  precision?: Precision
}

interface Binding {
  specs: BufferSpec[]
  /** The buffer array passed to the step function, reused call after call. */
  B: Tensor[]
  /** Slots the caller fills: inputs, params, state, upstream gradients, output buffers. */
  user: { i: number; role: string; name: string; axes: string[] }[]
  outputs: { name: string; i: number }[]
  /** State updates: the slot of the new value; `copy` when that slot is a leaf (s <- x). */
  updates: { name: string; i: number; copy?: Float64Array }[]
  /** Slots the backward reads from the forward, by node. */
  leaves: { id: number; i: number }[]
  /** State the backward reads: copied before the update. */
  snaps: { id: number; i: number; snap: Float64Array }[]
  saved: Saved
}

const leafAxesOf = (n: Node, layer: CheckedLayer) => n.axes.flatMap((a) => layer.axes.leaves(a))

export class JsLayer {
  readonly sizes: Map<string, number>
  readonly hypers: Map<string, number>
  readonly precision: Precision
  private readonly modes = new Map<Mode, CompiledMode>()
  private readonly work = new Map<string, Tensor[]>()
  private readonly S: number[]
  private readonly H: Float64Array

  constructor(
    readonly layer: CheckedLayer,
    opts: LayerOptions,
  ) {
    this.precision = opts.precision ?? 'f32'
    this.hypers = bindHypers(layer, opts.hyper ?? {})
    this.sizes = bindSizes(layer, opts.axes, this.hypers)
    const anyMode = this.compiled(layer.hasForward ? 'train' : 'train')
    this.S = anyMode.emitted.axes.map((a) => this.sizes.get(a)!)
    this.H = Float64Array.from(layer.hypers.map((h) => this.hypers.get(h.name)!))
  }

  /** Changes a hyper between steps (e.g. Batch Renorm's rmax and dmax schedule). */
  setHyper(name: string, value: number): void {
    const i = this.layer.hypers.findIndex((h) => h.name === name)
    if (i < 0) throw new NormcError(`unknown hyper '${name}'`)
    this.H[i] = value
    this.hypers.set(name, value)
    this.validated.clear()
  }

  compiled(mode: Mode): CompiledMode {
    if (mode !== 'train' && mode !== 'eval')
      throw new NormcError(`mode must be 'train' or 'eval', got '${String(mode)}'`)
    let c = this.modes.get(mode)
    if (!c) {
      c = this.compileMode(mode)
      this.modes.set(mode, c)
    }
    return c
  }

  /** The step functions of a mode: for the js target, the emitted source made a function. */
  protected compileMode(mode: Mode): CompiledMode {
    return compileMode(this.layer, mode)
  }

  /**
   * A buffer the instance owns: slot i of the table of step `key` (its initial and the mode:
   * `ftrain`, `beval`), float64 for work buffers, else of the layer's precision.
   */
  protected ownBuffer(_key: string, _i: number, axes: readonly string[], f64: boolean): Tensor {
    return this.alloc(axes, f64)
  }

  private readonly validated = new Set<Mode>()

  /** Size arithmetic that divides by zero (BatchNorm's m / (m − 1) at m = 1) is refused, located. */
  private validate(mode: Mode): void {
    if (this.validated.has(mode)) return
    checkPlanDivisions(this.compiled(mode).plan, this.sizes, this.hypers, this.layer.file)
    this.validated.add(mode)
  }

  private alloc(axes: readonly string[], f64 = false): Tensor {
    const n = sizeOf(axes, this.sizes)
    return f64 || this.precision === 'f64' ? new Float64Array(n) : new Float32Array(n)
  }

  private sizeOfAxes(axes: readonly string[]): number {
    return sizeOf(axes, this.sizes)
  }

  /** Params at their declared initial values. */
  initParams(): TensorMap {
    const out: TensorMap = {}
    for (const p of this.layer.params) setOwn(out, p.name, this.alloc(p.axes).fill(p.init ?? 0))
    return out
  }

  /** State at its declared initial values. */
  initState(): TensorMap {
    const out: TensorMap = {}
    for (const s of this.layer.states) setOwn(out, s.name, this.alloc(s.axes).fill(s.init ?? 0))
    return out
  }

  private check(name: string, t: Tensor | undefined, axes: readonly string[]): Tensor {
    if (!t) throw new NormcError(`missing tensor '${name}'`)
    const n = this.sizeOfAxes(axes)
    if (!(t instanceof Float32Array || t instanceof Float64Array))
      throw new NormcError(`'${name}' must be a Float32Array or Float64Array`)
    if (t.length !== n)
      throw new NormcError(
        `'${name}' has ${t.length} values, expected ${n} (axes [${axes.join(', ')}])`,
      )
    return t
  }

  /** The instance's own buffer for output slot i of a step, made on first use. */
  private outputBuffer(key: string, i: number, axes: readonly string[]): Tensor {
    const w = this.work.get(key)!
    if (w[i]!.length === 0 && this.sizeOfAxes(axes) > 0) w[i] = this.ownBuffer(key, i, axes, false)
    return w[i]!
  }

  /** Work buffers of a step, allocated once per instance and mode. */
  private workFor(key: string, specs: BufferSpec[]): Tensor[] {
    let w = this.work.get(key)
    if (!w) {
      // Before allocating: every buffer indexable, and what this instance allocates (its work
      // buffers and outputs; the caller's tensors exist already) within the memory budget.
      let bytes = 0
      for (const s of specs) {
        const n = sizeOf(s.axes, this.sizes)
        if (n > MAX_ELEMENTS)
          throw new NormcError(
            `a buffer of axes [${s.axes.join(', ')}] would have ${n} elements, too many`,
          )
        if (isWorkBuffer(s.role)) bytes += n * 8
        else if (s.role === 'output') bytes += n * (this.precision === 'f64' ? 8 : 4)
      }
      checkBytes(bytes, `the js target's buffers for ${this.layer.decl.name}`)
      // Only the step's own buffers: inputs, params, state and dy are the caller's, and an
      // output buffer is made only when the caller gives none (see outputBuffer).
      const none = new Float64Array(0)
      w = specs.map((s, i) => (isWorkBuffer(s.role) ? this.ownBuffer(key, i, s.axes, true) : none))
      this.work.set(key, w)
    }
    return w
  }

  private readonly bindings = new Map<string, Binding>()

  /** The per-mode slot tables of a step, computed once: a call only fills the user's slots. */
  private binding(step: 'forward' | 'backward', mode: Mode): Binding {
    const key = step + mode
    let b = this.bindings.get(key)
    if (b) return b
    const c = this.compiled(mode)
    const specs = step === 'forward' ? c.emitted.forward.buffers : c.emitted.backward.buffers
    const work = this.workFor(`${step[0]}${mode}`, specs)
    const indexOf = (n: Node) => specs.findIndex((s) => s.node === n)
    b = {
      specs,
      B: [...work],
      user: specs.flatMap((s, i) =>
        s.role === 'input' ||
        s.role === 'param' ||
        s.role === 'state' ||
        s.role === 'dy' ||
        s.role === 'output'
          ? [{ i, role: s.role, name: s.name!, axes: s.axes }]
          : [],
      ),
      outputs: (step === 'forward' ? c.plan.forward.outputs : c.plan.backward.outputs).map((o) => ({
        name: step === 'forward' ? o.name : o.name.slice(1),
        i: indexOf(rootTarget(o.node)),
      })),
      updates: c.plan.forward.updates.map((u) => {
        const i = specs.findIndex((s) => s.role === 'update' && s.name === u.name)
        if (i >= 0) return { name: u.name, i }
        // An update that is an input, param or state as it is (s <- x, a <- b) has no slot of
        // its own: it is copied from the leaf before any state changes.
        const leaf = indexOf(rootTarget(u.node))
        return {
          name: u.name,
          i: leaf,
          copy: new Float64Array(leaf >= 0 ? this.sizeOfAxes(specs[leaf]!.axes) : 0),
        }
      }),
      // What the backward reads: leaves and saved values (a saved value that is also an output,
      // y = t / (sum(x, [N]) ^ 2 + 0.5) saves y, has a float64 buffer of its own besides).
      leaves: specs.flatMap((s, i) =>
        s.node &&
        s.role !== 'temp' &&
        s.role !== 'shift' &&
        s.role !== 'output' &&
        s.role !== 'update'
          ? [{ id: s.node.id, i }]
          : [],
      ),
      snaps: c.plan.backward.leaves
        .filter((n) => n.op === 'input' && n.role === 'state')
        .map((n) => ({
          id: n.id,
          i: indexOf(n),
          snap: new Float64Array(this.sizeOfAxes(leafAxesOf(n, this.layer))),
        })),
      saved: { mode, leaves: new Map() },
    }
    this.bindings.set(key, b)
    return b
  }

  /**
   * One forward step. In train mode the state is updated in place (after the step: every
   * update reads the state as it was). The returned `saved` stays valid until the next forward
   * in the same mode (its buffers are the instance's own, reused).
   */
  forward(inputs: TensorMap, opts: ForwardOptions): ForwardResult {
    const mode = opts.mode
    if (mode !== 'train' && mode !== 'eval') throw new NormcError(`mode must be 'train' or 'eval'`)
    const c = this.compiled(mode)
    this.validate(mode)
    const b = this.binding('forward', mode)
    const B = b.B
    for (const u of b.user) {
      const from =
        u.role === 'input'
          ? inputs
          : u.role === 'param'
            ? opts.params
            : u.role === 'state'
              ? opts.state
              : opts.out
      const given = from && ownValue(from, u.name)
      if (u.role === 'output')
        B[u.i] = given
          ? this.check(u.name, given, u.axes)
          : this.outputBuffer(`f${mode}`, u.i, u.axes)
      else B[u.i] = this.check(u.name, given, u.axes)
    }
    this.runStep('forward', () => c.forward(B, this.S, this.H))
    const outputs: TensorMap = {}
    for (const o of b.outputs) setOwn(outputs, o.name, B[o.i]!)
    // What backward needs: the forward's leaves and saved values by node; state as it was.
    const leaves = b.saved.leaves
    for (const l of b.leaves) leaves.set(l.id, B[l.i]!)
    for (const sn of b.snaps) {
      sn.snap.set(B[sn.i]!)
      leaves.set(sn.id, sn.snap)
    }
    if (mode === 'train' && opts.updateState !== false) {
      for (const u of b.updates) if (u.copy && u.i >= 0) u.copy.set(B[u.i]!)
      for (const u of b.updates) {
        const target = opts.state && ownValue(opts.state, u.name)
        if (!(u.i >= 0 && target)) continue
        // An output that is the state itself (y = s) is the state before the step: keep a copy.
        for (const o of b.outputs)
          if (ownValue(outputs, o.name) === target) setOwn(outputs, o.name, target.slice())
        target.set(u.copy ?? B[u.i]!)
      }
    }
    return { outputs, saved: b.saved }
  }

  /** Gradients of sum(y · dy) for every input and param, from the values of the forward step. */
  backward(saved: Saved, dy: Tensor | TensorMap, out?: TensorMap): TensorMap {
    const c = this.compiled(saved.mode)
    const b = this.binding('backward', saved.mode)
    const B = b.B
    const single = dy instanceof Float32Array || dy instanceof Float64Array
    for (const l of b.leaves) {
      const spec = b.specs[l.i]!
      if (spec.role === 'dy') continue
      const t = saved.leaves.get(spec.node!.id)
      // What the forward of this instance and mode left: anything else would be read as it is.
      if (!t || t.length !== this.sizeOfAxes(spec.axes))
        throw new NormcError(
          `backward: \`saved\` is not what a ${saved.mode} forward of this layer instance returned (a value it needs is ${t ? 'of another size' : 'missing'})`,
        )
      B[l.i] = t
    }
    for (const u of b.user) {
      if (u.role === 'dy') {
        const given = single
          ? dy
          : ownValue(
              dy as TensorMap,
              this.layer.outputs.find((o) => upstreamName(this.layer, o.name) === u.name)!.name,
            )
        B[u.i] = this.check(u.name, given, u.axes)
      } else if (u.role === 'output') {
        const name = u.name.slice(1)
        const given = out && ownValue(out, name)
        B[u.i] = given
          ? this.check(name, given, u.axes)
          : this.outputBuffer(`b${saved.mode}`, u.i, u.axes)
      }
    }
    this.runStep('backward', () => c.backward(B, this.S, this.H))
    const grads: TensorMap = {}
    for (const o of b.outputs) setOwn(grads, o.name, B[o.i]!)
    return grads
  }

  /**
   * Runs a step. An engine's limit (a stage of a huge program whose locals overflow the stack)
   * is one line, not a stack trace.
   */
  private runStep(step: 'forward' | 'backward', run: () => void): void {
    try {
      run()
    } catch (e) {
      if (!(e instanceof RangeError)) throw e
      throw new NormcError(
        `the ${step} step of ${this.layer.decl.name} is too large for this JavaScript engine (${e.message})`,
      )
    }
  }

  /** The emitted source of a mode's steps, for reading and debugging. */
  source(mode: Mode): { forward: string; backward: string } {
    const e = this.compiled(mode).emitted
    return { forward: e.forward.body, backward: e.backward.body }
  }
}
