// Hand-written closed-form kernels: the bar normc's generated JavaScript must meet.
//
// Storage is float32 (Float32Array); every accumulation is in float64 (JS numbers). The forward
// computes statistics with a two-pass variance on cache-resident data (per channel, per row, per
// group, or per block of rows merged with Chan's formula), then normalises, and saves only the
// small per-channel / per-row values (mean and inverse standard deviation). The backward makes
// one pass for Σdy and Σdy·x̂ and one elementwise pass for dx.
//
// Every function writes into buffers the caller allocated, and allocates nothing. Scratch space
// (a ChannelScratch, or a Float64Array of the documented length) is passed in where needed.
//
// What made these fast under V8 (Node 20), measured while writing them: reductions unrolled with
// independent accumulators; memory swept in order (BatchNorm NCHW goes n by n, not channel by
// channel, so that the prefetcher sees one stream); channel-innermost layouts processed four
// channels at a time with register accumulators over an L1-sized block of rows, instead of
// per-channel accumulator arrays (3× faster); LayerNorm/RMSNorm elementwise passes done four rows
// at a time, so that each γ[j] load and each dgamma/dbeta accumulator update serves four rows.
// Each typed-array access in a V8 loop costs a bounds check and often a reload of the array's
// base and length, which is why fewer accesses per element matter more than arithmetic.
//
// Conventions (examples/*.norm, the oracle's README): biased batch variance for normalising, eps
// inside the square root; BatchNorm running_var gets the unbiased variance; momentum is PyTorch's
// (new = (1 - m)·old + m·batch); gradients are those of L = Σ y·dy.

// ---------------------------------------------------------------------------------------------
// Building blocks over a contiguous range [start, end). Small enough for V8 to inline.

/** Σ x[i], four independent accumulators. */
function sumRange(x: Float32Array, start: number, end: number): number {
  let s0 = 0
  let s1 = 0
  let s2 = 0
  let s3 = 0
  let i = start
  const end4 = start + ((end - start) & ~3)
  for (; i < end4; i += 4) {
    s0 += x[i]
    s1 += x[i + 1]
    s2 += x[i + 2]
    s3 += x[i + 3]
  }
  for (; i < end; i++) s0 += x[i]
  return s0 + s1 + s2 + s3
}

/** Σ (x[i] - m)². */
function sqDevRange(x: Float32Array, start: number, end: number, m: number): number {
  let s0 = 0
  let s1 = 0
  let s2 = 0
  let s3 = 0
  let i = start
  const end4 = start + ((end - start) & ~3)
  for (; i < end4; i += 4) {
    const d0 = x[i] - m
    const d1 = x[i + 1] - m
    const d2 = x[i + 2] - m
    const d3 = x[i + 3] - m
    s0 += d0 * d0
    s1 += d1 * d1
    s2 += d2 * d2
    s3 += d3 * d3
  }
  for (; i < end; i++) {
    const d = x[i] - m
    s0 += d * d
  }
  return s0 + s1 + s2 + s3
}

/** Σ x[i]². */
function sqRange(x: Float32Array, start: number, end: number): number {
  let s0 = 0
  let s1 = 0
  let s2 = 0
  let s3 = 0
  let i = start
  const end4 = start + ((end - start) & ~3)
  for (; i < end4; i += 4) {
    const v0 = x[i]
    const v1 = x[i + 1]
    const v2 = x[i + 2]
    const v3 = x[i + 3]
    s0 += v0 * v0
    s1 += v1 * v1
    s2 += v2 * v2
    s3 += v3 * v3
  }
  for (; i < end; i++) {
    const v = x[i]
    s0 += v * v
  }
  return s0 + s1 + s2 + s3
}

/** y[i] = x[i]·a + b. */
function affineRange(
  x: Float32Array,
  y: Float32Array,
  start: number,
  end: number,
  a: number,
  b: number,
): void {
  let i = start
  const end4 = start + ((end - start) & ~3)
  for (; i < end4; i += 4) {
    y[i] = x[i] * a + b
    y[i + 1] = x[i + 1] * a + b
    y[i + 2] = x[i + 2] * a + b
    y[i + 3] = x[i + 3] * a + b
  }
  for (; i < end; i++) y[i] = x[i] * a + b
}

/** Results of dySumsRange: [Σ dy, Σ dy·(x - m)]. */
const SUMS = new Float64Array(2)

/** SUMS ← [Σ dy[i], Σ dy[i]·(x[i] - m)]. */
function dySumsRange(
  x: Float32Array,
  dy: Float32Array,
  start: number,
  end: number,
  m: number,
): void {
  let a0 = 0
  let a1 = 0
  let b0 = 0
  let b1 = 0
  let i = start
  const end2 = start + ((end - start) & ~1)
  for (; i < end2; i += 2) {
    const g0 = dy[i]
    const g1 = dy[i + 1]
    a0 += g0
    a1 += g1
    b0 += g0 * (x[i] - m)
    b1 += g1 * (x[i + 1] - m)
  }
  for (; i < end; i++) {
    const g = dy[i]
    a0 += g
    b0 += g * (x[i] - m)
  }
  SUMS[0] = a0 + a1
  SUMS[1] = b0 + b1
}

