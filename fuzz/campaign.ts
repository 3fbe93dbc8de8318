// The fuzzing campaigns as fast-check properties, in chunks a worker (or a test) can run:
//
// - crash: any input (valid, near-valid, mutated, token soup, bytes) through every stage;
// - diff: random valid layers, differential checks against the float64 interpreter.
//
// A chunk is `fc.check` with its own seed. The property records each case's outcome and
// returns true, so one bug does not stop the campaign; a bug is kept with its chunk seed and
// run index, which replay it exactly (`fc.check(..., { seed, path: String(index) })`) and let
// fast-check shrink it (`shrink` below).

import fc from 'fast-check'
import { frontend } from '../compiler/frontend.js'
import { anyInput, validLayer } from './arbitraries.js'
import { differential, type Finding } from './differential.js'
import { knownStageBug } from './known.js'
import { runStages, type Outcome } from './stages.js'

export type Campaign = 'crash' | 'diff'

export interface CaseBug {
  campaign: Campaign
  /** Stage (crash) or check (diff) where it showed. */
  where: string
  message: string
  /** A normalised message: bugs with the same signature are one bug. */
  signature: string
  seed: number
  index: number
  text: string
  known?: string
}

export interface ChunkReport {
  cases: number
  /** Outcome counts: ok, diagnostics, refused, skipped, … */
  outcomes: Record<string, number>
  /** Counts per input kind (valid-wild, near:token-swap, …). */
  kinds: Record<string, number>
  bugs: CaseBug[]
  knownCounts: Record<string, number>
  maxMs: number
  /** Differential statistics. */
  fdElements: number
  fdKinks: number
  worstErr: Record<string, number>
}

export interface ChunkOptions {
  campaign: Campaign
  seed: number
  runs: number
  /** Skip runs with index below this (resuming after a hang). */
  from?: number
  /** Build the ES module (prettier) every this many cases; 0: never. */
  moduleEvery?: number
  /** Run one step (interp, js f64, js f32) every this many cases; 0: never. Default 1. */
  runEvery?: number
  timeoutMs?: number
  /** Called before each case (workers report it, to name a case that hangs). */
  onCase?: (index: number, text: string) => void
}

/** Message with names, numbers and places normalised. */
export function signatureOf(where: string, message: string): string {
  const m = message
    .replace(/\[[^\]]*\|[^\]]*\]$/, '')
    .replace(/'[^']*'/g, "'_'")
    .replace(/axis \w+/g, 'axis _')
    .replace(/\b\d+(?:\.\d+)?(?:e[-+]?\d+)?\b/g, '#')
  return `${where}: ${m.slice(0, 160)}`
}

export function emptyReport(): ChunkReport {
  return {
    cases: 0,
    outcomes: {},
    kinds: {},
    bugs: [],
    knownCounts: {},
    maxMs: 0,
    fdElements: 0,
    fdKinks: 0,
    worstErr: {},
  }
}

const bump = (o: Record<string, number>, k: string, n = 1) => (o[k] = (o[k] ?? 0) + n)

/** One crash-fuzzing case: the outcome, with known issues separated. */
export async function crashCase(
  text: string,
  opts: { module: boolean; seed: number; timeoutMs?: number; run?: boolean },
): Promise<Outcome & { known?: string }> {
  let known: string | undefined
  const o = await runStages(text, {
    module: opts.module,
    run: opts.run ?? true,
    seed: opts.seed,
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    onKnown: (id) => (known ??= id),
  })
  if (o.result === 'bug') {
    const k = knownStageBug(o.stage!, o.message!)
    if (k) return { ...o, known: k }
  }
  return known && o.result !== 'bug' ? { ...o, known } : o
}

/** One differential case: unknown findings (and exceptions) are bugs. */
export function diffCase(
  text: string,
  seed: number,
): {
  outcome: string
  findings: Finding[]
  error?: string
  stats?: ReturnType<typeof differential>
} {
  const fe = frontend([{ file: 'fuzz.norm', text }])
  const errors = fe.diagnostics.filter((d) => d.severity === 'error')
  if (errors.length)
    return { outcome: 'generator-rejected', findings: [], error: errors[0]!.message }
  const findings: Finding[] = []
  let last: ReturnType<typeof differential> | undefined
  for (const layer of fe.layers) {
    try {
      last = differential(layer, { seed })
    } catch (e) {
      return {
        outcome: 'bug',
        findings,
        error: `${(e as Error).name}: ${(e as Error).message} [${((e as Error).stack ?? '')
          .split('\n')
          .slice(1, 3)
          .map((l) => l.trim())
          .join(' | ')}]`,
      }
    }
    if (last.skipped) return { outcome: `skipped`, findings, stats: last }
    findings.push(...last.findings)
  }
  const unknown = findings.filter((f) => !f.known)
  return {
    outcome: unknown.length ? 'bug' : findings.length ? 'known' : 'ok',
    findings,
    ...(last ? { stats: last } : {}),
  }
}

