// The machine's floors for a layer pass: the least time any implementation could take to move
// the pass's minimum traffic (layers.ts: train forward reads x twice and writes y; eval forward
// reads x and writes y; backward reads x and dy twice and writes dx; forward+backward is the sum).
//
// Two floors, both timed in the harness's interleaved rotation like any implementation:
// - memcpy: native Float32Array.prototype.set copies moving the same number of bytes (a copy of
//   B bytes reads B and writes B, so the pass's traffic T is moved as T/2 bytes of copies).
// - JS read: a tuned, unrolled JavaScript sum reading T bytes — the speed of plain scalar JS
//   over Float32Array, which is what normc's JS kernels are made of.

import type { Impl, Runner } from './impl.js'
import type { LayerCase, Pass, Traffic } from './layers.js'

/** Where the benchmark drops results so V8 cannot discard the loops. */
const SINK = new Float64Array(1)

/** Σ x[start, end), eight-way unrolled, four accumulators. */
export function readSum(x: Float32Array, start: number, end: number): number {
  let s0 = 0
  let s1 = 0
  let s2 = 0
  let s3 = 0
  let i = start
  const end8 = start + ((end - start) & ~7)
  for (; i < end8; i += 8) {
    s0 += x[i] + x[i + 4]
    s1 += x[i + 1] + x[i + 5]
    s2 += x[i + 2] + x[i + 6]
    s3 += x[i + 3] + x[i + 7]
  }
  for (; i < end; i++) s0 += x[i]
  return s0 + s1 + s2 + s3
}

/** Reads `floats` values from the sources in turn (x, dy, x, …), whole tensors then a part. */
export function readFloats(sources: Float32Array[], floats: number): number {
  let s = 0
  let k = 0
  while (floats > 0) {
    const src = sources[k++ % sources.length]!
    const m = Math.min(floats, src.length)
    s += readSum(src, 0, m)
    floats -= m
  }
  return s
}

/** Copies `floats` values in total from the sources in turn into dst (dst.length ≥ each). */
export function copyFloats(sources: Float32Array[], dst: Float32Array, floats: number): void {
  let k = 0
  while (floats > 0) {
    const src = sources[k++ % sources.length]!
    const m = Math.min(floats, src.length)
    if (m === src.length) dst.set(src)
    else dst.set(src.subarray(0, m))
    floats -= m
  }
}

export function passTraffic(traffic: Traffic, pass: Pass): number {
  return traffic[pass]
}

/** Views of the sources (x, dy, x, …) covering `floats` values: whole tensors, then a part. */
function chunks(sources: Float32Array[], floats: number): Float32Array[] {
  const out: Float32Array[] = []
  for (let k = 0; floats > 0; k++) {
    const src = sources[k % sources.length]!
    const m = Math.min(floats, src.length)
    out.push(m === src.length ? src : src.subarray(0, m))
    floats -= m
  }
  return out
}

/** Floor of one kind for a layer: each pass moves that pass's minimum traffic. */
function floorRunner(layer: LayerCase, kind: 'memcpy' | 'read'): Runner {
  const sources = [layer.x, layer.dy]
  const dst = new Float32Array(layer.size)
  const make = (bytes: number) => {
    if (kind === 'memcpy') {
      // Copies of bytes/2 in total; each copy into dst's start (views made once, here).
      const srcs = chunks(sources, Math.round(bytes / 8))
      const dsts = srcs.map((v) => (v.length === dst.length ? dst : dst.subarray(0, v.length)))
      return () => {
        for (let i = 0; i < srcs.length; i++) dsts[i]!.set(srcs[i]!)
      }
    }
    const srcs = chunks(sources, Math.round(bytes / 4))
    return () => {
      let s = 0
      for (const v of srcs) s += readSum(v, 0, v.length)
      SINK[0] = s
    }
  }
  const { traffic } = layer
  return {
    forward: make(traffic.forward),
    backward: make(traffic.backward),
    fwdbwd: make(traffic.fwdbwd),
  }
}

export const memcpyFloor: Impl = {
  name: 'floor-memcpy',
  label: 'memcpy floor',
  kind: 'floor',
  setup: async (layer) => floorRunner(layer, 'memcpy'),
}

export const readFloor: Impl = {
  name: 'floor-jsread',
  label: 'JS read floor',
  kind: 'floor',
  setup: async (layer) => floorRunner(layer, 'read'),
}

export const floorImpls: Impl[] = [memcpyFloor, readFloor]

/** GB/s for `bytes` moved in `ms`. */
export function gbps(bytes: number, ms: number): number {
  return bytes / (ms * 1e6)
}

/**
 * Standalone measurement: median GB/s of the memcpy and the JS read loop over `bytes` of
 * traffic on buffers of `tensorBytes`, and the floor in ms for that traffic.
 */
export function measureFloors(
  bytes: number,
  tensorBytes = bytes,
  runs = 15,
): { memcpy: { gbps: number; ms: number }; jsread: { gbps: number; ms: number } } {
  const n = Math.ceil(tensorBytes / 4)
  const a = new Float32Array(n).fill(1)
  const b = new Float32Array(n).fill(2)
  const dst = new Float32Array(n)
  const time = (f: () => void) => {
    const ts: number[] = []
    for (let i = 0; i < runs + 3; i++) {
      const t0 = performance.now()
      f()
      if (i >= 3) ts.push(performance.now() - t0)
    }
    ts.sort((p, q) => p - q)
    return ts[ts.length >> 1]!
  }
  const copyMs = time(() => copyFloats([a, b], dst, bytes / 8))
  const readMs = time(() => (SINK[0] = readFloats([a, b], bytes / 4)))
  return {
    memcpy: { gbps: gbps(bytes, copyMs), ms: copyMs },
    jsread: { gbps: gbps(bytes, readMs), ms: readMs },
  }
}
