// The benchmark harness: sets up every implementation on a layer, measures its memory, cross-
// checks its outputs against the hand-written loops, then times each pass with the
// implementations interleaved run by run (each repetition runs every implementation once, in an
// order rotated from repetition to repetition) so that their ratios hold on a noisy machine.
// Passes may be asynchronous (normc's GPU target): a pass that returns a Promise is awaited inside
// its timed region; a synchronous one is timed exactly as before (nothing is awaited). On a
// terminal, a progress line (layer, phase, pass, implementation, repetition k of n) is redrawn
// below the running log (cli/progress.ts); elsewhere the log is plain lines.

import { cpus, loadavg } from 'node:os'
import { runInNewContext } from 'node:vm'
import { setFlagsFromString } from 'node:v8'
import { createProgress, type Progress, type ProgressOptions } from '../cli/progress.js'
import type { Impl, Outputs, PassResult, RanOn, Runner, SelfReport } from './impl.js'
import { makeLayerCase, PASSES, type LayerCase, type LayerId, type Pass } from './layers.js'
import { relErr, summarize, type Summary } from './stats.js'

export type { Impl, RanOn, Runner } from './impl.js'

/** The cross-check's default tolerance (largest relative error; float32 storage). */
export const DEFAULT_TOLERANCE = 1e-3

export interface HarnessOptions {
  layers: readonly LayerId[]
  passes?: readonly Pass[]
  /** Timed runs per implementation and pass (capped per implementation by Impl.maxRuns). */
  runs: number
  /** Warm-up runs per implementation and pass (Impl.warmup overrides). */
  warmup: number
  quick?: boolean
  impls: readonly Impl[]
  /** The implementation the others are compared with (default 'hand'). */
  baseline?: string
  /** Measure memory and ask implementations for their self-reports (default true). */
  memory?: boolean
  /** Run the garbage collector (untimed) before every timed run (default true). */
  gcBetween?: boolean
  /**
   * Where the running log goes (default console.log). While a progress line is shown (on a
   * terminal), log lines are written through it instead, above the indicator, on its stream.
   */
  log?: (line: string) => void
  /**
   * The progress indicator's options (default: drawn on process.stdout, where the log goes, only
   * when that is a terminal). `{ enabled: false }` turns it off.
   */
  progress?: ProgressOptions
  /** The cross-check's tolerance when an Impl names none (default DEFAULT_TOLERANCE). */
  tolerance?: number
  /** The clock for timed runs, ms (default performance.now; tests pass a fake one). */
  now?: () => number
}

export interface MemoryResult {
  /** Peak process RSS above the level before setup, MB (sampled after setup and each pass). */
  rssMB: number
  /** Peak ArrayBuffer memory above the level before setup, MB. */
  arrayBuffersMB: number
  /** Self-reports per pass (TF.js: tf.profile's peak tensor bytes and kernel count). */
  self?: Partial<Record<Pass, SelfReport>>
}

export interface ImplResult {
  name: string
  label: string
  kind: 'impl' | 'floor'
  passes: Partial<Record<Pass, Summary>>
  memory?: MemoryResult
  /** Largest relative error of each output against the baseline (cross-check). */
  check?: Record<string, number>
  /** The tolerance the cross-check applied, and whether every output was within it. */
  tolerance?: number
  checkOk?: boolean
  /** Where it actually ran (GPU backends; see Runner.ran). */
  ran?: RanOn
}

export interface LayerResult {
  id: LayerId
  label: string
  shape: number[]
  layout: string
  elements: number
  traffic: LayerCase['traffic']
  impls: ImplResult[]
}

export interface Results {
  meta: Record<string, unknown>
  options: { runs: number; warmup: number; quick: boolean; passes: Pass[]; gcBetween: boolean }
  layers: LayerResult[]
}

// ---------------------------------------------------------------------------------------------

