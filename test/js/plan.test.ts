// The kernel plan of every example makes the minimum number of passes over the full-size
// tensors: train forward reads x twice and writes y; eval forward reads x once; backward reads
// x and dy twice and writes dx.

import { describe, expect, it } from 'vitest'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { planLayer, passCount } from '../../compiler/schedule/index.js'
import { stepTraffic } from '../../compiler/schedule/traffic.js'
import { allExampleLayers, modesOf } from '../helpers/examples.js'

describe('kernel plans are at the traffic minimum', () => {
  for (const layer of allExampleLayers()) {
    for (const mode of modesOf(layer)) {
      it(`${layer.decl.name} ${mode}`, () => {
        const plan = planLayer(compileLayerGraphs(layer, mode))
        for (const step of [plan.forward, plan.backward]) {
          const t = stepTraffic(plan, step)
          expect(t.tensorsMoved, step.name).toBe(t.minimumTensorsMoved)
          expect(passCount(step), step.name).toBe(t.minimumPasses)
        }
        // Nothing full-size is saved between forward and backward.
        for (const s of plan.forward.saved)
          expect(s.axes.length).toBeLessThan(plan.fullSpace.length)
      })
    }
  }
  it('BatchNorm train: 2 + 2 passes; eval forward: 1', () => {
    const bn = allExampleLayers().find((l) => l.decl.name === 'BatchNorm2d')!
    const train = planLayer(compileLayerGraphs(bn, 'train'))
    expect([passCount(train.forward), passCount(train.backward)]).toEqual([2, 2])
    expect(passCount(planLayer(compileLayerGraphs(bn, 'eval')).forward)).toBe(1)
  })
})
