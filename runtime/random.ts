// Random inputs for checking: seeded, reproducible, with the adversarial variants that find
// real bugs (constant channels, large offsets) and sizes that are not powers of two.

import type { CheckedLayer } from '../compiler/check/index.js'
import { upstreamName } from '../compiler/check/index.js'
import { evalSize } from './sizes.js'
import { sizeOf } from './interp.js'

/** mulberry32: a small, fast, seeded generator of floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export type Variant = 'plain' | 'offset' | 'constant'

/** Random sizes for the input and free axes (lo..hi), consistent with factorisations. */
export function randomSizes(
  layer: CheckedLayer,
  hypers: ReadonlyMap<string, number>,
  r: () => number,
  lo = 2,
  hi = 5,
): Record<string, number> {
  const sizes: Record<string, number> = {}
  for (const info of layer.axes.axes.values()) {
    if (info.kind === 'factor') continue
    sizes[info.name] = lo + Math.floor(r() * (hi - lo + 1))
  }
  // A factorised axis: its sized factors times a random size for the free one.
  for (const info of layer.axes.axes.values()) {
    if (!info.factors) continue
    let known = 1
    for (const f of info.factors) {
      const s = layer.axes.get(f)!.size
      if (s) known *= evalSize(s, hypers)
    }
    sizes[info.name] = known * (1 + Math.floor(r() * 3))
  }
  return sizes
}

export interface RandomTensors {
  tensors: Map<string, Float64Array>
  /** The upstream gradient of each output, by the name the backward program gives it. */
  dys: Map<string, Float64Array>
}

/**
 * Inputs ~ uniform(-1, 1) (plus 1e4 for `offset`; one constant channel along the first
 * reduced... along the first non-batch axis for `constant`); params near their initial values;
 * state in [0.5, 1.5) (running variances and sigmas must be positive); dy in [0.5, 1.5), so
 * its mean is not zero.
 */
export function randomTensors(
  layer: CheckedLayer,
  sizes: ReadonlyMap<string, number>,
  r: () => number,
  variant: Variant = 'plain',
): RandomTensors {
  const tensors = new Map<string, Float64Array>()
  for (const t of layer.inputs) {
    const n = sizeOf(t.axes, sizes)
    const a = new Float64Array(n)
    for (let i = 0; i < n; i++) a[i] = 2 * r() - 1 + (variant === 'offset' ? 1e4 : 0)
    if (variant === 'constant' && t.axes.length > 1) {
      // Make the slice at index 0 of the second axis constant (a constant channel in NC… layouts).
      const inner = sizeOf(t.axes.slice(2), sizes)
      const second = sizes.get(t.axes[1]!)!
      const outer = sizeOf(t.axes.slice(0, 1), sizes)
      for (let o = 0; o < outer; o++)
        for (let k = 0; k < inner; k++) a[o * second * inner + k] = 0.25
    }
    tensors.set(t.name, a)
  }
  for (const t of layer.params) {
    const n = sizeOf(t.axes, sizes)
    tensors.set(
      t.name,
      Float64Array.from({ length: n }, () => (t.init ?? 0) + r() - 0.5),
    )
  }
  for (const t of layer.states) {
    const n = sizeOf(t.axes, sizes)
    tensors.set(
      t.name,
      Float64Array.from({ length: n }, () => 0.5 + r()),
    )
  }
  const dys = new Map<string, Float64Array>()
  for (const o of layer.outputs) {
    const n = sizeOf(o.axes, sizes)
    dys.set(
      upstreamName(layer, o.name),
      Float64Array.from({ length: n }, () => 0.5 + r()),
    )
  }
  return { tensors, dys }
}