/** The garbage collector, exposed even without --expose-gc. */
export function getGc(): (() => void) | undefined {
  const g = globalThis as { gc?: () => void }
  if (typeof g.gc === 'function') return g.gc
  try {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as unknown
    if (typeof gc === 'function') return gc as () => void
  } catch {
    // not available
  }
  return undefined
}

const MB = 1024 * 1024

/** Which repetitions an implementation capped at k runs takes part in: spread evenly. */
export function runsIn(rep: number, reps: number, k: number): boolean {
  if (k <= 0) return false
  if (k >= reps) return true
  return Math.floor((rep * k) / reps) !== Math.floor(((rep - 1) * k) / reps) || rep === 0
}

/** Whether a pass returned a Promise (an asynchronous runner) rather than nothing. */
function isPromise(r: unknown): r is PromiseLike<void> {
  return (
    r !== null &&
    (typeof r === 'object' || typeof r === 'function') &&
    typeof (r as { then?: unknown }).then === 'function'
  )
}

/** Runs one pass, untimed: awaited when asynchronous. */
async function runPass(r: Runner, pass: Pass): Promise<void> {
  const ret: PassResult = r[pass]()
  if (isPromise(ret)) await ret
}

/** Timed runs, warm-up runs and setups in one layer: the progress indicator's total. */
function callsPerLayer(impls: readonly Impl[], opts: HarnessOptions, passes: number): number {
  let n = 0
  for (const impl of impls) {
    const k = impl.maxRuns ?? opts.runs
    let timed = 0
    for (let rep = 0; rep < opts.runs; rep++) if (runsIn(rep, opts.runs, k)) timed++
    n += 1 + passes * ((impl.warmup ?? opts.warmup) + timed)
  }
  return n
}

function compareOutputs(got: Outputs, want: Outputs): Record<string, number> {
  const out: Record<string, number> = {}
  for (const k of ['y', 'dx', 'dgamma', 'dbeta'] as const) {
    const g = got[k]
    const w = want[k]
    if (g && w) out[k] = relErr(g, w)
  }
  for (const [k, w] of Object.entries(want.state ?? {})) {
    const g = got.state?.[k]
    if (g) out[`state.${k}`] = relErr(g, w)
  }
  return out
}