/** dx[i] = A·dy[i] + B·x[i] + K. */
function dxRange(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  start: number,
  end: number,
  A: number,
  B: number,
  K: number,
): void {
  let i = start
  const end4 = start + ((end - start) & ~3)
  for (; i < end4; i += 4) {
    dx[i] = A * dy[i] + B * x[i] + K
    dx[i + 1] = A * dy[i + 1] + B * x[i + 1] + K
    dx[i + 2] = A * dy[i + 2] + B * x[i + 2] + K
    dx[i + 3] = A * dy[i + 3] + B * x[i + 3] + K
  }
  for (; i < end; i++) dx[i] = A * dy[i] + B * x[i] + K
}

// The closed-form backward of y = s·x̂ + b with x̂ = (x - μ)·ι over M elements, scale s constant
// over them: dx = s·ι·(dy - Σdy/M - x̂·Σdy·x̂/M). Written as dx = A·dy + B·x + K, with
//   A = s·ι,  B = -A·ι·(Σdy·x̂)/M,  K = -A·(Σdy)/M - B·μ.
// (The cancellation in B·x + K happens in float64, where it costs nothing that float32 output
// can see.)

// ---------------------------------------------------------------------------------------------
// Per-channel float64 scratch (four arrays of length C), for BatchNorm (both layouts) and Batch
// Renorm.

export interface ChannelScratch {
  s: Float64Array
  q: Float64Array
  a: Float64Array
  b: Float64Array
}

export function makeChannelScratch(C: number): ChannelScratch {
  return {
    s: new Float64Array(C),
    q: new Float64Array(C),
    a: new Float64Array(C),
    b: new Float64Array(C),
  }
}

// ---------------------------------------------------------------------------------------------
// BatchNorm, NCHW [N, C, H, W]: per channel over N, H, W. Both passes sweep memory in order,
// one (n, c) run of H·W elements at a time. Statistics: two-pass mean and M2 of each run (in L1),
// merged into the channel's totals with Chan et al.'s formula.

/**
 * Train-mode forward. Writes y, updates runningMean/runningVar in place, saves per-channel
 * mean and inverse std (saveMean, saveInvstd: length C). ws: makeChannelScratch(C).
 */
export function batchNormNchwForward(
  x: Float32Array,
  y: Float32Array,
  N: number,
  C: number,
  HW: number,
  gamma: Float32Array,
  beta: Float32Array,
  eps: number,
  momentum: number,
  runningMean: Float32Array,
  runningVar: Float32Array,
  saveMean: Float64Array,
  saveInvstd: Float64Array,
  ws: ChannelScratch,
): void {
  const M = N * HW
  const mean = saveMean
  const m2 = saveInvstd // holds M2 until it is turned into the inverse std
  for (let n = 0; n < N; n++) {
    // Merging run n (HW elements) into n·HW seen so far.
    const wb = 1 / (n + 1)
    const wm = (n * HW) / (n + 1)
    for (let c = 0; c < C; c++) {
      const o = (n * C + c) * HW
      const bm = sumRange(x, o, o + HW) / HW
      const bq = sqDevRange(x, o, o + HW, bm)
      if (n === 0) {
        mean[c] = bm
        m2[c] = bq
      } else {
        mergeMoments(mean, m2, c, bm, bq, wb, wm)
      }
    }
  }
  const { a, b } = ws
  for (let c = 0; c < C; c++) {
    const variance = m2[c] / M
    const invstd = 1 / Math.sqrt(variance + eps)
    saveInvstd[c] = invstd
    a[c] = gamma[c] * invstd
    b[c] = beta[c] - mean[c] * a[c]
    runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mean[c]
    runningVar[c] = (1 - momentum) * runningVar[c] + (momentum * (variance * M)) / (M - 1)
  }
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const o = (n * C + c) * HW
      affineRange(x, y, o, o + HW, a[c], b[c])
    }
  }
}

/** Backward from the saved mean and inverse std. dgamma, dbeta: length C. */
export function batchNormNchwBackward(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  N: number,
  C: number,
  HW: number,
  gamma: Float32Array,
  saveMean: Float64Array,
  saveInvstd: Float64Array,
  dgamma: Float32Array,
  dbeta: Float32Array,
  ws: ChannelScratch,
): void {
  const M = N * HW
  const { s: sdy, q: sdyxc, a: B, b: K } = ws
  for (let c = 0; c < C; c++) {
    sdy[c] = 0
    sdyxc[c] = 0
  }
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const o = (n * C + c) * HW
      dySumsRange(x, dy, o, o + HW, saveMean[c])
      sdy[c] += SUMS[0]
      sdyxc[c] += SUMS[1]
    }
  }
  // A goes into sdyxc once Σdy·x̂ is consumed.
  for (let c = 0; c < C; c++) {
    const invstd = saveInvstd[c]
    const sdyxhat = sdyxc[c] * invstd
    dgamma[c] = sdyxhat
    dbeta[c] = sdy[c]
    const A = gamma[c] * invstd
    B[c] = (-A * invstd * sdyxhat) / M
    K[c] = (-A * sdy[c]) / M - B[c] * saveMean[c]
    sdyxc[c] = A
  }
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const o = (n * C + c) * HW
      dxRange(x, dy, dx, o, o + HW, sdyxc[c], B[c], K[c])
    }
  }
}

