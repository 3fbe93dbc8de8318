// `npm run experiment -- renorm|outside-gradient|learning-rate [--steps N] [--seed S] [--out DIR]`
//
// Trains the experiment's models on normc's compiled kernels (progress on stderr), prints the
// results table (Markdown) on stdout and writes DIR/NAME.svg (the chart) and DIR/NAME.json
// (every number) — DIR defaults to experiments/results. See examples/experiments/README.md.

import { mkdirSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { format, resolveConfig } from 'prettier'
import { curvesSpec, renderSvg, type ChartOptions } from './chart.js'
import { lossWindow, type ExperimentResult } from './harness.js'
import { LR_SETTINGS, runLearningRate } from './learning-rate.js'
import { OUTSIDE_SETTINGS, runOutsideGradient, TRAINED, VARIANTS } from './outside-gradient.js'
import { ProgressBar, type Progress } from './progress.js'
import { NORMS, REGIMES, RENORM_SETTINGS, runRenorm } from './renorm.js'
import { markdownTable } from './table.js'

export const EXPERIMENTS = ['renorm', 'outside-gradient', 'learning-rate'] as const
export type ExperimentName = (typeof EXPERIMENTS)[number]

export interface Args {
  experiment: ExperimentName
  steps?: number
  seed?: number
  out: string
}

const USAGE =
  'usage: npm run experiment -- renorm|outside-gradient|learning-rate [--steps N] [--seed S] [--out DIR]'

export function parseArgs(argv: string[]): Args | string {
  let experiment: ExperimentName | undefined
  let steps: number | undefined
  let seed: number | undefined
  let out = fileURLToPath(new URL('./results', import.meta.url))
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const value = (): string | undefined => {
      const eq = a.indexOf('=')
      return eq >= 0 ? a.slice(eq + 1) : argv[++i]
    }
    const flag = a.split('=')[0]
    if (flag === '--steps' || flag === '--seed') {
      const v = value()
      const n = Number(v)
      if (v === undefined || !Number.isInteger(n) || n < (flag === '--steps' ? 1 : 0))
        return `${flag} needs a ${flag === '--steps' ? 'positive' : 'non-negative'} integer, got '${v ?? ''}'`
      if (flag === '--steps') steps = n
      else seed = n
    } else if (flag === '--out') {
      const v = value()
      if (!v) return '--out needs a directory'
      out = v
    } else if (flag === '--help' || flag === '-h') {
      return USAGE
    } else if ((EXPERIMENTS as readonly string[]).includes(a) && !experiment) {
      experiment = a as ExperimentName
    } else {
      return `unknown argument '${a}'`
    }
  }
  if (!experiment) return 'which experiment? renorm, outside-gradient or learning-rate'
  return { experiment, steps, seed, out }
}

export function runExperiment(a: Args, progress: Progress): ExperimentResult {
  const o = { steps: a.steps, seed: a.seed, progress }
  switch (a.experiment) {
    case 'renorm':
      return runRenorm(o)
    case 'outside-gradient':
      return runOutsideGradient(o)
    case 'learning-rate':
      return runLearningRate(o)
  }
}

