// Every PyTorch float64 oracle case, reproduced by the interpreter through the example layers.

import { describe, expect, it } from 'vitest'
import { NormcError } from '../../compiler/diagnostics.js'
import { runStepInterp } from '../../runtime/step.js'
import { loadExample } from '../helpers/examples.js'
import { loadOracleCases, maxRelError } from '../helpers/oracle.js'

const cases = loadOracleCases()

describe('oracle cases on the float64 interpreter', () => {
  it('finds the oracle cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(11)
  })
  for (const c of cases) {
    it(c.name, () => {
      const layer = loadExample(c.example).find((l) => l.decl.name === c.layer)!
      if (c.expectError) {
        expect(() => runStepInterp(layer, c.mode, c.run)).toThrowError(NormcError)
        try {
          runStepInterp(layer, c.mode, c.run)
        } catch (e) {
          expect((e as NormcError).line()).toMatch(
            /batchnorm2d\.norm:\d+:\d+: error: division by zero in size arithmetic/,
          )
        }
        // The same input is fine in eval mode.
        expect(() => runStepInterp(layer, 'eval', c.run)).not.toThrow()
        return
      }
      const r = runStepInterp(layer, c.mode, c.run)
      for (const [k, v] of Object.entries(c.expected.outputs))
        expect(maxRelError(r.outputs[k]!, v), k).toBeLessThan(1e-9)
      for (const [k, v] of Object.entries(c.expected.grads))
        expect(maxRelError(r.grads![k]!, v), 'd' + k).toBeLessThan(1e-9)
      for (const [k, v] of Object.entries(c.expected.state))
        expect(maxRelError(r.state[k]!, v), k).toBeLessThan(1e-9)
      if (c.raw.expected_no_stop_gradient) {
        // Honouring stop_gradient is what makes the match: the no-stop-gradient answer differs.
        expect(maxRelError(r.grads!.x!, c.raw.expected_no_stop_gradient.dx)).toBeGreaterThan(1e-3)
      }
    })
  }
})