export async function runBenchmark(opts: HarnessOptions): Promise<Results> {
  const log = opts.log ?? ((s: string) => console.log(s))
  const passes = [...(opts.passes ?? PASSES)]
  const memory = opts.memory ?? true
  const gc = getGc()
  const gcBetween = (opts.gcBetween ?? true) && gc !== undefined
  const baseline = opts.baseline ?? 'hand'
  const now = opts.now ?? (() => performance.now())
  const layers: LayerResult[] = []
  const loadBefore = loadavg()

  for (const [li, id] of opts.layers.entries()) {
    const layer = makeLayerCase(id, { quick: opts.quick ?? false })
    const impls = opts.impls.filter((i) => i.supports?.(layer) ?? true)
    const progress: Progress = createProgress(
      `bench ${li + 1}/${opts.layers.length} ${layer.label}`,
      {
        stream: process.stdout,
        ...opts.progress,
        total: callsPerLayer(impls, opts, passes.length),
      },
    )
    const say = (line: string) => (progress.enabled ? progress.log(line) : log(line))
    const runners = new Map<Impl, Runner>()
    try {
      layers.push(await runLayer(layer, impls, runners, progress, say))
    } finally {
      progress.done()
      // also when a setup or a run threw (GPU contexts, TF.js tensors)
      for (const r of runners.values()) await r.dispose?.()
      runners.clear()
      gc?.()
    }
  }

  async function runLayer(
    layer: LayerCase,
    impls: Impl[],
    runners: Map<Impl, Runner>,
    progress: Progress,
    say: (line: string) => void,
  ): Promise<LayerResult> {
    say(`\n== ${layer.label} (${(layer.size / 1e6).toFixed(2)} M elements)`)
    const results = new Map<Impl, ImplResult>()

    // Setup, memory and self-reports, one implementation at a time.
    for (const impl of impls) {
      progress.tick(0, `setting up ${impl.name}`)
      gc?.()
      const m0 = process.memoryUsage()
      let rss = m0.rss
      let ab = m0.arrayBuffers
      const sample = () => {
        const m = process.memoryUsage()
        rss = Math.max(rss, m.rss)
        ab = Math.max(ab, m.arrayBuffers)
      }
      const t0 = performance.now()
      const runner = await impl.setup(layer)
      sample()
      for (const pass of passes) {
        await runner.activate?.()
        await runPass(runner, pass)
        sample()
      }
      const res: ImplResult = {
        name: impl.name,
        label: impl.label,
        kind: impl.kind ?? 'impl',
        passes: {},
      }
      const ran = runner.ran?.()
      if (ran) res.ran = ran
      if (memory && res.kind === 'impl') {
        res.memory = { rssMB: (rss - m0.rss) / MB, arrayBuffersMB: (ab - m0.arrayBuffers) / MB }
        if (runner.selfReport) {
          res.memory.self = {}
          for (const pass of passes) res.memory.self[pass] = await runner.selfReport(pass)
        }
      }
      runners.set(impl, runner)
      results.set(impl, res)
      progress.tick(1, `set up ${impl.name}`)
      say(
        `  set up ${impl.name} in ${(performance.now() - t0).toFixed(0)} ms` +
          (ran ? ` (ran on ${ran.backend}: ${ran.device})` : ''),
      )
    }

    // Cross-check against the baseline's outputs (every runner has run every pass once).
    const base = impls.find((i) => i.name === baseline)
    const want = base && runners.get(base)?.outputs?.()
    if (want) {
      for (const impl of impls) {
        const got = runners.get(impl)?.outputs?.()
        if (impl !== base && got && impl.kind !== 'floor') {
          const res = results.get(impl)!
          res.check = compareOutputs(got, want)
          res.tolerance = impl.tolerance ?? opts.tolerance ?? DEFAULT_TOLERANCE
          // NaN fails (NaN <= tol is false)
          res.checkOk = Object.values(res.check).every((e) => e <= res.tolerance!)
        }
      }
    }

    // Timing: warm-up, then interleaved repetitions in rotating order.
    for (const pass of passes) {
      const samples = new Map<Impl, number[]>(impls.map((i) => [i, []]))
      const maxWarm = Math.max(0, ...impls.map((i) => i.warmup ?? opts.warmup))
      for (let w = 0; w < maxWarm; w++) {
        for (const impl of impls) {
          if (w >= (impl.warmup ?? opts.warmup)) continue
          const r = runners.get(impl)!
          progress.tick(1, `${pass} · ${impl.name} · warm-up ${w + 1}/${maxWarm}`)
          await r.activate?.()
          await runPass(r, pass)
        }
      }
      for (let rep = 0; rep < opts.runs; rep++) {
        const k = rep % impls.length
        const order = [...impls.slice(k), ...impls.slice(0, k)]
        for (const impl of order) {
          if (!runsIn(rep, opts.runs, impl.maxRuns ?? opts.runs)) continue
          const r = runners.get(impl)!
          progress.tick(1, `${pass} · ${impl.name} · rep ${rep + 1}/${opts.runs}`)
          await r.activate?.()
          if (gcBetween) gc!()
          // A synchronous pass is timed from call to return, as it always was; a returned
          // Promise is awaited, and the clock read again once it has settled.
          const t0 = now()
          const ret: PassResult = r[pass]()
          let t1 = now()
          if (isPromise(ret)) {
            await ret
            t1 = now()
          }
          samples.get(impl)!.push(t1 - t0)
        }
      }
      const cells: string[] = []
      for (const impl of impls) {
        const s = summarize(samples.get(impl)!)
        results.get(impl)!.passes[pass] = s
        cells.push(`${impl.name} ${fmtMs(s.medianMs)}`)
      }
      say(`  ${pass.padEnd(8)} ${cells.join('  ')}`)
    }

    return {
      id: layer.id,
      label: layer.label,
      shape: layer.shape,
      layout: layer.layout,
      elements: layer.size,
      traffic: layer.traffic,
      impls: impls.map((i) => results.get(i)!),
    }
  }

  return {
    meta: {
      date: new Date().toISOString(),
      node: process.versions.node,
      v8: process.versions.v8,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      gcExposed: gc !== undefined,
      /** 1-minute load average before and after the run (other processes compete for cores). */
      loadavg1: [round2(loadBefore[0]!), round2(loadavg()[0]!)],
    },
    options: {
      runs: opts.runs,
      warmup: opts.warmup,
      quick: opts.quick ?? false,
      passes,
      gcBetween,
    },
    layers,
  }
}

