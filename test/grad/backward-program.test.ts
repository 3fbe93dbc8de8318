// The derived backward pass is a program: it prints as a .norm layer that lints clean, runs to
// the same numbers as the derived gradient, and can itself be differentiated (double backward).

import { describe, expect, it } from 'vitest'
import { backwardLayer } from '../../compiler/backward.js'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { printLayer } from '../../compiler/print/index.js'
import { frontend } from '../../compiler/frontend.js'
import { evaluate } from '../../runtime/interp.js'
import { randomSizes, randomTensors, rng } from '../../runtime/random.js'
import { bindHypers, bindSizes } from '../../runtime/sizes.js'
import { allExampleLayers, modesOf } from '../helpers/examples.js'
import { fdError } from './fd.test.js'

describe('normc grad output', () => {
  for (const layer of allExampleLayers()) {
    for (const mode of modesOf(layer)) {
      it(`${layer.decl.name} ${mode}: prints, lints clean and runs to the same numbers`, () => {
        const g = compileLayerGraphs(layer, mode)
        const text = printLayer(backwardLayer(g))
        const fe = frontend([{ file: 'derived.norm', text }])
        expect(fe.diagnostics.filter((d) => d.severity === 'error')).toEqual([])
        const derived = fe.layers[0]!
        expect(derived.outputs.map((o) => o.name)).toEqual(
          g.backward.program.outputs.map((o) => o.name),
        )
        // Same inputs through both.
        const r = rng(7)
        const hypers = bindHypers(layer, layer.axes.has('G') ? { groups: 2 } : {})
        const sizes = bindSizes(layer, randomSizes(layer, hypers, r), hypers)
        const { tensors, dys } = randomTensors(layer, sizes, r)
        const env = { sizes, tensors: new Map([...tensors, ...dys]), hypers }
        const direct = evaluate(
          g.backward.program.outputs.map((o) => o.node),
          env,
        )
        const g2 = compileLayerGraphs(derived, 'train')
        const again = evaluate(
          g2.forward.outputs.map((o) => o.node),
          env,
        )
        direct.forEach((d, i) => {
          const a = again[i]!
          expect(a.length).toBe(d.length)
          for (let k = 0; k < d.length; k++)
            expect(Math.abs(a[k]! - d[k]!)).toBeLessThanOrEqual(
              1e-12 * Math.max(1, Math.abs(d[k]!)),
            )
        })
      })
    }
  }
})

describe('double backward', () => {
  for (const name of ['BatchNorm2d', 'LayerNorm', 'BatchRenorm']) {
    it(`${name}: second derivatives match finite differences of the first`, () => {
      const layer = allExampleLayers().find((l) => l.decl.name === name)!
      const g = compileLayerGraphs(layer, 'train')
      const fe = frontend([{ file: 'derived.norm', text: printLayer(backwardLayer(g)) }])
      const derived = fe.layers[0]!
      for (const seed of [11, 12]) expect(fdError(derived, 'train', seed)).toBeLessThan(1e-6)
    })
  }
})

describe('normc grad output with a free axis', () => {
  it('declares the free axis once (W and dy, inputs of the derived layer, use it)', () => {
    const src =
      'layer Lin(x: [B, D]) -> y {\n  axis H\n  param W: [D, H] = 0\n\n  forward {\n    y = sum(x * W, [D])\n  }\n}\n'
    const layer = frontend([{ file: 'lin.norm', text: src }]).layers[0]!
    const text = printLayer(backwardLayer(compileLayerGraphs(layer, 'train')))
    const fe = frontend([{ file: 'derived.norm', text }])
    expect(fe.diagnostics.filter((d) => d.severity === 'error')).toEqual([])
    expect(fe.layers[0]!.outputs.map((o) => o.name)).toEqual(['dx', 'dW'])
  })
})

/**
 * `normc grad` of `src` prints a layer that lints clean and runs, on the forward's tensors laid
 * out as the forward lays them out, to the derived gradients; and it can be differentiated again.
 */
