// How far a result is from its reference: the one measure the tests, the GPU checks and the
// playground share.

/** |actual − expected| / max(|expected|, 1), the largest over the tensor (NaN counts as Infinity). */
export function maxRelError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity
  let m = 0
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!
    const err = Math.abs(actual[i]! - e) / Math.max(Math.abs(e), 1)
    if (!(err <= m)) m = Number.isNaN(err) ? Infinity : err
  }
  return m
}
