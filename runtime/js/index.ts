// Compiled JavaScript layers: the runtime side of the js target. A layer instance has fixed
// axis sizes and hypers, owns its work buffers (so a training loop allocates nothing per
// step), and runs the emitted step functions.

import type { CheckedLayer } from '../../compiler/check/index.js'
import { NormcError } from '../../compiler/diagnostics.js'
import { emitLayer, type BufferSpec, type EmittedLayer, type EmittedStep } from '../../compiler/emit/js/index.js'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { planLayer, rootTarget, type KernelPlan } from '../../compiler/schedule/index.js'
import { upstreamName } from '../../compiler/check/index.js'
import { checkBindTimeDivisions, sizeOf } from '../interp.js'
import { bindHypers, bindSizes } from '../sizes.js'
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
    let c = this.modes.get(mode)
    if (!c) {
      c = compileMode(this.layer, mode)
      this.modes.set(mode, c)
    }
    return c
  }

  private readonly validated = new Set<Mode>()

  /** Size arithmetic that divides by zero (BatchNorm's m / (m − 1) at m = 1) is refused, located. */
  private validate(mode: Mode): void {
    if (this.validated.has(mode)) return
    const p = this.compiled(mode).plan
    const roots = [...p.forward.outputs, ...p.forward.updates, ...p.backward.outputs].map((o) => o.node)
    checkBindTimeDivisions(roots, this.sizes, this.hypers, this.layer.file)
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
    if (!(t instanceof Float32Array || t instanceof Float64Array)) throw new NormcError(`'${name}' must be a Float32Array or Float64Array`)
    if (t.length !== n) throw new NormcError(`'${name}' has ${t.length} values, expected ${n} (axes [${axes.join(', ')}])`)
    return t
  }

  /** Work buffers of a step, allocated once per instance and mode. */
  private workFor(key: string, specs: BufferSpec[]): Tensor[] {
    let w = this.work.get(key)
    if (!w) {
      w = specs.map((s) => (s.role === 'temp' || s.role === 'shift' || s.role === 'saved' || s.role === 'update' ? this.alloc(s.axes, true) : this.alloc(s.axes)))
      this.work.set(key, w)
    }
    return w
  }

  forward(inputs: TensorMap, opts: ForwardOptions): ForwardResult {
    const mode = opts.mode
    if (mode !== 'train' && mode !== 'eval') throw new NormcError(`mode must be 'train' or 'eval'`)
    const c = this.compiled(mode)
    this.validate(mode)
    const specs = c.emitted.forward.buffers
    const work = this.workFor(`f${mode}`, specs)
    const params = opts.params ?? {}
    const state = opts.state ?? {}
    const B: Tensor[] = specs.map((s, i) => {
      switch (s.role) {
        case 'input':
          return this.check(s.name!, ownValue(inputs, s.name!), s.axes)
        case 'param':
          return this.check(s.name!, ownValue(params, s.name!), s.axes)
        case 'state':
          return this.check(s.name!, ownValue(state, s.name!), s.axes)
        case 'output': {
          const given = opts.out && ownValue(opts.out, s.name!)
          return given ? this.check(s.name!, given, s.axes) : work[i]!
        }
        default:
          return work[i]!
      }
    })
    c.forward(B, this.S, this.H)
    const outputs: TensorMap = {}
    for (const o of c.plan.forward.outputs) setOwn(outputs, o.name, B[specs.findIndex((s) => s.node === rootTarget(o.node))]!)
    // What backward needs: the forward's leaves by node, and the saved values (a snapshot of state).
    const leaves = new Map<number, Tensor>()
    specs.forEach((s, i) => {
      if (s.node) leaves.set(s.node.id, B[i]!)
    })
    for (const n of c.plan.forward.saved) leaves.set(n.id, B[specs.findIndex((s) => s.node === n)]!)
    for (const n of c.plan.backward.leaves) {
      if (n.op === 'input' && n.role === 'state') {
        const key = `snap${mode}${n.id}`
        let snap = this.work.get(key)?.[0]
        if (!snap) {
          snap = Float64Array.from(leaves.get(n.id)!)
          this.work.set(key, [snap])
        } else snap.set(leaves.get(n.id)!)
        leaves.set(n.id, snap)
      }
    }
    if (mode === 'train' && opts.updateState !== false) {
      for (const u of c.plan.forward.updates) {
        const i = specs.findIndex((s) => s.role === 'update' && s.name === u.name)
        const target = ownValue(state, u.name)
        if (i >= 0 && target) target.set(B[i]!)
      }
    }
    return { outputs, saved: { mode, leaves } }
  }

  /** Gradients of sum(y · dy) for every input and param, from the values of the forward step. */
  backward(saved: Saved, dy: Tensor | TensorMap, out?: TensorMap): TensorMap {
    const c = this.compiled(saved.mode)
    const specs = c.emitted.backward.buffers
    const work = this.workFor(`b${saved.mode}`, specs)
    const dys: TensorMap =
      dy instanceof Float32Array || dy instanceof Float64Array
        ? { [upstreamName(this.layer, this.layer.outputs[0]!.name)]: dy }
        : Object.fromEntries(this.layer.outputs.map((o) => [upstreamName(this.layer, o.name), ownValue(dy as TensorMap, o.name)!]))
    const B: Tensor[] = specs.map((s, i) => {
      if (s.role === 'dy') return this.check(s.name!, ownValue(dys, s.name!), s.axes)
      if (s.node && saved.leaves.has(s.node.id) && (s.role === 'input' || s.role === 'param' || s.role === 'saved' || s.role === 'state'))
        return saved.leaves.get(s.node.id)!
      if (s.role === 'output' && s.name) {
        const name = s.name.slice(1)
        const given = out && ownValue(out, name)
        return given ? this.check(name, given, s.axes) : work[i]!
      }
      return work[i]!
    })
    c.backward(B, this.S, this.H)
    const grads: TensorMap = {}
    for (const o of c.plan.backward.outputs) setOwn(grads, o.name.slice(1), B[specs.findIndex((s) => s.node === rootTarget(o.node))]!)
    return grads
  }

  /** The emitted source of a mode's steps, for reading and debugging. */
  source(mode: Mode): { forward: string; backward: string } {
    const e = this.compiled(mode).emitted
    return { forward: e.forward.body, backward: e.backward.body }
  }
}
