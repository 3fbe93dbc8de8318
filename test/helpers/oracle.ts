// The PyTorch float64 oracle cases (../shared/oracle/cases), mapped onto the example layers.
// Leading batch axes are flattened and missing spatial axes are size 1, which is exact for
// row-major data: BatchNorm1d over [N, C, L] is BatchNorm2d with H = L, W = 1.

import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { RunCase } from '../../runtime/case.js'
import { expect } from 'vitest'
import { maxRelError } from '../../runtime/compare.js'

export { maxRelError }

const here = dirname(fileURLToPath(import.meta.url))
export const root = join(here, '..', '..')
export const oracleDir = join(root, '..', 'shared', 'oracle', 'cases')

export interface OracleCase {
  name: string
  example: string
  layer: string
  mode: 'train' | 'eval'
  run: RunCase
  expectError: boolean
  errorMessage?: string
  expected: {
    outputs: Record<string, number[]>
    grads: Record<string, number[]>
    state: Record<string, number[]>
  }
  /** Large-offset cases, where float32 tolerances are looser. */
  largeOffset: boolean
  raw: any
}

const f64 = (a: number[]) => Float64Array.from(a)

export function mapCase(raw: any): OracleCase {
  const shape: number[] = raw.shape
  const h = raw.hyper
  const hyper: Record<string, number> = {}
  for (const k of ['eps', 'momentum', 'rmax', 'dmax'] as const)
    if (typeof h[k] === 'number') hyper[k] = h[k]
  let example: string
  let layer: string
  let axes: Record<string, number>
  const spatial = (s: number[]) => ({ H: s[2] ?? 1, W: s.slice(3).reduce((a, b) => a * b, 1) })
  switch (raw.layer) {
    case 'batch_norm':
      example = 'batchnorm2d.norm'
      layer = 'BatchNorm2d'
      axes = { N: shape[0]!, C: shape[1]!, ...spatial(shape) }
      break
    case 'instance_norm':
      example = 'instancenorm.norm'
      layer = 'InstanceNorm2d'
      axes = { N: shape[0]!, C: shape[1]!, ...spatial(shape) }
      break
    case 'group_norm':
      example = 'groupnorm.norm'
      layer = 'GroupNorm'
      axes = { N: shape[0]!, C: shape[1]!, ...spatial(shape) }
      hyper.groups = h.groups
      break
    case 'layer_norm':
    case 'rms_norm': {
      const d = (h.normalized_shape as number[]).reduce((a, b) => a * b, 1)
      const total = shape.reduce((a, b) => a * b, 1)
      example = raw.layer === 'layer_norm' ? 'layernorm.norm' : 'rmsnorm.norm'
      layer = raw.layer === 'layer_norm' ? 'LayerNorm' : 'RMSNorm'
      axes = { B: total / d, D: d }
      break
    }
    case 'batch_renorm':
      example = 'batchrenorm.norm'
      layer = 'BatchRenorm'
      axes = { N: shape[0]!, C: shape[1]! }
      break
    default:
      throw new Error(`unknown oracle layer ${raw.layer}`)
  }
  const inputs: Record<string, Float64Array> = {}
  for (const [k, v] of Object.entries(raw.inputs as Record<string, number[] | null>))
    if (v) inputs[k] = f64(v)
  const e = raw.expected ?? {}
  const grads: Record<string, number[]> = {}
  if (e.dx) grads.x = e.dx
  if (e.dgamma) grads.gamma = e.dgamma
  if (e.dbeta) grads.beta = e.dbeta
  const state: Record<string, number[]> = {}
  for (const [k, v] of Object.entries(e))
    if (k.endsWith('_after')) state[k.slice(0, -'_after'.length)] = v as number[]
  const outputs: Record<string, number[]> = e.y ? { y: e.y } : {}
  return {
    name: raw.name ?? '',
    example,
    layer,
    mode: raw.mode === 'eval' ? 'eval' : 'train',
    run: { axes, hyper, inputs, dy: f64(raw.dy) },
    expectError: !!raw.expect_error,
    errorMessage: raw.error?.message,
    expected: { outputs, grads, state },
    largeOffset: /large_offset|offset/.test(raw.name ?? ''),
    raw,
  }
}

export function loadOracleCases(): OracleCase[] {
  return readdirSync(oracleDir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const c = mapCase(JSON.parse(readFileSync(join(oracleDir, f), 'utf8')))
      c.name = f.replace(/\.json$/, '')
      return c
    })
}

/** Every output, gradient and state of a step within `tol` of the oracle case's expected values. */
export function expectMatchesOracle(
  r: {
    outputs: Record<string, ArrayLike<number>>
    grads?: Record<string, ArrayLike<number>>
    state: Record<string, ArrayLike<number>>
  },
  c: OracleCase,
  tol: number,
): void {
  for (const [k, v] of Object.entries(c.expected.outputs))
    expect(maxRelError(r.outputs[k]!, v), k).toBeLessThan(tol)
  for (const [k, v] of Object.entries(c.expected.grads))
    expect(maxRelError(r.grads![k]!, v), 'd' + k).toBeLessThan(tol)
  for (const [k, v] of Object.entries(c.expected.state))
    expect(maxRelError(r.state[k]!, v), k).toBeLessThan(tol)
}
