// Scale: compile time and graph size grow about linearly with the program. Two shapes:
// - a chain of 1,000 statements (normalisations, affine maps, tanh), each using the last;
// - a deeply shared DAG, x1 = x0 * x0 + x0, x2 = x1 * x1 + x1, …: every node is used twice, so
//   anything that walks paths instead of nodes takes 2^depth steps.
// Hash-consing keeps the derived graph linear; the bounds (2x the size, < 4x the time, best of
// three) would catch an exponential walk, which the DAG had in the schedule (fixed: spec/
// reliability.md). Measured numbers are in spec/reliability.md.

import { describe, expect, it } from 'vitest'
import type { CheckedLayer } from '../../compiler/check/index.js'
import { emitLayer } from '../../compiler/emit/js/index.js'
import { frontend } from '../../compiler/frontend.js'
import { topoOrder } from '../../compiler/ir/index.js'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { planLayer } from '../../compiler/schedule/index.js'
import { checkStepBody } from '../../fuzz/codecheck.js'
import { maxRelError } from '../../runtime/compare.js'
import { JsLayer } from '../../runtime/js/index.js'
import { runStepJs } from '../../runtime/js/step.js'
import { runStepInterp } from '../../runtime/step.js'
import { WasmLayer } from '../../runtime/wasm/index.js'

export function chainSource(n: number): string {
  const lines: string[] = []
  for (let i = 0; i < n; i++) {
    const p = i === 0 ? 'x' : `t${i - 1}`
    lines.push(
      i % 4 === 0
        ? `t${i} = ${p} - mean(${p}, [N])`
        : i % 4 === 1
          ? `t${i} = ${p} * rsqrt(mean(${p} ^ 2, [N]) + eps)`
          : i % 4 === 2
            ? `t${i} = g * ${p} + b`
            : `t${i} = tanh(${p}) + 0.5 * ${p}`,
    )
  }
  return `layer L(x: [N, C]) -> y {\n  hyper eps = 1e-5\n  param g: [C] = 1\n  param b: [C] = 0\n  forward {\n${lines.map((l) => `    ${l}\n`).join('')}    y = t${n - 1}\n  }\n}\n`
}

export function dagSource(n: number): string {
  const lines = Array.from({ length: n }, (_, k) => `    x${k + 1} = x${k} * x${k} + x${k}\n`)
  return `layer L(x0: [N]) -> y {\n  forward {\n${lines.join('')}    y = x${n}\n  }\n}\n`
}

function layerOf(text: string): CheckedLayer {
  const fe = frontend([{ file: 'scale.norm', text }])
  expect(fe.diagnostics.filter((d) => d.severity === 'error')).toEqual([])
  return fe.layers[0]!
}

/** Best of three: the time of `f` with the least interference. */
function best(f: () => void): number {
  let t = Infinity
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now()
    f()
    t = Math.min(t, performance.now() - t0)
  }
  return t
}

/** Nodes of the simplified forward and backward. */
function nodeCount(layer: CheckedLayer): { raw: number; simplified: number } {
  const count = (simplify: boolean) => {
    const g = compileLayerGraphs(layer, 'train', { simplify })
    return topoOrder([...g.forward.outputs, ...g.backward.program.outputs].map((o) => o.node))
      .length
  }
  return { raw: count(false), simplified: count(true) }
}

describe('compile time and graph size grow about linearly', () => {
  it(
    '1,000 statements: graphs linear; lower + grad + simplify linear; the schedule within bounds; generated code linear',
    { timeout: 120_000 },
    () => {
      const sizes = [250, 500, 1000]
      const counts = sizes.map((n) => nodeCount(layerOf(chainSource(n))))
      for (let k = 1; k < sizes.length; k++) {
        expect(counts[k]!.raw / counts[k - 1]!.raw).toBeLessThan(2.2)
        expect(counts[k]!.simplified / counts[k - 1]!.simplified).toBeLessThan(2.2)
      }
      const layers = sizes.map((n) => layerOf(chainSource(n)))
      const compile = layers.map((l) => best(() => compileLayerGraphs(l, 'train')))
      expect(compile[2]! / compile[1]!).toBeLessThan(4)
      // The schedule grows a little faster than linearly (spec/reliability.md): a generous bound.
      const graphs = compileLayerGraphs(layers[2]!, 'train')
      expect(best(() => planLayer(graphs))).toBeLessThan(20_000)
      // Generated code is linear too: a long elementwise chain is not recomputed inline stage
      // after stage (it was: 2.5 million lines of backward at 400 statements).
      const lines = layers.map((l) => {
        const e = emitLayer(planLayer(compileLayerGraphs(l, 'train')))
        return (e.forward.body + e.backward.body).split('\n').length
      })
      for (let k = 1; k < sizes.length; k++) expect(lines[k]! / lines[k - 1]!).toBeLessThan(2.2)
      expect(lines[2]!).toBeLessThan(1_000_000)
    },
  )

  it(
    'a 400-deep shared DAG: every phase linear, emit included (the schedule walked 2^depth paths)',
    { timeout: 120_000 },
    () => {
      const sizes = [200, 400, 800]
      const counts = sizes.map((n) => nodeCount(layerOf(dagSource(n))))
      for (let k = 1; k < sizes.length; k++)
        expect(counts[k]!.simplified / counts[k - 1]!.simplified).toBeLessThan(2.2)
      const times = sizes.map((n) => {
        const layer = layerOf(dagSource(n))
        return best(() => emitLayer(planLayer(compileLayerGraphs(layer, 'train'))))
      })
      expect(times[2]! / times[1]!).toBeLessThan(4)
      expect(times[2]!).toBeLessThan(10_000)
    },
  )

  it('a 30-deep DAG compiles at once (2^30 paths would never finish)', { timeout: 30_000 }, () => {
    const t0 = performance.now()
    emitLayer(planLayer(compileLayerGraphs(layerOf(dagSource(30)), 'train')))
    expect(performance.now() - t0).toBeLessThan(5_000)
  })
})

describe('long programs run on the CPU targets', () => {
  it(
    '1,000 statements: the js and wasm steps run (the js step overflowed the stack past 600; the wasm module had over 1,000 parameters past 250), and agree with the interpreter',
    { timeout: 120_000 },
    () => {
      const layer = layerOf(chainSource(1000))
      const x = Float64Array.from({ length: 48 }, (_, i) => Math.sin(i))
      const dy = new Float64Array(48).fill(1)
      const c = { axes: { N: 8, C: 6 }, hyper: {}, inputs: { x }, dy }
      const ref = runStepInterp(layer, 'train', c)
      for (const Layer of [JsLayer, WasmLayer]) {
        const r = runStepJs(layer, 'train', c, 'f64', Layer)
        // The forward is well conditioned; the gradient through 250 normalisations is not
        // (a relative change of 1e-16 becomes O(1)): it must only be finite.
        expect(maxRelError(r.outputs.y!, ref.outputs.y!), Layer.name).toBeLessThan(1e-13)
        for (const g of Object.values(r.grads!)) expect(g.every(Number.isFinite)).toBe(true)
      }
      // The js step wraps each stage in a function of its own only at this size; the code check
      // of the fuzzer accepts that form.
      const body = emitLayer(planLayer(compileLayerGraphs(layer, 'train'))).backward.body
      expect(body).toContain(';(() => {')
      expect(checkStepBody(body)).toEqual([])
    },
  )
})
