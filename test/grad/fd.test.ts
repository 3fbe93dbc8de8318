// Derived gradients against float64 central finite differences, for every example layer and
// mode, with random non-constant cotangents (a plain sum(y) proves nothing for BatchNorm).

import { describe, expect, it } from 'vitest'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import type { CheckedLayer } from '../../compiler/check/index.js'
import { evaluate } from '../../runtime/interp.js'
import { maxScaledError, numericGradient, stepScale } from '../../runtime/fd.js'
import { randomSizes, randomTensors, rng, type Variant } from '../../runtime/random.js'
import { bindHypers, bindSizes } from '../../runtime/sizes.js'
import type { RuleTable } from '../../compiler/grad/index.js'
import { allExampleLayers, loadExample, modesOf } from '../helpers/examples.js'
import { loadOracleCases, maxRelError } from '../helpers/oracle.js'

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
        // Inputs at a 1e4 offset: the step is capped by the spread of the data (was a step of
        // 1, as large as the noise, and an error of O(1)). spec/tolerances.md: ≤ 2.1e-6.
        expect(fdError(layer, mode, 5, 'offset')).toBeLessThan(1e-5)
      })
    }
  }
})

describe('finite differences at a large offset (known issue, fixed)', () => {
  it('the oracle case layernorm_large_offset: finite differences agree with the derived gradient and PyTorch', () => {
    const c = loadOracleCases().find((x) => x.name === 'layernorm_large_offset_6x10')!
    const layer = loadExample(c.example).find((l) => l.decl.name === c.layer)!
    const g = compileLayerGraphs(layer, c.mode)
    const hypers = bindHypers(layer, c.run.hyper)
    const sizes = bindSizes(layer, c.run.axes, hypers)
    const dy = c.run.dy as Float64Array
    const dyName = g.backward.program.inputs.find((n) => n.role === 'dy')!.name!
    const tensors = new Map<string, Float64Array>([...Object.entries(c.run.inputs), [dyName, dy]])
    for (const t of layer.params)
      if (!tensors.has(t.name)) tensors.set(t.name, new Float64Array(sizes.get('D')!).fill(t.init!))
    const env = { sizes, tensors, hypers }
    const x = tensors.get('x')!
    expect(Math.min(...x)).toBeGreaterThan(9000)
    const derived = evaluate(
      g.backward.program.outputs.map((o) => o.node),
      env,
    )
    const outs = g.forward.outputs.map((o) => o.node)
    g.backward.program.outputs.forEach((o, i) => {
      const wrt = g.backward.of.get(o.name)!
      const num = numericGradient(outs, [dy], env, wrt, { surrogate: true })
      expect(maxScaledError(derived[i]!, num).err, wrt).toBeLessThan(1e-6)
      expect(maxRelError(num, c.expected.grads[wrt]!), wrt).toBeLessThan(1e-6)
    })
    // The step that was taken before (1e-4 · max(1, |x|) = 1 here) is off by O(1).
    const coarse = numericGradient(outs, [dy], env, 'x', {
      surrogate: true,
      step: 1,
      absolute: true,
    })
    expect(maxScaledError(derived[0]!, coarse).err).toBeGreaterThan(0.1)
  })

  it('the step: the magnitude, capped at 10 spreads, at least 1', () => {
    expect([...stepScale([1e4 + 0.5, 1e4 - 0.5, 1e4])]).toEqual([5, 5, 5])
    expect([...stepScale([0.25, -3, 2])]).toEqual([1, 3, 2])
    // No spread (a constant, a scalar): the magnitude, as before.
    expect([...stepScale([7, 7])]).toEqual([1, 1])
    expect([...stepScale([0.5])]).toEqual([1])
    // The spread is over the finite elements (a NaN element's difference is NaN anyway).
    expect([...stepScale([NaN, 1e4, 1e4 + 2])].slice(1)).toEqual([10, 10])
  })
})
