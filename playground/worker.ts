// The playground's compiler, off the main thread: every request is answered with the analysis
// (diagnostics, backward, math, kernels) at once, then with the check report.

import {
  analyse,
  runCheck,
  type AnalyseRequest,
  type Analysis,
  type CheckOutcome,
} from './analyse.js'

export type WorkerRequest = AnalyseRequest & { id: number; check: boolean }

export type WorkerReply =
  | { id: number; kind: 'analysis'; analysis: Analysis; ms: number }
  | { id: number; kind: 'check'; check: CheckOutcome | undefined }
  | { id: number; kind: 'error'; message: string }

const post = (r: WorkerReply) =>
  (self as unknown as { postMessage(m: unknown): void }).postMessage(r)

self.onmessage = (ev: MessageEvent<WorkerRequest>) => {
  const req = ev.data
  try {
    const t0 = performance.now()
    const analysis = analyse(req)
    post({ id: req.id, kind: 'analysis', analysis, ms: performance.now() - t0 })
    if (req.check && analysis.ok && !analysis.failure)
      post({ id: req.id, kind: 'check', check: runCheck(req) })
  } catch (e) {
    post({
      id: req.id,
      kind: 'error',
      message: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e),
    })
  }
}
