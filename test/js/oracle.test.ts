// Every oracle case through the js target: f64 within 1e-9, f32 within 1e-4 relative on
// ordinary cases and 1e-2 on large-offset ones (the float32 inputs are exact; the error is
// the float32 rounding of outputs and a stable variance in float64 accumulators).

import { describe, expect, it } from 'vitest'
import { runStepJs } from '../../runtime/js/step.js'
import { loadExample } from '../helpers/examples.js'
import { expectMatchesOracle, loadOracleCases } from '../helpers/oracle.js'

describe('oracle cases on the js target', () => {
  for (const c of loadOracleCases().filter((x) => !x.expectError)) {
    for (const precision of ['f64', 'f32'] as const) {
      it(`${c.name} ${precision}`, () => {
        const layer = loadExample(c.example).find((l) => l.decl.name === c.layer)!
        const r = runStepJs(layer, c.mode, c.run, precision)
        const tol = precision === 'f64' ? 1e-9 : c.largeOffset ? 1e-2 : 1e-4
        expectMatchesOracle(r, c, tol)
      })
    }
  }
  it('refuses one value per channel in train, like the interpreter', () => {
    const c = loadOracleCases().find((x) => x.expectError)!
    const layer = loadExample(c.example).find((l) => l.decl.name === c.layer)!
    expect(() => runStepJs(layer, 'train', c.run, 'f64')).toThrow(
      /division by zero in size arithmetic/,
    )
  })
})
