// normc/tfjs: a compiled normc layer as a TensorFlow.js layer.
//
//   import * as tf from '@tensorflow/tfjs'
//   import { compile } from 'normc'
//   import { toTfjsLayer } from 'normc/tfjs'
//   const mod = compile(source)        // or compile(source, { target: 'wasm' }): SIMD kernels
//   const model = tf.sequential({ layers: [
//     tf.layers.dense({ inputShape: [8], units: 16 }),
//     toTfjsLayer({ module: mod, name: 'BatchRenorm' }),   // or toTfjsLayer(mod.layer(…))
//     tf.layers.dense({ units: 1 }),
//   ] })
//
// The forward and the gradient run the normc kernels: the layer's op is a `tf.customGrad`
// whose forward runs the normc forward step and whose gradient function runs the normc
// backward step of the same call. Params are trainable TF.js weights (`addWeight`), state
// buffers non-trainable ones, updated by a forward in training (`training: true`, which
// `model.fit` passes; the default is inference, as for TF.js's own BatchNormalization).
//
// Layout: the dimensions of the TF.js input are the axes of the normc input in declared order
// (row-major), so `x: [N, C]` takes a [batch, C] tensor and `x: [N, H, W, C]` a channels-last
// image batch. Dimensions left open by TF.js (the batch) may change from call to call: a
// normc layer instance is compiled per input shape and cached.

import * as tf from '@tensorflow/tfjs'
import type { CheckedLayer } from '../../compiler/check/index.js'
import { NormcError } from '../../compiler/diagnostics.js'
import { bindHypers, bindSizes } from '../sizes.js'
import { WasmLayer } from '../wasm/index.js'
import {
  JsLayer,
  type LayerOptions,
  type Mode,
  type Precision,
  type Saved,
  type Tensor,
  type TensorMap,
} from '../js/index.js'

/** A layer of a compiled module, named, with sizes and hypers (the sizes of the input's axes come from TF.js). */
export interface TfjsLayerSource {
  module: {
    layer(name: string, opts: LayerOptions): JsLayer
    checked(name: string): CheckedLayer
  }
  name: string
  /** Sizes of axes the input does not fix (free axes); input axes are read from the input shape. */
  axes?: Record<string, number>
  hyper?: Record<string, number>
  precision?: Precision
}

export interface TfjsLayerOptions {
  /** The TF.js layer name (default: the normc layer name, made unique by TF.js). */
  name?: string
  trainable?: boolean
  /** How many normc layer instances (one per input shape) to keep; default 8. */
  cacheSize?: number
}

type Shape = (number | null)[]

const isShapeList = (s: Shape | Shape[]): s is Shape[] => Array.isArray(s[0])

/** The TF.js layer: see the top of this file. */
export class NormcTfjsLayer extends tf.layers.Layer {
  static readonly className = 'NormcLayer'

  readonly normcLayer: CheckedLayer
  readonly precision: Precision
  private readonly hyper: Record<string, number>
  /** Sizes given for axes the input does not carry. */
  private readonly fixedAxes: Record<string, number>
  private readonly cacheSize: number
  private readonly instances = new Map<string, JsLayer>()
  private readonly paramVars = new Map<string, tf.LayerVariable>()
  private readonly stateVars = new Map<string, tf.LayerVariable>()
  /** The sizes of the compiled instance given, if any: fixed input dimensions must agree. */
  private readonly seedSizes: ReadonlyMap<string, number> | undefined
  private readonly make: (opts: LayerOptions) => JsLayer

  constructor(
    layer: CheckedLayer,
    config: {
      hyper: Record<string, number>
      axes: Record<string, number>
      precision: Precision
      seed?: JsLayer
      /** Makes an instance (default: a JsLayer); a wasm module's layers are WasmLayers. */
      make?: (opts: LayerOptions) => JsLayer
    } & TfjsLayerOptions,
  ) {
    super({
      name: config.name ?? layer.decl.name,
      trainable: config.trainable ?? true,
      dtype: 'float32',
    })
    if (layer.outputs.length !== 1)
      throw new NormcError(
        `toTfjsLayer: layer ${layer.decl.name} has ${layer.outputs.length} outputs; a TF.js layer here has exactly one`,
      )
    this.normcLayer = layer
    this.hyper = config.hyper
    this.fixedAxes = config.axes
    this.precision = config.precision
    this.cacheSize = Math.max(1, config.cacheSize ?? 8)
    bindHypers(layer, this.hyper) // unknown hypers are refused now, not at the first call
    this.seedSizes = config.seed?.sizes
    if (config.seed) this.instances.set(this.keyOf(config.seed), config.seed)
    this.make = config.make ?? ((o) => new JsLayer(layer, o))
  }

  private get inputAxes(): string[][] {
    return this.normcLayer.inputs.map((i) => i.axes)
  }

  private keyOf(l: JsLayer): string {
    return this.inputAxes.map((axes) => axes.map((a) => l.sizes.get(a)).join('x')).join(';')
  }

