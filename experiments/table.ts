// Results tables, printed as aligned Markdown (readable in a terminal, pastable into a README).

import type { Table } from './harness.js'

/** A Markdown table in the layout Prettier gives it (so that it can be pasted unchanged). */
export function markdownTable(t: Table): string {
  const widths = t.columns.map((c, i) =>
    Math.max(3, c.length, ...t.rows.map((r) => (r[i] ?? '').length)),
  )
  // Columns of numbers (and times, "12.3 s") are right-aligned.
  const numeric = t.columns.map((_, i) =>
    t.rows.every((r) => /^[-+]?[\d.,e+-]+(%| s)?$|^—$/.test(r[i] ?? '')),
  )
  const cell = (s: string, i: number) =>
    numeric[i] ? s.padStart(widths[i]!) : s.padEnd(widths[i]!)
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`
  const rule = widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w)))
  return [line(t.columns), `| ${rule.join(' | ')} |`, ...t.rows.map(line)].join('\n')
}

/** A percentage with one decimal, e.g. 0.9312 → "93.1%". */
export function pct(x: number): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '—'
}

/** A number with `digits` significant digits, or — when not finite. */
export function num(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return '—'
  if (x === 0) return '0'
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e5)) return x.toExponential(digits - 1)
  return x.toPrecision(digits)
}
