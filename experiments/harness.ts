// The training loop shared by the experiments, and the shapes of their results.

import { allocBatch, type Dataset, type Sampler } from './data.js'
import type { Mlp } from './nn.js'
import type { Progress } from './progress.js'

export interface TrainOptions {
  net: Mlp
  sampler: Sampler
  batch: number
  steps: number
  lr: number
  momentum: number
  /** Evaluate on `test` every this many steps (and after the last step); 0: never. */
  evalEvery: number
  test?: Dataset
  /** Called before each step (1-based), e.g. to set a hyper schedule. */
  beforeStep?: (step: number) => void
  /** Called after each step with its minibatch loss. */
  afterStep?: (step: number, loss: number) => void
  /** A minibatch loss above this (or not finite) counts as divergence and ends the run. */
  divergeAbove?: number
  progress: Progress
  label: string
}

export interface Evaluation {
  step: number
  accuracy: number
  loss: number
}

export interface TrainResult {
  /** The minibatch loss of every step run. */
  loss: number[]
  evals: Evaluation[]
  /** The step whose loss exceeded the threshold (or was not finite), or null. */
  divergedAt: number | null
  seconds: number
}

/** What one evaluation costs, in progress units (steps), so that the bar moves evenly. */
export const EVAL_WEIGHT = 20

/**
 * How many progress units a run of `steps` steps will take, evaluated before the first step
 * and every `evalEvery` steps (0: never).
 */
export function runWork(steps: number, evalEvery: number): number {
  return steps + (evalEvery > 0 ? (1 + Math.ceil(steps / evalEvery)) * EVAL_WEIGHT : 0)
}

/**
 * Trains `net` for `steps` steps. With `evalEvery` > 0 and a test set, it is evaluated before
 * the first step, every `evalEvery` steps, after the last one, and at the step where it
 * diverged (if it did).
 */
export function train(o: TrainOptions): TrainResult {
  const t0 = performance.now()
  const batch = allocBatch(o.batch)
  const loss: number[] = []
  const evals: Evaluation[] = []
  const limit = o.divergeAbove ?? Infinity
  const total = runWork(o.steps, o.evalEvery)
  let done = 0
  const tick = (n: number) => {
    done += n
    o.progress.tick(o.label, n)
  }
  let divergedAt: number | null = null
  const evaluate = (step: number) => {
    if (!o.test || o.evalEvery <= 0) return
    evals.push({ step, ...o.net.evaluate(o.test) })
    tick(EVAL_WEIGHT)
  }
  evaluate(0)
  for (let step = 1; step <= o.steps; step++) {
    o.beforeStep?.(step)
    o.sampler(batch)
    const l = o.net.trainStep(batch, o.lr, o.momentum)
    loss.push(l)
    o.afterStep?.(step, l)
    tick(1)
    if (!(Math.abs(l) <= limit)) {
      divergedAt = step
      evaluate(step)
      break
    }
    if (step % o.evalEvery === 0 || step === o.steps) evaluate(step)
  }
  // A run that diverged skips the rest of its work: account for it.
  if (total > done) tick(total - done)
  return { loss, evals, divergedAt, seconds: (performance.now() - t0) / 1000 }
}

/** The width of the windows over which the charts average the minibatch loss (50 points). */
export function lossWindow(steps: number): number {
  return Math.max(1, Math.round(steps / 50))
}

/** Means of consecutive windows of `width` steps: [{ step: last step of the window, value }]. */
export function windows(values: number[], width: number): { step: number; value: number }[] {
  const out: { step: number; value: number }[] = []
  for (let start = 0; start < values.length; start += width) {
    const w = values.slice(start, start + width)
    out.push({ step: start + w.length, value: w.reduce((a, b) => a + b, 0) / w.length })
  }
  return out
}

/** The mean of the last `fraction` of the values (at least one). */
export function tailMean(values: number[], fraction: number): number {
  const k = Math.max(1, Math.round(values.length * fraction))
  const tail = values.slice(-k)
  return tail.reduce((a, b) => a + b, 0) / tail.length
}

/** One point of a chart's data: a value of a metric of a run at a step. */
export interface Point {
  run: string
  panel: string
  step: number
  value: number
}

export interface Table {
  columns: string[]
  rows: string[][]
}

export interface ExperimentResult<Runs = unknown> {
  experiment: string
  title: string
  /** The command-line options and every setting the runs used. */
  config: Record<string, unknown>
  /** The split and seeds. */
  data: Record<string, unknown>
  runs: Runs
  table: Table
  /** The chart's data. */
  points: Point[]
  /** Wall-clock seconds of training and evaluation. */
  seconds: number
  /** CPU seconds of the process over the same span (set by the command). */
  cpuSeconds?: number
}

export interface ExperimentOptions {
  steps?: number
  seed?: number
  progress: Progress
}
