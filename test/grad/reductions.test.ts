// The simplified backward makes the textbook number of full-size reductions: the passes over
// the large tensors an expert's hand-written backward makes.

import { describe, expect, it } from 'vitest'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { fullSizeReductions } from '../../compiler/ir/stats.js'
import { allExampleLayers } from '../helpers/examples.js'

const textbook: Record<string, number> = {
  BatchNorm2d: 2, // Σdy and Σdy·x̂ over [N, H, W], shared by dx, dγ, dβ
  BatchNorm1d: 2,
  BatchNorm2dNHWC: 2,
  BatchRenorm: 2,
  InstanceNorm2d: 2, // per-(n, c) Σdy and Σdy·x̂ over [H, W]; dγ, dβ sum those over N
  GroupNorm: 2, // per-(n, c) partial sums over [H, W]; per-group and per-channel sums follow
  LayerNorm: 4, // 2 over [D] for dx, 2 over [B] for dγ, dβ
  RMSNorm: 2,
}

describe('full-size reductions in the simplified backward', () => {
  for (const layer of allExampleLayers()) {
    it(`${layer.decl.name} train: ${textbook[layer.decl.name]}`, () => {
      const g = compileLayerGraphs(layer, 'train')
      const roots = g.backward.program.outputs.map((o) => o.node)
      expect(fullSizeReductions(roots, g.forward.inputs[0]!, layer.axes, true)).toHaveLength(
        textbook[layer.decl.name]!,
      )
    })
  }
  it('the unsimplified backward makes more (the simplifier is what gets there)', () => {
    const layer = allExampleLayers().find((l) => l.decl.name === 'BatchNorm2d')!
    const g = compileLayerGraphs(layer, 'train', { simplify: false })
    const roots = g.backward.program.outputs.map((o) => o.node)
    expect(
      fullSizeReductions(roots, g.forward.inputs[0]!, layer.axes, true).length,
    ).toBeGreaterThan(2)
  })
})
