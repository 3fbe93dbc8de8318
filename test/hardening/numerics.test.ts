// Numerics: the tolerance table of spec/tolerances.md holds; non-finite inputs propagate as IEEE
// arithmetic says, the same way through the interpreter (as written and simplified) and the js
// target in f64 and f32; eps = 0 with a constant channel gives the documented result (NaN in
// that channel, everything else untouched), not garbage.

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { CheckedLayer } from '../../compiler/check/index.js'
import { normc } from '../utils/cli.js'
import { frontend } from '../../compiler/frontend.js'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { runStepJs } from '../../runtime/js/step.js'
import { WasmLayer } from '../../runtime/wasm/index.js'
import { runStepInterp, type StepResult } from '../../runtime/step.js'
import {
  exampleCase,
  exampleLayers,
  measureExamples,
  measureOracle,
} from '../../fuzz/tolerances.js'

const modesOf = (l: CheckedLayer): ('train' | 'eval')[] =>
  l.hasForward ? ['train'] : ['train', 'eval']

/** Per tensor: N for NaN, + / − for ±Infinity, . for finite. */
function mask(r: StepResult): Record<string, string> {
  const m: Record<string, string> = {}
  for (const part of ['outputs', 'grads', 'state'] as const)
    for (const [k, v] of Object.entries(r[part] ?? {}))
      m[`${part}.${k}`] = [...v]
        .map((x) => (Number.isNaN(x) ? 'N' : x === Infinity ? '+' : x === -Infinity ? '-' : '.'))
        .join('')
  return m
}

describe('the tolerance table (spec/tolerances.md)', () => {
  it('oracle cases: interpreter and js f64 within 1e-9 (1e-14 but for the large offset), js f32 within 1e-6', async () => {
    for (const row of await measureOracle()) {
      const offset = /offset/.test(row.what)
      expect(row.errors.interp, row.what).toBeLessThan(offset ? 1e-9 : 1e-14)
      expect(row.errors['js f64'], row.what).toBeLessThan(offset ? 1e-9 : 1e-14)
      expect(row.errors['js f32'], row.what).toBeLessThan(1e-6)
      expect(row.errors['wasm f64'], row.what).toBeLessThan(offset ? 1e-9 : 1e-14)
      expect(row.errors['wasm f32'], row.what).toBeLessThan(1e-6)
    }
  })

  it(
    'examples on random inputs: ordinary, constant channel, large offset',
    { timeout: 120_000 },
    () => {
      for (const row of measureExamples(2)) {
        const [, , variant] = row.what.split(' ')
        const e = row.errors
        expect(e['js f64'], row.what).toBeLessThan(1e-13)
        expect(e['wasm f64'], row.what).toBeLessThan(1e-13)
        // The wasm target computes what the js target does, two lanes at a time: one rounding.
        expect(e['wasm f32 (same inputs)'], row.what).toBeLessThan(
          variant === 'offset' ? 1e-5 : 1e-6,
        )
        if (variant === 'offset') {
          // runtime/fd.ts caps its step by the spread of the data (was a step of 1 at a 1e4
          // offset, an error of O(1)); an absolute step of 1e-4 is a little worse.
          expect(e.fd, row.what).toBeLessThan(1e-5)
          expect(e['fd (absolute step)'], row.what).toBeLessThan(1e-4)
          expect(e['js f32 (same inputs)'], row.what).toBeLessThan(1e-5)
          // f32 inputs at 1e4 lose 1e-3 each: an error of ulp(1e4) / σ, data-dependent.
          expect(e['js f32 (end to end)'], row.what).toBeLessThan(1e-1)
        } else {
          expect(e.fd, row.what).toBeLessThan(1e-6)
          // One rounding of each output: nothing the step reuses is read back rounded (dx
          // reused the f32 output dβ, 1.7e-5 on a constant channel, before that was fixed).
          expect(e['js f32 (same inputs)'], row.what).toBeLessThan(1e-6)
          expect(e['js f32 (end to end)'], row.what).toBeLessThan(1e-4)
        }
      }
    },
  )
})

