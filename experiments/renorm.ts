// Experiment 1 — Batch Renormalization vs BatchNorm on small, non-i.i.d. minibatches
// (Ioffe 2017, §4.2–4.3).
//
// The MLP 784 → 100 → 100 → 10 with BatchNorm1d or BatchRenorm (examples/) after each hidden
// linear layer is trained on minibatches of 4 or 8 examples drawn from only two classes each,
// and, as the reference where both should do well, on i.i.d. minibatches of 32. Test accuracy
// is measured in eval mode, i.e. with the running statistics. Batch Renorm follows the paper's
// schedule through runtime hypers (setHyper), not compile-time constants: rmax = 1, dmax = 0
// (exactly BatchNorm) for a warm-up, then rmax relaxed linearly to 3 and dmax to 5.

import { dataDescription, iidSampler, mnistSplit, twoClassSampler } from './data.js'
import {
  lossWindow,
  runWork,
  tailMean,
  train,
  windows,
  type ExperimentOptions,
  type ExperimentResult,
  type Point,
  type TrainResult,
} from './harness.js'
import { Mlp } from './nn.js'
import { Rng } from './rng.js'
import { num, pct } from './table.js'

export interface Regime {
  id: string
  label: string
  batch: number
  /** 'two-class': each minibatch from two classes; 'iid': uniformly shuffled. */
  sampling: 'two-class' | 'iid'
}

export const REGIMES: Regime[] = [
  { id: 'non-iid-4', label: 'non-i.i.d., batch 4', batch: 4, sampling: 'two-class' },
  { id: 'non-iid-8', label: 'non-i.i.d., batch 8', batch: 8, sampling: 'two-class' },
  { id: 'iid-32', label: 'i.i.d., batch 32', batch: 32, sampling: 'iid' },
]

export const NORMS = [
  { kind: 'batchnorm', label: 'BatchNorm' },
  { kind: 'batchrenorm', label: 'Batch Renorm' },
] as const

export const RENORM_SETTINGS = {
  steps: 1000,
  seed: 1,
  hidden: [100, 100],
  lr: 0.01,
  momentum: 0.9,
  /** The moving-average rate of both layers (lerp weight of the new minibatch statistic). */
  movingAverageRate: 0.01,
  /** Evaluations per run (evenly spaced, the last after the last step). */
  evaluations: 10,
  /** Batch Renorm schedule, as fractions of the run: BN-equivalent until `warmup`, then
   * dmax rises linearly to its maximum at `dmaxAt` and rmax at `rmaxAt`. */
  schedule: { warmup: 0.1, dmaxAt: 0.25, rmaxAt: 0.4, rmax: 3, dmax: 5 },
}

/** rmax and dmax at a step (1-based) of a run of `steps` steps. */
export function renormSchedule(
  step: number,
  steps: number,
  s = RENORM_SETTINGS.schedule,
): { rmax: number; dmax: number } {
  const f = step / steps
  if (f <= s.warmup) return { rmax: 1, dmax: 0 }
  const ramp = (end: number) => Math.min(1, (f - s.warmup) / (end - s.warmup))
  return { rmax: 1 + (s.rmax - 1) * ramp(s.rmaxAt), dmax: s.dmax * ramp(s.dmaxAt) }
}

export interface RenormRun {
  regime: string
  batch: number
  norm: string
  evals: TrainResult['evals']
  /** Minibatch losses (train mode), every step. */
  loss: number[]
  finalAccuracy: number
  /** Mean test accuracy of the last three evaluations (the curves are noisy). */
  lateAccuracy: number
  /** Mean minibatch loss over the last 10% of steps. */
  finalTrainLoss: number
  seconds: number
}

export interface RenormOptions extends ExperimentOptions {
  /** Only these regimes (ids); default all. */
  regimes?: string[]
  /** Overrides of the Batch Renorm layer's hypers (e.g. eps, for tests). */
  renormHyper?: Record<string, number>
  evaluations?: number
}

export function runRenorm(o: RenormOptions): ExperimentResult<RenormRun[]> {
  const t0 = performance.now()
  const S = RENORM_SETTINGS
  const steps = o.steps ?? S.steps
  const seed = o.seed ?? S.seed
  const evaluations = o.evaluations ?? S.evaluations
  const evalEvery = Math.max(1, Math.ceil(steps / evaluations))
  const regimes = REGIMES.filter((r) => !o.regimes || o.regimes.includes(r.id))
  const { train: trainSet, test } = mnistSplit()
  o.progress.start(regimes.length * NORMS.length * runWork(steps, evalEvery))
  const runs: RenormRun[] = []
  const points: Point[] = []
  for (const regime of regimes) {
    for (const norm of NORMS) {
      const net = new Mlp({
        hidden: S.hidden,
        norm: norm.kind,
        seed,
        normHyper: {
          momentum: S.movingAverageRate,
          ...(norm.kind === 'batchrenorm' ? o.renormHyper : {}),
        },
      })
      // The same minibatches for both layers: the sampler's stream depends on the regime only.
      const rng = new Rng(seed, 3)
      const sampler =
        regime.sampling === 'iid' ? iidSampler(trainSet, rng) : twoClassSampler(trainSet, rng)
      const r = train({
        net,
        sampler,
        batch: regime.batch,
        steps,
        lr: S.lr,
        momentum: S.momentum,
        evalEvery,
        test,
        beforeStep:
          norm.kind === 'batchrenorm'
            ? (step) => {
                const { rmax, dmax } = renormSchedule(step, steps)
                net.setNormHyper('rmax', rmax)
                net.setNormHyper('dmax', dmax)
              }
            : undefined,
        progress: o.progress,
        label: `${norm.label}, ${regime.label}`,
      })
      const accs = r.evals.map((e) => e.accuracy)
      runs.push({
        regime: regime.label,
        batch: regime.batch,
        norm: norm.label,
        evals: r.evals,
        loss: r.loss,
        finalAccuracy: accs.at(-1) ?? NaN,
        lateAccuracy: tailMean(accs, 3 / accs.length),
        finalTrainLoss: tailMean(r.loss, 0.1),
        seconds: r.seconds,
      })
      for (const e of r.evals)
        points.push({ run: norm.label, panel: `acc ${regime.id}`, step: e.step, value: e.accuracy })
      for (const w of windows(r.loss, lossWindow(steps)))
        points.push({ run: norm.label, panel: `loss ${regime.id}`, step: w.step, value: w.value })
    }
  }
  o.progress.done()
  return {
    experiment: 'renorm',
    title: 'Batch Renorm vs BatchNorm on small, non-i.i.d. minibatches (Ioffe 2017)',
    config: {
      ...S,
      steps,
      seed,
      evaluations,
      evalEvery,
      regimes,
      renormHyper: o.renormHyper ?? {},
    },
    data: dataDescription(seed),
    runs,
    table: {
      columns: [
        'minibatches',
        'layer',
        'test acc. (final)',
        'test acc. (last 3 evals)',
        'train loss (last 10%)',
        'time',
      ],
      rows: runs.map((r) => [
        r.regime,
        r.norm,
        pct(r.finalAccuracy),
        pct(r.lateAccuracy),
        num(r.finalTrainLoss),
        `${r.seconds.toFixed(1)} s`,
      ]),
    },
    points,
    seconds: (performance.now() - t0) / 1000,
  }
}
