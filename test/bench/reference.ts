// Straightforward float64 reference implementations of the benchmark's layers, written from the
// papers' definitions (index by index, no fusion, no algebraic shortcuts), used to check the
// hand-written kernels in bench/handwritten.ts. The backward follows the chain rule of Ioffe &
// Szegedy (2015, section 3) term by term: through x̂, the variance and the mean separately.

export interface RefResult {
  y: Float64Array
  dx: Float64Array
  dgamma: Float64Array
  dbeta: Float64Array
  /** Updated state (BN: runningMean, runningVar; renorm: mu, sigma). */
  state: Record<string, Float64Array>
  /** Batch Renorm's r and d (1 and 0 elsewhere). */
  r?: Float64Array
  d?: Float64Array
}

/**
 * Normalisation over groups of elements: element i belongs to statistic group group(i) and uses
 * affine channel chan(i). y = γ[ch]·(x̂·r[g] + d[g]) + β[ch], x̂ = (x - μ[g]) / sqrt(var[g] + eps),
 * with r = 1, d = 0 unless given (Batch Renorm; r and d are constants for the gradient).
 */
function refGrouped(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number> | null,
  eps: number,
  nGroups: number,
  nChan: number,
  group: (i: number) => number,
  chan: (i: number) => number,
  rd?: (mu: Float64Array, sigmaB: Float64Array) => { r: Float64Array; d: Float64Array },
) {
  const n = x.length
  const cnt = new Float64Array(nGroups)
  const mu = new Float64Array(nGroups)
  const variance = new Float64Array(nGroups)
  for (let i = 0; i < n; i++) {
    cnt[group(i)]++
    mu[group(i)] += x[i]
  }
  for (let g = 0; g < nGroups; g++) mu[g] /= cnt[g]
  for (let i = 0; i < n; i++) variance[group(i)] += (x[i] - mu[group(i)]) ** 2
  for (let g = 0; g < nGroups; g++) variance[g] /= cnt[g]
  const sd = variance.map((v) => Math.sqrt(v + eps))
  const { r, d } = rd
    ? rd(mu, sd)
    : { r: new Float64Array(nGroups).fill(1), d: new Float64Array(nGroups) }
  const y = new Float64Array(n)
  const xhat = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const g = group(i)
    xhat[i] = (x[i] - mu[g]) / sd[g]
    y[i] = gamma[chan(i)] * (xhat[i] * r[g] + d[g]) + (beta ? beta[chan(i)] : 0)
  }
  // Backward, term by term.
  const dgamma = new Float64Array(nChan)
  const dbeta = new Float64Array(nChan)
  const dxhat = new Float64Array(n)
  const dvar = new Float64Array(nGroups)
  const dmu = new Float64Array(nGroups)
  const sumXc = new Float64Array(nGroups)
  for (let i = 0; i < n; i++) {
    const g = group(i)
    const c = chan(i)
    dgamma[c] += dy[i] * (xhat[i] * r[g] + d[g])
    dbeta[c] += dy[i]
    dxhat[i] = dy[i] * gamma[c] * r[g]
    dvar[g] += dxhat[i] * (x[i] - mu[g]) * -0.5 * (variance[g] + eps) ** -1.5
    sumXc[g] += -2 * (x[i] - mu[g])
  }
  for (let i = 0; i < n; i++) dmu[group(i)] += -dxhat[i] / sd[group(i)]
  for (let g = 0; g < nGroups; g++) dmu[g] += (dvar[g] * sumXc[g]) / cnt[g]
  const dx = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const g = group(i)
    dx[i] = dxhat[i] / sd[g] + (dvar[g] * 2 * (x[i] - mu[g])) / cnt[g] + dmu[g] / cnt[g]
  }
  return { y, dx, dgamma, dbeta, mu, variance, sd, cnt, r, d }
}

