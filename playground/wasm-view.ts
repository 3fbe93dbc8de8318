// The WASM tab, built and run in the worker: the layer's WebAssembly SIMD kernels
// (compiler/emit/wasm, the same as `compile(src, { target: 'wasm' })`) at the GPU tab's small
// sizes and float32-rounded inputs, one step run here, and every output, state update and
// gradient compared with the float64 interpreter on the same inputs.

import type { CheckedLayer } from '../compiler/check/index.js'
import type { LayerGraphs } from '../compiler/pipeline.js'
import type { KernelPlan } from '../compiler/schedule/index.js'
import { maxRelError } from '../runtime/compare.js'
import { runStepJs } from '../runtime/js/step.js'
import { WasmLayer } from '../runtime/wasm/index.js'
import { jobCase } from './gpu-job.js'

export interface WasmView {
  /** `N=3 C=5 H=3 W=5`. */
  sizes: string
  /** The module's text (both steps). */
  wat: string
  /** Bytes of the encoded module. */
  bytes: number
  /** Per output, state update and gradient: max |wasm − float64| / max(1, |float64|). */
  rows: { label: string; err: number }[]
  /** The bound the rows are held to. */
  tolerance: number
}

/** What the wasm f32 kernels may differ from float64 on float32 inputs: one rounding, with room. */
export const WASM_TOLERANCE = 1e-6

export function wasmView(
  layer: CheckedLayer,
  mode: 'train' | 'eval',
  graphs: LayerGraphs,
  plan: KernelPlan,
): WasmView {
  const { c, ref, label } = jobCase(layer, mode, graphs, plan)
  const got = runStepJs(layer, mode, c, 'f32', WasmLayer)
  const instance = new WasmLayer(layer, { axes: c.axes, hyper: c.hyper, precision: 'f32' })
  const artifact = instance.artifact(mode)
  const rows: WasmView['rows'] = []
  for (const [k, v] of Object.entries(ref.outputs))
    rows.push({ label: k, err: maxRelError(got.outputs[k]!, v) })
  if (mode === 'train')
    for (const [k, v] of Object.entries(ref.state))
      rows.push({ label: `${k} <-`, err: maxRelError(got.state[k]!, v) })
  for (const [k, v] of Object.entries(ref.grads ?? {}))
    rows.push({ label: `d${k}`, err: maxRelError(got.grads![k]!, v) })
  return {
    sizes: label,
    wat: artifact.wat,
    bytes: artifact.wasm.length,
    rows,
    tolerance: WASM_TOLERANCE,
  }
}
