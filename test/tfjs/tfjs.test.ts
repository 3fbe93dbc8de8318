// normc layers inside TensorFlow.js models (runtime/tfjs): a small model with a normc
// BatchRenorm (and one with BatchNorm1d) is trained for a few steps next to a twin whose layer
// is the same math written in TF.js ops, differentiated by TF.js's own autodiff. Gradients,
// weights, state and eval outputs must agree step by step.

import * as tf from '@tensorflow/tfjs'
import '@tensorflow/tfjs-backend-cpu'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { compile } from '../../runtime/index.js'
import { toTfjsLayer, NormcTfjsLayer } from '../../runtime/tfjs/index.js'
import { root } from '../helpers/oracle.js'

const source = (file: string) => readFileSync(join(root, 'examples', file), 'utf8')

beforeAll(async () => {
  await tf.setBackend('cpu')
  await tf.ready()
})

/** TF.js 4.x has no stop-gradient op: an identity whose gradient is zero. */
const stopGradient = tf.customGrad((...args) => ({
  value: tf.clone(args[0] as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as (x: tf.Tensor) => tf.Tensor

/** The reference layers: the examples' math in TF.js ops, over [N, C]. */
class Reference extends tf.layers.Layer {
  static readonly className = 'NormcTestReference'
  private vars: Record<string, tf.LayerVariable> = {}
  constructor(
    private readonly kind: 'renorm' | 'bn',
    private readonly h: Record<string, number>,
  ) {
    super({})
  }
  override build(shape: (number | null)[]): void {
    const c = shape[1] as number
    const names =
      this.kind === 'renorm'
        ? { gamma: 1, beta: 0, mu: 0, sigma: 1 }
        : { gamma: 1, beta: 0, running_mean: 0, running_var: 1 }
    for (const [n, v] of Object.entries(names)) {
      const trainable = n === 'gamma' || n === 'beta'
      const init = tf.initializers.constant({ value: v })
      this.vars[n] = this.addWeight(n, [c], 'float32', init, undefined, trainable)
    }
  }
  override computeOutputShape(shape: (number | null)[]): (number | null)[] {
    return shape
  }
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs
    const v = (n: string) => this.vars[n]!.read()
    const { eps, momentum } = this.h as { eps: number; momentum: number }
    const lerp = (name: string, b: tf.Tensor) =>
      this.vars[name]!.write(tf.add(v(name), tf.mul(momentum, tf.sub(b, v(name)))))
    const training = kwargs['training'] === true
    if (this.kind === 'renorm') {
      const { rmax, dmax } = this.h as { rmax: number; dmax: number }
      if (!training)
        return tf.add(tf.div(tf.mul(v('gamma'), tf.sub(x, v('mu'))), v('sigma')), v('beta'))
      const muB = tf.mean(x, 0)
      const sigmaB = tf.sqrt(tf.add(tf.mean(tf.square(tf.sub(x, muB)), 0), eps))
      const r = stopGradient(tf.clipByValue(tf.div(sigmaB, v('sigma')), 1 / rmax, rmax))
      const d = stopGradient(tf.clipByValue(tf.div(tf.sub(muB, v('mu')), v('sigma')), -dmax, dmax))
      const y = tf.add(
        tf.mul(v('gamma'), tf.add(tf.mul(tf.div(tf.sub(x, muB), sigmaB), r), d)),
        v('beta'),
      )
      lerp('mu', muB)
      lerp('sigma', sigmaB)
      return y
    }
    if (!training) {
      const xhat = tf.div(tf.sub(x, v('running_mean')), tf.sqrt(tf.add(v('running_var'), eps)))
      return tf.add(tf.mul(v('gamma'), xhat), v('beta'))
    }
    const m = x.shape[0]!
    const mu = tf.mean(x, 0)
    const variance = tf.mean(tf.square(tf.sub(x, mu)), 0)
    const y = tf.add(
      tf.div(tf.mul(v('gamma'), tf.sub(x, mu)), tf.sqrt(tf.add(variance, eps))),
      v('beta'),
    )
    lerp('running_mean', mu)
    lerp('running_var', tf.mul(variance, m / (m - 1)))
    return y
  }
}

function seeded(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

/** Data with a per-feature offset and scale, so the batch statistics move r and d away from 1 and 0. */
function data(n: number, c: number, seed: number): tf.Tensor2D {
  const r = seeded(seed)
  const v = Array.from({ length: n * c }, (_, i) => (r() - 0.5) * (1 + (i % c)) + 0.7 * (i % c))
  return tf.tensor2d(v, [n, c])
}

const C_IN = 3
const C = 4

/** dense → the layer under test → dense, with deterministic initial weights. */
function model(norm: tf.layers.Layer): tf.Sequential {
  const m = tf.sequential()
  m.add(tf.layers.dense({ inputShape: [C_IN], units: C, kernelInitializer: 'zeros' }))
  m.add(norm)
  m.add(tf.layers.dense({ units: 1, kernelInitializer: 'zeros' }))
  const r = seeded(7)
  m.setWeights(
    m.getWeights().map((w) =>
      tf.tensor(
        Array.from(w.dataSync(), () => r() * 2 - 0.5),
        w.shape,
      ),
    ),
  )
  return m
}

/** Weights by their name within the layer (dense_3/kernel → 0:kernel), comparable across twins. */
function weightsByRole(m: tf.Sequential): Map<string, tf.LayerVariable> {
  const out = new Map<string, tf.LayerVariable>()
  m.layers.forEach((l, i) =>
    l.weights.forEach((w) => out.set(`${i}:${w.originalName.split('/').pop()}`, w)),
  )
  return out
}

function expectClose(a: tf.Tensor, b: tf.Tensor, what: string, tol = 2e-4): void {
  const x = a.dataSync()
  const y = b.dataSync()
  expect(a.shape, what).toEqual(b.shape)
  let scale = 1
  for (const v of y) scale = Math.max(scale, Math.abs(v))
  let err = 0
  for (let i = 0; i < x.length; i++) err = Math.max(err, Math.abs(x[i]! - y[i]!))
  expect(err / scale, `${what}: max |normc - tf| = ${err}`).toBeLessThan(tol)
}

/** Loss of a model on (x, t): mean squared error, in training mode. */
const loss = (m: tf.Sequential, x: tf.Tensor, t: tf.Tensor) => () =>
  tf.losses.meanSquaredError(t, m.apply(x, { training: true }) as tf.Tensor) as tf.Scalar

const cases: {
  label: string
  file: string
  name: string
  kind: 'renorm' | 'bn'
  hyper: Record<string, number>
  state: string[]
}[] = [
  {
    label: 'BatchRenorm',
    file: 'batchrenorm.norm',
    name: 'BatchRenorm',
    kind: 'renorm' as const,
    // rmax small enough that the clamp of r is active on some channels.
    hyper: { eps: 1e-3, momentum: 0.1, rmax: 1.5, dmax: 0.5 },
    state: ['mu', 'sigma'],
  },
  {
    label: 'BatchNorm1d',
    file: 'batchnorm1d.norm',
    name: 'BatchNorm1d',
    kind: 'bn' as const,
    hyper: { eps: 1e-5, momentum: 0.1 },
    state: ['running_mean', 'running_var'],
  },
]

describe('toTfjsLayer', () => {
  for (const c of cases) {
    for (const target of ['js', 'wasm'] as const)
      it(`${c.label} (${target} target): gradients, weights and state match TF.js autodiff over training steps`, () => {
        const mod = compile(source(c.file), { target })
        const ours = model(toTfjsLayer(mod.layer(c.name, { axes: { N: 8, C }, hyper: c.hyper })))
        const ref = model(new Reference(c.kind, c.hyper))
        const wa = weightsByRole(ours)
        const wb = weightsByRole(ref)
        expect([...wa.keys()].sort()).toEqual([...wb.keys()].sort())
        const trainable = [...wa.keys()].filter((k) => wa.get(k)!.trainable)
        expect(trainable).toEqual(expect.arrayContaining(['1:gamma', '1:beta']))
        const lr = 0.1
        // Batch sizes change between steps (a new normc instance per shape).
        const batches = [8, 8, 5, 8, 3]
        batches.forEach((n, step) => {
          const x = data(n, C_IN, 100 + step)
          const t = tf.tensor2d(
            Array.from({ length: n }, (_, i) => Math.sin(i + step)),
            [n, 1],
          )
          const ga = tf.variableGrads(
            loss(ours, x, t),
            trainable.map((k) => wa.get(k)!.read() as tf.Variable),
          )
          const gb = tf.variableGrads(
            loss(ref, x, t),
            trainable.map((k) => wb.get(k)!.read() as tf.Variable),
          )
          expectClose(ga.value, gb.value, `step ${step} loss`)
          for (const k of trainable) {
            const a = ga.grads[(wa.get(k)!.read() as tf.Variable).name]!
            const b = gb.grads[(wb.get(k)!.read() as tf.Variable).name]!
            expectClose(a, b, `step ${step} d${k}`)
            expect(
              Math.max(...Array.from(b.abs().dataSync())),
              `d${k} is not trivially zero`,
            ).toBeGreaterThan(0)
            wa.get(k)!.write(tf.sub(wa.get(k)!.read(), tf.mul(lr, a)))
            wb.get(k)!.write(tf.sub(wb.get(k)!.read(), tf.mul(lr, b)))
          }
          for (const s of c.state)
            expectClose(
              wa.get(`1:${s}`)!.read(),
              wb.get(`1:${s}`)!.read(),
              `step ${step} state ${s}`,
            )
        })
        // The state moved away from its initial value, and inference uses it.
        const s0 = wa.get(`1:${c.state[0]}`)!.read().dataSync()
        expect(Array.from(s0).some((v) => Math.abs(v) > 1e-3)).toBe(true)
        const xe = data(6, C_IN, 999) // a batch size not seen in training
        expectClose(
          ours.predict(xe) as tf.Tensor,
          ref.predict(xe) as tf.Tensor,
          'predict (eval mode)',
        )
        const norm = ours.layers[1] as NormcTfjsLayer
        expect(norm.compiledShapes.sort()).toEqual(['3x4', '5x4', '6x4', '8x4'])
        expect(new Set(norm.compiledTargets)).toEqual(new Set([target]))
      })

    it(`${c.label}: model.fit trains it like the TF.js twin`, async () => {
      const mod = compile(source(c.file))
      const ours = model(toTfjsLayer({ module: mod, name: c.name, hyper: c.hyper }))
      const ref = model(new Reference(c.kind, c.hyper))
      const x = data(20, C_IN, 5)
      const t = tf.tensor2d(
        Array.from({ length: 20 }, (_, i) => Math.cos(i)),
        [20, 1],
      )
      for (const m of [ours, ref])
        m.compile({ optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError' })
      // Batches of 6, 6, 6 and 2 per epoch; no shuffling, so both see the same batches.
      const ha = await ours.fit(x, t, { epochs: 3, batchSize: 6, shuffle: false, verbose: 0 })
      const hb = await ref.fit(x, t, { epochs: 3, batchSize: 6, shuffle: false, verbose: 0 })
      const la = ha.history['loss'] as number[]
      const lb = hb.history['loss'] as number[]
      la.forEach((v, i) =>
        expect(Math.abs(v - lb[i]!) / Math.max(1, Math.abs(lb[i]!))).toBeLessThan(2e-4),
      )
      expect(la[2]!).toBeLessThan(la[0]!)
      const wa = weightsByRole(ours)
      const wb = weightsByRole(ref)
      for (const [k, w] of wa) expectClose(w.read(), wb.get(k)!.read(), `after fit: ${k}`, 1e-3)
      expectClose(
        ours.predict(x) as tf.Tensor,
        ref.predict(x) as tf.Tensor,
        'predict after fit',
        1e-3,
      )
    })
  }

  it('stop_gradient is honoured: the gradient differs from differentiating through r and d', () => {
    // Guard against a reference that would agree with anything: without the stop, TF.js gives
    // another dx for the same BatchRenorm forward.
    const hyper = { eps: 1e-3, momentum: 0.1, rmax: 1.5, dmax: 0.5 }
    const mod = compile(source('batchrenorm.norm'))
    const layer = toTfjsLayer(mod.layer('BatchRenorm', { axes: { N: 8, C }, hyper }))
    const x = data(8, C, 3)
    layer.build([null, C])
    const dy = data(8, C, 4)
    const ours = tf.grad((v: tf.Tensor) =>
      tf.sum(tf.mul(layer.apply(v, { training: true }) as tf.Tensor, dy)),
    )(x)
    const through = tf.grad((v: tf.Tensor) => {
      const muB = tf.mean(v, 0)
      const sigmaB = tf.sqrt(tf.add(tf.mean(tf.square(tf.sub(v, muB)), 0), hyper.eps))
      const r = tf.clipByValue(sigmaB, 1 / hyper.rmax, hyper.rmax)
      const d = tf.clipByValue(muB, -hyper.dmax, hyper.dmax)
      return tf.sum(tf.mul(tf.add(tf.mul(tf.div(tf.sub(v, muB), sigmaB), r), d), dy))
    })(x)
    const a = ours.dataSync()
    const b = through.dataSync()
    expect(Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)))).toBeGreaterThan(1e-2)
  })

  it('GroupNorm over [N, C, H, W]: factored axes, a hyper-sized axis, and gradients for x, gamma, beta', () => {
    const mod = compile(source('groupnorm.norm'))
    const eps = 1e-5
    const layer = toTfjsLayer(
      mod.layer('GroupNorm', { axes: { N: 2, C: 6, H: 3, W: 2 }, hyper: { groups: 3 } }),
    )
    layer.build([null, 6, 3, 2])
    const r = seeded(11)
    const gamma = tf.tensor1d(Array.from({ length: 6 }, () => 0.5 + r()))
    const beta = tf.tensor1d(Array.from({ length: 6 }, () => r() - 0.5))
    layer.setWeights([gamma, beta])
    const reference = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const n = x.shape[0]!
      const xg = tf.reshape(x, [n, 3, 2 * 3 * 2])
      const mu = tf.mean(xg, 2, true)
      const v = tf.mean(tf.square(tf.sub(xg, mu)), 2, true)
      const xhat = tf.reshape(tf.div(tf.sub(xg, mu), tf.sqrt(tf.add(v, eps))), x.shape)
      return tf.add(tf.mul(tf.reshape(g, [1, 6, 1, 1]), xhat), tf.reshape(b, [1, 6, 1, 1]))
    }
    for (const n of [2, 5]) {
      const x = tf.tensor4d(
        Array.from({ length: n * 36 }, () => r() * 3 - 1),
        [n, 6, 3, 2],
      )
      const dy = tf.tensor4d(
        Array.from({ length: n * 36 }, () => r() - 0.5),
        [n, 6, 3, 2],
      )
      // The layer reads its variables; gradients w.r.t. them come from variableGrads.
      const w = layer.trainableWeights.map((v) => v.read() as tf.Variable)
      const ga = tf.variableGrads(
        () => tf.sum(tf.mul(layer.apply(x, { training: true }) as tf.Tensor, dy)) as tf.Scalar,
        w,
      )
      const [gx] = tf.grads((a: tf.Tensor) =>
        tf.sum(tf.mul(layer.apply(a, { training: true }) as tf.Tensor, dy)),
      )([x])
      const gr = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(reference(a, g, b), dy)),
      )([x, gamma, beta])
      expectClose(
        layer.apply(x, { training: true }) as tf.Tensor,
        reference(x, gamma, beta),
        `y (N = ${n})`,
      )
      expectClose(gx!, gr[0]!, `dx (N = ${n})`)
      expectClose(ga.grads[w[0]!.name]!, gr[1]!, `dgamma (N = ${n})`)
      expectClose(ga.grads[w[1]!.name]!, gr[2]!, `dbeta (N = ${n})`)
    }
    expect((layer as NormcTfjsLayer).compiledShapes.sort()).toEqual(['2x6x3x2', '5x6x3x2'])
    expect(layer.computeOutputShape([null, 6, 3, 2])).toEqual([null, 6, 3, 2])
  })

  it('refuses what a TF.js layer cannot be, with the reason', () => {
    const mod = compile(source('batchnorm1d.norm'))
    const layer = toTfjsLayer({ module: mod, name: 'BatchNorm1d' })
    expect(() => layer.build([null, 4, 2])).toThrow(
      /input x has axes \[N, C\] but a TF.js input of rank 3/,
    )
    const byC = toTfjsLayer({ module: mod, name: 'BatchNorm1d' })
    expect(() => byC.build([4, null])).toThrow(
      /param gamma spans axis C, which the TF.js input leaves open/,
    )
    const compiled = toTfjsLayer(mod.layer('BatchNorm1d', { axes: { N: 8, C: 16 } }))
    expect(() => compiled.build([null, 4])).toThrow(
      /was compiled with C = 16, but the TF.js input gives C = 4/,
    )
    expect(() => toTfjsLayer({ module: mod, name: 'BatchNorm1d', hyper: { nope: 1 } })).toThrow(
      /unknown hyper 'nope'/,
    )
    // One example per batch: BatchNorm's m / (m - 1) is refused in training, as by normc itself.
    const one = toTfjsLayer({ module: mod, name: 'BatchNorm1d' })
    one.build([null, 4])
    expect(() => one.apply(tf.ones([1, 4]), { training: true })).toThrow(/divi/)
    expect((one.apply(tf.ones([1, 4])) as tf.Tensor).shape).toEqual([1, 4])
  })
})
