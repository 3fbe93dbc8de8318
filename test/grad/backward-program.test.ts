// The derived backward pass is a program: it prints as a .norm layer that lints clean, runs to
// the same numbers as the derived gradient, and can itself be differentiated (double backward).

import { describe, expect, it } from 'vitest'
import { backwardLayer } from '../../compiler/backward.js'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { printLayer } from '../../compiler/print/index.js'
import { frontend } from '../../compiler/frontend.js'
import { evaluate } from '../../runtime/interp.js'
import { randomSizes, randomTensors, rng } from '../../runtime/random.js'
import { bindHypers, bindSizes } from '../../runtime/sizes.js'
import { allExampleLayers, modesOf } from '../helpers/examples.js'
import { fdError } from './fd.test.js'

describe('normc grad output', () => {
  for (const layer of allExampleLayers()) {
    for (const mode of modesOf(layer)) {
      it(`${layer.decl.name} ${mode}: prints, lints clean and runs to the same numbers`, () => {
        const g = compileLayerGraphs(layer, mode)
        const text = printLayer(backwardLayer(g))
        const fe = frontend([{ file: 'derived.norm', text }])
        expect(fe.diagnostics.filter((d) => d.severity === 'error')).toEqual([])
        const derived = fe.layers[0]!
        expect(derived.outputs.map((o) => o.name)).toEqual(
          g.backward.program.outputs.map((o) => o.name),
        )
        // Same inputs through both.
        const r = rng(7)
        const hypers = bindHypers(layer, layer.axes.has('G') ? { groups: 2 } : {})
        const sizes = bindSizes(layer, randomSizes(layer, hypers, r), hypers)
        const { tensors, dys } = randomTensors(layer, sizes, r)
        const env = { sizes, tensors: new Map([...tensors, ...dys]), hypers }
        const direct = evaluate(
          g.backward.program.outputs.map((o) => o.node),
          env,
        )
        const g2 = compileLayerGraphs(derived, 'train')
        const again = evaluate(
          g2.forward.outputs.map((o) => o.node),
          env,
        )
        direct.forEach((d, i) => {
          const a = again[i]!
          expect(a.length).toBe(d.length)
          for (let k = 0; k < d.length; k++)
            expect(Math.abs(a[k]! - d[k]!)).toBeLessThanOrEqual(
              1e-12 * Math.max(1, Math.abs(d[k]!)),
            )
        })
      })
    }
  }
})

describe('double backward', () => {
  for (const name of ['BatchNorm2d', 'LayerNorm', 'BatchRenorm']) {
    it(`${name}: second derivatives match finite differences of the first`, () => {
      const layer = allExampleLayers().find((l) => l.decl.name === name)!
      const g = compileLayerGraphs(layer, 'train')
      const fe = frontend([{ file: 'derived.norm', text: printLayer(backwardLayer(g)) }])
      const derived = fe.layers[0]!
      for (const seed of [11, 12]) expect(fdError(derived, 'train', seed)).toBeLessThan(1e-6)
    })
  }
})

describe('normc grad output with a free axis', () => {
  it('does not declare the free axis again (it is an input axis of the derived layer)', () => {
    const src =
      'layer Lin(x: [B, D]) -> y {\n  axis H\n  param W: [D, H] = 0\n\n  forward {\n    y = sum(x * W, [D])\n  }\n}\n'
    const layer = frontend([{ file: 'lin.norm', text: src }]).layers[0]!
    const text = printLayer(backwardLayer(compileLayerGraphs(layer, 'train')))
    const fe = frontend([{ file: 'derived.norm', text }])
    expect(fe.diagnostics.filter((d) => d.severity === 'error')).toEqual([])
    expect(fe.layers[0]!.outputs.map((o) => o.name)).toEqual(['dx', 'dW'])
  })
})