  /** The axis sizes implied by input shapes (open dimensions are left out). */
  private sizesFromShapes(shapes: Shape[]): Record<string, number> {
    const name = this.normcLayer.decl.name
    if (shapes.length !== this.inputAxes.length)
      throw new NormcError(
        `layer ${name} takes ${this.inputAxes.length} input(s), got ${shapes.length}`,
      )
    const given: Record<string, number> = { ...this.fixedAxes }
    shapes.forEach((shape, k) => {
      const axes = this.inputAxes[k]!
      const input = this.normcLayer.inputs[k]!.name
      if (shape.length !== axes.length)
        throw new NormcError(
          `layer ${name}: input ${input} has axes [${axes.join(', ')}] but a TF.js input of rank ${shape.length} (shape [${shape.join(', ')}])`,
        )
      shape.forEach((d, i) => {
        if (d === null) return
        const a = axes[i]!
        const prev = given[a]
        if (prev !== undefined && prev !== d)
          throw new NormcError(
            `layer ${name}: axis ${a} is ${prev} but input ${input} has ${d} at dimension ${i}`,
          )
        given[a] = d
      })
    })
    return given
  }

  /** The normc instance for these concrete input shapes (compiled once per shape). */
  private instanceFor(shapes: number[][]): JsLayer {
    const key = shapes.map((s) => s.join('x')).join(';')
    let inst = this.instances.get(key)
    if (inst) {
      this.instances.delete(key) // most recently used last
      this.instances.set(key, inst)
      return inst
    }
    const opts = {
      axes: this.sizesFromShapes(shapes),
      hyper: this.hyper,
      precision: this.precision,
    }
    inst = this.make(opts)
    this.instances.set(key, inst)
    while (this.instances.size > this.cacheSize)
      this.instances.delete(this.instances.keys().next().value!)
    return inst
  }

  /** The size of every axis that does not depend on open dimensions (those are 1 here). */
  private staticSizes(shapes: Shape[]): { sizes: Map<string, number>; open: Set<string> } {
    const open = new Set<string>()
    shapes.forEach((s, k) => s.forEach((d, i) => d === null && open.add(this.inputAxes[k]![i]!)))
    const given = this.sizesFromShapes(shapes)
    for (const a of open) given[a] ??= 1
    const sizes = bindSizes(this.normcLayer, given, bindHypers(this.normcLayer, this.hyper))
    // An axis factored from an open one is open too.
    for (const [name] of sizes) {
      let p = this.normcLayer.axes.get(name)?.parent
      while (p !== undefined) {
        if (open.has(p)) open.add(name)
        p = this.normcLayer.axes.get(p)?.parent
      }
    }
    return { sizes, open }
  }

  override build(inputShape: Shape | Shape[]): void {
    const shapes = isShapeList(inputShape) ? inputShape : [inputShape]
    const { sizes, open } = this.staticSizes(shapes)
    for (const [a, v] of sizes) {
      const was = this.seedSizes?.get(a)
      if (!open.has(a) && was !== undefined && was !== v)
        throw new NormcError(
          `layer ${this.normcLayer.decl.name} was compiled with ${a} = ${was}, but the TF.js input gives ${a} = ${v}`,
        )
    }
    const shapeOf = (kind: string, t: { name: string; axes: string[] }) =>
      t.axes.map((a) => {
        if (open.has(a))
          throw new NormcError(
            `layer ${this.normcLayer.decl.name}: ${kind} ${t.name} spans axis ${a}, which the TF.js input leaves open (the batch); a weight needs a fixed shape`,
          )
        return sizes.get(a)!
      })
    for (const p of this.normcLayer.params)
      this.paramVars.set(
        p.name,
        this.addWeight(
          p.name,
          shapeOf('param', p),
          'float32',
          tf.initializers.constant({ value: p.init ?? 0 }),
          undefined,
          true,
        ),
      )
    for (const s of this.normcLayer.states)
      this.stateVars.set(
        s.name,
        this.addWeight(
          s.name,
          shapeOf('state', s),
          'float32',
          tf.initializers.constant({ value: s.init ?? 0 }),
          undefined,
          false,
        ),
      )
    this.built = true
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shapes = isShapeList(inputShape) ? inputShape : [inputShape]
    const { sizes, open } = this.staticSizes(shapes)
    const dimOf = new Map<string, number | null>()
    shapes.forEach((s, k) => s.forEach((d, i) => dimOf.set(this.inputAxes[k]![i]!, d)))
    return this.normcLayer.outputs[0]!.axes.map((a) =>
      dimOf.has(a) ? dimOf.get(a)! : open.has(a) ? null : sizes.get(a)!,
    )
  }