function expectRoundTrip(src: string, axes: Record<string, number>, seed = 3): string {
  const layer = frontend([{ file: 'l.norm', text: src }]).layers[0]!
  let last = ''
  for (const mode of modesOf(layer)) {
    const g = compileLayerGraphs(layer, mode)
    const text = printLayer(backwardLayer(g))
    last = text
    const fe = frontend([{ file: 'derived.norm', text }])
    expect(fe.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([])
    const derived = fe.layers[0]!
    // The forward's inputs, params, state and dy, in the forward's layout: the derived layer
    // types each of them with the axes (and so the layout) it has in the forward.
    const byName = new Map(
      [...layer.inputs, ...layer.params, ...layer.states].map((t) => [t.name, t.axes]),
    )
    for (const t of derived.inputs)
      if (byName.has(t.name)) expect(t.axes, t.name).toEqual(byName.get(t.name))
    const r = rng(seed)
    const hypers = bindHypers(layer)
    const sizes = bindSizes(layer, axes, hypers)
    const { tensors, dys } = randomTensors(layer, sizes, r)
    const env = { sizes, tensors: new Map([...tensors, ...dys]), hypers }
    const direct = evaluate(
      g.backward.program.outputs.map((o) => o.node),
      env,
    )
    const g2 = compileLayerGraphs(derived, 'train')
    const again = evaluate(
      g2.forward.outputs.map((o) => o.node),
      { ...env, sizes: bindSizes(derived, axes, bindHypers(derived)) },
    )
    direct.forEach((d, i) => {
      const a = again[i]!
      expect(a.length).toBe(d.length)
      for (let k = 0; k < d.length; k++)
        expect(Math.abs(a[k]! - d[k]!)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(d[k]!)))
    })
    // Double backward: the derived layer's own backward prints a layer that checks.
    const text2 = printLayer(backwardLayer(compileLayerGraphs(derived, 'train')))
    const fe2 = frontend([{ file: 'derived2.norm', text: text2 }])
    expect(fe2.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([])
  }
  return last
}

describe('normc grad output with factor and free axes (known issue derived-factor-axes, fixed)', () => {
  it('a param on a factor axis (param gamma: [G], axis C = G * K)', () => {
    const text = expectRoundTrip(
      'layer L(x: [N, C]) -> y {\n  axis C = G * K\n  param gamma: [G] = 1\n  forward {\n    y = (x as [N, G, K]) * gamma as [N, C]\n  }\n}\n',
      { N: 3, C: 6, G: 2 },
    )
    expect(text).toContain('layer L_grad(x: [N, C], gamma: [G], dy: [N, C]) -> dx, dgamma {')
    expect(text).toContain('axis C = G * K')
  })

  it('a nested factorisation, params and state on factors, an output in the factor view', () => {
    const text = expectRoundTrip(
      'layer L(x: [B, S]) -> y: [M, L, K] {\n  hyper groups = 2\n  axis B = M * C\n  axis C = L * K\n  axis L = groups\n  param z: [M, L] = 1\n  param w: [K] = 0.5\n  state s: [L, K] = 0\n  train {\n    y = sum(((x as [M, C, S]) as [M, L, K, S]) * z, [S]) * w + s\n    s <- mean(y, [M])\n  }\n  eval {\n    y = sum(((x as [M, C, S]) as [M, L, K, S]) * z, [S]) * w * s\n  }\n}\n',
      { B: 12, S: 3, M: 2, K: 3 },
    )
    expect(text).toContain('dy: [M, L, K]')
  })

  it('free axes keep their declared order (param p: [B] before q: [A, B]; axis A, axis B)', () => {
    // Was: A and B became input axes of the derived layer in the order the signature first
    // shows them (B, then A), so q was read as [B, A]: every gradient wrong.
    expectRoundTrip(
      'layer L(x: [N]) -> y {\n  axis A\n  axis B\n  param p: [B] = 1\n  param q: [A, B] = 1\n  forward {\n    y = x * sum(sum(q * q, [A]) * p, [B])\n  }\n}\n',
      { N: 2, A: 2, B: 3 },
    )
  })

  it('a sized free axis (axis H = hidden) used by a param and the output', () => {
    // Was: "axis H is an input axis: its size comes from the input".
    expectRoundTrip(
      'layer L(x: [B, D]) -> y {\n  hyper hidden = 3\n  axis H = hidden\n  param W: [D, H] = 1\n  forward {\n    y = sum(x * W, [D])\n  }\n}\n',
      { B: 2, D: 2 },
    )
  })
})
