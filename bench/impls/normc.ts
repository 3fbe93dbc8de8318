// normc's own kernels as benchmark implementations: each case compiles the matching example
// layer (examples/*.norm) at the case's sizes, float32 storage, and runs it on preallocated
// buffers (no allocation per call).
// - normc-js: the js target, on the caller's arrays;
// - normc-wasm: the wasm target (WebAssembly SIMD kernels), x and dy written once into the
//   layer's own memory (`WasmLayer.buffer`) and the outputs left there: nothing is copied;
// - normc-wasm-copy: the wasm target on the caller's arrays, copied in and out every step.

import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import {
  compile,
  WasmLayer,
  type JsLayer,
  type Saved,
  type Tensor,
  type TensorMap,
} from '../../runtime/index.js'
import type { Impl, Runner } from '../impl.js'
import type { LayerCase } from '../layers.js'

export const exampleOf: Record<string, { file: string; layer: string }> = {
  'bn-nchw': { file: 'batchnorm2d.norm', layer: 'BatchNorm2d' },
  'bn-nhwc': { file: 'batchnorm2d_nhwc.norm', layer: 'BatchNorm2dNHWC' },
  layernorm: { file: 'layernorm.norm', layer: 'LayerNorm' },
  groupnorm: { file: 'groupnorm.norm', layer: 'GroupNorm' },
  rmsnorm: { file: 'rmsnorm.norm', layer: 'RMSNorm' },
  batchrenorm: { file: 'batchrenorm.norm', layer: 'BatchRenorm' },
}

/** The bench's state names (camelCase) → the example's state names. */
export const stateNames: Record<string, string> = {
  runningMean: 'running_mean',
  runningVar: 'running_var',
  mu: 'mu',
  sigma: 'sigma',
}

/** The example layer a case runs: its source, layer name, axis sizes and hypers. */
export function exampleFor(layer: LayerCase): {
  source: string
  name: string
  axes: Record<string, number>
  hyper: Record<string, number>
} {
  const ex = exampleOf[layer.id]!
  const source = readFileSync(
    fileURLToPath(new URL(`../../examples/${ex.file}`, import.meta.url)),
    'utf8',
  )
  const axes = { ...layer.norm.axes }
  delete axes.G
  delete axes.K
  const hyper: Record<string, number> = { eps: layer.hyper.eps }
  for (const k of ['momentum', 'groups', 'rmax', 'dmax'] as const)
    if (layer.hyper[k] !== undefined) hyper[k] = layer.hyper[k]!
  return { source, name: ex.layer, axes, hyper }
}

export type NormcTarget = 'js' | 'wasm' | 'wasm-copy'

export function normcRunner(
  layer: LayerCase,
  target: NormcTarget = 'js',
): Runner & { js: JsLayer } {
  const { source, name, axes, hyper } = exampleFor(layer)
  const mod = compile(source, { precision: 'f32', target: target === 'js' ? 'js' : 'wasm' })
  const js = mod.layer(name, { axes, hyper })
  let x: Tensor = layer.x
  let dy: Tensor = layer.dy
  const inPlace = target === 'wasm' && js instanceof WasmLayer
  if (inPlace) {
    x = js.buffer('x', { mode: 'train' })
    x.set(layer.x)
    dy = js.buffer('dy', { mode: 'train', step: 'backward' })
    dy.set(layer.dy)
  }
  const params: TensorMap = js.initParams()
  params.gamma!.set(layer.gamma)
  if (params.beta && layer.beta) params.beta.set(layer.beta)
  const state: TensorMap = js.initState()
  const reset = () => {
    for (const [k, v] of Object.entries(layer.state)) state[stateNames[k] ?? k]!.set(v)
  }
  let y: Tensor = new Float32Array(layer.size)
  let grads: TensorMap = { x: new Float32Array(layer.size) }
  for (const p of Object.keys(params)) grads[p] = new Float32Array(params[p]!.length)
  let saved: Saved | undefined
  const forward = () => {
    reset()
    const r = js.forward(
      { x },
      { mode: 'train', params, state, ...(inPlace ? {} : { out: { y } }) },
    )
    if (inPlace) y = r.outputs.y!
    saved = r.saved
  }
  const backward = () => {
    if (inPlace) grads = js.backward(saved!, dy)
    else js.backward(saved!, dy, grads)
  }
  forward()
  return {
    js,
    forward,
    backward,
    fwdbwd() {
      forward()
      backward()
    },
    outputs() {
      const st: Record<string, Float32Array> = {}
      for (const k of Object.keys(layer.state)) st[k] = state[stateNames[k] ?? k] as Float32Array
      return {
        y: y as Float32Array,
        dx: grads.x as Float32Array,
        dgamma: grads.gamma as Float32Array,
        ...(grads.beta ? { dbeta: grads.beta as Float32Array } : {}),
        state: st,
      }
    },
  }
}

export const normcImpls: Impl[] = (['js', 'wasm', 'wasm-copy'] as const).map((target) => ({
  name: `normc-${target}`,
  label: `normc-${target}`,
  supports: (layer: LayerCase) => layer.id in exampleOf,
  setup: async (layer: LayerCase) => normcRunner(layer, target),
}))
