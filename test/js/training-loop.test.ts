// A training loop on the js target allocates no full-size arrays per step: work buffers are
// owned by the layer instance and outputs can be given with `out`.

import { afterEach, describe, expect, it } from 'vitest'
import { compile } from '../../runtime/index.js'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { root } from '../helpers/oracle.js'

const originals = { Float32Array: globalThis.Float32Array, Float64Array: globalThis.Float64Array }
afterEach(() => Object.assign(globalThis, originals))

/** Counts typed arrays of at least `min` elements constructed while `f` runs. */
function countAllocations(min: number, f: () => void): number {
  let count = 0
  const trap = <T extends object>(C: T) =>
    new Proxy(C as unknown as new (...a: unknown[]) => object, {
      construct(target, args, newTarget) {
        const n =
          typeof args[0] === 'number'
            ? args[0]
            : ((args[0] as ArrayLike<number> | undefined)?.length ?? 0)
        if (n >= min) count++
        return Reflect.construct(target, args, newTarget)
      },
    })
  Object.assign(globalThis, {
    Float32Array: trap(originals.Float32Array),
    Float64Array: trap(originals.Float64Array),
  })
  try {
    f()
  } finally {
    Object.assign(globalThis, originals)
  }
  return count
}

describe('training loop', () => {
  it('the allocation counter sees allocations', () => {
    expect(countAllocations(10, () => void new Float32Array(100))).toBe(1)
    expect(
      countAllocations(10, () => void Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])),
    ).toBe(1)
    expect(countAllocations(10, () => void new Float32Array(5))).toBe(0)
  })

  for (const [file, name, axes] of [
    ['batchnorm2d.norm', 'BatchNorm2d', { N: 8, C: 4, H: 6, W: 6 }],
    ['batchrenorm.norm', 'BatchRenorm', { N: 64, C: 8 }],
    ['layernorm.norm', 'LayerNorm', { B: 16, D: 32 }],
  ] as const) {
    it(`${name}: 100 steps of forward + backward + state update allocate no full-size arrays`, () => {
      const mod = compile(readFileSync(join(root, 'examples', file), 'utf8'), { precision: 'f32' })
      const layer = mod.layer(name, { axes })
      const full = Object.values(axes).reduce((a, b) => a * b, 1)
      const x = new Float32Array(full).map((_, i) => Math.sin(i) + 0.1 * i)
      const dy = new Float32Array(full).map((_, i) => 0.5 + Math.cos(i) ** 2)
      const params = layer.initParams()
      const state = layer.initState()
      const y = new Float32Array(full)
      const grads = {
        x: new Float32Array(full),
        gamma: new Float32Array(params.gamma!.length),
        beta: new Float32Array(params.beta!.length),
      }
      const step = () => {
        const r = layer.forward({ x }, { mode: 'train', params, state, out: { y } })
        layer.backward(r.saved, dy, grads)
        for (let i = 0; i < params.gamma!.length; i++) params.gamma![i]! -= 0.01 * grads.gamma[i]!
      }
      step() // the first step allocates the instance's work buffers
      const before = state[Object.keys(state)[0]!]?.slice()
      const n = countAllocations(Math.min(full, 64), () => {
        for (let k = 0; k < 100; k++) step()
      })
      expect(n).toBe(0)
      // The loop did real work: outputs written into y, state moved.
      expect(y.some((v) => v !== 0)).toBe(true)
      if (before) expect(state[Object.keys(state)[0]!]).not.toEqual(before)
    })
  }
})
