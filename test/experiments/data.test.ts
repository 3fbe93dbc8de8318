// The experiments' data: a fixed, stratified, seeded split of the mnist package's 10,000
// digits, and the two minibatch samplers.

import { describe, expect, it } from 'vitest'
import {
  allocBatch,
  CLASSES,
  iidSampler,
  makeSplit,
  mnistSplit,
  PIXELS,
  SPLIT_SEED,
  twoClassSampler,
} from '../../experiments/data.js'
import { Rng } from '../../experiments/rng.js'

describe('experiments: data', () => {
  it('the seeded generator is deterministic and its streams differ', () => {
    const a = new Rng(7, 1)
    const b = new Rng(7, 1)
    const c = new Rng(7, 2)
    const xs = Array.from({ length: 5 }, () => a.next())
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs)
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs)
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true)
  })

  it('splits the 10,000 digits into 8,000 / 2,000, stratified, disjoint, the same every time', () => {
    const s = mnistSplit()
    expect(s.seed).toBe(SPLIT_SEED)
    expect(s.train.n + s.test.n).toBe(10000)
    expect(s.test.n).toBe(2000)
    expect(s.train.x.length).toBe(s.train.n * PIXELS)
    const key = ([d, k]: [number, number]) => d * 100000 + k
    const train = new Set(s.trainSource.map(key))
    const test = new Set(s.testSource.map(key))
    expect(train.size + test.size).toBe(10000)
    for (const k of test) expect(train.has(k)).toBe(false)
    for (let c = 0; c < CLASSES; c++) {
      const total = s.train.byClass[c]!.length + s.test.byClass[c]!.length
      expect(s.test.byClass[c]!.length).toBe(Math.round(total * 0.2))
    }
    // Standardised with the training set's statistics.
    let mean = 0
    for (const v of s.train.x) mean += v
    expect(Math.abs(mean / s.train.x.length)).toBeLessThan(1e-4)
    // The same seed gives the same split; another seed another one.
    expect(makeSplit(SPLIT_SEED).testSource).toEqual(s.testSource)
    expect(makeSplit(SPLIT_SEED + 1).testSource).not.toEqual(s.testSource)
  })

  it('non-i.i.d. minibatches hold two classes, half each; i.i.d. ones cover an epoch once', () => {
    const { train } = mnistSplit()
    const batch = allocBatch(8)
    const sample = twoClassSampler(train, new Rng(1, 3))
    for (let i = 0; i < 50; i++) {
      sample(batch)
      const labels = [...batch.labels]
      expect(new Set(labels.slice(0, 4)).size).toBe(1)
      expect(new Set(labels.slice(4)).size).toBe(1)
      expect(labels[0]).not.toBe(labels[4])
      for (let r = 0; r < 8; r++) expect(batch.t[r * CLASSES + labels[r]!]).toBe(1)
    }
    const big = allocBatch(train.n / 8)
    const iid = iidSampler(train, new Rng(1, 3))
    const counts = new Array<number>(CLASSES).fill(0)
    for (let i = 0; i < 8; i++) {
      iid(big)
      for (const l of big.labels) counts[l]!++
    }
    expect(counts).toEqual(train.byClass.map((c) => c.length))
  })
})
