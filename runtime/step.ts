// One step of a layer on the float64 interpreter: outputs, gradients (when an upstream
// gradient is given) and state updates, all from the values of that step.

import type { CheckedLayer } from '../compiler/check/index.js'
import { upstreamName } from '../compiler/check/index.js'
import { NormcError } from '../compiler/diagnostics.js'
import { compileLayerGraphs, type LayerGraphs } from '../compiler/pipeline.js'
import { topoOrder, type Node } from '../compiler/ir/index.js'
import type { RunCase } from './case.js'
import { evaluate, sizeOf, type Sizes } from './interp.js'
import { bindHypers, bindSizes, checkBytes, MAX_ELEMENTS } from './sizes.js'

// Names are the user's: `__proto__` or `toString` must be ordinary keys, read and written as
// own properties (a plain `o[k] = v` with k = '__proto__' would set the prototype instead).
/** `o[k]` when `o` has it as an own property. */
export const ownValue = <T>(o: Readonly<Record<string, T>>, k: string): T | undefined =>
  Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined
/** Sets `o[k] = v` as an own, enumerable property, whatever k is. */
export function setOwn<T>(o: Record<string, T>, k: string, v: NoInfer<T>): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })
}

export interface StepResult {
  outputs: Record<string, Float64Array>
  grads?: Record<string, Float64Array>
  state: Record<string, Float64Array>
}

export interface BoundCase {
  sizes: Map<string, number>
  hypers: Map<string, number>
  tensors: Map<string, Float64Array>
  hasDy: boolean
}

/** Checks a case against a layer: names, lengths; fills params and state with their initial values. */
export function bindCase(layer: CheckedLayer, c: RunCase): BoundCase {
  const hypers = bindHypers(layer, c.hyper)
  const sizes = bindSizes(layer, c.axes, hypers)
  const tensors = new Map<string, Float64Array>()
  const known = new Map([...layer.inputs, ...layer.params, ...layer.states].map((t) => [t.name, t]))
  for (const name of Object.keys(c.inputs)) {
    const t = known.get(name)
    if (!t) {
      throw new NormcError(
        `unknown input '${name}' for layer ${layer.decl.name} (inputs, params and state: ${[...known.keys()].join(', ')})`,
      )
    }
  }
  for (const t of known.values()) {
    const n = sizeOf(t.axes, sizes)
    const given = ownValue(c.inputs, t.name)
    if (given) {
      if (given.length !== n)
        throw new NormcError(
          `'${t.name}' has ${given.length} values, expected ${n} (axes [${t.axes.join(', ')}])`,
        )
      tensors.set(t.name, given)
    } else if (layer.inputs.includes(t)) {
      throw new NormcError(`missing input '${t.name}'`)
    } else tensors.set(t.name, new Float64Array(n).fill(t.init ?? 0))
  }
  let hasDy = false
  if (c.dy !== undefined) {
    hasDy = true
    const outs = layer.outputs
    if (c.dy instanceof Float64Array) {
      if (outs.length !== 1)
        throw new NormcError(
          `layer ${layer.decl.name} has ${outs.length} outputs: give dy as an object keyed by output name`,
        )
      const n = sizeOf(outs[0]!.axes, sizes)
      if (c.dy.length !== n)
        throw new NormcError(`dy has ${c.dy.length} values, expected ${n} (like ${outs[0]!.name})`)
      tensors.set(upstreamName(layer, outs[0]!.name), c.dy)
    } else {
      for (const k of Object.keys(c.dy))
        if (!outs.some((o) => o.name === k)) throw new NormcError(`dy: unknown output '${k}'`)
      for (const o of outs) {
        const n = sizeOf(o.axes, sizes)
        const d = ownValue(c.dy, o.name) ?? new Float64Array(n)
        if (d.length !== n)
          throw new NormcError(`dy.${o.name} has ${d.length} values, expected ${n}`)
        tensors.set(upstreamName(layer, o.name), d)
      }
    }
  }
  return { sizes, hypers, tensors, hasDy }
}

/**
 * Refuses graphs whose intermediates would not fit before allocating anything: one too large
 * to index, or all of them (the interpreter keeps every value of the step) beyond MAX_BYTES.
 */
export function checkGraphSizes(roots: readonly Node[], sizes: Sizes): void {
  let total = 0
  for (const n of topoOrder(roots)) {
    const s = sizeOf(n.axes, sizes)
    if (s > MAX_ELEMENTS)
      throw new NormcError(
        `an intermediate of axes [${n.axes.join(', ')}] would have ${s} elements, too many`,
      )
    total += s * 8
  }
  checkBytes(total, 'the interpreter (float64, every intermediate kept)')
}

/** Runs one step of `layer` in `mode` on the interpreter. */
export function runStepInterp(
  layer: CheckedLayer,
  mode: 'train' | 'eval',
  c: RunCase,
  graphs: LayerGraphs = compileLayerGraphs(layer, mode),
): StepResult {
  const fwd = graphs.forward
  const roots: Node[] = [...fwd.outputs.map((o) => o.node), ...fwd.updates.map((u) => u.node)]
  const bwd = c.dy !== undefined ? graphs.backward.program.outputs : []
  roots.push(...bwd.map((o) => o.node))
  // Sizes first: nothing (not even default params) is allocated for a step that cannot fit.
  checkGraphSizes(roots, bindSizes(layer, c.axes, bindHypers(layer, c.hyper)))
  const bound = bindCase(layer, c)
  const vals = evaluate(
    roots,
    { sizes: bound.sizes, tensors: bound.tensors, hypers: bound.hypers },
    layer.file,
  )
  const outputs: Record<string, Float64Array> = {}
  fwd.outputs.forEach((o, i) => setOwn(outputs, o.name, vals[i]!))
  const state: Record<string, Float64Array> = {}
  for (const s of layer.states) setOwn(state, s.name, bound.tensors.get(s.name)!)
  fwd.updates.forEach((u, i) => setOwn(state, u.name, vals[fwd.outputs.length + i]!))
  const result: StepResult = { outputs, state }
  if (bound.hasDy) {
    const grads: Record<string, Float64Array> = {}
    const base = fwd.outputs.length + fwd.updates.length
    bwd.forEach((o, i) => setOwn(grads, graphs.backward.of.get(o.name)!, vals[base + i]!))
    result.grads = grads
  }
  return result
}
