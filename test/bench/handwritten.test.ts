// The hand-written loops are the bar normc's kernels must meet, so they must be right: checked
// here against straightforward float64 references (themselves checked by finite differences)
// and against the oracle's PyTorch cases.

import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import * as hw from '../../bench/handwritten.js'
import { handRunner } from '../../bench/impls/handwritten.js'
import { makeLayerCaseWithShape, type LayerCase, type LayerId } from '../../bench/layers.js'
import { relErr } from './close.js'
import {
  refBatchNorm,
  refBatchRenorm,
  refGroupNorm,
  refLayerNorm,
  refRmsNorm,
  type RefResult,
} from './reference.js'

function reference(layer: LayerCase, x: ArrayLike<number> = layer.x): RefResult {
  const { shape, dy, gamma, beta, hyper, state } = layer
  switch (layer.id) {
    case 'bn-nchw':
    case 'bn-nhwc':
      return refBatchNorm(
        layer.id === 'bn-nchw' ? 'NCHW' : 'NHWC',
        shape,
        x,
        dy,
        gamma,
        beta!,
        hyper.eps,
        hyper.momentum!,
        state.runningMean!,
        state.runningVar!,
      )
    case 'batchrenorm':
      return refBatchRenorm(
        shape[0]!,
        shape[1]!,
        x,
        dy,
        gamma,
        beta!,
        { eps: hyper.eps, momentum: hyper.momentum!, rmax: hyper.rmax!, dmax: hyper.dmax! },
        state.mu!,
        state.sigma!,
      )
    case 'layernorm':
      return refLayerNorm(shape[0]!, shape[1]!, x, dy, gamma, beta!, hyper.eps)
    case 'groupnorm':
      return refGroupNorm(shape, hyper.groups!, x, dy, gamma, beta!, hyper.eps)
    case 'rmsnorm':
      return refRmsNorm(shape[0]!, shape[1]!, x, dy, gamma, hyper.eps)
  }
}

/** Runs the hand-written forward and backward and compares everything with the reference. */
function checkAgainstReference(layer: LayerCase, tol = 1e-5): void {
  const ref = reference(layer)
  const run = handRunner(layer) // runs one forward
  run.backward()
  const { y, dx, dgamma, dbeta, state } = run.bufs
  expect(relErr(y, ref.y), 'y').toBeLessThan(tol)
  expect(relErr(dx, ref.dx), 'dx').toBeLessThan(tol)
  expect(relErr(dgamma, ref.dgamma), 'dgamma').toBeLessThan(tol)
  if (layer.beta) expect(relErr(dbeta, ref.dbeta), 'dbeta').toBeLessThan(tol)
  for (const [k, v] of Object.entries(ref.state)) {
    expect(relErr(state[k]!, v), k).toBeLessThan(tol)
  }
  // A second step on the same buffers gives the same answers (state is reset per forward,
  // accumulators are cleared).
  const y1 = Float32Array.from(y)
  const dx1 = Float32Array.from(dx)
  run.fwdbwd()
  expect(relErr(y, y1)).toBe(0)
  expect(relErr(dx, dx1)).toBe(0)
}

function withHyper(layer: LayerCase, hyper: Partial<LayerCase['hyper']>): LayerCase {
  return { ...layer, hyper: { ...layer.hyper, ...hyper } }
}

function offset(layer: LayerCase, by: number): LayerCase {
  return { ...layer, x: layer.x.map((v) => v + by) }
}

