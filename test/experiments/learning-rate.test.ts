// Experiment 3 in a short, seeded run: at lr 0.1 the 8-hidden-layer MLP trains with BatchNorm
// and does not without (it diverges, or its loss stays higher).

import { describe, expect, it } from 'vitest'
import { runLearningRate } from '../../experiments/learning-rate.js'
import { silentProgress } from '../../experiments/progress.js'

describe('experiments: learning-rate', () => {
  it('at lr 0.1, BatchNorm trains and the unnormalized network does not do better', () => {
    const r = runLearningRate({
      steps: 60,
      seed: 1,
      learningRates: [0.1],
      evaluations: 0,
      progress: silentProgress,
    })
    const none = r.runs.find((x) => x.norm === 'no normalization')!
    const bn = r.runs.find((x) => x.norm === 'BatchNorm')!
    expect(bn.divergedAt).toBeNull()
    expect(bn.finalTrainLoss).toBeLessThan(bn.loss[0]!)
    if (none.divergedAt === null) expect(bn.finalTrainLoss).toBeLessThan(none.finalTrainLoss)
  }, 60_000)
})
