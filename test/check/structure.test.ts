// Which normalization properties apply, read off the graph of each example (spec/README.md §10),
// and why not where they do not.

import { describe, expect, it } from 'vitest'
import { frontend } from '../../compiler/frontend.js'
import { layerStructure } from '../../runtime/check/index.js'
import { example, modesOf } from './helpers.js'

type Holds = [zeroSum: boolean, ortho: boolean, shift: boolean, scale: boolean]

/** The table of spec/README.md §10, as the checker derives it. */
const table: Record<string, Holds> = {
  'BatchNorm1d train': [true, true, true, true],
  'BatchNorm1d eval': [false, false, false, false],
  'BatchNorm2d train': [true, true, true, true],
  'BatchNorm2d eval': [false, false, false, false],
  'BatchRenorm train': [true, true, false, false],
  'BatchRenorm eval': [false, false, false, false],
  'GroupNorm train': [true, true, true, true],
  'InstanceNorm2d train': [true, true, true, true],
  'InstanceNorm2d eval': [false, false, false, false],
  'LayerNorm train': [true, true, true, true],
  'RMSNorm train': [false, true, false, true],
}

const files = [
  'batchnorm1d',
  'batchnorm2d',
  'batchrenorm',
  'groupnorm',
  'instancenorm',
  'layernorm',
  'rmsnorm',
]

describe('properties from the structure of the graph', () => {
  for (const f of files) {
    const fe = frontend([example(f)])
    for (const layer of fe.layers)
      for (const mode of modesOf(layer)) {
        const key = `${layer.decl.name} ${mode}`
        it(key, () => {
          const s = layerStructure(layer, mode, fe.sources).inputs[0]!
          expect([s.zeroSum.holds, s.ortho.holds, s.shift.holds, s.scale.holds]).toEqual(table[key])
        })
      }
  }

  it('the reasons: groups, eps, what breaks the invariances', () => {
    const struct = (f: string, mode: 'train' | 'eval' = 'train') => {
      const fe = frontend([example(f)])
      return layerStructure(fe.layers[0]!, mode, fe.sources)
    }
    const gn = struct('groupnorm').inputs[0]!
    expect(gn.group).toEqual({ axes: ['N', 'G', 'K', 'H', 'W'], over: ['K', 'H', 'W'] })
    expect(gn.eps).toEqual([{ kind: 'hyper', name: 'eps' }])
    const brn = struct('batchrenorm')
    expect(brn.stops.map((s) => [s.label, s.dependsOn, s.states])).toEqual([
      ['r', ['x'], ['sigma']],
      ['d', ['x'], ['mu', 'sigma']],
    ])
    expect(brn.inputs[0]!.shift.why).toBe(
      'x reaches the output outside its centering x − mean(x, [N]), through the stop_gradient value d (which also depends on the state mu, sigma)',
    )
    expect(brn.inputs[0]!.scale.why).toMatch(
      /through the stop_gradient value r \(which also depends on the state sigma\)/,
    )
    expect(struct('batchnorm2d', 'eval').inputs[0]!.zeroSum.why).toBe(
      'x is never centered (no x − mean(x, R) in the forward graph)',
    )
    const rms = struct('rmsnorm').inputs[0]!
    expect(rms.centered).toBe(false)
    expect(rms.normalized).toBe(true)
    expect(rms.group).toEqual({ axes: ['B', 'D'], over: ['D'] })
  })
})
