// The report of `normc check`: an aligned table, one row per (layer, mode, tensor, check), then
// the failures in full (element, expected and actual values, trial, a hint), the skipped
// properties with the reason, and the information lines. Or JSON for machines.

import type { Row } from './core.js'
import { fmt, fmtValue } from './numeric.js'

const num = (v: number | null) => {
  if (v === null) return '-'
  const m = fmt(v, 1)
  return m.replace(/^(\d)\.0e/, '$1e')
}

/** The table and the notes under it. */
export function formatReport(rows: Row[], opts: { elapsedMs?: number } = {}): string {
  const head = ['layer', 'mode', 'w.r.t.', 'check', 'max abs err', 'max rel err', 'tol', 'result']
  // Information without numbers (the trials, refused sizes) goes below the table only.
  const shown = rows.filter((r) => !(r.status === 'INFO' && r.maxAbs === null))
  const cells = shown.map((r) => [
    r.layer,
    r.mode,
    r.wrt,
    r.check,
    num(r.maxAbs),
    num(r.maxRel),
    r.tol === null ? '-' : num(r.tol),
    r.status,
  ])
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)))
  const right = new Set([4, 5, 6])
  const line = (c: string[]) =>
    c
      .map((v, i) => (right.has(i) ? v.padStart(width[i]!) : v.padEnd(width[i]!)))
      .join('  ')
      .trimEnd()
  const out = [line(head), line(width.map((w) => '-'.repeat(w))), ...cells.map(line)]
  const details: string[] = []
  for (const r of rows) {
    const who = `${r.layer} ${r.mode}, ${r.wrt}, ${r.check}`
    if (r.status === 'FAIL') {
      const f = r.failure
      if (f) {
        details.push(`FAIL  ${r.layer} ${r.mode}, ${r.check}: ${f.quantity} at ${f.element}`)
        details.push(`      expected ${fmtValue(f.expected)} (${f.expectedFrom})`)
        details.push(`      actual   ${fmtValue(f.actual)} (${f.actualFrom})`)
        details.push(`      on ${f.trial}`)
        if (f.hint) details.push(`      hint: ${f.hint}`)
      } else details.push(`FAIL  ${who}: ${r.note ?? ''}`)
    }
  }
  for (const r of rows)
    if ((r.status === 'PASS' || r.status === 'FAIL') && r.note)
      details.push(`NOTE  ${r.layer} ${r.mode}, ${r.wrt}, ${r.check}: ${r.note}`)
  for (const r of rows)
    if (r.status === 'SKIP')
      details.push(`SKIP  ${r.layer} ${r.mode}, ${r.wrt}, ${r.check}: ${r.note ?? ''}`)
  for (const r of rows)
    if (r.status === 'INFO')
      details.push(`INFO  ${r.layer} ${r.mode}, ${r.wrt}, ${r.check}: ${r.note ?? ''}`)
  const count = (s: string) => rows.filter((r) => r.status === s).length
  const failed = count('FAIL')
  const summary = `${rows.length} rows: ${count('PASS')} passed, ${failed} failed, ${count('SKIP')} skipped, ${count('INFO')} information${
    opts.elapsedMs !== undefined ? ` (${(opts.elapsedMs / 1000).toFixed(2)} s)` : ''
  }`
  return [
    ...out,
    '',
    ...(details.length ? [...details, ''] : []),
    failed ? `FAILED: ${summary}` : `OK: ${summary}`,
    '',
  ].join('\n')
}

/** The report as JSON: non-finite numbers as strings, as in `normc run`. */
export function reportJson(rows: Row[], extra: Record<string, unknown> = {}): string {
  const ok = !rows.some((r) => r.status === 'FAIL')
  return (
    JSON.stringify({ ok, ...extra, rows }, (_k, v) =>
      typeof v === 'number' && !Number.isFinite(v)
        ? Number.isNaN(v)
          ? 'NaN'
          : v > 0
            ? 'Infinity'
            : '-Infinity'
        : v,
    ) + '\n'
  )
}