describe('float64 reference (finite differences of L = Σ y·dy)', () => {
  const fdCheck = (layer: LayerCase) => {
    const ref = reference(layer)
    const loss = (x: Float64Array) => {
      const { y } = reference(layer, x)
      let s = 0
      for (let i = 0; i < y.length; i++) s += y[i]! * layer.dy[i]!
      return s
    }
    const x = Float64Array.from(layer.x)
    const h = 1e-6
    const fd = new Float64Array(x.length)
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!
      x[i] = v + h
      const lp = loss(x)
      x[i] = v - h
      const lm = loss(x)
      x[i] = v
      fd[i] = (lp - lm) / (2 * h)
    }
    expect(relErr(ref.dx, fd)).toBeLessThan(1e-6)
  }
  it('BatchNorm NCHW and NHWC', () => {
    fdCheck(makeLayerCaseWithShape('bn-nchw', [3, 2, 2, 3]))
    fdCheck(makeLayerCaseWithShape('bn-nhwc', [2, 3, 2, 3]))
  })
  it('LayerNorm, RMSNorm, GroupNorm', () => {
    fdCheck(makeLayerCaseWithShape('layernorm', [3, 7]))
    fdCheck(makeLayerCaseWithShape('rmsnorm', [3, 7]))
    fdCheck(withHyper(makeLayerCaseWithShape('groupnorm', [2, 4, 2, 3]), { groups: 2 }))
  })
  it('Batch Renorm with r and d clipped (locally constant, so FD sees the stop-gradient)', () => {
    const layer = makeLayerCaseWithShape('batchrenorm', [9, 3])
    const C = 3
    const clipped: LayerCase = {
      ...layer,
      state: {
        mu: Float32Array.from({ length: C }, (_, c) => (c % 2 ? 50 : -50)),
        sigma: new Float32Array(C).fill(0.01),
      },
    }
    const ref = reference(clipped)
    expect([...ref.r!]).toEqual([3, 3, 3])
    expect([...ref.d!].map(Math.abs)).toEqual([5, 5, 5])
    fdCheck(clipped)
  })
})

