// npm run fuzz -- --runs N [--seed S] [--campaign crash|diff|both] [--workers W]
//                 [--timeout MS] [--chunk C] [--module-every K] [--out FILE] [--no-shrink]
//
// Runs the fuzzing campaigns (fuzz/campaign.ts) on worker threads. Each worker runs chunks
// (fc.check with seed = S + chunk number) and reports every case before running it, so a case
// that hangs is named: past --timeout ms the worker is terminated, the case is recorded as a
// hang, and a fresh worker resumes the chunk after it. At the end, each distinct bug is shrunk
// by fast-check and printed with the seed and path that replay it. Exit code 1 when a bug
// that is not a known issue (fuzz/known.ts) was found.

import { writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import {
  mergeReports,
  runChunk,
  shrink,
  signatureOf,
  type Campaign,
  type CaseBug,
  type ChunkReport,
} from './campaign.js'
import { KNOWN } from './known.js'

interface Job {
  campaign: Campaign
  seed: number
  runs: number
  from: number
  moduleEvery: number
  timeoutMs: number
}

type FromWorker =
  | { type: 'case'; index: number; text: string }
  | { type: 'done'; report: ChunkReport }
  | { type: 'error'; message: string }

export interface FuzzOptions {
  runs: number
  seed: number
  campaigns: Campaign[]
  workers: number
  timeoutMs: number
  chunk: number
  moduleEvery: number
  out?: string
  shrink: boolean
  quiet: boolean
}

export function parseArgs(argv: string[]): FuzzOptions {
  const o: FuzzOptions = {
    runs: 1000,
    seed: Date.now() % 1e9,
    campaigns: ['crash', 'diff'],
    workers: Math.max(1, Math.min(8, availableParallelism() - 0)),
    timeoutMs: 20000,
    chunk: 250,
    moduleEvery: 20,
    shrink: true,
    quiet: false,
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const val = () => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${a} needs a value`)
      return v
    }
    const num = () => {
      const v = Number(val())
      if (!Number.isFinite(v) || v < 0) throw new Error(`${a} needs a non-negative number`)
      return v
    }
    if (a === '--runs') o.runs = num()
    else if (a === '--seed') o.seed = num()
    else if (a === '--workers') o.workers = Math.max(1, num())
    else if (a === '--timeout') o.timeoutMs = num()
    else if (a === '--chunk') o.chunk = Math.max(1, num())
    else if (a === '--module-every') o.moduleEvery = num()
    else if (a === '--out') o.out = val()
    else if (a === '--no-shrink') o.shrink = false
    else if (a === '--quiet') o.quiet = true
    else if (a === '--campaign') {
      const v = val()
      if (v === 'both') o.campaigns = ['crash', 'diff']
      else if (v === 'crash' || v === 'diff') o.campaigns = [v]
      else throw new Error(`--campaign must be crash, diff or both`)
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'npm run fuzz -- --runs N [--seed S] [--campaign crash|diff|both] [--workers W] [--timeout MS] [--chunk C] [--module-every K] [--out FILE] [--no-shrink] [--quiet]\n',
      )
      process.exit(0)
    } else throw new Error(`unknown flag ${a}`)
  }
  return o
}

/** Runs jobs on a pool of workers; a case that takes longer than its job's timeout is a hang. */
async function runPool(
  jobs: Job[],
  workers: number,
  log: (s: string) => void,
): Promise<ChunkReport[]> {
  const reports: ChunkReport[] = []
  const queue = [...jobs]
  const self = fileURLToPath(import.meta.url)
  let done = 0
  const total = jobs.reduce((a, j) => a + j.runs, 0)
  const t0 = Date.now()
  const one = async (): Promise<void> => {
    while (queue.length) {
      const job = queue.shift()!
      await new Promise<void>((resolve) => {
        const w = startWorker(self, job)
        let current: { index: number; text: string; at: number } | undefined
        let finished = false
        const watchdog = setInterval(() => {
          if (!current || finished || Date.now() - current.at < job.timeoutMs) return
          finished = true
          clearInterval(watchdog)
          const hang: CaseBug = {
            campaign: job.campaign,
            where: 'hang',
            message: `no result after ${job.timeoutMs} ms`,
            signature: signatureOf('hang', `no result after ${job.timeoutMs} ms`),
            seed: job.seed,
            index: current.index,
            text: current.text,
          }
          const partial: ChunkReport = {
            cases: 1,
            outcomes: { hang: 1 },
            kinds: {},
            bugs: [hang],
            knownCounts: {},
            maxMs: job.timeoutMs,
            fdElements: 0,
            fdKinks: 0,
            worstErr: {},
          }
          reports.push(partial)
          void w.terminate()
          // Resume the chunk after the case that hung.
          if (current.index + 1 < job.runs) queue.unshift({ ...job, from: current.index + 1 })
          resolve()
        }, 250)
        w.on('message', (m: FromWorker) => {
          if (m.type === 'case') current = { index: m.index, text: m.text, at: Date.now() }
          else if (m.type === 'done') {
            finished = true
            clearInterval(watchdog)
            reports.push(m.report)
            done += m.report.cases
            const rate = done / ((Date.now() - t0) / 1000)
            log(
              `  ${job.campaign} seed ${job.seed}: ${m.report.cases} cases, ${m.report.bugs.filter((b) => !b.known).length} bugs (${done}/${total}, ${rate.toFixed(0)}/s)`,
            )
            void w.terminate()
            resolve()
          } else if (m.type === 'error') {
            finished = true
            clearInterval(watchdog)
            reports.push({
              ...emptyChunk(),
              bugs: [
                {
                  campaign: job.campaign,
                  where: 'harness',
                  message: m.message,
                  signature: signatureOf('harness', m.message),
                  seed: job.seed,
                  index: current?.index ?? -1,
                  text: current?.text ?? '',
                },
              ],
            })
            void w.terminate()
            resolve()
          }
        })
        w.on('error', (e) => {
          if (finished) return
          finished = true
          clearInterval(watchdog)
          const msg = `worker died: ${e.message}`
          reports.push({
            ...emptyChunk(),
            cases: 1,
            bugs: [
              {
                campaign: job.campaign,
                where: 'crash',
                message: msg,
                signature: signatureOf('crash', msg),
                seed: job.seed,
                index: current?.index ?? -1,
                text: current?.text ?? '',
              },
            ],
          })
          if (current && current.index + 1 < job.runs)
            queue.unshift({ ...job, from: current.index + 1 })
          resolve()
        })
      })
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, workers) }, one))
  return reports
}

/**
 * A worker running this file. Under tsx the loader is not inherited by workers: the worker
 * registers it (tsx/esm/api) before importing this TypeScript file.
 */
function startWorker(self: string, job: Job): Worker {
  if (!self.endsWith('.ts')) return new Worker(self, { workerData: job })
  const api = import.meta.resolve('tsx/esm/api')
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(self).href)}) })`
  return new Worker(code, { eval: true, workerData: job })
}

const emptyChunk = (): ChunkReport => ({
  cases: 0,
  outcomes: {},
  kinds: {},
  bugs: [],
  knownCounts: {},
  maxMs: 0,
  fdElements: 0,
  fdKinks: 0,
  worstErr: {},
})

export async function main(argv: string[]): Promise<number> {
  const o = parseArgs(argv)
  const log = (s: string) => {
    if (!o.quiet) process.stderr.write(s + '\n')
  }
  const summary: Record<string, unknown> = {
    seed: o.seed,
    runs: o.runs,
    campaigns: o.campaigns,
    started: new Date().toISOString(),
  }
  let unknownBugs = 0
  for (const campaign of o.campaigns) {
    const jobs: Job[] = []
    for (let start = 0, k = 0; start < o.runs; start += o.chunk, k++)
      jobs.push({
        campaign,
        seed: o.seed + k,
        runs: Math.min(o.chunk, o.runs - start),
        from: 0,
        moduleEvery: o.moduleEvery,
        timeoutMs: o.timeoutMs,
      })
    log(`normc fuzz: ${campaign}, ${o.runs} cases, seed ${o.seed}, ${o.workers} workers`)
    const t0 = Date.now()
    const merged = mergeReports(await runPool(jobs, o.workers, log))
    const seconds = (Date.now() - t0) / 1000
    const bugs = []
    for (const b of merged.bugs) {
      const shrunk =
        o.shrink && !b.known && b.where !== 'hang'
          ? await shrink(b, o.chunk).catch(() => b.text)
          : b.text
      bugs.push({
        where: b.where,
        signature: b.signature,
        count: merged.bugCounts[b.signature],
        known: b.known ?? null,
        replay: { campaign, seed: b.seed, path: String(b.index) },
        message: b.message,
        text: shrunk,
      })
      if (!b.known) unknownBugs++
    }
    summary[campaign] = {
      cases: merged.cases,
      seconds,
      casesPerSecond: Math.round(merged.cases / seconds),
      slowestCaseMs: Math.round(merged.maxMs),
      outcomes: merged.outcomes,
      kinds: merged.kinds,
      knownIssues: Object.fromEntries(
        Object.entries(merged.knownCounts).map(([k, v]) => [
          k,
          { cases: v, summary: KNOWN[k]?.summary },
        ]),
      ),
      ...(campaign === 'diff'
        ? {
            fdElementsChecked: merged.fdElements,
            fdElementsSkippedAtKinks: merged.fdKinks,
            worstScaledError: merged.worstErr,
          }
        : {}),
      bugs,
    }
    log(
      `  ${merged.cases} cases in ${seconds.toFixed(0)} s; ${bugs.filter((b) => !b.known).length} distinct bugs, ${bugs.filter((b) => b.known).length} known issues`,
    )
  }
  summary.finished = new Date().toISOString()
  const text = JSON.stringify(summary, null, 2) + '\n'
  if (o.out) writeFileSync(o.out, text)
  process.stdout.write(text)
  return unknownBugs ? 1 : 0
}

if (!isMainThread && (workerData as Job | undefined)?.campaign) {
  const job = workerData as Job
  runChunk({
    campaign: job.campaign,
    seed: job.seed,
    runs: job.runs,
    from: job.from,
    moduleEvery: job.moduleEvery,
    timeoutMs: job.timeoutMs,
    onCase: (index, text) =>
      parentPort!.postMessage({ type: 'case', index, text } satisfies FromWorker),
  }).then(
    (report) => parentPort!.postMessage({ type: 'done', report } satisfies FromWorker),
    (e: unknown) =>
      parentPort!.postMessage({
        type: 'error',
        message: String((e as Error)?.stack ?? e),
      } satisfies FromWorker),
  )
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (e: unknown) => {
      process.stderr.write(`normc fuzz: ${(e as Error).message}\n`)
      process.exitCode = 2
    },
  )
}
