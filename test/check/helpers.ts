// Helpers for the tests of `normc check`: run the checker on sources given as text, plant a
// mistake in a file by replacing a piece of it, and pick rows out of a report.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'vitest'
import { frontend, type Source } from '../../compiler/frontend.js'
import type { CheckedLayer } from '../../compiler/check/index.js'
import { checkLayer, type CheckOptions, type Row } from '../../runtime/check/index.js'
import { repoRoot } from '../utils/ast.js'

export const read = (rel: string): string => readFileSync(join(repoRoot, rel), 'utf8')
export const example = (name: string): Source => ({
  file: `examples/${name}.norm`,
  text: read(`examples/${name}.norm`),
})
export const spec = (name: string): Source => ({
  file: `spec/${name}.spec.norm`,
  text: read(`spec/${name}.spec.norm`),
})

/** `text` with `from` replaced by `to`; `from` must occur exactly once. */
export function plant(text: string, from: string, to: string): string {
  const parts = text.split(from)
  expect(parts.length, `'${from}' should occur once`).toBe(2)
  return parts.join(to)
}

export const modesOf = (l: CheckedLayer): ('train' | 'eval')[] =>
  l.hasForward ? ['train'] : ['train', 'eval']

/** Checks every layer of the sources (those defined in `only`, when given) in every mode. */
export function checkSources(sources: Source[], opts: CheckOptions = {}, only?: string[]): Row[] {
  const fe = frontend(sources)
  const errors = fe.diagnostics.filter((d) => d.severity === 'error')
  if (errors.length)
    throw new Error(
      errors.map((d) => `${d.file}:${d.span.line}:${d.span.col}: ${d.message}`).join('\n'),
    )
  const layers = fe.layers.filter((l) => !only || only.includes(l.file))
  return layers.flatMap((l) =>
    modesOf(l).flatMap((m) => checkLayer(l, m, { specs: fe.specs, sources: fe.sources, ...opts })),
  )
}

export const failing = (rows: Row[]): Row[] => rows.filter((r) => r.status === 'FAIL')

/** `layer mode wrt check` of each failing row, for readable assertions. */
export const failures = (rows: Row[]): string[] =>
  failing(rows).map((r) => `${r.mode} ${r.wrt} ${r.check}`)