describe('NaN and ±Infinity inputs propagate as IEEE says', () => {
  for (const layer of exampleLayers())
    for (const mode of modesOf(layer))
      for (const bad of [NaN, Infinity, -Infinity])
        it(`${layer.decl.name} ${mode}, x[1] = ${bad}: the same NaN/Inf everywhere in every target`, () => {
          const c = exampleCase(layer, 3, 'plain')
          c.inputs[layer.inputs[0]!.name]![1] = bad
          // The program as written, op by op: IEEE's answer.
          const ieee = mask(
            runStepInterp(layer, mode, c, compileLayerGraphs(layer, mode, { simplify: false })),
          )
          expect(mask(runStepInterp(layer, mode, c)), 'interp').toEqual(ieee)
          expect(mask(runStepJs(layer, mode, c, 'f64')), 'js f64').toEqual(ieee)
          expect(mask(runStepJs(layer, mode, c, 'f32')), 'js f32').toEqual(ieee)
          expect(mask(runStepJs(layer, mode, c, 'f64', WasmLayer)), 'wasm f64').toEqual(ieee)
          expect(mask(runStepJs(layer, mode, c, 'f32', WasmLayer)), 'wasm f32').toEqual(ieee)
          // Something is not finite, and not everything is (the damage stays where IEEE puts it).
          const all = Object.values(ieee).join('')
          expect(all).toMatch(/[N+-]/)
          expect(all).toMatch(/\./)
        })

  it('BatchNorm2d train: one NaN spoils its channel and its statistics, nothing else', () => {
    const layer = exampleLayers().find((l) => l.decl.name === 'BatchNorm2d')!
    const c = { ...exampleCase(layer, 1, 'plain'), axes: { N: 2, C: 3, H: 2, W: 2 } }
    const n = 2 * 3 * 2 * 2
    c.inputs = Object.assign(Object.create(null), {
      x: Float64Array.from({ length: n }, (_, i) => Math.sin(i)),
    })
    c.dy = Float64Array.from({ length: n }, (_, i) => 1 + Math.cos(i))
    c.inputs.x![4] = NaN // n = 0, c = 1
    const channelOf = (i: number) => Math.floor(i / 4) % 3
    for (const r of [runStepInterp(layer, 'train', c), runStepJs(layer, 'train', c, 'f64')]) {
      for (let i = 0; i < n; i++) {
        expect(Number.isNaN(r.outputs.y![i]!), `y[${i}]`).toBe(channelOf(i) === 1)
        expect(Number.isNaN(r.grads!.x![i]!), `dx[${i}]`).toBe(channelOf(i) === 1)
      }
      expect([...r.grads!.gamma!].map(Number.isNaN)).toEqual([false, true, false])
      expect([...r.grads!.beta!].map(Number.isNaN)).toEqual([false, false, false])
      expect([...r.state.running_mean!].map(Number.isNaN)).toEqual([false, true, false])
      expect([...r.state.running_var!].map(Number.isNaN)).toEqual([false, true, false])
    }
  })
})

