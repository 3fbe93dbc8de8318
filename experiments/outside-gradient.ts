// Experiment 2 — normalization outside the gradient (Ioffe & Szegedy 2015, §2).
//
// The MLP 784 → 100 → 100 → 10 with, after each hidden linear layer (which has no bias of its
// own), the layer x̂ = u + b − E[u + b] of experiments/centering.norm, E the minibatch mean.
// It is trained once with the mean inside the gradient (MeanInGradient) and once with
// stop_gradient on it (MeanOutsideGradient), each (a) with every parameter trained and (b)
// with only b trained (the weights frozen at their seeded initialisation), which isolates the
// paper's thought experiment: the update to b is undone by the normalization, so the loss does
// not move while b grows.

import { dataDescription, iidSampler, mnistSplit } from './data.js'
import {
  EVAL_WEIGHT,
  lossWindow,
  runWork,
  tailMean,
  train,
  windows,
  type ExperimentOptions,
  type ExperimentResult,
  type Point,
} from './harness.js'
import { Mlp, l2, type NormKind } from './nn.js'
import { Rng } from './rng.js'
import { num, pct } from './table.js'

export const OUTSIDE_SETTINGS = {
  steps: 1000,
  seed: 1,
  hidden: [100, 100],
  batch: 32,
  lr: 0.01,
  momentum: 0.9,
}

export const VARIANTS = [
  { kind: 'mean-in-gradient', label: 'mean inside the gradient' },
  { kind: 'mean-outside-gradient', label: 'mean outside the gradient (stop_gradient)' },
] as const satisfies readonly { kind: NormKind; label: string }[]

export const TRAINED = [
  { id: 'all', label: 'all params' },
  { id: 'b-only', label: 'b only' },
] as const

export interface OutsideRun {
  variant: string
  trained: string
  /** ‖b‖ (both centering layers together) after every step. */
  bNorm: number[]
  /** Minibatch loss of every step. */
  loss: number[]
  /** Whether ‖b‖ grew at every step. */
  bGrewEveryStep: boolean
  /** The largest per-step |loss − loss of the mean-inside run with the same params trained|. */
  maxLossGapToMeanInside: number
  testAccuracy: number
  seconds: number
}

export interface OutsideOptions extends ExperimentOptions {
  /** Only these (default both): 'all', 'b-only'. */
  trained?: ('all' | 'b-only')[]
  /** Skip the final test evaluation (tests). */
  skipTest?: boolean
}

export function runOutsideGradient(o: OutsideOptions): ExperimentResult<OutsideRun[]> {
  const t0 = performance.now()
  const S = OUTSIDE_SETTINGS
  const steps = o.steps ?? S.steps
  const seed = o.seed ?? S.seed
  const trainedSets = TRAINED.filter((t) => !o.trained || o.trained.includes(t.id))
  const { train: trainSet, test } = mnistSplit()
  o.progress.start(
    trainedSets.length * VARIANTS.length * (runWork(steps, 0) + (o.skipTest ? 0 : EVAL_WEIGHT)),
  )
  const runs: OutsideRun[] = []
  const points: Point[] = []
  for (const trained of trainedSets) {
    let inside: number[] | undefined
    for (const variant of VARIANTS) {
      const net = new Mlp({ hidden: S.hidden, norm: variant.kind, seed, hiddenBias: false })
      if (trained.id === 'b-only')
        for (const p of net.params) p.trainable = p.name.startsWith('center')
      const bNorm: number[] = []
      const r = train({
        net,
        sampler: iidSampler(trainSet, new Rng(seed, 3)),
        batch: S.batch,
        steps,
        lr: S.lr,
        momentum: S.momentum,
        evalEvery: 0,
        afterStep: () => bNorm.push(Math.hypot(...net.norms.map((n) => l2(n.params.b!)))),
        progress: o.progress,
        label: `${variant.label}, ${trained.label}`,
      })
      let testAccuracy = NaN
      if (!o.skipTest) {
        testAccuracy = net.evaluate(test).accuracy
        o.progress.tick(variant.label, EVAL_WEIGHT)
      }
      if (variant.kind === 'mean-in-gradient') inside = r.loss
      const gap = inside ? Math.max(...r.loss.map((l, i) => Math.abs(l - inside![i]!))) : NaN
      runs.push({
        variant: variant.label,
        trained: trained.label,
        bNorm,
        loss: r.loss,
        bGrewEveryStep: bNorm.every((b, i) => i === 0 || b > bNorm[i - 1]!),
        maxLossGapToMeanInside: gap,
        testAccuracy,
        seconds: r.seconds,
      })
      const every = Math.max(1, Math.round(steps / 100))
      bNorm.forEach((b, i) => {
        if ((i + 1) % every === 0)
          points.push({ run: variant.label, panel: `b ${trained.id}`, step: i + 1, value: b })
      })
      for (const w of windows(r.loss, lossWindow(steps)))
        points.push({
          run: variant.label,
          panel: `loss ${trained.id}`,
          step: w.step,
          value: w.value,
        })
    }
  }
  o.progress.done()
  const at = (r: OutsideRun, f: number) =>
    r.bNorm[Math.max(0, Math.round(f * r.bNorm.length) - 1)] ?? NaN
  return {
    experiment: 'outside-gradient',
    title: 'Normalization outside the gradient: x̂ = u + b − E[u + b] (Ioffe & Szegedy 2015, §2)',
    config: { ...S, steps, seed },
    data: dataDescription(seed),
    runs,
    table: {
      columns: [
        'mean',
        'trained',
        '‖b‖ at 10%',
        '‖b‖ at 50%',
        '‖b‖ at end',
        '‖b‖ grew every step',
        'train loss (first 10%)',
        'train loss (last 10%)',
        'largest per-step loss gap to inside',
        'test acc.',
      ],
      rows: runs.map((r) => [
        r.variant.startsWith('mean inside') ? 'inside' : 'outside (stop_gradient)',
        r.trained,
        num(at(r, 0.1)),
        num(at(r, 0.5)),
        num(at(r, 1)),
        r.bGrewEveryStep ? 'yes' : r.bNorm.every((b) => b === 0) ? 'no (b stays 0)' : 'no',
        num(tailMean(r.loss.slice(0, Math.max(1, Math.round(r.loss.length / 10))), 1), 4),
        num(tailMean(r.loss, 0.1), 4),
        r.variant.startsWith('mean inside') ? '—' : num(r.maxLossGapToMeanInside, 2),
        pct(r.testAccuracy),
      ]),
    },
    points,
    seconds: (performance.now() - t0) / 1000,
  }
}
