// The TF.js peers compute the same layers as the hand-written loops (checked against float64
// references in handwritten.test.ts): forward, closed-form backward, and tf.grads.

import { describe, expect, it } from 'vitest'
import { handRunner } from '../../bench/impls/handwritten.js'
import type { Outputs } from '../../bench/impl.js'
import {
  LAYER_IDS,
  makeLayerCaseWithShape,
  type LayerCase,
  type LayerId,
} from '../../bench/layers.js'
import { tfRunner, type TfBackend } from '../../bench/peers/tfjs.js'
import { relErr } from './close.js'

const SHAPES: Record<LayerId, number[]> = {
  'bn-nchw': [3, 4, 5, 6],
  'bn-nhwc': [3, 5, 6, 4],
  layernorm: [6, 40],
  groupnorm: [2, 8, 3, 5],
  rmsnorm: [6, 40],
  batchrenorm: [60, 4],
}

function smallCase(id: LayerId): LayerCase {
  const layer = makeLayerCaseWithShape(id, SHAPES[id], 3)
  if (id === 'groupnorm') return { ...layer, hyper: { ...layer.hyper, groups: 4 } }
  if (id === 'batchrenorm') {
    // ch0: r clipped high, ch1: d clipped low; ch2, ch3 unclipped.
    return {
      ...layer,
      hyper: { ...layer.hyper, rmax: 1.2, dmax: 0.5 },
      state: {
        mu: Float32Array.from([0.4, 2, 0.5, 0.6]),
        sigma: Float32Array.from([0.5, 1.4, 1.5, 1.6]),
      },
    }
  }
  return layer
}

function expectSame(got: Outputs, want: Outputs, what: string, tol = 2e-5): void {
  for (const k of ['y', 'dx', 'dgamma', 'dbeta'] as const) {
    if (!want[k]) continue
    expect(got[k], `${what}: ${k}`).toBeDefined()
    expect(relErr(got[k]!, want[k]!), `${what}: ${k}`).toBeLessThan(tol)
  }
  for (const [k, v] of Object.entries(want.state ?? {})) {
    expect(relErr(got.state![k]!, v), `${what}: state.${k}`).toBeLessThan(tol)
  }
}

describe.each(['cpu', 'wasm'] as TfBackend[])('TF.js %s vs hand-written loops', (backend) => {
  for (const id of LAYER_IDS) {
    it(id, async () => {
      const layer = smallCase(id)
      const hand = handRunner(layer)
      hand.backward()
      const want = hand.outputs!()
      const tf = await tfRunner(layer, backend)
      try {
        tf.forward()
        tf.backward() // closed-form backward composed from TF.js ops
        expectSame(tf.outputs!(), want, `${backend} ${id} forward + closed-form backward`)
        tf.fwdbwd() // tf.grads
        expectSame(tf.outputs!(), want, `${backend} ${id} tf.grads`)
      } finally {
        tf.dispose?.()
      }
    })
  }
})
