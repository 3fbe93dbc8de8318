// Diagnostics: every problem the compiler finds, located in the source. Phases collect them
// instead of throwing, so a file reports all its errors at once.

import type { Span } from '../grammar/ast.js'

export type Severity = 'error' | 'warning'

export interface Diagnostic {
  severity: Severity
  message: string
  file: string
  span: Span
}

/** The one-line form: `FILE:LINE:COL: error: message`. */
export function formatDiagnosticLine(d: Diagnostic): string {
  return `${d.file}:${d.span.line}:${d.span.col}: ${d.severity}: ${d.message}`
}

/** The one-line form plus the source line and a caret under the span. */
export function formatDiagnostic(d: Diagnostic, source: string | undefined): string {
  const head = formatDiagnosticLine(d)
  if (source === undefined) return head
  // Lines end as the lexer counts them: LF, CRLF, or a lone CR.
  const lines = source.split(/\r\n|\r|\n/)
  const text = lines[d.span.line - 1]
  if (text === undefined) return head
  const shown = text.replace(/\t/g, ' ')
  const width =
    d.span.endLine === d.span.line
      ? Math.max(1, d.span.endCol - d.span.col)
      : Math.max(1, shown.length - d.span.col + 1)
  const caret = ' '.repeat(Math.max(0, d.span.col - 1)) + '^' + '~'.repeat(Math.max(0, width - 1))
  const gutter = String(d.span.line).padStart(4) + ' | '
  return `${head}\n${gutter}${shown}\n${' '.repeat(gutter.length - 2)}| ${caret}`
}

/** Collects diagnostics for one file. */
export class DiagnosticBag {
  readonly items: Diagnostic[] = []
  constructor(readonly file: string) {}

  error(span: Span, message: string): void {
    this.items.push({ severity: 'error', message, file: this.file, span })
  }

  warning(span: Span, message: string): void {
    this.items.push({ severity: 'warning', message, file: this.file, span })
  }

  get hasErrors(): boolean {
    return this.items.some((d) => d.severity === 'error')
  }
}

export function hasErrors(ds: readonly Diagnostic[]): boolean {
  return ds.some((d) => d.severity === 'error')
}

/** Sorted by position, errors before warnings at the same place. */
export function sortDiagnostics(ds: readonly Diagnostic[]): Diagnostic[] {
  return [...ds].sort(
    (a, b) =>
      a.file.localeCompare(b.file) ||
      a.span.start - b.span.start ||
      (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1),
  )
}

/** An error raised when a problem is found at run time (e.g. size arithmetic dividing by zero). */
export class NormcError extends Error {
  constructor(
    message: string,
    readonly span?: Span,
    readonly file?: string,
  ) {
    super(message)
  }

  /** `FILE:LINE:COL: error: message` when the place is known, else `error: message`. */
  line(fallbackFile?: string): string {
    const file = this.file ?? fallbackFile
    if (this.span && file)
      return `${file}:${this.span.line}:${this.span.col}: error: ${this.message}`
    return `error: ${this.message}`
  }
}
