// --order 2: the printed backward pass, differentiated again, against finite differences of the
// first derivative, for every example in every mode.

import { describe, expect, it } from 'vitest'
import { checkSources, example, failures } from './helpers.js'

const files = [
  'batchnorm1d',
  'batchnorm2d',
  'batchrenorm',
  'groupnorm',
  'instancenorm',
  'layernorm',
  'rmsnorm',
]

describe('second derivatives', { timeout: 60_000 }, () => {
  for (const f of files) {
    it(f, () => {
      const rows = checkSources([example(f)], { order: 2, trials: 2 })
      expect(failures(rows)).toEqual([])
      const second = rows.filter((r) => r.order === 2)
      // With respect to the inputs, the params and dy (the state stays frozen), in every mode.
      expect(second.length).toBeGreaterThanOrEqual(3)
      expect(second.every((r) => r.status === 'PASS')).toBe(true)
      expect(second.some((r) => r.wrt === 'dy')).toBe(true)
      expect(second.some((r) => /running|^mu$|^sigma$/.test(r.wrt))).toBe(false)
    })
  }

  it('Batch Renorm: the stop_gradient values of the printed backward are frozen too', () => {
    const rows = checkSources([example('batchrenorm')], { order: 2, trials: 1 })
    expect(rows.find((r) => r.order === 2 && r.mode === 'train' && r.wrt === 'x')!.check).toBe(
      'finite diff, 2nd order (surrogate)',
    )
  })
})