/** Chan's merge of a block (mean bm, M2 bq) into channel c; wb = nb/n, wm = count·nb/n. */
function mergeMoments(
  mean: Float64Array,
  m2: Float64Array,
  c: number,
  bm: number,
  bq: number,
  wb: number,
  wm: number,
): void {
  const delta = bm - mean[c]
  mean[c] += delta * wb
  m2[c] += bq + delta * delta * wm
}

// ---------------------------------------------------------------------------------------------
// Row layout [R, C] with per-channel statistics over R: BatchNorm NHWC (R = N·H·W) and Batch
// Renorm [N, C]. Statistics go block by block (rows × C ≈ 16 KiB, in L1): a two-pass mean and
// M2 per block, merged into the running totals with Chan et al.'s parallel formula. The
// normalise pass is a second read of x.

const BLOCK_FLOATS = 4096

/** mean[c], m2[c] ← mean and Σ(x - mean)² of column c. */
function rowsMoments(
  x: Float32Array,
  R: number,
  C: number,
  mean: Float64Array,
  m2: Float64Array,
): void {
  const rowsPerBlock = Math.max(1, (BLOCK_FLOATS / C) | 0)
  for (let r0 = 0; r0 < R; r0 += rowsPerBlock) {
    const r1 = Math.min(R, r0 + rowsPerBlock)
    const nb = r1 - r0
    const oEnd = r1 * C
    // Chan et al.: merging a block of nb rows into the count rows seen so far.
    const wb = nb / r1
    const wm = (r0 * nb) / r1
    let c = 0
    // Four channels at a time, their accumulators in registers; the block stays in L1 across
    // the two passes and the C/4 strided sweeps.
    for (; c + 3 < C; c += 4) {
      let s0 = 0
      let s1 = 0
      let s2 = 0
      let s3 = 0
      for (let o = r0 * C + c; o < oEnd; o += C) {
        s0 += x[o]
        s1 += x[o + 1]
        s2 += x[o + 2]
        s3 += x[o + 3]
      }
      const m0 = s0 / nb
      const m1 = s1 / nb
      const m2b = s2 / nb
      const m3 = s3 / nb
      let q0 = 0
      let q1 = 0
      let q2 = 0
      let q3 = 0
      for (let o = r0 * C + c; o < oEnd; o += C) {
        const d0 = x[o] - m0
        const d1 = x[o + 1] - m1
        const d2 = x[o + 2] - m2b
        const d3 = x[o + 3] - m3
        q0 += d0 * d0
        q1 += d1 * d1
        q2 += d2 * d2
        q3 += d3 * d3
      }
      if (r0 === 0) {
        mean[c] = m0
        mean[c + 1] = m1
        mean[c + 2] = m2b
        mean[c + 3] = m3
        m2[c] = q0
        m2[c + 1] = q1
        m2[c + 2] = q2
        m2[c + 3] = q3
      } else {
        mergeMoments(mean, m2, c, m0, q0, wb, wm)
        mergeMoments(mean, m2, c + 1, m1, q1, wb, wm)
        mergeMoments(mean, m2, c + 2, m2b, q2, wb, wm)
        mergeMoments(mean, m2, c + 3, m3, q3, wb, wm)
      }
    }
    for (; c < C; c++) {
      let s = 0
      for (let o = r0 * C + c; o < oEnd; o += C) s += x[o]
      const m = s / nb
      let q = 0
      for (let o = r0 * C + c; o < oEnd; o += C) {
        const d = x[o] - m
        q += d * d
      }
      if (r0 === 0) {
        mean[c] = m
        m2[c] = q
      } else {
        mergeMoments(mean, m2, c, m, q, wb, wm)
      }
    }
  }
}

/** y[r, c] = x[r, c]·a[c] + b[c]. */
function rowsAffine(
  x: Float32Array,
  y: Float32Array,
  R: number,
  C: number,
  a: Float64Array,
  b: Float64Array,
): void {
  const rowsPerBlock = Math.max(1, (BLOCK_FLOATS / C) | 0)
  for (let r0 = 0; r0 < R; r0 += rowsPerBlock) {
    const oEnd = Math.min(R, r0 + rowsPerBlock) * C
    let c = 0
    for (; c + 3 < C; c += 4) {
      const a0 = a[c]
      const a1 = a[c + 1]
      const a2 = a[c + 2]
      const a3 = a[c + 3]
      const b0 = b[c]
      const b1 = b[c + 1]
      const b2 = b[c + 2]
      const b3 = b[c + 3]
      for (let o = r0 * C + c; o < oEnd; o += C) {
        y[o] = x[o] * a0 + b0
        y[o + 1] = x[o + 1] * a1 + b1
        y[o + 2] = x[o + 2] * a2 + b2
        y[o + 3] = x[o + 3] * a3 + b3
      }
    }
    for (; c < C; c++) {
      const ac = a[c]
      const bc = b[c]
      for (let o = r0 * C + c; o < oEnd; o += C) y[o] = x[o] * ac + bc
    }
  }
}

