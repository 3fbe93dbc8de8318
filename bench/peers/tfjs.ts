// TensorFlow.js 4.22 peers, `cpu` and `wasm` backends (tfjs-node cannot install here).
//
// Each layer is written the way a TF.js user would, in its best form (see
// ../shared/research/peers.md for the traps):
// - BatchNorm NHWC: tf.moments over [N, H, W] + tf.batchNorm (the fused kernel; its parameters
//   are per last axis, which is the channel axis here). This is what tfjs-layers does.
// - BatchNorm NCHW, GroupNorm, LayerNorm, RMSNorm, Batch Renorm: composed from broadcasting ops
//   (tf.batchNorm's cpu kernel is wrong with non-last-axis parameters). Per-channel factors are
//   combined on the small tensors first, so each composes to as few full-size ops as possible.
// - Batch Renorm's r and d are stop-gradient through a tf.customGrad identity with zero
//   gradient (TF.js has no stopGradient op).
// forward: train-mode forward, running statistics updated, y read back with dataSync().
// backward: TF.js's autodiff cannot run a backward alone (tf.grads re-runs the forward), so the
//   backward pass is the closed-form backward composed from TF.js ops, given the saved mean and
//   inverse std — the cheapest backward a TF.js user can write by hand.
// fwdbwd: tf.grads of L = Σ y·dy (dy fixed), plus the running-statistics update; dx, dgamma,
//   dbeta read back with dataSync().

import * as tf from '@tensorflow/tfjs'
import '@tensorflow/tfjs-backend-wasm'
import type { Impl, Outputs, Runner, SelfReport } from '../impl.js'
import type { LayerCase, Pass } from '../layers.js'

export type TfBackend = 'cpu' | 'wasm'

type T = tf.Tensor

let prodMode = false

/** Selects a backend (initialising it on first use). */
export async function useBackend(name: TfBackend): Promise<void> {
  if (!prodMode) {
    // Silences the "use tfjs-node" banner and other debug-only warnings.
    tf.enableProdMode()
    prodMode = true
  }
  if (tf.getBackend() !== name) {
    const ok = await tf.setBackend(name)
    if (!ok) throw new Error(`TF.js backend '${name}' failed to initialise`)
  }
}

/** One layer in TF.js ops. */
interface TfLayer {
  /** Train-mode forward: y, and the batch statistics the state update and backward need. */
  forward(x: T, gamma: T, beta: T | null): { y: T; stats: T[] }
  /** Updated state tensors, from the initial state and the batch statistics. */
  nextState(stats: T[]): T[]
  /** What the backward needs from the statistics (e.g. mean, inverse std). */
  save(stats: T[]): T[]
  /** Closed-form backward: [dx, dgamma, dbeta?]. */
  backward(x: T, dy: T, gamma: T, saved: T[]): T[]
}

/** Identity with zero gradient. */
const stopGradient = tf.customGrad((...args) => {
  const v = args[0] as T
  return { value: v.clone(), gradFunc: () => tf.zerosLike(v) }
})

/** The BN-style closed-form backward for a normalised x̂ with a scale constant over `axes`. */
function bnBackward(x: T, dy: T, mean: T, invstd: T, scale: T, axes: number[], M: number) {
  const xhat = x.sub(mean).mul(invstd)
  const sdy = dy.sum(axes, true)
  const sdyx = dy.mul(xhat).sum(axes, true)
  const dx = dy
    .sub(sdy.div(M))
    .sub(xhat.mul(sdyx.div(M)))
    .mul(scale.mul(invstd))
  return { dx, sdy, sdyx }
}

