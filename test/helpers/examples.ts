// Loading the bundled examples (and other sources) for tests.

import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CheckedLayer } from '../../compiler/check/index.js'
import { frontend } from '../../compiler/frontend.js'
import { root } from './oracle.js'

export const exampleFiles = readdirSync(join(root, 'examples'))
  .filter((f) => f.endsWith('.norm'))
  .sort()

export function loadExample(file: string): CheckedLayer[] {
  const path = join(root, 'examples', file)
  const fe = frontend([{ file: path, text: readFileSync(path, 'utf8') }])
  if (fe.diagnostics.some((d) => d.severity === 'error')) throw new Error(`${file} does not check`)
  return fe.layers
}

export function checkSource(text: string, file = 'test.norm'): CheckedLayer[] {
  const fe = frontend([{ file, text }])
  const errors = fe.diagnostics.filter((d) => d.severity === 'error')
  if (errors.length)
    throw new Error(errors.map((d) => `${d.span.line}:${d.span.col}: ${d.message}`).join('\n'))
  return fe.layers
}

export const allExampleLayers = (): CheckedLayer[] => exampleFiles.flatMap(loadExample)
export const modesOf = (l: CheckedLayer): ('train' | 'eval')[] =>
  l.hasForward ? ['train'] : ['train', 'eval']