/** sdy[c] ← Σ_r dy[r, c]; sdyxc[c] ← Σ_r dy[r, c]·(x[r, c] - mean[c]). */
function rowsDySums(
  x: Float32Array,
  dy: Float32Array,
  R: number,
  C: number,
  mean: Float64Array,
  sdy: Float64Array,
  sdyxc: Float64Array,
): void {
  for (let c = 0; c < C; c++) {
    sdy[c] = 0
    sdyxc[c] = 0
  }
  const rowsPerBlock = Math.max(1, (BLOCK_FLOATS / C) | 0)
  for (let r0 = 0; r0 < R; r0 += rowsPerBlock) {
    const oEnd = Math.min(R, r0 + rowsPerBlock) * C
    let c = 0
    for (; c + 3 < C; c += 4) {
      const m0 = mean[c]
      const m1 = mean[c + 1]
      const m2 = mean[c + 2]
      const m3 = mean[c + 3]
      let g0 = 0
      let g1 = 0
      let g2 = 0
      let g3 = 0
      let h0 = 0
      let h1 = 0
      let h2 = 0
      let h3 = 0
      for (let o = r0 * C + c; o < oEnd; o += C) {
        const d0 = dy[o]
        const d1 = dy[o + 1]
        const d2 = dy[o + 2]
        const d3 = dy[o + 3]
        g0 += d0
        g1 += d1
        g2 += d2
        g3 += d3
        h0 += d0 * (x[o] - m0)
        h1 += d1 * (x[o + 1] - m1)
        h2 += d2 * (x[o + 2] - m2)
        h3 += d3 * (x[o + 3] - m3)
      }
      sdy[c] += g0
      sdy[c + 1] += g1
      sdy[c + 2] += g2
      sdy[c + 3] += g3
      sdyxc[c] += h0
      sdyxc[c + 1] += h1
      sdyxc[c + 2] += h2
      sdyxc[c + 3] += h3
    }
    for (; c < C; c++) {
      const m = mean[c]
      let g = 0
      let h = 0
      for (let o = r0 * C + c; o < oEnd; o += C) {
        const d = dy[o]
        g += d
        h += d * (x[o] - m)
      }
      sdy[c] += g
      sdyxc[c] += h
    }
  }
}

/** dx[r, c] = A[c]·dy[r, c] + B[c]·x[r, c] + K[c]. */
function rowsDx(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  R: number,
  C: number,
  A: Float64Array,
  B: Float64Array,
  K: Float64Array,
): void {
  const rowsPerBlock = Math.max(1, (BLOCK_FLOATS / C) | 0)
  for (let r0 = 0; r0 < R; r0 += rowsPerBlock) {
    const oEnd = Math.min(R, r0 + rowsPerBlock) * C
    let c = 0
    for (; c + 3 < C; c += 4) {
      const A0 = A[c]
      const A1 = A[c + 1]
      const A2 = A[c + 2]
      const A3 = A[c + 3]
      const B0 = B[c]
      const B1 = B[c + 1]
      const B2 = B[c + 2]
      const B3 = B[c + 3]
      const K0 = K[c]
      const K1 = K[c + 1]
      const K2 = K[c + 2]
      const K3 = K[c + 3]
      for (let o = r0 * C + c; o < oEnd; o += C) {
        dx[o] = A0 * dy[o] + B0 * x[o] + K0
        dx[o + 1] = A1 * dy[o + 1] + B1 * x[o + 1] + K1
        dx[o + 2] = A2 * dy[o + 2] + B2 * x[o + 2] + K2
        dx[o + 3] = A3 * dy[o + 3] + B3 * x[o + 3] + K3
      }
    }
    for (; c < C; c++) {
      const Ac = A[c]
      const Bc = B[c]
      const Kc = K[c]
      for (let o = r0 * C + c; o < oEnd; o += C) dx[o] = Ac * dy[o] + Bc * x[o] + Kc
    }
  }
}

/**
 * BatchNorm NHWC train forward, x as [R = N·H·W, C]. Updates runningMean/runningVar, saves
 * per-channel mean and inverse std. ws: makeChannelScratch(C).
 */
export function batchNormNhwcForward(
  x: Float32Array,
  y: Float32Array,
  R: number,
  C: number,
  gamma: Float32Array,
  beta: Float32Array,
  eps: number,
  momentum: number,
  runningMean: Float32Array,
  runningVar: Float32Array,
  saveMean: Float64Array,
  saveInvstd: Float64Array,
  ws: ChannelScratch,
): void {
  const { a, b } = ws
  // saveInvstd holds M2 until it is turned into the inverse std.
  rowsMoments(x, R, C, saveMean, saveInvstd)
  for (let c = 0; c < C; c++) {
    const mean = saveMean[c]
    const variance = saveInvstd[c] / R
    const invstd = 1 / Math.sqrt(variance + eps)
    saveInvstd[c] = invstd
    a[c] = gamma[c] * invstd
    b[c] = beta[c] - mean * a[c]
    runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mean
    runningVar[c] = (1 - momentum) * runningVar[c] + (momentum * (variance * R)) / (R - 1)
  }
  rowsAffine(x, y, R, C, a, b)
}

