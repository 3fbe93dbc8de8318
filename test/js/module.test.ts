// The ES module of `normc compile --target js`, used as a user would: allocate the buffers its
// tables describe, hand the forward's saved values to the backward by their keys, and get the
// same numbers as the in-process runtime.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { layerModule } from '../../compiler/emit/js/module.js'
import { compile } from '../../runtime/index.js'
import { loadExample } from '../helpers/examples.js'
import { root } from '../helpers/oracle.js'

type Table = [string, string | null, string[]][]
type Step = (B: (Float32Array | Float64Array)[], S: number[], H: number[]) => void
interface Meta {
  axes: string[]
  hypers: [string, number][]
  params: [string, string[], number][]
  state: [string, string[], number][]
  modes: Record<string, { forward: Table; backward: Table }>
}

const dir = mkdtempSync(join(tmpdir(), 'normc-module-'))

describe('normc compile --target js: the module runs like the runtime', () => {
  for (const [file, name, sizes] of [
    ['batchnorm2d.norm', 'BatchNorm2d', { N: 5, C: 3, H: 4, W: 6 }],
    ['batchnorm2d_nhwc.norm', 'BatchNorm2dNHWC', { N: 5, H: 4, W: 6, C: 7 }],
    ['batchrenorm.norm', 'BatchRenorm', { N: 9, C: 6 }],
    ['layernorm.norm', 'LayerNorm', { B: 7, D: 10 }],
  ] as const) {
    it(`${name}, f32: forward and backward through the module's tables`, async () => {
      const layer = loadExample(file).find((l) => l.decl.name === name)!
      const { js } = await layerModule(layer, 'f32')
      const path = join(dir, `${name}.mjs`)
      writeFileSync(path, js)
      const mod = (await import(pathToFileURL(path).href)) as { meta: Meta } & Record<string, Step>
      const meta = mod.meta
      const S = meta.axes.map((a) => (sizes as Record<string, number>)[a]!)
      const H = meta.hypers.map(([, v]) => v)
      const count = (axes: string[]) =>
        axes.reduce((n, a) => n * (sizes as Record<string, number>)[a]!, 1)

      // The runtime, for reference.
      const ref = compile(readFileSync(join(root, 'examples', file), 'utf8'), { precision: 'f32' })
      const rl = ref.layer(name, { axes: sizes })
      const params = rl.initParams()
      for (const v of Object.values(params)) v.forEach((_, i) => (v[i] = 0.5 + 0.1 * i))
      const state = rl.initState()
      for (const v of Object.values(state)) v.forEach((_, i) => (v[i] += 0.2 * i))
      const xAxes = meta.modes.train!.forward.find(([r, n]) => r === 'input' && n === 'x')![2]
      const x = new Float32Array(count(xAxes)).map((_, i) => Math.sin(i * 1.3) * 2 + 0.3)
      const dy = new Float32Array(x.length).map((_, i) => Math.cos(i * 0.7))
      const stateBefore = Object.fromEntries(Object.entries(state).map(([k, v]) => [k, v.slice()]))
      const want = rl.forward({ x }, { mode: 'train', params, state })
      const wantGrads = rl.backward(want.saved, dy)

      // The module, wired by hand from meta.
      const st = Object.fromEntries(Object.entries(stateBefore).map(([k, v]) => [k, v.slice()]))
      const saved = new Map<string, Float64Array>()
      const outputs: Record<string, Float32Array> = {}
      const updates: Record<string, Float64Array> = {}
      const bind = (table: Table, step: 'forward' | 'backward') =>
        table.map(([role, key, axes]) => {
          const n = count(axes)
          switch (role) {
            case 'input':
              return x
            case 'param':
              return params[key!]!
            case 'state':
              return st[key!]!
            case 'dy':
              return dy
            case 'output':
              return (outputs[key!] = new Float32Array(n))
            case 'update':
              return (updates[key!] = new Float64Array(n))
            case 'saved': {
              if (step === 'backward') return saved.get(key!)!
              const b = new Float64Array(n)
              saved.set(key!, b)
              return b
            }
            default:
              return new Float64Array(n)
          }
        })
      const fwd = bind(meta.modes.train!.forward, 'forward')
      mod.forward_train!(fwd, S, H)
      for (const [k, v] of Object.entries(want.outputs)) expect([...outputs[k]!], k).toEqual([...v])
      for (const [k, v] of Object.entries(updates))
        expect([...Float32Array.from(v)], k).toEqual([...state[k]!])
      const bwd = bind(meta.modes.train!.backward, 'backward')
      expect(bwd.every((b) => b !== undefined)).toBe(true)
      mod.backward_train!(bwd, S, H)
      for (const [k, v] of Object.entries(wantGrads))
        expect([...outputs[`d${k}`]!], `d${k}`).toEqual([...v])
    })
  }
})
