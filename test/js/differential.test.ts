// The js target against the float64 interpreter on random inputs and sizes, for every example
// and mode (fast-check drives sizes and data).

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { runStepInterp } from '../../runtime/step.js'
import { runStepJs } from '../../runtime/js/step.js'
import { allExampleLayers, modesOf, randomExampleCase } from '../helpers/examples.js'
import { maxRelError } from '../helpers/oracle.js'

describe('js target = interpreter on random inputs', () => {
  for (const layer of allExampleLayers()) {
    for (const mode of modesOf(layer)) {
      it(`${layer.decl.name} ${mode}`, () => {
        fc.assert(
          fc.property(
            fc.integer({ min: 1, max: 1e9 }),
            fc.constantFrom('plain' as const, 'offset' as const, 'constant' as const),
            (seed, variant) => {
              const c = randomExampleCase(layer, seed, variant, {
                min: 2,
                max: 6,
                round: variant !== 'plain',
              })
              const ref = runStepInterp(layer, mode, c)
              const f64 = runStepJs(layer, mode, c, 'f64')
              const f32 = runStepJs(layer, mode, c, 'f32')
              for (const [k, v] of Object.entries(ref.outputs)) {
                expect(maxRelError(f64.outputs[k]!, v)).toBeLessThan(1e-9)
                expect(maxRelError(f32.outputs[k]!, v)).toBeLessThan(
                  variant === 'offset' ? 1e-2 : 1e-4,
                )
              }
              for (const [k, v] of Object.entries(ref.grads!)) {
                expect(maxRelError(f64.grads![k]!, v)).toBeLessThan(
                  variant === 'offset' ? 1e-6 : 1e-9,
                )
                expect(maxRelError(f32.grads![k]!, v)).toBeLessThan(
                  variant === 'offset' ? 1e-2 : 1e-3,
                )
              }
              for (const [k, v] of Object.entries(ref.state))
                expect(maxRelError(f64.state[k]!, v)).toBeLessThan(1e-9)
            },
          ),
          { numRuns: 15, seed: 42 },
        )
      })
    }
  }
})
