// The hand-written loops (bench/handwritten.ts) as a benchmark implementation.

import * as hw from '../handwritten.js'
import type { Impl, Outputs, Runner } from '../impl.js'
import type { LayerCase } from '../layers.js'

/** Copies of the initial state that every forward starts from (deterministic outputs). */
function stateCopies(layer: LayerCase) {
  const initial = layer.state
  const live: Record<string, Float32Array> = {}
  for (const [k, v] of Object.entries(initial)) live[k] = Float32Array.from(v)
  const reset = () => {
    for (const [k, v] of Object.entries(initial)) live[k]!.set(v)
  }
  return { live, reset }
}

export interface HandRunner extends Runner {
  /** Output and state buffers, for tests. */
  bufs: {
    y: Float32Array
    dx: Float32Array
    dgamma: Float32Array
    dbeta: Float32Array
    state: Record<string, Float32Array>
  }
}

/** Builds the hand-written runner for a layer (synchronous; used by tests too). */
export function handRunner(layer: LayerCase): HandRunner {
  const { x, dy, gamma, shape, hyper } = layer
  const beta = layer.beta ?? new Float32Array(gamma.length)
  const P = gamma.length
  const y = new Float32Array(layer.size)
  const dx = new Float32Array(layer.size)
  const dgamma = new Float32Array(P)
  const dbeta = new Float32Array(P)
  const { live, reset } = stateCopies(layer)
  let forward: () => void
  let backward: () => void
  switch (layer.id) {
    case 'bn-nchw': {
      const [N, C, H, W] = shape as [number, number, number, number]
      const mean = new Float64Array(C)
      const invstd = new Float64Array(C)
      const ws = hw.makeChannelScratch(C)
      const rm = live.runningMean!
      const rv = live.runningVar!
      forward = () => {
        reset()
        hw.batchNormNchwForward(
          x,
          y,
          N,
          C,
          H * W,
          gamma,
          beta,
          hyper.eps,
          hyper.momentum!,
          rm,
          rv,
          mean,
          invstd,
          ws,
        )
      }
      backward = () =>
        hw.batchNormNchwBackward(x, dy, dx, N, C, H * W, gamma, mean, invstd, dgamma, dbeta, ws)
      break
    }
    case 'bn-nhwc': {
      const C = shape[shape.length - 1]!
      const R = layer.size / C
      const mean = new Float64Array(C)
      const invstd = new Float64Array(C)
      const ws = hw.makeChannelScratch(C)
      const rm = live.runningMean!
      const rv = live.runningVar!
      forward = () => {
        reset()
        hw.batchNormNhwcForward(
          x,
          y,
          R,
          C,
          gamma,
          beta,
          hyper.eps,
          hyper.momentum!,
          rm,
          rv,
          mean,
          invstd,
          ws,
        )
      }
      backward = () =>
        hw.batchNormNhwcBackward(x, dy, dx, R, C, gamma, mean, invstd, dgamma, dbeta, ws)
      break
    }
    case 'batchrenorm': {
      const [N, C] = shape as [number, number]
      const saved = hw.makeRenormSaved(C)
      const ws = hw.makeChannelScratch(C)
      const { eps, momentum, rmax, dmax } = hyper
      const mu = live.mu!
      const sigma = live.sigma!
      forward = () => {
        reset()
        hw.batchRenormForward(
          x,
          y,
          N,
          C,
          gamma,
          beta,
          eps,
          momentum!,
          rmax!,
          dmax!,
          mu,
          sigma,
          saved,
          ws,
        )
      }
      backward = () => hw.batchRenormBackward(x, dy, dx, N, C, gamma, saved, dgamma, dbeta, ws)
      break
    }
    case 'layernorm': {
      const [R, D] = shape as [number, number]
      const mean = new Float64Array(R)
      const invstd = new Float64Array(R)
      const ws = new Float64Array(hw.featureScratchLength(D))
      forward = () => hw.layerNormForward(x, y, R, D, gamma, beta, hyper.eps, mean, invstd)
      backward = () => hw.layerNormBackward(x, dy, dx, R, D, gamma, mean, invstd, dgamma, dbeta, ws)
      break
    }
    case 'rmsnorm': {
      const [R, D] = shape as [number, number]
      const rr = new Float64Array(R)
      const ws = new Float64Array(hw.featureScratchLength(D))
      forward = () => hw.rmsNormForward(x, y, R, D, gamma, hyper.eps, rr)
      backward = () => hw.rmsNormBackward(x, dy, dx, R, D, gamma, rr, dgamma, ws)
      break
    }
    case 'groupnorm': {
      const [N, C, H, W] = shape as [number, number, number, number]
      const G = hyper.groups!
      const mean = new Float64Array(N * G)
      const invstd = new Float64Array(N * G)
      const ws = new Float64Array(hw.groupScratchLength(C))
      forward = () =>
        hw.groupNormForward(x, y, N, C, H * W, G, gamma, beta, hyper.eps, mean, invstd)
      backward = () =>
        hw.groupNormBackward(x, dy, dx, N, C, H * W, G, gamma, mean, invstd, dgamma, dbeta, ws)
      break
    }
  }
  forward()
  const out: Outputs = layer.beta ? { y, dx, dgamma, dbeta } : { y, dx, dgamma }
  if (Object.keys(live).length) out.state = live
  return {
    bufs: { y, dx, dgamma, dbeta, state: live },
    forward,
    backward,
    fwdbwd() {
      forward()
      backward()
    },
    outputs: () => out,
  }
}

export const handwrittenImpl: Impl = {
  name: 'hand',
  label: 'hand-written JS',
  setup: async (layer) => handRunner(layer),
}