/** BatchNorm NHWC backward. ws: makeChannelScratch(C). */
export function batchNormNhwcBackward(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  R: number,
  C: number,
  gamma: Float32Array,
  saveMean: Float64Array,
  saveInvstd: Float64Array,
  dgamma: Float32Array,
  dbeta: Float32Array,
  ws: ChannelScratch,
): void {
  const { s: sdy, q: sdyxc, a: B, b: K } = ws
  rowsDySums(x, dy, R, C, saveMean, sdy, sdyxc)
  // A goes into sdyxc once Σdy·x̂ is consumed.
  for (let c = 0; c < C; c++) {
    const invstd = saveInvstd[c]
    const sdyxhat = sdyxc[c] * invstd
    dgamma[c] = sdyxhat
    dbeta[c] = sdy[c]
    const A = gamma[c] * invstd
    B[c] = (-A * invstd * sdyxhat) / R
    K[c] = (-A * sdy[c]) / R - B[c] * saveMean[c]
    sdyxc[c] = A
  }
  rowsDx(x, dy, dx, R, C, sdyxc, B, K)
}

// ---------------------------------------------------------------------------------------------
// Batch Renormalization (Ioffe 2017, Algorithm 1), x as [N, C]: per channel over N.
//   μB, σB = sqrt(var_B + eps); r = clip(σB/σ, 1/rmax, rmax), d = clip((μB - μ)/σ, -dmax, dmax),
//   both stop-gradient; y = γ·((x - μB)/σB·r + d) + β; μ ← μ + m(μB - μ), σ ← σ + m(σB - σ).

/** Saved per-channel values of a Batch Renorm forward (each length C). */
export interface RenormSaved {
  mean: Float64Array
  invstd: Float64Array
  r: Float64Array
  d: Float64Array
}

export function makeRenormSaved(C: number): RenormSaved {
  return {
    mean: new Float64Array(C),
    invstd: new Float64Array(C),
    r: new Float64Array(C),
    d: new Float64Array(C),
  }
}

/**
 * Train forward. r and d use mu/sigma as they were before this step; mu and sigma are then
 * updated in place. ws: makeChannelScratch(C).
 */
export function batchRenormForward(
  x: Float32Array,
  y: Float32Array,
  N: number,
  C: number,
  gamma: Float32Array,
  beta: Float32Array,
  eps: number,
  momentum: number,
  rmax: number,
  dmax: number,
  mu: Float32Array,
  sigma: Float32Array,
  saved: RenormSaved,
  ws: ChannelScratch,
): void {
  const { a, b } = ws
  const { mean, invstd } = saved
  rowsMoments(x, N, C, mean, invstd)
  for (let c = 0; c < C; c++) {
    const muB = mean[c]
    const sigmaB = Math.sqrt(invstd[c] / N + eps)
    const r = Math.min(rmax, Math.max(1 / rmax, sigmaB / sigma[c]))
    const d = Math.min(dmax, Math.max(-dmax, (muB - mu[c]) / sigma[c]))
    invstd[c] = 1 / sigmaB
    saved.r[c] = r
    saved.d[c] = d
    a[c] = (gamma[c] * r) / sigmaB
    b[c] = gamma[c] * d + beta[c] - muB * a[c]
    mu[c] += momentum * (muB - mu[c])
    sigma[c] += momentum * (sigmaB - sigma[c])
  }
  rowsAffine(x, y, N, C, a, b)
}

/** Backward (r and d are constants). ws: makeChannelScratch(C). */
export function batchRenormBackward(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  N: number,
  C: number,
  gamma: Float32Array,
  saved: RenormSaved,
  dgamma: Float32Array,
  dbeta: Float32Array,
  ws: ChannelScratch,
): void {
  const { s: sdy, q: sdyxc, a: B, b: K } = ws
  const { mean, invstd, r, d } = saved
  rowsDySums(x, dy, N, C, mean, sdy, sdyxc)
  for (let c = 0; c < C; c++) {
    const is = invstd[c]
    const sdyxhat = sdyxc[c] * is
    dgamma[c] = r[c] * sdyxhat + d[c] * sdy[c]
    dbeta[c] = sdy[c]
    const A = gamma[c] * r[c] * is
    B[c] = (-A * is * sdyxhat) / N
    K[c] = (-A * sdy[c]) / N - B[c] * mean[c]
    sdyxc[c] = A
  }
  rowsDx(x, dy, dx, N, C, sdyxc, B, K)
}

// ---------------------------------------------------------------------------------------------
// LayerNorm, x as [R, D], normalised over D, affine γ[D], β[D]. Rows (4 KiB at D = 1024) stay in
// L1 between their statistics and the elementwise pass, which handles four rows at a time so
// that each γ[j], β[j] (and, backward, each dgamma/dbeta accumulator) is touched once per four
// rows.