// ---------------------------------------------------------------------------------------------
// Reporting

export function fmtMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—'
  if (ms >= 100) return ms.toFixed(0)
  if (ms >= 10) return ms.toFixed(1)
  if (ms >= 1) return ms.toFixed(2)
  return ms.toFixed(3)
}

function fmtRatio(r: number | undefined): string {
  if (r === undefined || !Number.isFinite(r)) return '—'
  if (r >= 100) return `${r.toFixed(0)}×`
  if (r >= 10) return `${r.toFixed(1)}×`
  return `${r.toFixed(2)}×`
}

function cell(s: Summary | undefined): string {
  if (!s || s.runs === 0) return '—'
  return `${fmtMs(s.medianMs)} (${fmtMs(s.minMs)}–${fmtMs(s.maxMs)})`
}

const PASS_NAMES: Record<Pass, string> = {
  forward: 'forward (train)',
  backward: 'backward',
  fwdbwd: 'forward+backward',
}

/** Ratio of medians a / b for one pass, by implementation names. */
export function ratio(
  layer: LayerResult,
  pass: Pass,
  a: string,
  b: string,
  stat: 'medianMs' | 'minMs' = 'medianMs',
): number | undefined {
  const x = layer.impls.find((i) => i.name === a)?.passes[pass]?.[stat]
  const y = layer.impls.find((i) => i.name === b)?.passes[pass]?.[stat]
  return x !== undefined && y !== undefined ? x / y : undefined
}

/** Ratio columns printed when both implementations are present. */
const RATIOS: [string, string, string][] = [
  ['normc-js', 'hand', 'normc-js / hand'],
  ['normc-wasm', 'hand', 'normc-wasm / hand'],
  ['tfjs-wasm', 'normc-js', 'TF.js wasm / normc-js'],
  ['tfjs-wasm', 'normc-wasm', 'TF.js wasm / normc-wasm'],
  ['tfjs-wasm', 'normc-wasm-copy', 'TF.js wasm / normc-wasm-copy'],
  ['tfjs-wasm', 'hand', 'TF.js wasm / hand'],
  ['tfjs-cpu', 'hand', 'TF.js cpu / hand'],
  ['hand', 'floor-jsread', 'hand / JS-read floor'],
  ['hand', 'floor-memcpy', 'hand / memcpy floor'],
  ['normc-js', 'floor-jsread', 'normc-js / JS-read floor'],
  ['normc-js', 'floor-memcpy', 'normc-js / memcpy floor'],
  ['normc-wasm', 'floor-memcpy', 'normc-wasm / memcpy floor'],
]