describe('hand-written loops vs float64 reference', () => {
  const cases: [LayerId, number[], Partial<LayerCase['hyper']>?][] = [
    ['bn-nchw', [3, 5, 3, 7]],
    ['bn-nchw', [2, 4, 8, 8]],
    ['bn-nhwc', [3, 7, 5, 6]],
    // More rows than one statistics block: exercises the Chan merge.
    ['bn-nhwc', [2, 20, 50, 6]],
    ['layernorm', [5, 37]],
    ['layernorm', [4, 256]],
    ['layernorm', [7, 37]],
    ['rmsnorm', [5, 37]],
    ['rmsnorm', [4, 256]],
    ['rmsnorm', [7, 37]],
    ['groupnorm', [3, 8, 5, 3], { groups: 4 }],
    ['groupnorm', [2, 64, 4, 4], { groups: 32 }],
    ['batchrenorm', [50, 7]],
    ['batchrenorm', [3000, 5]],
  ]
  for (const [id, shape, hyper] of cases) {
    it(`${id} [${shape.join(',')}]`, () => {
      checkAgainstReference(withHyper(makeLayerCaseWithShape(id, shape), hyper ?? {}))
    })
  }

  it('Batch Renorm with clipping active on every bound', () => {
    const layer = makeLayerCaseWithShape('batchrenorm', [40, 4])
    // ch0: r > rmax; ch1: r < 1/rmax; ch2: d > dmax; ch3: d < -dmax.
    const clipped: LayerCase = {
      ...layer,
      hyper: { ...layer.hyper, rmax: 2, dmax: 1 },
      state: {
        mu: Float32Array.from([0.5, 0.5, -5, 6]),
        sigma: Float32Array.from([0.2, 10, 1.4, 1.5]),
      },
    }
    checkAgainstReference(clipped)
  })

  it('large offsets (x ≈ 1000 + N(0.5, 1.5²)): stable statistics', () => {
    for (const [id, shape] of [
      ['bn-nchw', [2, 4, 8, 8]],
      ['bn-nhwc', [2, 20, 50, 6]],
      ['layernorm', [4, 256]],
      ['layernorm', [7, 37]],
      ['groupnorm', [2, 8, 4, 4]],
      ['batchrenorm', [3000, 5]],
    ] as const) {
      const layer = offset(makeLayerCaseWithShape(id, [...shape]), 1000)
      const l = id === 'groupnorm' ? withHyper(layer, { groups: 4 }) : layer
      const renorm =
        id === 'batchrenorm'
          ? { ...l, state: { mu: new Float32Array(5).fill(1000), sigma: l.state.sigma! } }
          : l
      checkAgainstReference(renorm)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// The oracle's PyTorch float64 cases, run through the float32 loops.

const ORACLE = join(import.meta.dirname, '../../../shared/oracle/cases')

interface OracleCase {
  layer: string
  mode: string
  shape: number[]
  hyper: Record<string, number>
  inputs: Record<string, number[] | null>
  dy: number[]
  expect_error: boolean
  expected: Record<string, number[]>
}

describe.skipIf(!existsSync(ORACLE))('hand-written loops vs the oracle cases (float32)', () => {
  const files = existsSync(ORACLE) ? readdirSync(ORACLE).filter((f) => f.endsWith('.json')) : []
  const f32 = (a: number[] | null | undefined) => Float32Array.from(a ?? [])
  for (const file of files) {
    const c = JSON.parse(readFileSync(join(ORACLE, file), 'utf8')) as OracleCase
    const supported = ['batch_norm', 'layer_norm', 'group_norm', 'rms_norm', 'batch_renorm']
    if (c.expect_error || c.mode !== 'train' || !supported.includes(c.layer)) continue
    it(file, () => {
      const x = f32(c.inputs.x)
      const dy = f32(c.dy)
      const gamma = f32(c.inputs.gamma)
      const beta = f32(c.inputs.beta)
      const n = x.length
      const y = new Float32Array(n)
      const dx = new Float32Array(n)
      const P = gamma.length
      const dgamma = new Float32Array(P)
      const dbeta = new Float32Array(P)
      const { eps } = c.hyper as { eps: number }
      const got: Record<string, Float32Array> = { y, dx, dgamma, dbeta }
      const [N, C] = c.shape as [number, number]
      const HW = c.shape.slice(2).reduce((a, b) => a * b, 1)
      switch (c.layer) {
        case 'batch_norm': {
          const rm = f32(c.inputs.running_mean)
          const rv = f32(c.inputs.running_var)
          const mean = new Float64Array(C)
          const invstd = new Float64Array(C)
          const m = c.hyper.momentum!
          if (c.shape.length === 2) {
            const ws = hw.makeChannelScratch(C)
            hw.batchNormNhwcForward(x, y, N, C, gamma, beta, eps, m, rm, rv, mean, invstd, ws)
            hw.batchNormNhwcBackward(x, dy, dx, N, C, gamma, mean, invstd, dgamma, dbeta, ws)
          } else {
            const ws = hw.makeChannelScratch(C)
            hw.batchNormNchwForward(x, y, N, C, HW, gamma, beta, eps, m, rm, rv, mean, invstd, ws)
            hw.batchNormNchwBackward(x, dy, dx, N, C, HW, gamma, mean, invstd, dgamma, dbeta, ws)
          }
          got.running_mean_after = rm
          got.running_var_after = rv
          break
        }
        case 'batch_renorm': {
          const mu = f32(c.inputs.mu)
          const sigma = f32(c.inputs.sigma)
          const saved = hw.makeRenormSaved(C)
          const ws = hw.makeChannelScratch(C)
          const { momentum, rmax, dmax } = c.hyper as Record<string, number>
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
          hw.batchRenormBackward(x, dy, dx, N, C, gamma, saved, dgamma, dbeta, ws)
          got.mu_after = mu
          got.sigma_after = sigma
          break
        }
        case 'layer_norm': {
          const mean = new Float64Array(N)
          const invstd = new Float64Array(N)
          const ws = new Float64Array(hw.featureScratchLength(C))
          hw.layerNormForward(x, y, N, C, gamma, beta, eps, mean, invstd)
          hw.layerNormBackward(x, dy, dx, N, C, gamma, mean, invstd, dgamma, dbeta, ws)
          break
        }
        case 'rms_norm': {
          const rr = new Float64Array(N)
          const ws = new Float64Array(hw.featureScratchLength(C))
          hw.rmsNormForward(x, y, N, C, gamma, eps, rr)
          hw.rmsNormBackward(x, dy, dx, N, C, gamma, rr, dgamma, ws)
          delete got.dbeta
          break
        }
        case 'group_norm': {
          const G = c.hyper.groups!
          const mean = new Float64Array(N * G)
          const invstd = new Float64Array(N * G)
          const ws = new Float64Array(hw.groupScratchLength(C))
          hw.groupNormForward(x, y, N, C, HW, G, gamma, beta, eps, mean, invstd)
          hw.groupNormBackward(x, dy, dx, N, C, HW, G, gamma, mean, invstd, dgamma, dbeta, ws)
          break
        }
      }
      // Issue 5's bar for float32 is 1e-4 relative (1e-2 on large-offset cases); the loops do
      // far better, so hold them to 1e-5.
      for (const [k, v] of Object.entries(got)) {
        expect(c.expected[k], `${file}: expected.${k}`).toBeDefined()
        expect(relErr(v, c.expected[k]!), `${file}: ${k}`).toBeLessThan(1e-5)
      }
    })
  }
})