/** Forward. saveMean, saveInvstd: length R. */
export function layerNormForward(
  x: Float32Array,
  y: Float32Array,
  R: number,
  D: number,
  gamma: Float32Array,
  beta: Float32Array,
  eps: number,
  saveMean: Float64Array,
  saveInvstd: Float64Array,
): void {
  for (let r = 0; r < R; r++) {
    const o = r * D
    const mean = sumRange(x, o, o + D) / D
    saveMean[r] = mean
    saveInvstd[r] = 1 / Math.sqrt(sqDevRange(x, o, o + D, mean) / D + eps)
    if ((r & 3) === 3) layerNormRows4(x, y, r - 3, D, gamma, beta, saveMean, saveInvstd)
  }
  for (let r = R & ~3; r < R; r++) {
    const o = r * D
    const i0 = saveInvstd[r]
    const c0 = -saveMean[r] * i0
    for (let j = 0; j < D; j++) y[o + j] = (x[o + j] * i0 + c0) * gamma[j] + beta[j]
  }
}

/** y = x̂·γ + β for rows r..r+3, x̂ = x·ι + c with c = -mean·ι. */
function layerNormRows4(
  x: Float32Array,
  y: Float32Array,
  r: number,
  D: number,
  gamma: Float32Array,
  beta: Float32Array,
  mean: Float64Array,
  invstd: Float64Array,
): void {
  const o0 = r * D
  const o1 = o0 + D
  const o2 = o1 + D
  const o3 = o2 + D
  const i0 = invstd[r]
  const i1 = invstd[r + 1]
  const i2 = invstd[r + 2]
  const i3 = invstd[r + 3]
  const c0 = -mean[r] * i0
  const c1 = -mean[r + 1] * i1
  const c2 = -mean[r + 2] * i2
  const c3 = -mean[r + 3] * i3
  for (let j = 0; j < D; j++) {
    const g = gamma[j]
    const b = beta[j]
    y[o0 + j] = (x[o0 + j] * i0 + c0) * g + b
    y[o1 + j] = (x[o1 + j] * i1 + c1) * g + b
    y[o2 + j] = (x[o2 + j] * i2 + c2) * g + b
    y[o3 + j] = (x[o3 + j] * i3 + c3) * g + b
  }
}

/** Scratch length for layerNormBackward / rmsNormBackward. */
export function featureScratchLength(D: number): number {
  return 6 * D
}

/** SUMS ← [Σ γ·dy, Σ γ·dy·(x - m)] over one row starting at o. */
function gammaDySums(
  x: Float32Array,
  dy: Float32Array,
  gamma: Float32Array,
  o: number,
  D: number,
  m: number,
): void {
  let a0 = 0
  let a1 = 0
  let b0 = 0
  let b1 = 0
  let j = 0
  for (; j + 1 < D; j += 2) {
    const g0 = gamma[j] * dy[o + j]
    const g1 = gamma[j + 1] * dy[o + j + 1]
    a0 += g0
    a1 += g1
    b0 += g0 * (x[o + j] - m)
    b1 += g1 * (x[o + j + 1] - m)
  }
  for (; j < D; j++) {
    const g = gamma[j] * dy[o + j]
    a0 += g
    b0 += g * (x[o + j] - m)
  }
  SUMS[0] = a0 + a1
  SUMS[1] = b0 + b1
}

/**
 * Backward. dgamma, dbeta: length D. scratch: length ≥ featureScratchLength(D) (the float64
 * accumulators of dgamma and dbeta, and per-row coefficients).
 */
export function layerNormBackward(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  R: number,
  D: number,
  gamma: Float32Array,
  saveMean: Float64Array,
  saveInvstd: Float64Array,
  dgamma: Float32Array,
  dbeta: Float32Array,
  scratch: Float64Array,
): void {
  // scratch: [0, D) dgamma accumulators, [D, 2D) dbeta accumulators, then per row r of the
  // current group of four: B at 2D + r', K at 2D + 4 + r'.
  for (let j = 0; j < 2 * D; j++) scratch[j] = 0
  const coef = 2 * D
  for (let r = 0; r < R; r++) {
    // s1 = Σ γ·dy, s2 = Σ γ·dy·(x - mean). dx = ι·(γ·dy - s1/D - x̂·(s2·ι)/D) = ι·γ·dy + B·x + K.
    const mean = saveMean[r]
    const invstd = saveInvstd[r]
    gammaDySums(x, dy, gamma, r * D, D, mean)
    const B = (-invstd * invstd * invstd * SUMS[1]) / D
    scratch[coef + (r & 3)] = B
    scratch[coef + 4 + (r & 3)] = (-invstd * SUMS[0]) / D - B * mean
    if ((r & 3) === 3) layerNormBackRows4(x, dy, dx, r - 3, D, gamma, saveMean, saveInvstd, scratch)
  }
  for (let r = R & ~3; r < R; r++) {
    const o = r * D
    const i0 = saveInvstd[r]
    const c0 = -saveMean[r] * i0
    const B0 = scratch[coef + (r & 3)]
    const K0 = scratch[coef + 4 + (r & 3)]
    for (let j = 0; j < D; j++) {
      const d0 = dy[o + j]
      const x0 = x[o + j]
      dx[o + j] = i0 * gamma[j] * d0 + B0 * x0 + K0
      scratch[j] += d0 * (x0 * i0 + c0)
      scratch[D + j] += d0
    }
  }
  for (let j = 0; j < D; j++) {
    dgamma[j] = scratch[j]
    dbeta[j] = scratch[D + j]
  }
}