function makeLayer(layer: LayerCase, state: Record<string, T>): TfLayer {
  const { shape, hyper } = layer
  const eps = hyper.eps
  switch (layer.id) {
    case 'bn-nchw': {
      const [N, C, H, W] = shape as [number, number, number, number]
      const M = N * H * W
      const axes = [0, 2, 3]
      const p4 = (t: T) => t.reshape([1, C, 1, 1])
      const m = hyper.momentum!
      return {
        forward(x, gamma, beta) {
          const { mean, variance } = tf.moments(x, axes, true)
          const scale = p4(gamma).mul(variance.add(eps).rsqrt())
          return { y: x.sub(mean).mul(scale).add(p4(beta!)), stats: [mean, variance] }
        },
        nextState: ([mean, variance]) => [
          state.runningMean!.mul(1 - m).add(mean!.reshape([C]).mul(m)),
          state.runningVar!.mul(1 - m).add(variance!.reshape([C]).mul((m * M) / (M - 1))),
        ],
        save: ([mean, variance]) => [mean!, variance!.add(eps).rsqrt()],
        backward(x, dy, gamma, [mean, invstd]) {
          const { dx, sdy, sdyx } = bnBackward(x, dy, mean!, invstd!, p4(gamma), axes, M)
          return [dx, sdyx.reshape([C]), sdy.reshape([C])]
        },
      }
    }
    case 'bn-nhwc': {
      const C = shape[3]!
      const M = layer.size / C
      const axes = [0, 1, 2]
      const m = hyper.momentum!
      return {
        forward(x, gamma, beta) {
          const { mean, variance } = tf.moments(x, axes)
          const y = tf.batchNorm(x, mean, variance, beta!, gamma, eps)
          return { y, stats: [mean, variance] }
        },
        nextState: ([mean, variance]) => [
          state.runningMean!.mul(1 - m).add(mean!.mul(m)),
          state.runningVar!.mul(1 - m).add(variance!.mul((m * M) / (M - 1))),
        ],
        save: ([mean, variance]) => [mean!, variance!.add(eps).rsqrt()],
        backward(x, dy, gamma, [mean, invstd]) {
          const { dx, sdy, sdyx } = bnBackward(x, dy, mean!, invstd!, gamma, axes, M)
          return [dx, sdyx.reshape([C]), sdy.reshape([C])]
        },
      }
    }
    case 'batchrenorm': {
      const [N, C] = shape as [number, number]
      const { momentum: m, rmax, dmax } = hyper as Required<typeof hyper>
      const mu0 = state.mu!
      const sigma0 = state.sigma!
      return {
        forward(x, gamma, beta) {
          const { mean, variance } = tf.moments(x, 0)
          const sigmaB = variance.add(eps).sqrt()
          const r = stopGradient(sigmaB.div(sigma0).clipByValue(1 / rmax, rmax))
          const d = stopGradient(mean.sub(mu0).div(sigma0).clipByValue(-dmax, dmax))
          // y = γ·((x - μB)/σB·r + d) + β, per-channel factors first.
          const y = x.sub(mean).mul(gamma.mul(r).div(sigmaB)).add(gamma.mul(d).add(beta!))
          return { y, stats: [mean, sigmaB, r, d] }
        },
        nextState: ([mean, sigmaB]) => [
          mu0.add(mean!.sub(mu0).mul(m)),
          sigma0.add(sigmaB!.sub(sigma0).mul(m)),
        ],
        save: ([mean, sigmaB, r, d]) => [mean!, sigmaB!.reciprocal(), r!, d!],
        backward(x, dy, gamma, [mean, invstd, r, d]) {
          const { dx, sdy, sdyx } = bnBackward(x, dy, mean!, invstd!, gamma.mul(r!), [0], N)
          return [dx, sdyx.mul(r!).add(sdy.mul(d!)).reshape([C]), sdy.reshape([C])]
        },
      }
    }
    case 'layernorm': {
      return {
        forward(x, gamma, beta) {
          const { mean, variance } = tf.moments(x, -1, true)
          const invstd = variance.add(eps).rsqrt()
          return { y: x.sub(mean).mul(invstd).mul(gamma).add(beta!), stats: [mean, invstd] }
        },
        nextState: () => [],
        save: (stats) => stats,
        backward(x, dy, gamma, [mean, invstd]) {
          const xhat = x.sub(mean!).mul(invstd!)
          const gdy = dy.mul(gamma)
          const dx = gdy
            .sub(gdy.mean(-1, true))
            .sub(xhat.mul(gdy.mul(xhat).mean(-1, true)))
            .mul(invstd!)
          return [dx, dy.mul(xhat).sum(0), dy.sum(0)]
        },
      }
    }
    case 'rmsnorm': {
      return {
        forward(x, gamma) {
          const rr = x.square().mean(-1, true).add(eps).rsqrt()
          return { y: x.mul(rr).mul(gamma), stats: [rr] }
        },
        nextState: () => [],
        save: (stats) => stats,
        backward(x, dy, gamma, [rr]) {
          // dx = ρ·γ·dy - x·ρ³·mean(γ·dy·x)
          const gdy = dy.mul(gamma)
          const s = gdy.mul(x).mean(-1, true)
          const dx = gdy.mul(rr!).sub(x.mul(rr!.pow(3).mul(s)))
          return [dx, dy.mul(x).mul(rr!).sum(0)]
        },
      }
    }
    case 'groupnorm': {
      const [N, C, H, W] = shape as [number, number, number, number]
      const G = hyper.groups!
      const K = C / G
      const view = [N, G, K * H * W]
      const p4 = (t: T) => t.reshape([1, C, 1, 1])
      return {
        forward(x, gamma, beta) {
          const xg = x.reshape(view)
          const { mean, variance } = tf.moments(xg, 2, true)
          const xn = xg.sub(mean).mul(variance.add(eps).rsqrt()).reshape(shape)
          return { y: xn.mul(p4(gamma)).add(p4(beta!)), stats: [mean, variance] }
        },
        nextState: () => [],
        save: ([mean, variance]) => [mean!, variance!.add(eps).rsqrt()],
        backward(x, dy, gamma, [mean, invstd]) {
          // In the view [N, G, K, HW]: γ varies along K, so the sums weight dy by γ.
          const v = [N, G, K, H * W]
          const xhat = x
            .reshape(v)
            .sub(mean!.reshape([N, G, 1, 1]))
            .mul(invstd!.reshape([N, G, 1, 1]))
          const dy4 = dy.reshape(v)
          const gdy = dy4.mul(gamma.reshape([1, G, K, 1]))
          const dx = gdy
            .sub(gdy.mean([2, 3], true))
            .sub(xhat.mul(gdy.mul(xhat).mean([2, 3], true)))
            .mul(invstd!.reshape([N, G, 1, 1]))
            .reshape(shape)
          return [dx, dy4.mul(xhat).sum([0, 3]).reshape([C]), dy4.sum([0, 3]).reshape([C])]
        },
      }
    }
  }
}

