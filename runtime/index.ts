// normc's public API: compile `.norm` source in-process and run its layers.
//
//   import { compile } from 'normc'
//   const mod = compile(source, { target: 'js', precision: 'f32' })
//   const bn = mod.layer('BatchNorm2d', { axes: { N: 32, C: 64, H: 32, W: 32 }, hyper: { momentum: 0.1 } })
//   const params = bn.initParams(), state = bn.initState()
//   const { outputs, saved } = bn.forward({ x }, { mode: 'train', params, state })   // updates state
//   const grads = bn.backward(saved, dy)                                             // { x, gamma, beta }

import type { CheckedLayer } from '../compiler/check/index.js'
import { formatDiagnosticLine, NormcError, type Diagnostic } from '../compiler/diagnostics.js'
import { frontend } from '../compiler/frontend.js'
import { JsLayer, type LayerOptions, type Precision } from './js/index.js'
import { GpuLayer } from './gpu/layer.js'
import { WasmLayer } from './wasm/index.js'
import type { GpuBackend } from './gpu/backends.js'

export { GpuLayer } from './gpu/layer.js'
export { WasmLayer } from './wasm/index.js'

export { JsLayer, type Precision, type LayerOptions } from './js/index.js'
export type { ForwardOptions, ForwardResult, Saved, Tensor, TensorMap } from './js/index.js'
export { NormcError } from '../compiler/diagnostics.js'
export { runStepInterp } from './step.js'

export interface CompileOptions {
  /** js: JavaScript kernels; wasm: the same steps as WebAssembly SIMD kernels; gpu: gpu.js. */
  target?: 'js' | 'wasm' | 'gpu'
  /** For target 'gpu': headlessgl, webgpu, webgl2, webasm or cpu (never a silent fallback). */
  backend?: GpuBackend
  precision?: Precision
  /** The file name used in diagnostics. */
  file?: string
}

export interface Module {
  /** The names of the layers in the source. */
  layers: string[]
  /** Warnings (errors throw). */
  diagnostics: Diagnostic[]
  layer(name: string, opts: Omit<LayerOptions, 'precision'> & { precision?: Precision }): JsLayer
  /** The checked layer, for tools. */
  checked(name: string): CheckedLayer
}

export interface GpuModule {
  layers: string[]
  diagnostics: Diagnostic[]
  layer(name: string, opts: Omit<LayerOptions, 'precision'>): GpuLayer
}

/**
 * Parses, checks and prepares `.norm` source; throws a NormcError listing the errors. With
 * `target: 'gpu'` the result is a Promise (WebGPU kernels are asynchronous), and so are the
 * layers' forward and backward.
 */
export function compile(
  source: string,
  opts: CompileOptions & { target: 'gpu' },
): Promise<GpuModule>
export function compile(source: string, opts?: CompileOptions): Module
export function compile(source: string, opts: CompileOptions = {}): Module | Promise<GpuModule> {
  if (opts.target === 'gpu') {
    try {
      const m = compile(source, { ...opts, target: 'js' })
      const backend = opts.backend ?? 'headlessgl'
      return Promise.resolve({
        layers: m.layers,
        diagnostics: m.diagnostics,
        layer: (name, o) => new GpuLayer(m.checked(name), o, backend),
      })
    } catch (e) {
      return Promise.reject(e)
    }
  }
  const file = opts.file ?? '<source>'
  const fe = frontend([{ file, text: source }])
  const errors = fe.diagnostics.filter((d) => d.severity === 'error')
  if (errors.length) throw new NormcError(errors.map(formatDiagnosticLine).join('\n'))
  if (opts.target !== undefined && opts.target !== 'js' && opts.target !== 'wasm')
    throw new NormcError(`unknown target '${String(opts.target)}'`)
  const byName = new Map(fe.layers.map((l) => [l.decl.name, l]))
  const get = (name: string) => {
    const l = byName.get(name)
    if (!l) throw new NormcError(`no layer '${name}' (layers: ${[...byName.keys()].join(', ')})`)
    return l
  }
  return {
    layers: [...byName.keys()],
    diagnostics: fe.diagnostics,
    layer: (name, o) => {
      const Layer = opts.target === 'wasm' ? WasmLayer : JsLayer
      return new Layer(get(name), { ...o, precision: o.precision ?? opts.precision ?? 'f32' })
    },
    checked: get,
  }
}