/** dx for rows r..r+3, and their contributions to the dgamma/dbeta accumulators. */
function layerNormBackRows4(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  r: number,
  D: number,
  gamma: Float32Array,
  mean: Float64Array,
  invstd: Float64Array,
  scratch: Float64Array,
): void {
  const o0 = r * D
  const o1 = o0 + D
  const o2 = o1 + D
  const o3 = o2 + D
  const i0 = invstd[r]
  const i1 = invstd[r + 1]
  const i2 = invstd[r + 2]
  const i3 = invstd[r + 3]
  const c0 = -mean[r] * i0
  const c1 = -mean[r + 1] * i1
  const c2 = -mean[r + 2] * i2
  const c3 = -mean[r + 3] * i3
  const coef = 2 * D
  const B0 = scratch[coef]
  const B1 = scratch[coef + 1]
  const B2 = scratch[coef + 2]
  const B3 = scratch[coef + 3]
  const K0 = scratch[coef + 4]
  const K1 = scratch[coef + 5]
  const K2 = scratch[coef + 6]
  const K3 = scratch[coef + 7]
  for (let j = 0; j < D; j++) {
    const g = gamma[j]
    const d0 = dy[o0 + j]
    const d1 = dy[o1 + j]
    const d2 = dy[o2 + j]
    const d3 = dy[o3 + j]
    const x0 = x[o0 + j]
    const x1 = x[o1 + j]
    const x2 = x[o2 + j]
    const x3 = x[o3 + j]
    dx[o0 + j] = i0 * g * d0 + B0 * x0 + K0
    dx[o1 + j] = i1 * g * d1 + B1 * x1 + K1
    dx[o2 + j] = i2 * g * d2 + B2 * x2 + K2
    dx[o3 + j] = i3 * g * d3 + B3 * x3 + K3
    scratch[j] +=
      d0 * (x0 * i0 + c0) + d1 * (x1 * i1 + c1) + d2 * (x2 * i2 + c2) + d3 * (x3 * i3 + c3)
    scratch[D + j] += d0 + d1 + d2 + d3
  }
}

// ---------------------------------------------------------------------------------------------
// RMSNorm, x as [R, D]: y = γ·x·ρ, ρ = 1/sqrt(mean(x²) + eps). No centring, no bias. Same
// structure as LayerNorm.

/** Forward. saveRrms: length R (ρ per row). */
export function rmsNormForward(
  x: Float32Array,
  y: Float32Array,
  R: number,
  D: number,
  gamma: Float32Array,
  eps: number,
  saveRrms: Float64Array,
): void {
  for (let r = 0; r < R; r++) {
    const o = r * D
    saveRrms[r] = 1 / Math.sqrt(sqRange(x, o, o + D) / D + eps)
    if ((r & 3) === 3) rmsNormRows4(x, y, r - 3, D, gamma, saveRrms)
  }
  for (let r = R & ~3; r < R; r++) {
    const o = r * D
    const rr = saveRrms[r]
    for (let j = 0; j < D; j++) y[o + j] = x[o + j] * rr * gamma[j]
  }
}

function rmsNormRows4(
  x: Float32Array,
  y: Float32Array,
  r: number,
  D: number,
  gamma: Float32Array,
  rrms: Float64Array,
): void {
  const o0 = r * D
  const o1 = o0 + D
  const o2 = o1 + D
  const o3 = o2 + D
  const p0 = rrms[r]
  const p1 = rrms[r + 1]
  const p2 = rrms[r + 2]
  const p3 = rrms[r + 3]
  for (let j = 0; j < D; j++) {
    const g = gamma[j]
    y[o0 + j] = x[o0 + j] * p0 * g
    y[o1 + j] = x[o1 + j] * p1 * g
    y[o2 + j] = x[o2 + j] * p2 * g
    y[o3 + j] = x[o3 + j] * p3 * g
  }
}

/** Σ γ·dy·x over one row starting at o. */
function gammaDyXSum(
  x: Float32Array,
  dy: Float32Array,
  gamma: Float32Array,
  o: number,
  D: number,
): number {
  let s0 = 0
  let s1 = 0
  let j = 0
  for (; j + 1 < D; j += 2) {
    s0 += gamma[j] * dy[o + j] * x[o + j]
    s1 += gamma[j + 1] * dy[o + j + 1] * x[o + j + 1]
  }
  for (; j < D; j++) s0 += gamma[j] * dy[o + j] * x[o + j]
  return s0 + s1
}

/**
 * Backward: dx = ρ·γ·dy - x·ρ³·(Σ γ·dy·x)/D; dgamma = Σ_rows dy·x·ρ. scratch: length ≥
 * featureScratchLength(D).
 */
export function rmsNormBackward(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  R: number,
  D: number,
  gamma: Float32Array,
  saveRrms: Float64Array,
  dgamma: Float32Array,
  scratch: Float64Array,
): void {
  // scratch: [0, D) dgamma accumulators; B of the current group of four rows at 2D + r'.
  for (let j = 0; j < D; j++) scratch[j] = 0
  const coef = 2 * D
  for (let r = 0; r < R; r++) {
    const rr = saveRrms[r]
    scratch[coef + (r & 3)] = (-rr * rr * rr * gammaDyXSum(x, dy, gamma, r * D, D)) / D
    if ((r & 3) === 3) rmsNormBackRows4(x, dy, dx, r - 3, D, gamma, saveRrms, scratch)
  }
  for (let r = R & ~3; r < R; r++) {
    const o = r * D
    const p0 = saveRrms[r]
    const B0 = scratch[coef + (r & 3)]
    for (let j = 0; j < D; j++) {
      const d0 = dy[o + j]
      const x0 = x[o + j]
      dx[o + j] = p0 * gamma[j] * d0 + B0 * x0
      scratch[j] += d0 * x0 * p0
    }
  }
  for (let j = 0; j < D; j++) dgamma[j] = scratch[j]
}