/** Builds the runner for one layer on one backend. */
export async function tfRunner(layer: LayerCase, backend: TfBackend): Promise<Runner> {
  await useBackend(backend)
  const x = tf.tensor(layer.x, layer.shape)
  const dy = tf.tensor(layer.dy, layer.shape)
  const gamma = tf.tensor(layer.gamma)
  const beta = layer.beta ? tf.tensor(layer.beta) : null
  const state: Record<string, T> = {}
  for (const [k, v] of Object.entries(layer.state)) state[k] = tf.tensor(v)
  const L = makeLayer(layer, state)
  const params = beta ? [x, gamma, beta] : [x, gamma]
  const out: Outputs = {}
  // The latest updated state (every forward starts from the initial state, as the hand-written
  // runner does, so outputs do not drift from run to run).
  let latestState: T[] = []
  const stateNames = Object.keys(layer.state)
  const replaceState = (next: T[]) => {
    const values: Record<string, Float32Array> = {}
    next.forEach((t, i) => (values[stateNames[i]!] = t.dataSync() as Float32Array))
    if (next.length) out.state = values
    tf.dispose(latestState)
    latestState = next
  }

  // Saved statistics for the closed-form backward, from one forward.
  const saved = tf.tidy(() => {
    const { stats } = L.forward(x, gamma, beta)
    return L.save(stats).map((t) => tf.keep(t))
  })

  const forward = () => {
    const [y, next] = tf.tidy(() => {
      const { y, stats } = L.forward(x, gamma, beta)
      return [y, L.nextState(stats)] as const
    })
    out.y = y.dataSync() as Float32Array
    y.dispose()
    replaceState(next)
  }

  const readGrads = (g: T[]) => {
    out.dx = g[0]!.dataSync() as Float32Array
    out.dgamma = g[1]!.dataSync() as Float32Array
    if (g[2]) out.dbeta = g[2].dataSync() as Float32Array
    tf.dispose(g)
  }

  const backward = () => {
    readGrads(tf.tidy(() => L.backward(x, dy, gamma, saved)))
  }

  // tf.grads of L = Σ y·dy; the batch statistics leave the tape through tf.keep for the state
  // update.
  let captured: T[] = []
  const lossGrads = tf.grads((...args: T[]) => {
    const { y, stats } = L.forward(args[0]!, args[1]!, args[2] ?? null)
    captured = stats.map((t) => tf.keep(t))
    return y.mul(dy).sum()
  })
  const fwdbwd = () => {
    const g = lossGrads(params)
    const next = tf.tidy(() => L.nextState(captured))
    tf.dispose(captured)
    captured = []
    readGrads(g)
    replaceState(next)
  }

  const passes: Record<Pass, () => void> = { forward, backward, fwdbwd }
  return {
    forward,
    backward,
    fwdbwd,
    activate: () => useBackend(backend),
    outputs: () => out,
    async selfReport(pass: Pass): Promise<SelfReport> {
      await useBackend(backend)
      const info = await tf.profile(() => passes[pass]())
      return { peakBytes: info.peakBytes, kernels: info.kernels.length }
    },
    dispose() {
      tf.dispose([x, dy, gamma, ...(beta ? [beta] : []), ...Object.values(state), ...saved])
      tf.dispose(latestState)
      latestState = []
    },
  }
}

export function tfjsImpl(backend: TfBackend, maxRuns?: number): Impl {
  return {
    name: `tfjs-${backend}`,
    label: `TF.js ${backend}`,
    ...(maxRuns !== undefined ? { maxRuns } : {}),
    ...(backend === 'cpu' ? { warmup: 1 } : {}),
    setup: (layer) => tfRunner(layer, backend),
  }
}

/** TF.js version and the wasm backend's SIMD / threads flags (after it was initialised). */
export function tfjsInfo(): Record<string, unknown> {
  const flag = (k: string) => {
    try {
      return tf.env().getBool(k)
    } catch {
      return undefined
    }
  }
  return {
    core: tf.version_core,
    wasmSimd: flag('WASM_HAS_SIMD_SUPPORT'),
    wasmThreads: flag('WASM_HAS_MULTITHREAD_SUPPORT'),
  }
}
