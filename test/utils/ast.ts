// Helpers shared by the grammar and printer tests.

import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** A deep copy of an AST without its spans (`span` and every `…Span` field). */
export function stripSpans<T>(node: T): T {
  if (Array.isArray(node)) return node.map((x) => stripSpans(x)) as T
  if (node === null || typeof node !== 'object') return node
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(node)) {
    if (k === 'span' || k.endsWith('Span') || v === undefined) continue
    out[k] = stripSpans(v)
  }
  return out as T
}

export interface ExampleFile {
  /** The path relative to the repository root, e.g. `examples/layernorm.norm`. */
  file: string
  text: string
}

/** Every `examples/*.norm` file. */
export function exampleFiles(): ExampleFile[] {
  const dir = join(repoRoot, 'examples')
  return readdirSync(dir)
    .filter((f) => f.endsWith('.norm'))
    .sort()
    .map((f) => ({ file: `examples/${f}`, text: readFileSync(join(dir, f), 'utf8') }))
}
