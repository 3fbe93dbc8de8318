// Experiment 3 — higher learning rates (Bjorck, Gomes, Selman & Weinberger 2018,
// "Understanding Batch Normalization"): a deeper MLP, 784 → 8 × 100 → 10, with and without
// BatchNorm1d after each hidden linear layer, trained with SGD + momentum at learning rates
// 0.0001, 0.003 and 0.1. A run diverges when a minibatch loss exceeds 1e3 (or is not finite);
// it stops there.

import { dataDescription, iidSampler, mnistSplit } from './data.js'
import {
  lossWindow,
  runWork,
  tailMean,
  train,
  windows,
  type ExperimentOptions,
  type ExperimentResult,
  type Evaluation,
  type Point,
} from './harness.js'
import { Mlp, type NormKind } from './nn.js'
import { Rng } from './rng.js'
import { num, pct } from './table.js'

export const LR_SETTINGS = {
  steps: 400,
  seed: 1,
  hidden: [100, 100, 100, 100, 100, 100, 100, 100],
  batch: 32,
  momentum: 0.9,
  learningRates: [0.0001, 0.003, 0.1],
  divergeAbove: 1e3,
  evaluations: 5,
}

export const LR_NORMS = [
  { kind: 'none', label: 'no normalization' },
  { kind: 'batchnorm', label: 'BatchNorm' },
] as const satisfies readonly { kind: NormKind; label: string }[]

export interface LrRun {
  lr: number
  norm: string
  divergedAt: number | null
  evals: Evaluation[]
  loss: number[]
  finalTrainLoss: number
  finalAccuracy: number
  maxLoss: number
  seconds: number
}

export interface LrOptions extends ExperimentOptions {
  learningRates?: number[]
  evaluations?: number
}

export function runLearningRate(o: LrOptions): ExperimentResult<LrRun[]> {
  const t0 = performance.now()
  const S = LR_SETTINGS
  const steps = o.steps ?? S.steps
  const seed = o.seed ?? S.seed
  const lrs = o.learningRates ?? S.learningRates
  const evaluations = o.evaluations ?? S.evaluations
  const evalEvery = evaluations > 0 ? Math.max(1, Math.ceil(steps / evaluations)) : 0
  const { train: trainSet, test } = mnistSplit()
  o.progress.start(lrs.length * LR_NORMS.length * runWork(steps, evalEvery))
  const runs: LrRun[] = []
  const points: Point[] = []
  for (const lr of lrs) {
    for (const norm of LR_NORMS) {
      const net = new Mlp({ hidden: S.hidden, norm: norm.kind, seed })
      const r = train({
        net,
        sampler: iidSampler(trainSet, new Rng(seed, 3)),
        batch: S.batch,
        steps,
        lr,
        momentum: S.momentum,
        evalEvery,
        test,
        divergeAbove: S.divergeAbove,
        progress: o.progress,
        label: `${norm.label}, lr ${lr}`,
      })
      runs.push({
        lr,
        norm: norm.label,
        divergedAt: r.divergedAt,
        evals: r.evals,
        loss: r.loss,
        finalTrainLoss: r.divergedAt === null ? tailMean(r.loss, 0.1) : NaN,
        finalAccuracy: r.divergedAt === null ? (r.evals.at(-1)?.accuracy ?? NaN) : NaN,
        maxLoss: r.loss.reduce((a, b) => (Number.isNaN(b) ? Infinity : Math.max(a, b)), -Infinity),
        seconds: r.seconds,
      })
      for (const e of r.evals)
        points.push({ run: norm.label, panel: `acc ${lr}`, step: e.step, value: e.accuracy })
      for (const w of windows(r.loss, lossWindow(steps)))
        points.push({ run: norm.label, panel: `loss ${lr}`, step: w.step, value: w.value })
    }
  }
  o.progress.done()
  return {
    experiment: 'learning-rate',
    title: 'Higher learning rates with BatchNorm: an MLP with 8 hidden layers (Bjorck et al. 2018)',
    config: { ...S, steps, seed, learningRates: lrs, evaluations, evalEvery },
    data: dataDescription(seed),
    runs,
    table: {
      columns: [
        'lr',
        'layer',
        'diverged (loss > 1e3)',
        'train loss (last 10%)',
        'test acc. (final)',
        'max train loss',
        'time',
      ],
      rows: runs.map((r) => [
        String(r.lr),
        r.norm,
        r.divergedAt === null ? 'no' : `at step ${r.divergedAt}`,
        num(r.finalTrainLoss),
        pct(r.finalAccuracy),
        num(r.maxLoss),
        `${r.seconds.toFixed(1)} s`,
      ]),
    },
    points,
    seconds: (performance.now() - t0) / 1000,
  }
}
