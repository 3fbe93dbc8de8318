// Experiment 2 in short, seeded runs: with the mean outside the gradient, b grows at every
// step and the loss does not notice; with the mean inside, b does not move.

import { describe, expect, it } from 'vitest'
import { runOutsideGradient } from '../../experiments/outside-gradient.js'
import { silentProgress } from '../../experiments/progress.js'

describe('experiments: outside-gradient', () => {
  it('b grows monotonically with the stopped mean and stays put without; the loss is unchanged', () => {
    const r = runOutsideGradient({
      steps: 30,
      seed: 1,
      trained: ['b-only', 'all'],
      skipTest: true,
      progress: silentProgress,
    })
    const run = (mean: 'inside' | 'outside', trained: string) =>
      r.runs.find((x) => x.variant.startsWith(`mean ${mean}`) && x.trained === trained)!
    for (const trained of ['b only', 'all params']) {
      const inside = run('inside', trained)
      const outside = run('outside', trained)
      expect(inside.bNorm).toHaveLength(30)
      // With the mean inside the gradient, b's gradient is zero: b stays bounded (at 0).
      expect(Math.max(...inside.bNorm)).toBeLessThan(1e-6)
      // Outside, ‖b‖ grows at every step.
      expect(outside.bGrewEveryStep).toBe(true)
      expect(outside.bNorm.at(-1)!).toBeGreaterThan(10 * outside.bNorm[2]!)
    }
    // Training b alone changes nothing the loss can see: step for step, the same losses.
    expect(run('outside', 'b only').maxLossGapToMeanInside).toBeLessThan(1e-4)
  }, 60_000)
})