/** The chart of an experiment's result. */
export function chartOptions(r: ExperimentResult): ChartOptions {
  const steps = Number(r.config.steps)
  const seed = Number(r.config.seed)
  const sub = (s: string) => `${s}; ${steps} steps, seed ${seed}; normc f32 JS kernels`
  switch (r.experiment) {
    case 'renorm':
      return {
        title: r.title,
        subtitle: sub(
          `MLP 784-100-100-10, SGD lr ${RENORM_SETTINGS.lr} momentum ${RENORM_SETTINGS.momentum}; test accuracy in eval mode (moving averages)`,
        ),
        panels: [
          ...REGIMES.map((g) => ({
            panel: `acc ${g.id}`,
            title: `${g.label}: test accuracy`,
            yTitle: 'test accuracy (eval mode)',
          })),
          ...REGIMES.map((g) => ({
            panel: `loss ${g.id}`,
            title: `${g.label}: training loss (${lossWindow(steps)}-step means)`,
            yTitle: 'minibatch loss (train mode)',
            log: true,
          })),
        ].filter((p) => r.points.some((q) => q.panel === p.panel)),
        columns: 3,
        legendTitle: 'normalization',
        runs: NORMS.map((n) => n.label),
      }
    case 'outside-gradient':
      return {
        title: r.title,
        subtitle: sub(
          `MLP 784-100-100-10, batch ${OUTSIDE_SETTINGS.batch}, SGD lr ${OUTSIDE_SETTINGS.lr} momentum ${OUTSIDE_SETTINGS.momentum}`,
        ),
        panels: TRAINED.flatMap((t) => [
          { panel: `b ${t.id}`, title: `${t.label} trained: ‖b‖`, yTitle: '‖b‖ (both layers)' },
          {
            panel: `loss ${t.id}`,
            title: `${t.label} trained: training loss (${lossWindow(steps)}-step means)`,
            yTitle: 'minibatch loss',
            zero: true,
          },
        ]).filter((p) => r.points.some((q) => q.panel === p.panel)),
        columns: 2,
        legendTitle: 'the mean E[u + b]',
        runs: VARIANTS.map((v) => v.label),
      }
    case 'learning-rate': {
      const lrs = (r.config.learningRates as number[] | undefined) ?? LR_SETTINGS.learningRates
      return {
        title: r.title,
        subtitle: sub(
          `batch ${LR_SETTINGS.batch}, SGD momentum ${LR_SETTINGS.momentum}; a curve ends where its run diverged`,
        ),
        panels: [
          ...lrs.map((lr) => ({
            panel: `acc ${lr}`,
            title: `lr ${lr}: test accuracy`,
            yTitle: 'test accuracy',
            yDomain: [0, 1] as [number, number],
          })),
          ...lrs.map((lr) => ({
            panel: `loss ${lr}`,
            title: `lr ${lr}: training loss (${lossWindow(steps)}-step means)`,
            yTitle: 'minibatch loss',
            log: true,
          })),
        ],
        columns: lrs.length,
        legendTitle: 'normalization',
        runs: ['no normalization', 'BatchNorm'],
      }
    }
    default:
      throw new Error(`unknown experiment ${r.experiment}`)
  }
}

/** Writes NAME.svg and NAME.json into `dir`; returns their paths. */
export async function writeResults(
  r: ExperimentResult,
  dir: string,
): Promise<{ svg: string; json: string }> {
  mkdirSync(dir, { recursive: true })
  const svg = join(dir, `${r.experiment}.svg`)
  const json = join(dir, `${r.experiment}.json`)
  writeFileSync(svg, await renderSvg(curvesSpec(r.points, chartOptions(r))))
  writeFileSync(json, await toJson({ ...r, points: undefined }, json))
  return { svg, json }
}

/**
 * The JSON of a result: numbers rounded to 6 significant digits (integers kept), non-finite ones
 * as strings, laid out by Prettier with the repository's config (arrays of numbers fill lines).
 */
export async function toJson(value: unknown, file = 'result.json'): Promise<string> {
  const text = JSON.stringify(value, (_k, v: unknown) =>
    typeof v !== 'number' || Number.isInteger(v)
      ? v
      : Number.isFinite(v)
        ? Number(v.toPrecision(6))
        : String(v),
  )
  const config = (await resolveConfig(fileURLToPath(import.meta.url))) ?? {}
  return format(text, { ...config, filepath: file, parser: 'json' })
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  if (typeof args === 'string') {
    console.error(args === USAGE ? USAGE : `experiment: ${args}\n${USAGE}`)
    process.exit(args === USAGE ? 0 : 2)
  }
  const cpu0 = process.cpuUsage()
  const result = runExperiment(args, new ProgressBar(args.experiment))
  const cpu = process.cpuUsage(cpu0)
  result.cpuSeconds = (cpu.user + cpu.system) / 1e6
  console.log(`\n## ${result.title}\n`)
  console.log(markdownTable(result.table))
  const files = await writeResults(result, args.out)
  const rel = (p: string) => relative(process.cwd(), p) || p
  console.log(
    `\n${result.seconds.toFixed(1)} s of training and evaluation (wall clock; ${result.cpuSeconds.toFixed(1)} s of CPU time)`,
  )
  console.log(`wrote ${rel(files.svg)} and ${rel(files.json)}`)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main()