  private toArray(t: tf.Tensor): Tensor {
    const d = t.dataSync()
    if (this.precision === 'f64') return Float64Array.from(d)
    return d instanceof Float32Array ? d : Float32Array.from(d)
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const xs = Array.isArray(inputs) ? inputs : [inputs]
    const mode: Mode = kwargs['training'] === true ? 'train' : 'eval'
    const inst = this.instanceFor(xs.map((x) => x.shape))
    const layer = this.normcLayer
    const outShape = layer.outputs[0]!.axes.map((a) => inst.sizes.get(a)!)
    const outName = layer.outputs[0]!.name
    const paramNames = layer.params.map((p) => p.name)
    const paramTensors = paramNames.map((n) => this.paramVars.get(n)!.read())
    const nIn = xs.length
    const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const ts = args.slice(0, nIn + paramNames.length) as tf.Tensor[]
      const ins: TensorMap = {}
      layer.inputs.forEach((inp, k) => (ins[inp.name] = this.toArray(ts[k]!)))
      const params: TensorMap = {}
      paramNames.forEach((n, j) => (params[n] = this.toArray(ts[nIn + j]!)))
      // State: fresh copies (normc writes the update into them).
      const state: TensorMap = {}
      for (const [n, v] of this.stateVars)
        state[n] =
          this.precision === 'f64'
            ? Float64Array.from(v.read().dataSync())
            : Float32Array.from(v.read().dataSync())
      const { outputs, saved } = inst.forward(ins, { mode, params, state })
      if (mode === 'train')
        for (const [n, v] of this.stateVars)
          v.write(tf.tensor(Float32Array.from(state[n]!), v.shape as number[], 'float32'))
      const mine = new Set<Tensor>([...Object.values(ins), ...Object.values(params)])
      const kept = keepSaved(saved, mine)
      const value = tf.tensor(Float32Array.from(outputs[outName]!), outShape, 'float32')
      const gradFunc = (dy: tf.Tensor): tf.Tensor[] => {
        const grads = inst.backward(kept, this.toArray(dy))
        const as = (name: string, like: tf.Tensor) => {
          const g = grads[name]
          return g ? tf.tensor(Float32Array.from(g), like.shape, 'float32') : tf.zerosLike(like)
        }
        return [
          ...layer.inputs.map((inp, k) => as(inp.name, ts[k]!)),
          ...paramNames.map((n, j) => as(n, ts[nIn + j]!)),
        ]
      }
      return { value, gradFunc }
    })
    return op(...xs, ...paramTensors)
  }

  /** The normc instances compiled so far, one per input shape (for inspection and tests). */
  get compiledShapes(): string[] {
    return [...this.instances.keys()]
  }

  /** The target each compiled instance runs on: `js`, or `wasm` for a wasm module's layers. */
  get compiledTargets(): ('js' | 'wasm')[] {
    return [...this.instances.values()].map((i) => (i instanceof WasmLayer ? 'wasm' : 'js'))
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      normcLayer: this.normcLayer.decl.name,
      hyper: this.hyper,
      axes: this.fixedAxes,
      precision: this.precision,
    }
  }
}

/**
 * What backward needs from a forward, detached from the instance's work buffers (the next
 * forward of the same instance overwrites them); arrays this call made itself are kept as they are.
 */
function keepSaved(saved: Saved, mine: ReadonlySet<Tensor>): Saved {
  const leaves = new Map<number, Tensor>()
  for (const [id, t] of saved.leaves) leaves.set(id, mine.has(t) ? t : t.slice())
  return { mode: saved.mode, leaves }
}

/**
 * A compiled normc layer as a TF.js layer whose forward and gradient run the normc kernels.
 * Given a compiled instance, its hypers and precision are used, and its sizes except those of
 * the input's open (batch) dimensions; given `{ module, name }`, sizes come from the input shape.
 */
export function toTfjsLayer(
  src: JsLayer | TfjsLayerSource,
  opts: TfjsLayerOptions = {},
): NormcTfjsLayer {
  if (src instanceof JsLayer) {
    const layer = src.layer
    // Sizes the input does not carry and no hyper sets (free axes, factors of an input axis).
    const onInput = new Set(layer.inputs.flatMap((i) => i.axes))
    const axes: Record<string, number> = {}
    for (const [a, v] of src.sizes) if (!onInput.has(a) && !layer.axes.get(a)?.size) axes[a] = v
    return new NormcTfjsLayer(layer, {
      ...opts,
      hyper: Object.fromEntries(src.hypers),
      axes,
      precision: src.precision,
      seed: src,
      // The seed's own kind: a WasmLayer's instances for other shapes are WasmLayers too.
      make: (o) => new (src.constructor as typeof JsLayer)(layer, o),
    })
  }
  const layer = src.module.checked(src.name)
  return new NormcTfjsLayer(layer, {
    ...opts,
    hyper: src.hyper ?? {},
    axes: src.axes ?? {},
    precision: src.precision ?? 'f32',
    make: (o) => src.module.layer(src.name, o),
  })
}

tf.serialization.registerClass(NormcTfjsLayer)
