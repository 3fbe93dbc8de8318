// A planted wrong derivative rule must be caught: by the oracle and by finite differences.

import { describe, expect, it } from 'vitest'
import { rules, type RuleTable } from '../../compiler/grad/index.js'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { evaluate } from '../../runtime/interp.js'
import { bindCase } from '../../runtime/step.js'
import { allExampleLayers, loadExample } from '../helpers/examples.js'
import { loadOracleCases, maxRelError } from '../helpers/oracle.js'
import { fdError } from './fd.test.js'

// mean's adjoint without the 1/m: the classic slip.
const wrongMean: RuleTable = { ...rules, mean: (n, g, b) => [b.broadcast(g, n.args[0]!.axes)] }
// sqrt's adjoint without the factor 1/2.
const wrongSqrt: RuleTable = { ...rules, sqrt: (n, g, b) => [b.div(g, n)] }

describe('planted wrong rules are caught', () => {
  it('mean without 1/m fails finite differences on BatchNorm2d and LayerNorm', () => {
    const layers = allExampleLayers()
    for (const name of ['BatchNorm2d', 'LayerNorm']) {
      const l = layers.find((x) => x.decl.name === name)!
      expect(fdError(l, 'train', 1)).toBeLessThan(1e-6)
      expect(fdError(l, 'train', 1, 'plain', wrongMean)).toBeGreaterThan(1e-3)
    }
  })
  it('sqrt without 1/2 fails the oracle on BatchNorm2d', () => {
    const c = loadOracleCases().find((x) => x.name === 'bn2d_train_4x3x5x5')!
    const layer = loadExample(c.example).find((l) => l.decl.name === c.layer)!
    const check = (table?: RuleTable) => {
      const g = compileLayerGraphs(layer, 'train', table ? { rules: table } : {})
      const bound = bindCase(layer, c.run)
      const [dx] = evaluate([g.backward.program.outputs[0]!.node], bound)
      return maxRelError(dx!, c.expected.grads.x!)
    }
    expect(check()).toBeLessThan(1e-9)
    expect(check(wrongSqrt)).toBeGreaterThan(1e-3)
  })
})