/** Issue 5's bar for normc's CPU targets (normc-js, and normc-wasm where it ran). */
export function barChecks(res: Results): string[] {
  const lines: string[] = []
  for (const l of res.layers)
    for (const impl of ['normc-js', 'normc-wasm']) {
      if (!l.impls.some((i) => i.name === impl)) continue
      const r = ratio(l, 'fwdbwd', impl, 'hand')
      if (r !== undefined) {
        lines.push(
          `${r <= 1.1 ? 'PASS' : 'FAIL'} ${l.label}: ${impl} forward+backward = ${fmtRatio(r)} hand-written (bar ≤ 1.1×)`,
        )
      }
      const need = l.id.startsWith('bn-') ? 10 : l.id === 'layernorm' ? 5 : undefined
      const w = ratio(l, 'fwdbwd', 'tfjs-wasm', impl)
      if (need !== undefined && w !== undefined) {
        lines.push(
          `${w >= need ? 'PASS' : 'FAIL'} ${l.label}: TF.js wasm / ${impl} forward+backward = ${fmtRatio(w)} (bar ≥ ${need}×)`,
        )
      }
    }
  return lines
}

export function toMarkdown(res: Results): string {
  const out: string[] = []
  const m = res.meta
  const o = res.options
  out.push(`# normc benchmark${o.quick ? ' (quick: small sizes, smoke run only)' : ''}`)
  out.push('')
  out.push(
    `${String(m.date)} · ${String(m.cpu)}, ${String(m.cores)} cores · Node ${String(m.node)} (V8 ${String(m.v8)})` +
      (m.tfjs ? ` · TF.js ${String(m.tfjs)}` : '') +
      (Array.isArray(m.loadavg1)
        ? ` · load average ${m.loadavg1.join(' → ')} (1 min, before → after)`
        : ''),
  )
  out.push('')
  const capped = res.layers
    .flatMap((l) => l.impls)
    .filter((i) => Object.values(i.passes).some((s) => s && s.runs < o.runs))
  const cappedNames = [...new Set(capped.map((i) => i.label))]
  out.push(
    `Median ms of ${o.runs} timed runs (${cappedNames.length ? `${cappedNames.join(', ')}: fewer, spread over the repetitions; ` : ''}after ${o.warmup} warm-up), ` +
      `min–max in parentheses; float32 storage; single thread. Implementations run interleaved, ` +
      `one run each per repetition in rotating order${o.gcBetween ? ', with an untimed gc before every run' : ''}. ` +
      `Compare ratios from this run, not absolute times across runs.`,
  )
  out.push('')

  // Times
  const names: { name: string; label: string; ran?: RanOn }[] = []
  for (const l of res.layers) {
    for (const i of l.impls) {
      if (!names.some((n) => n.name === i.name))
        names.push({ name: i.name, label: i.label, ...(i.ran ? { ran: i.ran } : {}) })
    }
  }
  const header = (n: (typeof names)[number]) =>
    n.ran ? `${n.label}${n.ran.software ? ' †' : ''} (${n.ran.renderer})` : n.label
  out.push('## Times (median ms, min–max)')
  out.push('')
  out.push(`| layer | pass | ${names.map(header).join(' | ')} |`)
  out.push(`|---|---|${names.map(() => '---:').join('|')}|`)
  for (const l of res.layers) {
    for (const p of o.passes) {
      const cells = names.map((n) => cell(l.impls.find((i) => i.name === n.name)?.passes[p]))
      out.push(`| ${l.label} | ${PASS_NAMES[p]} | ${cells.join(' | ')} |`)
    }
  }
  out.push('')

  // GPU backends: what actually ran, and what could not run here
  const gpu = names.filter((n) => n.ran)
  const gpuSkipped = (m.gpuSkipped ?? {}) as Record<string, string>
  if (gpu.length || Object.keys(gpuSkipped).length) {
    if (gpu.some((n) => n.ran!.software)) {
      out.push(
        "† Software: no GPU ran these. normc's GPU target (gpu.js kernels) on a software " +
          'renderer (Mesa llvmpipe, which runs shaders on the CPU, on several threads) or on ' +
          "gpu.js's CPU fallbacks (webasm, cpu). A GPU column's time is upload + kernels + " +
          'readback, awaited; on a software renderer it shows that the GPU target runs end to end ' +
          'and says little about its speed on a GPU.',
      )
      out.push('')
    }
    out.push('## GPU backends')
    out.push('')
    out.push(
      'The backend each GPU column ran on, checked after every run (gpu.js falls back silently; ' +
        "normc's runtime throws when any kernel ran on another backend than the one asked for).",
    )
    out.push('')
    out.push('| implementation | requested | ran on | device |')
    out.push('|---|---|---|---|')
    for (const n of gpu) {
      out.push(`| ${n.label} | ${n.ran!.requested} | ${n.ran!.backend} | ${n.ran!.device} |`)
    }
    for (const [b, why] of Object.entries(gpuSkipped)) {
      out.push(`| normc GPU ${b} | ${b} | — (not run) | ${why} |`)
    }
    out.push('')
  }

  // Ratios
  const present = RATIOS.filter(([a, b]) =>
    res.layers.some((l) => l.impls.some((i) => i.name === a) && l.impls.some((i) => i.name === b)),
  )
  const ratioTable = (stat: 'medianMs' | 'minMs') => {
    out.push(`| layer | pass | ${present.map((r) => r[2]).join(' | ')} |`)
    out.push(`|---|---|${present.map(() => '---:').join('|')}|`)
    for (const l of res.layers) {
      for (const p of o.passes) {
        const cells = present.map(([a, b]) => fmtRatio(ratio(l, p, a, b, stat)))
        out.push(`| ${l.label} | ${PASS_NAMES[p]} | ${cells.join(' | ')} |`)
      }
    }
    out.push('')
  }
  if (present.length) {
    out.push('## Ratios of medians')
    out.push('')
    ratioTable('medianMs')
    out.push('### Ratios of minima')
    out.push('')
    out.push(
      'The fastest run of each implementation is the one other processes disturbed least; on a ' +
        'loaded machine these ratios are the steadier ones (the bar checks use medians).',
    )
    out.push('')
    ratioTable('minMs')
  }

  const bars = barChecks(res)
  if (bars.length) {
    out.push("## Issue 5's bar for normc's CPU targets")
    out.push('')
    for (const b of bars) out.push(`- ${b}`)
    out.push('')
  }

  // Memory
  const withMem = res.layers.some((l) => l.impls.some((i) => i.memory))
  if (withMem) {
    out.push('## Memory')
    out.push('')
    out.push(
      'Peak growth over the level before the implementation was set up, sampled after setup and ' +
        'after one run of each pass (process RSS; ArrayBuffer memory, which holds typed arrays, ' +
        "tensors of the TF.js cpu backend, and the wasm heap). For TF.js, also tf.profile's peak " +
        'bytes of live tensors and number of kernels per pass (forward / backward / forward+backward). ' +
        'The process figures are rough (freed memory is reused, and the TF.js wasm heap only grows, ' +
        'so after the first layer its growth shows as ~0); the TF.js peak is exact for its tensors.',
    )
    out.push('')
    out.push(
      '| layer | implementation | RSS Δ MB | ArrayBuffers Δ MB | TF.js peak tensor MB | TF.js kernels |',
    )
    out.push('|---|---|---:|---:|---:|---:|')
    for (const l of res.layers) {
      for (const i of l.impls) {
        if (!i.memory) continue
        const self = i.memory.self
        const peak = self ? o.passes.map((p) => fmtMB(self[p]?.peakBytes)).join(' / ') : '—'
        const kern = self ? o.passes.map((p) => self[p]?.kernels ?? '—').join(' / ') : '—'
        out.push(
          `| ${l.label} | ${i.label} | ${i.memory.rssMB.toFixed(1)} | ${i.memory.arrayBuffersMB.toFixed(1)} | ${peak} | ${kern} |`,
        )
      }
    }
    out.push('')
  }

  // Floors
  out.push('## Floors')
  out.push('')
  out.push(
    'Minimum traffic per pass (train forward: read x twice + write y; eval forward: read x + ' +
      'write y; backward: read x and dy twice + write dx; forward+backward: both), and the speed ' +
      'the floors moved it at (GB/s = traffic / median time). The memcpy floor moves it as ' +
      'Float32Array.prototype.set copies of half as many bytes (a copy reads and writes); the JS ' +
      'read floor reads it with an unrolled scalar sum. Eval-forward floors are derived from the ' +
      "forward pass's bandwidth.",
  )
  out.push('')
  out.push(
    '| layer | tensor MB | traffic MB fwd / eval / bwd / fwd+bwd | memcpy GB/s | JS read GB/s | eval-forward floor ms (memcpy / JS read) |',
  )
  out.push('|---|---:|---:|---:|---:|---:|')
  for (const l of res.layers) {
    const t = l.traffic
    const bw = (name: string) =>
      o.passes
        .map((p) => {
          const s = l.impls.find((i) => i.name === name)?.passes[p]
          return s ? (t[p] / (s.medianMs * 1e6)).toFixed(1) : '—'
        })
        .join(' / ')
    const evalMs = (name: string) => {
      const s = l.impls.find((i) => i.name === name)?.passes.forward
      return s ? fmtMs((s.medianMs * t.evalForward) / t.forward) : '—'
    }
    out.push(
      `| ${l.label} | ${((l.elements * 4) / MB).toFixed(1)} | ${[t.forward, t.evalForward, t.backward, t.fwdbwd].map((b) => (b / MB).toFixed(b < 10 * MB ? 2 : 0)).join(' / ')} | ${bw('floor-memcpy')} | ${bw('floor-jsread')} | ${evalMs('floor-memcpy')} / ${evalMs('floor-jsread')} |`,
    )
  }
  out.push('')

  // Cross-check
  const checked = res.layers.some((l) => l.impls.some((i) => i.check))
  if (checked) {
    out.push('## Cross-check against the hand-written loops')
    out.push('')
    out.push(
      'Largest relative error of y, dx, dgamma, dbeta and the updated state after the runs ' +
        '(|a − b| / (|b| + 1% of RMS(b)); the hand-written loops are checked against float64 ' +
        'references and the oracle in test/bench), and whether it is within the tolerance ' +
        '(float32 storage).',
    )
    out.push('')
    out.push('| layer | implementation | max rel. error | worst output | within tolerance |')
    out.push('|---|---|---:|---|---|')
    for (const l of res.layers) {
      for (const i of l.impls) {
        if (!i.check) continue
        const entries = Object.entries(i.check)
        const worst = entries.reduce(
          (a, b) => (b[1] > a[1] || Number.isNaN(b[1]) ? b : a),
          ['—', 0],
        )
        const ok =
          i.tolerance === undefined
            ? '—'
            : `${i.checkOk ? 'yes' : '**NO**'} (${i.tolerance.toExponential(0)})`
        out.push(`| ${l.label} | ${i.label} | ${worst[1].toExponential(1)} | ${worst[0]} | ${ok} |`)
      }
    }
    out.push('')
  }
  return out.join('\n')
}

/** One line per implementation and layer whose outputs the cross-check rejected. */
export function checkFailures(res: Results): string[] {
  const lines: string[] = []
  for (const l of res.layers) {
    for (const i of l.impls) {
      if (i.checkOk !== false) continue
      const bad = Object.entries(i.check ?? {})
        .filter(([, e]) => !(e <= i.tolerance!))
        .map(([k, e]) => `${k} ${e.toExponential(1)}`)
      lines.push(
        `FAIL ${l.label}: ${i.name} differs from the hand-written loops beyond ${i.tolerance!.toExponential(0)}: ${bad.join(', ')}`,
      )
    }
  }
  return lines
}

function round2(x: number): number {
  return Math.round(x * 100) / 100
}

function fmtMB(bytes: number | undefined): string {
  return bytes === undefined ? '—' : (bytes / MB).toFixed(0)
}
