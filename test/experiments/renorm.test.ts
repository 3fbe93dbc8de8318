// Experiment 1 in short, seeded runs: Batch Renorm's schedule goes through runtime hypers, its
// warm-up is BatchNorm, and on small non-i.i.d. minibatches it generalises better in eval mode.

import { describe, expect, it } from 'vitest'
import { mnistSplit, twoClassSampler } from '../../experiments/data.js'
import { train } from '../../experiments/harness.js'
import { Mlp } from '../../experiments/nn.js'
import { silentProgress } from '../../experiments/progress.js'
import { renormSchedule, runRenorm } from '../../experiments/renorm.js'
import { Rng } from '../../experiments/rng.js'

describe('experiments: renorm', () => {
  it('the schedule: BN-equivalent warm-up, then rmax → 3 and dmax → 5', () => {
    expect(renormSchedule(1, 1000)).toEqual({ rmax: 1, dmax: 0 })
    expect(renormSchedule(100, 1000)).toEqual({ rmax: 1, dmax: 0 })
    const mid = renormSchedule(175, 1000)
    expect(mid.rmax).toBeGreaterThan(1)
    expect(mid.rmax).toBeLessThan(3)
    expect(mid.dmax).toBeCloseTo(2.5)
    expect(renormSchedule(400, 1000)).toEqual({ rmax: 3, dmax: 5 })
    expect(renormSchedule(1000, 1000)).toEqual({ rmax: 3, dmax: 5 })
  })

  it('with rmax = 1, dmax = 0 Batch Renorm trains exactly like BatchNorm; relaxed, it does not', () => {
    const { train: data } = mnistSplit()
    const losses = (norm: 'batchnorm' | 'batchrenorm', relaxAfter: number) => {
      // The same eps, init and minibatches; the moving averages differ (and do not matter
      // while r = 1 and d = 0).
      const net = new Mlp({ hidden: [100, 100], norm, seed: 3, normHyper: { eps: 1e-5 } })
      return train({
        net,
        sampler: twoClassSampler(data, new Rng(3, 3)),
        batch: 8,
        steps: 30,
        lr: 0.01,
        momentum: 0.9,
        evalEvery: 0,
        beforeStep: (step) => {
          if (norm !== 'batchrenorm') return
          net.setNormHyper('rmax', step > relaxAfter ? 3 : 1)
          net.setNormHyper('dmax', step > relaxAfter ? 5 : 0)
        },
        progress: silentProgress,
        label: norm,
      }).loss
    }
    const bn = losses('batchnorm', 0)
    const brn = losses('batchrenorm', 15)
    for (let i = 0; i < 15; i++) expect(Math.abs(brn[i]! - bn[i]!)).toBeLessThan(1e-4)
    const gaps = bn.slice(15).map((l, i) => Math.abs(l - brn[15 + i]!))
    expect(Math.max(...gaps)).toBeGreaterThan(1e-2)
  }, 60_000)

  it('on minibatches of 4 from two classes, Batch Renorm beats BatchNorm in eval mode', () => {
    const r = runRenorm({
      steps: 60,
      seed: 1,
      regimes: ['non-iid-4'],
      evaluations: 1,
      progress: silentProgress,
    })
    const [bn, brn] = r.runs
    expect(bn!.norm).toBe('BatchNorm')
    expect(brn!.norm).toBe('Batch Renorm')
    expect(brn!.finalAccuracy).toBeGreaterThan(bn!.finalAccuracy)
  }, 60_000)
})
