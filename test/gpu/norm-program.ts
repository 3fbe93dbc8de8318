// A hand-written GpuProgram (not compiler output): per-channel mean and variance of x [N, C]
// (row-major, channel fastest) by tree reductions, then y = (x - mean) / sqrt(var + eps).
//
// Each reduction level sums groups of at most `chunk` (default 4096) rows per thread, so no
// shader loops more than `chunk` times: software GL (llvmpipe) silently stops a shader after
// 65,535 loop iterations in total, and gpu.js stops loops at `loopMaxIterations`, set here to
// each loop's exact trip count. Variance is two-pass (sum of squared deviations from the mean).
import type { GpuKernelSpec, GpuProgram, GpuStep } from '../../runtime/gpu/core.js'

export interface NormProgramOptions {
  /** Rows summed per thread per level (default 4096). */
  chunk?: number
  eps?: number
}

// Buffers: x and y are flat [N * C] (1-D: gpu.js packs a 1-D buffer into a square texture, and
// WebGPU folds a 1-D dispatch, so they may be large; a 2-D output [C, N] would hit the texture
// size limit (16,384 on llvmpipe) and WebGPU's 65,535 workgroups per dimension at N = 1e6).
// Partial sums are 2-D [C, P] with P = ceil(rows / chunk), small.

// first level: thread (c, p) sums x over rows p*G .. p*G+G-1 (< L) of channel c, divided by DIV
const SUM_X_SOURCE = `function (x) {
  const c = this.thread.x
  const start = this.thread.y * this.constants.G
  let s = 0
  for (let i = 0; i < this.constants.G; i++) {
    const r = start + i
    if (r < this.constants.L) {
      s += x[r * this.constants.C + c]
    }
  }
  return s / this.constants.DIV
}`

// first variance level: the same over (x - mean)^2
const SQDEV_X_SOURCE = `function (x, mean) {
  const c = this.thread.x
  const start = this.thread.y * this.constants.G
  const m = mean[c]
  let s = 0
  for (let i = 0; i < this.constants.G; i++) {
    const r = start + i
    if (r < this.constants.L) {
      const d = x[r * this.constants.C + c] - m
      s += d * d
    }
  }
  return s / this.constants.DIV
}`

// later levels: the same over the previous level's partials a [C, L]
const SUM_PARTIALS_SOURCE = `function (a) {
  const c = this.thread.x
  const start = this.thread.y * this.constants.G
  let s = 0
  for (let i = 0; i < this.constants.G; i++) {
    const r = start + i
    if (r < this.constants.L) {
      s += a[r][c]
    }
  }
  return s / this.constants.DIV
}`

// y[i] over the flat index i = n * C + c. Shaders divide in float32 (and GLSL does not even
// promise a correctly rounded divide), so n = floor(i / C) is corrected with exact integer
// products (exact below 2^24) before c = i - n * C is trusted.
const NORMALIZE_SOURCE = `function (x, mean, variance) {
  const i = this.thread.x
  const C = this.constants.C
  let n = Math.floor(i / C)
  if (n * C > i) {
    n = n - 1
  }
  if ((n + 1) * C <= i) {
    n = n + 1
  }
  const c = i - n * C
  return (x[i] - mean[c]) / Math.sqrt(variance[c] + this.constants.EPS)
}`

/** Builds the program for x of shape [N, C]; outputs `mean` [C], `var` [C], `y` [N, C]. */
export function normProgram(N: number, C: number, options: NormProgramOptions = {}): GpuProgram {
  const chunk = options.chunk ?? 4096
  const eps = options.eps ?? 1e-5
  if (N * C >= 2 ** 24) throw new Error('flat indices must stay below 2^24 (exact in float32)')
  const kernels: GpuKernelSpec[] = []
  const steps: GpuStep[] = []

  // levels until one row per channel is left; the last level's output is 1-D [C], divided by N
  const tree = (prefix: string, firstSource: string, firstArgs: Record<string, string>): string => {
    let L = N
    let input = ''
    for (let level = 0; ; level++) {
      const G = Math.min(chunk, L)
      const P = Math.ceil(L / G)
      const last = P === 1
      const name = `${prefix}${level}`
      kernels.push({
        name,
        source: level === 0 ? firstSource : SUM_PARTIALS_SOURCE,
        output: last ? [C] : [C, P],
        args: level === 0 ? Object.keys(firstArgs) : ['a'],
        constants: { G, L, C, DIV: last ? N : 1 },
        loopMaxIterations: G,
      })
      const out = last ? prefix : `${name}_partial`
      steps.push({ kernel: name, inputs: level === 0 ? firstArgs : { a: input }, out })
      if (last) return out
      input = out
      L = P
    }
  }

  const mean = tree('mean', SUM_X_SOURCE, { x: 'x' })
  const variance = tree('var', SQDEV_X_SOURCE, { x: 'x', mean })
  kernels.push({
    name: 'normalize',
    source: NORMALIZE_SOURCE,
    output: [N * C],
    args: ['x', 'mean', 'variance'],
    constants: { C, EPS: eps },
  })
  steps.push({ kernel: 'normalize', inputs: { x: 'x', mean, variance }, out: 'y' })
  return { inputs: { x: [N * C] }, kernels, steps, outputs: ['mean', 'var', 'y'] }
}

/** Deterministic test data: channel c is offset[c] + scale[c] * uniform(-1, 1). */
export function normInput(N: number, C: number, seed = 1): Float32Array {
  const x = new Float32Array(N * C)
  let s = seed >>> 0 || 1
  const rand = (): number => {
    // xorshift32
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 4294967296
  }
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const offset = ((c % 5) - 2) * 0.75
      const scale = 0.5 + (c % 3)
      x[n * C + c] = offset + scale * (2 * rand() - 1)
    }
  }
  return x
}

/** The float64 oracle. */
export function normReference(
  x: Float32Array,
  N: number,
  C: number,
  eps = 1e-5,
): { mean: Float64Array; var: Float64Array; y: Float64Array } {
  const mean = new Float64Array(C)
  const variance = new Float64Array(C)
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) mean[c]! += x[n * C + c]!
  for (let c = 0; c < C; c++) mean[c]! /= N
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const d = x[n * C + c]! - mean[c]!
      variance[c]! += d * d
    }
  }
  for (let c = 0; c < C; c++) variance[c]! /= N
  const y = new Float64Array(N * C)
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      y[n * C + c] = (x[n * C + c]! - mean[c]!) / Math.sqrt(variance[c]! + eps)
    }
  }
  return { mean, var: variance, y }
}

/**
 * Largest error of `got` against `ref`, relative to max(|ref|, floor): 1e-4 means every element
 * is within 1e-4 · max(|ref|, floor). The floor keeps values near zero from needing absolute
 * accuracy beyond float32's (floor 1 for normalized outputs, the channel's spread for mean).
 */
export function maxRelError(got: Float32Array, ref: Float64Array, floor: number): number {
  if (got.length !== ref.length) return Infinity
  let worst = 0
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i]!
    const e = Math.abs(got[i]! - r) / Math.max(Math.abs(r), floor)
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e
  }
  return worst
}
