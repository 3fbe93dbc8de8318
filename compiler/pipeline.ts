// The middle of the compiler as one call: checked layer → lowered forward (per mode) →
// derived backward → simplified forward and backward, sharing one hash-consed graph.

import type { CheckedLayer } from './check/index.js'
import { deriveBackward, type Backward, type RuleTable } from './grad/index.js'
import type { Program } from './ir/index.js'
import { lowerLayer } from './lower/index.js'
import { simplifyGraphs } from './simplify/index.js'

export interface LayerGraphs {
  layer: CheckedLayer
  mode: 'train' | 'eval'
  forward: Program
  backward: Backward
}

export interface PipelineOptions {
  /** Skip the simplifier (for `--dump grad` and for testing the simplifier against the raw form). */
  simplify?: boolean
  /** A replacement derivative table (tests plant wrong rules with it). */
  rules?: RuleTable
}

export function compileLayerGraphs(
  layer: CheckedLayer,
  mode: 'train' | 'eval',
  opts: PipelineOptions = {},
): LayerGraphs {
  const forward = lowerLayer(layer, mode)
  const backward = deriveBackward(forward, layer, opts.rules)
  if (opts.simplify === false) return { layer, mode, forward, backward }
  const fwdRoots = [...forward.outputs, ...forward.updates].map((o) => o.node)
  const bwdRoots = backward.program.outputs.map((o) => o.node)
  const leaves = [
    ...forward.inputs,
    ...forward.params,
    ...forward.states,
    ...backward.program.inputs,
  ]
  const { builder, roots } = simplifyGraphs([...fwdRoots, ...bwdRoots, ...leaves], layer.axes)
  let i = 0
  const next = () => roots[i++]!
  const sForward: Program = {
    ...forward,
    builder,
    outputs: forward.outputs.map((o) => ({ name: o.name, node: next() })),
    updates: forward.updates.map((u) => ({ name: u.name, node: next() })),
  }
  const bOutputs = backward.program.outputs.map((o) => ({ name: o.name, node: next() }))
  const sInputs = forward.inputs.map(() => next())
  const sParams = forward.params.map(() => next())
  const sStates = forward.states.map(() => next())
  const sBwdInputs = backward.program.inputs.map(() => next())
  const hypers = forward.hypers.map((h) => ({ ...h, node: builder.hyper(h.name) }))
  return {
    layer,
    mode,
    forward: { ...sForward, inputs: sInputs, params: sParams, states: sStates, hypers },
    backward: {
      of: backward.of,
      program: {
        ...backward.program,
        builder,
        outputs: bOutputs,
        inputs: sBwdInputs,
        params: sParams,
        states: sStates,
        hypers,
      },
    },
  }
}
