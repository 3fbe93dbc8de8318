// One `normc run` step on the js target (or wasm, its kernels in WebAssembly): the same
// contract as the interpreter.

import type { CheckedLayer } from '../../compiler/check/index.js'
import type { RunCase } from '../case.js'
import { bindCase, setOwn, type StepResult } from '../step.js'
import { JsLayer, type Precision, type TensorMap } from './index.js'

export function runStepJs(
  layer: CheckedLayer,
  mode: 'train' | 'eval',
  c: RunCase,
  precision: Precision,
  /** The layer class: JsLayer, or one that runs the same steps otherwise (WasmLayer). */
  Layer: typeof JsLayer = JsLayer,
): StepResult {
  const bound = bindCase(layer, c) // validates names and lengths, fills defaults
  const L = new Layer(layer, { axes: c.axes, hyper: c.hyper, precision })
  const conv = (a: Float64Array) =>
    precision === 'f32' ? Float32Array.from(a) : Float64Array.from(a)
  const pick = (names: { name: string }[]): TensorMap =>
    Object.fromEntries(names.map((t) => [t.name, conv(bound.tensors.get(t.name)!)]))
  const inputs = pick(layer.inputs)
  const params = pick(layer.params)
  const state = pick(layer.states)
  const r = L.forward(inputs, { mode, params, state })
  const out: StepResult = {
    outputs: Object.fromEntries(
      Object.entries(r.outputs).map(([k, v]) => [k, Float64Array.from(v)]),
    ),
    state: Object.fromEntries(Object.entries(state).map(([k, v]) => [k, Float64Array.from(v)])),
  }
  if (bound.hasDy) {
    const dy: TensorMap = {}
    for (const o of layer.outputs) {
      const key = layer.outputs.length === 1 ? 'dy' : `dy_${o.name}`
      setOwn(dy, o.name, conv(bound.tensors.get(key)!))
    }
    const g = L.backward(r.saved, layer.outputs.length === 1 ? dy[layer.outputs[0]!.name]! : dy)
    out.grads = Object.fromEntries(Object.entries(g).map(([k, v]) => [k, Float64Array.from(v)]))
  }
  return out
}
