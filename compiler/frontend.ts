// The front end as one call: parse several sources and check them together.

import { parse, type NormFile } from '../grammar/index.js'
import { check, type CheckResult } from './check/index.js'
import { formatDiagnostic, sortDiagnostics, type Diagnostic } from './diagnostics.js'

export interface Source {
  file: string
  text: string
}

export interface FrontendResult extends CheckResult {
  files: NormFile[]
  /** Parse and check diagnostics of every file, sorted by place. */
  diagnostics: Diagnostic[]
  sources: Map<string, string>
}

export function frontend(sources: Source[]): FrontendResult {
  const files: NormFile[] = []
  const diagnostics: Diagnostic[] = []
  for (const s of sources) {
    const r = parse(s.text, s.file)
    diagnostics.push(...r.diagnostics)
    if (r.ast) files.push(r.ast)
  }
  const checked = check(files)
  return {
    ...checked,
    files,
    diagnostics: sortDiagnostics([...diagnostics, ...checked.diagnostics]),
    sources: new Map(sources.map((s) => [s.file, s.text])),
  }
}

/** Every diagnostic with its source line and caret, for a terminal. */
export function renderDiagnostics(r: {
  diagnostics: Diagnostic[]
  sources: Map<string, string>
}): string {
  return r.diagnostics.map((d) => formatDiagnostic(d, r.sources.get(d.file))).join('\n')
}