/** Runs one chunk of a campaign. */
export async function runChunk(opts: ChunkOptions): Promise<ChunkReport> {
  const report = emptyReport()
  const from = opts.from ?? 0
  let index = -1
  const record = (bug: Omit<CaseBug, 'signature' | 'seed' | 'index' | 'campaign'>) => {
    const b: CaseBug = {
      ...bug,
      campaign: opts.campaign,
      signature: signatureOf(bug.where, bug.message),
      seed: opts.seed,
      index,
    }
    if (b.known) bump(report.knownCounts, b.known)
    report.bugs.push(b)
  }
  if (opts.campaign === 'crash') {
    const prop = fc.asyncProperty(anyInput(), async (input) => {
      index++
      if (index < from) return true
      opts.onCase?.(index, input.text)
      const t0 = performance.now()
      const moduleEvery = opts.moduleEvery ?? 20
      const runEvery = opts.runEvery ?? 1
      const o = await crashCase(input.text, {
        module: moduleEvery > 0 && index % moduleEvery === 0,
        run: runEvery > 0 && index % runEvery === 0,
        seed: opts.seed + index,
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      })
      report.maxMs = Math.max(report.maxMs, performance.now() - t0)
      report.cases++
      bump(report.kinds, input.kind.replace(/^near:.*/, 'near-valid'))
      bump(report.outcomes, o.known ? `known:${o.known}` : o.result)
      if (o.known && o.result !== 'bug') bump(report.knownCounts, o.known)
      if (o.result === 'bug')
        record({
          where: o.stage!,
          message: o.message!,
          text: input.text,
          ...(o.known ? { known: o.known } : {}),
        })
      return true
    })
    await fc.assert(prop, { seed: opts.seed, numRuns: opts.runs })
  } else {
    const prop = fc.property(validLayer({ safe: true }), (l) => {
      index++
      if (index < from) return true
      opts.onCase?.(index, l.text)
      const t0 = performance.now()
      const r = diffCase(l.text, opts.seed + index)
      report.maxMs = Math.max(report.maxMs, performance.now() - t0)
      report.cases++
      bump(report.outcomes, r.outcome)
      if (r.stats) {
        report.fdElements += r.stats.fdElements
        report.fdKinks += r.stats.fdKinks
        for (const [k, v] of Object.entries(r.stats.worstErr))
          report.worstErr[k] = Math.max(report.worstErr[k] ?? 0, v!)
      }
      for (const f of r.findings) if (f.known) bump(report.knownCounts, f.known)
      if (r.outcome === 'generator-rejected')
        record({
          where: 'generator',
          message: `a generated layer does not check: ${r.error}`,
          text: l.text,
        })
      else if (r.error) record({ where: 'exception', message: r.error, text: l.text })
      else {
        const unknown = r.findings.filter((f) => !f.known)
        if (unknown.length) {
          const f = unknown[0]!
          record({
            where: f.check,
            message: `${f.mode} ${f.tensor}[${f.index}]: got ${f.got}, want ${f.want} (error ${f.err.toExponential(2)} > ${f.tol.toExponential(2)})${f.note ? `: ${f.note}` : ''}`,
            text: l.text,
          })
        }
      }
      return true
    })
    fc.assert(prop, { seed: opts.seed, numRuns: opts.runs })
  }
  return report
}

/** Merges chunk reports (bugs deduplicated by signature, keeping a count). */
export function mergeReports(
  rs: ChunkReport[],
): ChunkReport & { bugCounts: Record<string, number> } {
  const out = { ...emptyReport(), bugCounts: {} as Record<string, number> }
  const firstBySig = new Map<string, CaseBug>()
  for (const r of rs) {
    out.cases += r.cases
    for (const [k, v] of Object.entries(r.outcomes)) bump(out.outcomes, k, v)
    for (const [k, v] of Object.entries(r.kinds)) bump(out.kinds, k, v)
    for (const [k, v] of Object.entries(r.knownCounts)) bump(out.knownCounts, k, v)
    for (const [k, v] of Object.entries(r.worstErr))
      out.worstErr[k] = Math.max(out.worstErr[k] ?? 0, v)
    out.maxMs = Math.max(out.maxMs, r.maxMs)
    out.fdElements += r.fdElements
    out.fdKinks += r.fdKinks
    for (const b of r.bugs) {
      bump(out.bugCounts, b.signature)
      const prev = firstBySig.get(b.signature)
      if (!prev || b.text.length < prev.text.length) firstBySig.set(b.signature, b)
    }
  }
  out.bugs = [...firstBySig.values()]
  return out
}

/**
 * Shrinks a recorded bug: replays its run and lets fast-check minimise it while the same
 * signature still shows. Returns the smallest text found.
 */
export async function shrink(bug: CaseBug, runs: number): Promise<string> {
  const same = async (text: string): Promise<boolean> => {
    if (bug.campaign === 'crash') {
      const o = await crashCase(text, {
        module: bug.where === 'module' || bug.where === 'codecheck',
        seed: bug.seed + bug.index,
      })
      return o.result === 'bug' && signatureOf(o.stage!, o.message!) === bug.signature
    }
    const r = diffCase(text, bug.seed + bug.index)
    if (r.error)
      return (
        signatureOf(
          r.outcome === 'generator-rejected' ? 'generator' : 'exception',
          r.outcome === 'generator-rejected'
            ? `a generated layer does not check: ${r.error}`
            : r.error,
        ) === bug.signature
      )
    return r.findings.some((f) => !f.known && f.check === bug.where)
  }
  const arb =
    bug.campaign === 'crash'
      ? anyInput()
      : validLayer({ safe: true }).map((l) => ({ kind: 'valid', text: l.text }))
  const found = await fc.check(
    fc.asyncProperty(arb, async (x) => !(await same(x.text))),
    { seed: bug.seed, path: String(bug.index), numRuns: runs, endOnFailure: true },
  )
  const ce = found.counterexample?.[0] as { text: string } | undefined
  return ce?.text ?? bug.text
}
