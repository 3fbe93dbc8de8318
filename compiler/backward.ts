// The derived backward pass of a layer as a printable `.norm` layer.

import type { CheckedLayer } from './check/index.js'
import { programToLayer } from './emit/norm/index.js'
import type { LayerGraphs } from './pipeline.js'
import type { LayerDecl } from '../grammar/ast.js'

/** The name normc gives the backward layer of `layer` in `mode`. */
export function backwardName(layer: CheckedLayer, mode: 'train' | 'eval'): string {
  return layer.hasForward ? `${layer.decl.name}_grad` : `${layer.decl.name}_${mode}_grad`
}

export function backwardLayer(g: LayerGraphs): LayerDecl {
  const p = g.backward.program
  // Order: forward inputs, params, state, then the upstream gradients.
  const ordered = [
    ...p.inputs.filter((n) => n.role === 'input'),
    ...p.params,
    ...p.states,
    ...p.inputs.filter((n) => n.role === 'dy'),
  ]
  const comment = [
    `# The backward pass of ${g.layer.decl.name} (${g.layer.hasForward ? 'forward' : g.mode}), derived by normc.`,
    `# Outputs: the gradients of sum(y * dy) with respect to each input and param.`,
  ]
  return programToLayer(
    backwardName(g.layer, g.mode),
    g.layer,
    { inputs: ordered.map((n) => ({ name: n.name!, axes: n.axes })), outputs: p.outputs },
    comment,
  )
}