function rmsNormBackRows4(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  r: number,
  D: number,
  gamma: Float32Array,
  rrms: Float64Array,
  scratch: Float64Array,
): void {
  const o0 = r * D
  const o1 = o0 + D
  const o2 = o1 + D
  const o3 = o2 + D
  const p0 = rrms[r]
  const p1 = rrms[r + 1]
  const p2 = rrms[r + 2]
  const p3 = rrms[r + 3]
  const coef = 2 * D
  const B0 = scratch[coef]
  const B1 = scratch[coef + 1]
  const B2 = scratch[coef + 2]
  const B3 = scratch[coef + 3]
  for (let j = 0; j < D; j++) {
    const g = gamma[j]
    const d0 = dy[o0 + j]
    const d1 = dy[o1 + j]
    const d2 = dy[o2 + j]
    const d3 = dy[o3 + j]
    const x0 = x[o0 + j]
    const x1 = x[o1 + j]
    const x2 = x[o2 + j]
    const x3 = x[o3 + j]
    dx[o0 + j] = p0 * g * d0 + B0 * x0
    dx[o1 + j] = p1 * g * d1 + B1 * x1
    dx[o2 + j] = p2 * g * d2 + B2 * x2
    dx[o3 + j] = p3 * g * d3 + B3 * x3
    scratch[j] += d0 * x0 * p0 + d1 * x1 * p1 + d2 * x2 * p2 + d3 * x3 * p3
  }
}

// ---------------------------------------------------------------------------------------------
// GroupNorm, NCHW [N, C, H, W], G groups of K = C/G channels: each (n, g) is normalised over
// K·H·W contiguous elements; affine per channel.

/** Forward. saveMean, saveInvstd: length N·G. */
export function groupNormForward(
  x: Float32Array,
  y: Float32Array,
  N: number,
  C: number,
  HW: number,
  G: number,
  gamma: Float32Array,
  beta: Float32Array,
  eps: number,
  saveMean: Float64Array,
  saveInvstd: Float64Array,
): void {
  const K = C / G
  const M = K * HW
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < G; g++) {
      const start = (n * C + g * K) * HW
      const mean = sumRange(x, start, start + M) / M
      const invstd = 1 / Math.sqrt(sqDevRange(x, start, start + M, mean) / M + eps)
      saveMean[n * G + g] = mean
      saveInvstd[n * G + g] = invstd
      for (let k = 0; k < K; k++) {
        const c = g * K + k
        const a = gamma[c] * invstd
        const o = start + k * HW
        affineRange(x, y, o, o + HW, a, beta[c] - mean * a)
      }
    }
  }
}

/** Scratch length for groupNormBackward. */
export function groupScratchLength(C: number): number {
  return 2 * C
}

/** Backward. dgamma, dbeta: length C. scratch: length ≥ groupScratchLength(C). */
export function groupNormBackward(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  N: number,
  C: number,
  HW: number,
  G: number,
  gamma: Float32Array,
  saveMean: Float64Array,
  saveInvstd: Float64Array,
  dgamma: Float32Array,
  dbeta: Float32Array,
  scratch: Float64Array,
): void {
  const K = C / G
  const M = K * HW
  // scratch[c]: float64 accumulator of dgamma[c]; scratch[C + c]: of dbeta[c].
  for (let c = 0; c < 2 * C; c++) scratch[c] = 0
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < G; g++) {
      const start = (n * C + g * K) * HW
      const mean = saveMean[n * G + g]
      const invstd = saveInvstd[n * G + g]
      // Per channel Σdy and Σdy·(x - mean); group totals weighted by γ.
      let s1 = 0
      let s2 = 0
      for (let k = 0; k < K; k++) {
        const c = g * K + k
        const o = start + k * HW
        dySumsRange(x, dy, o, o + HW, mean)
        scratch[c] += SUMS[1] * invstd
        scratch[C + c] += SUMS[0]
        s1 += gamma[c] * SUMS[0]
        s2 += gamma[c] * SUMS[1]
      }
      // dx = ι·(γc·dy - s1/M - x̂·(s2·ι)/M) = (ι·γc)·dy + B·x + K.
      const B = (-invstd * invstd * invstd * s2) / M
      const Kc = (-invstd * s1) / M - B * mean
      for (let k = 0; k < K; k++) {
        const o = start + k * HW
        dxRange(x, dy, dx, o, o + HW, invstd * gamma[g * K + k], B, Kc)
      }
    }
  }
  for (let c = 0; c < C; c++) {
    dgamma[c] = scratch[c]
    dbeta[c] = scratch[C + c]
  }
}
