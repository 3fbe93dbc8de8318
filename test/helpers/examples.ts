// Loading the bundled examples (and other sources) for tests.

import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CheckedLayer } from '../../compiler/check/index.js'
import { frontend } from '../../compiler/frontend.js'
import type { RunCase } from '../../runtime/case.js'
import { randomSizes, randomTensors, rng, type Variant } from '../../runtime/random.js'
import { bindHypers } from '../../runtime/sizes.js'
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

/**
 * A random case for an example layer: sizes in [min, max] per axis (GroupNorm's groups = 2),
 * data of the variant; inputs rounded to float32 when `round` (then the f32 and f64 targets see
 * the same numbers).
 */
export function randomExampleCase(
  layer: CheckedLayer,
  seed: number,
  variant: Variant,
  opts: { min: number; max: number; round: boolean },
): RunCase {
  const r = rng(seed)
  const hyper: Record<string, number> = layer.axes.has('G') ? { groups: 2 } : {}
  const axes = randomSizes(layer, bindHypers(layer, hyper), r, opts.min, opts.max)
  const sizes = new Map(Object.entries(axes))
  for (const info of layer.axes.axes.values())
    if (info.factors) sizes.set(info.factors[1]!, axes[info.name]! / 2)
  const { tensors, dys } = randomTensors(layer, sizes, r, variant)
  const inputs: Record<string, Float64Array> = {}
  for (const [k, v] of tensors) inputs[k] = opts.round ? Float64Array.from(v, Math.fround) : v
  return { axes, hyper, inputs, dy: [...dys.values()][0]! }
}
