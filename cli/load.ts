// Loading .norm files for a command and picking one layer: diagnostics are printed here, so a
// command only sees layers that checked clean.

import { frontend, renderDiagnostics, type FrontendResult } from '../compiler/frontend.js'
import { hasErrors } from '../compiler/diagnostics.js'
import type { CheckedLayer } from '../compiler/check/index.js'
import { UsageError } from './command.js'
import { readSource } from './source.js'
import { writeDiagnostics } from './style.js'

export interface Loaded {
  fe: FrontendResult
  layers: CheckedLayer[]
}

/** Parses and checks the files; prints diagnostics (warnings too, unless quiet). Undefined on errors. */
export function loadFiles(paths: string[], opts: { quiet?: boolean } = {}): Loaded | undefined {
  if (paths.length === 0) throw new UsageError('no input file')
  const fe = frontend(paths.map((file) => ({ file, text: readSource(file) })))
  const shown = opts.quiet ? fe.diagnostics.filter((d) => d.severity === 'error') : fe.diagnostics
  if (shown.length) writeDiagnostics(renderDiagnostics({ diagnostics: shown, sources: fe.sources }))
  if (hasErrors(fe.diagnostics)) return undefined
  return { fe, layers: fe.layers }
}

/** The layer named `name`, or the only layer; a one-line error otherwise. */
export function pickLayer(loaded: Loaded, name: string | undefined): CheckedLayer | string {
  const { layers } = loaded
  if (name !== undefined) {
    const l = layers.find((x) => x.decl.name === name)
    return (
      l ?? `no layer '${name}' (layers: ${layers.map((x) => x.decl.name).join(', ') || 'none'})`
    )
  }
  if (layers.length === 1) return layers[0]!
  if (layers.length === 0) return 'no layer in the input'
  return `several layers (${layers.map((x) => x.decl.name).join(', ')}): choose one with --layer`
}

export function parseMode(v: string | undefined, allowAll = false): 'train' | 'eval' | 'all' {
  const m = v ?? 'train'
  if (m === 'train' || m === 'eval' || (allowAll && m === 'all')) return m
  throw new UsageError(`--mode must be train${allowAll ? ', eval or all' : ' or eval'}, got '${m}'`)
}
