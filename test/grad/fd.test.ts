// Derived gradients against float64 central finite differences, for every example layer and
// mode, with random non-constant cotangents (a plain sum(y) proves nothing for BatchNorm).

import { describe, expect, it } from 'vitest'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import type { CheckedLayer } from '../../compiler/check/index.js'
import { evaluate } from '../../runtime/interp.js'
import { maxScaledError, numericGradient } from '../../runtime/fd.js'
import { randomSizes, randomTensors, rng, type Variant } from '../../runtime/random.js'
import { bindHypers, bindSizes } from '../../runtime/sizes.js'
import type { RuleTable } from '../../compiler/grad/index.js'
import { allExampleLayers, modesOf } from '../helpers/examples.js'

/** The worst error of derived vs numerical gradients over every input and param. */
export function fdError(
  layer: CheckedLayer,
  mode: 'train' | 'eval',
  seed: number,
  variant: Variant = 'plain',
  rules?: RuleTable,
): number {
  const r = rng(seed)
  const hypers = bindHypers(layer, layer.axes.has('G') ? { groups: 2 } : {})
  const sizes = bindSizes(layer, randomSizes(layer, hypers, r), hypers)
  const { tensors, dys } = randomTensors(layer, sizes, r, variant)
  const g = compileLayerGraphs(layer, mode, rules ? { rules } : {})
  const all = new Map([...tensors, ...dys])
  const env = { sizes, tensors: all, hypers }
  const outs = g.forward.outputs.map((o) => o.node)
  const dyList = g.forward.outputs.map((_, i) => dys.get([...dys.keys()][i]!)!)
  const derived = evaluate(
    g.backward.program.outputs.map((o) => o.node),
    env,
  )
  let worst = 0
  g.backward.program.outputs.forEach((o, i) => {
    const wrt = g.backward.of.get(o.name)!
    const num = numericGradient(outs, dyList, env, wrt, { surrogate: true })
    worst = Math.max(worst, maxScaledError(derived[i]!, num).err)
  })
  return worst
}

describe('derived gradients vs finite differences', () => {
  for (const layer of allExampleLayers()) {
    for (const mode of modesOf(layer)) {
      it(`${layer.decl.name} ${mode}`, () => {
        for (const seed of [1, 2, 3]) expect(fdError(layer, mode, seed)).toBeLessThan(1e-6)
        expect(fdError(layer, mode, 4, 'constant')).toBeLessThan(1e-6)
      })
    }
  }
})