describe('eps = 0 with a constant channel', () => {
  const layers = exampleLayers()

  it('BatchNorm2d: that channel is 0/0 = NaN in y and in its gradients; the rest is unchanged', () => {
    const layer = layers.find((l) => l.decl.name === 'BatchNorm2d')!
    const c = exampleCase(layer, 2, 'constant') // channel 0 is constant (0.25)
    const C = c.axes.C!
    const inner = c.axes.H! * c.axes.W!
    const channelOf = (i: number) => Math.floor(i / inner) % C
    const base = runStepInterp(layer, 'train', c)
    for (const eps of [0]) {
      const c0 = { ...c, hyper: { eps } }
      for (const r of [
        runStepInterp(layer, 'train', c0),
        runStepJs(layer, 'train', c0, 'f64'),
        runStepJs(layer, 'train', c0, 'f32'),
      ]) {
        r.outputs.y!.forEach((v, i) => {
          if (channelOf(i) === 0) expect(v, `y[${i}]`).toBeNaN()
          else expect(Math.abs(v - base.outputs.y![i]!), `y[${i}]`).toBeLessThan(1e-4)
        })
        r.grads!.x!.forEach((v, i) => expect(Number.isNaN(v), `dx[${i}]`).toBe(channelOf(i) === 0))
        expect(Number.isNaN(r.grads!.gamma![0]!)).toBe(true)
        // dβ = Σ dy does not see x: finite. The running statistics are the batch's: finite (var 0).
        expect([...r.grads!.beta!].every(Number.isFinite)).toBe(true)
        expect([...r.state.running_mean!, ...r.state.running_var!].every(Number.isFinite)).toBe(
          true,
        )
      }
    }
  })

  it('normc run says so on stderr (the JSON stays IEEE), and says nothing when all is finite', () => {
    const dir = mkdtempSync(join(tmpdir(), 'normc-eps0-'))
    const file = (name: string, x: number[]) => {
      const p = join(dir, name)
      writeFileSync(
        p,
        JSON.stringify({
          axes: { N: 2, C: 2, H: 1, W: 2 },
          hyper: { eps: 0 },
          inputs: { x },
          dy: [1, 1, 1, 1, 1, 1, 1, 1],
        }),
      )
      return p
    }
    // Channel 0 is x[n, 0, 0, :]: elements 0, 1, 4, 5.
    const constant = normc([
      'run',
      'examples/batchnorm2d.norm',
      '--input',
      file('c.json', [1, 1, 3, 4, 1, 1, 3, 6]),
    ])
    expect(constant.code).toBe(0)
    expect(JSON.parse(constant.stdout).y[0]).toBe('NaN')
    expect(constant.stderr.trim()).toBe(
      'normc run: warning: finite inputs gave non-finite values: y (4 NaN of 8), grads.x (4 NaN of 8), grads.gamma (1 NaN of 2) (a division by zero, or the log or sqrt of a negative number, somewhere in the step)',
    )
    const varied = normc([
      'run',
      'examples/batchnorm2d.norm',
      '--input',
      file('v.json', [1, 2, 3, 4, 1, 5, 3, 6]),
    ])
    expect(varied.code).toBe(0)
    expect(varied.stderr).toBe('')
    // Non-finite inputs propagate without a warning: the user gave them.
    const given = normc([
      'run',
      'examples/batchnorm2d.norm',
      '--input',
      file('n.json', [1, 1, 3, 4, 1, 1, 3, 6].map((v, i) => (i === 2 ? 'NaN' : v)) as number[]),
    ])
    expect(given.code).toBe(0)
    expect(given.stderr).toBe('')
  })

  it('LayerNorm and RMSNorm: a constant row gives NaN in LayerNorm (0/0), finite in RMSNorm (x ≠ 0)', () => {
    for (const [name, nan] of [
      ['LayerNorm', true],
      ['RMSNorm', false],
    ] as const) {
      const layer = layers.find((l) => l.decl.name === name)!
      const c = { ...exampleCase(layer, 1, 'plain'), hyper: { eps: 0 } }
      const D = c.axes.D!
      const x = c.inputs.x!
      for (let d = 0; d < D; d++) x[d] = 0.25 // row 0 constant
      for (const r of [runStepInterp(layer, 'train', c), runStepJs(layer, 'train', c, 'f64')]) {
        const row0 = [...r.outputs.y!.slice(0, D)]
        expect(row0.every(Number.isNaN), name).toBe(nan)
        expect([...r.outputs.y!.slice(D)].every(Number.isFinite), name).toBe(true)
      }
    }
  })

  it('a layer can guard itself: max(var, eps) keeps a constant channel finite even at eps = 0', () => {
    const text = `layer SafeNorm(x: [N, C]) -> y {
  forward {
    mu = mean(x, [N])
    var = mean((x - mu) ^ 2, [N])
    y = (x - mu) / sqrt(max(var, 1e-12))
  }
}
`
    const layer = frontend([{ file: 'safe.norm', text }]).layers[0]!
    const c = {
      axes: { N: 3, C: 2 },
      hyper: {},
      inputs: Object.assign(Object.create(null), { x: Float64Array.of(1, 5, 1, 6, 1, 7) }),
      dy: Float64Array.of(1, 1, 2, 2, 3, 3),
    }
    for (const r of [runStepInterp(layer, 'train', c), runStepJs(layer, 'train', c, 'f64')]) {
      expect([...r.outputs.y!].every(Number.isFinite)).toBe(true)
      expect([...r.grads!.x!].every(Number.isFinite)).toBe(true)
    }
  })
})