export function refBatchNorm(
  layout: 'NCHW' | 'NHWC',
  shape: number[],
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  eps: number,
  momentum: number,
  runningMean: ArrayLike<number>,
  runningVar: ArrayLike<number>,
): RefResult {
  const C = layout === 'NCHW' ? shape[1]! : shape[shape.length - 1]!
  const inner = layout === 'NCHW' ? shape.slice(2).reduce((a, b) => a * b, 1) : 1
  const ch = (i: number) => Math.floor(i / inner) % C
  const res = refGrouped(x, dy, gamma, beta, eps, C, C, ch, ch)
  const rm = new Float64Array(C)
  const rv = new Float64Array(C)
  for (let c = 0; c < C; c++) {
    const m = res.cnt[c]!
    rm[c] = (1 - momentum) * runningMean[c]! + momentum * res.mu[c]!
    rv[c] = (1 - momentum) * runningVar[c]! + (momentum * res.variance[c]! * m) / (m - 1)
  }
  return { ...res, state: { runningMean: rm, runningVar: rv } }
}

export function refBatchRenorm(
  N: number,
  C: number,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  hyper: { eps: number; momentum: number; rmax: number; dmax: number },
  mu0: ArrayLike<number>,
  sigma0: ArrayLike<number>,
): RefResult {
  void N
  const ch = (i: number) => i % C
  const { eps, momentum, rmax, dmax } = hyper
  const clip = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v))
  const res = refGrouped(x, dy, gamma, beta, eps, C, C, ch, ch, (muB, sigmaB) => ({
    r: sigmaB.map((s, c) => clip(s / sigma0[c]!, 1 / rmax, rmax)),
    d: muB.map((m, c) => clip((m - mu0[c]!) / sigma0[c]!, -dmax, dmax)),
  }))
  const mu = new Float64Array(C)
  const sigma = new Float64Array(C)
  for (let c = 0; c < C; c++) {
    mu[c] = mu0[c]! + momentum * (res.mu[c]! - mu0[c]!)
    sigma[c] = sigma0[c]! + momentum * (res.sd[c]! - sigma0[c]!)
  }
  return { ...res, state: { mu, sigma } }
}

export function refLayerNorm(
  R: number,
  D: number,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  eps: number,
): RefResult {
  const res = refGrouped(
    x,
    dy,
    gamma,
    beta,
    eps,
    R,
    D,
    (i) => Math.floor(i / D),
    (i) => i % D,
  )
  return { ...res, state: {} }
}

export function refGroupNorm(
  shape: number[],
  G: number,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  eps: number,
): RefResult {
  const [N, C] = shape as [number, number]
  const HW = shape.slice(2).reduce((a, b) => a * b, 1)
  const K = C / G
  const chan = (i: number) => Math.floor(i / HW) % C
  const group = (i: number) => Math.floor(i / (C * HW)) * G + Math.floor(chan(i) / K)
  const res = refGrouped(x, dy, gamma, beta, eps, N * G, C, group, chan)
  return { ...res, state: {} }
}

export function refRmsNorm(
  R: number,
  D: number,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  gamma: ArrayLike<number>,
  eps: number,
): RefResult {
  const y = new Float64Array(R * D)
  const dx = new Float64Array(R * D)
  const dgamma = new Float64Array(D)
  for (let r = 0; r < R; r++) {
    let ms = 0
    for (let j = 0; j < D; j++) ms += x[r * D + j]! ** 2
    ms /= D
    const rr = 1 / Math.sqrt(ms + eps)
    // d rr / d x_k = -1/2 (ms + eps)^(-3/2) · 2 x_k / D
    let dms = 0
    for (let j = 0; j < D; j++) {
      const i = r * D + j
      y[i] = gamma[j]! * x[i]! * rr
      dgamma[j] += dy[i]! * x[i]! * rr
      dms += dy[i]! * gamma[j]! * x[i]! * -0.5 * (ms + eps) ** -1.5
    }
    for (let j = 0; j < D; j++) {
      const i = r * D + j
      dx[i] = dy[i]! * gamma[j]! * rr + (dms * 2 * x[i]!) / D
    }
  }
  return { y, dx, dgamma, dbeta: new Float64Array(0), state: {} }
}
