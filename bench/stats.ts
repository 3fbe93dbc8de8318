// Small statistics and comparison helpers for the benchmark (and its tests).

export interface Summary {
  medianMs: number
  minMs: number
  maxMs: number
  runs: number
  samplesMs: number[]
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const h = s.length >> 1
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2
}

export function summarize(samples: readonly number[]): Summary {
  return {
    medianMs: median(samples),
    minMs: samples.length ? Math.min(...samples) : NaN,
    maxMs: samples.length ? Math.max(...samples) : NaN,
    runs: samples.length,
    samplesMs: [...samples],
  }
}

/**
 * Largest elementwise error relative to |expected| plus 1% of the RMS of expected (so that
 * entries near zero are held to the array's scale rather than to their own). NaN anywhere gives
 * NaN.
 */
export function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) {
    throw new Error(`length ${actual.length} != ${expected.length}`)
  }
  let ss = 0
  for (let i = 0; i < expected.length; i++) ss += expected[i]! ** 2
  const floor = 1e-2 * Math.sqrt(ss / Math.max(1, expected.length)) + 1e-300
  let worst = 0
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i]! - expected[i]!) / (Math.abs(expected[i]!) + floor)
    if (Number.isNaN(e)) return NaN
    if (e > worst) worst = e
  }
  return worst
}
