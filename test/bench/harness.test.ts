// The harness's bookkeeping at small sizes: interleaving caps, cross-check, report, bar lines.

import { describe, expect, it } from 'vitest'
import { floorImpls } from '../../bench/floors.js'
import { barChecks, runBenchmark, runsIn, toMarkdown } from '../../bench/harness.js'
import type { Impl } from '../../bench/impl.js'
import { handRunner, handwrittenImpl } from '../../bench/impls/handwritten.js'

describe('runsIn', () => {
  it('spreads k of n repetitions evenly', () => {
    const picked = (k: number, n: number) =>
      Array.from({ length: n }, (_, r) => r).filter((r) => runsIn(r, n, k))
    expect(picked(3, 10)).toEqual([0, 4, 7])
    expect(picked(10, 10)).toHaveLength(10)
    expect(picked(12, 10)).toHaveLength(10)
    expect(picked(1, 10)).toEqual([0])
    expect(picked(0, 10)).toEqual([])
  })
})

describe('runBenchmark', () => {
  it('times, cross-checks and reports every implementation', async () => {
    // A stand-in for normc's kernels: the hand-written loops with y perturbed by 1e-3.
    const fake: Impl = {
      name: 'normc-js',
      label: 'fake normc',
      maxRuns: 1,
      async setup(layer) {
        const r = handRunner(layer)
        return {
          ...r,
          outputs: () => ({ ...r.outputs!(), y: r.bufs.y.map((v) => v * 1.001) }),
        }
      },
    }
    const res = await runBenchmark({
      layers: ['layernorm', 'bn-nhwc'],
      runs: 3,
      warmup: 1,
      quick: true,
      impls: [handwrittenImpl, fake, ...floorImpls],
      gcBetween: false,
      log: () => {},
    })
    expect(res.layers.map((l) => l.id)).toEqual(['layernorm', 'bn-nhwc'])
    for (const l of res.layers) {
      const byName = Object.fromEntries(l.impls.map((i) => [i.name, i]))
      expect(byName.hand!.passes.fwdbwd!.runs).toBe(3)
      expect(byName['normc-js']!.passes.forward!.runs).toBe(1)
      expect(byName['floor-memcpy']!.kind).toBe('floor')
      expect(byName['normc-js']!.check!.y).toBeGreaterThan(5e-4)
      expect(byName['normc-js']!.check!.dx).toBe(0)
      expect(byName.hand!.memory).toBeDefined()
    }
    const md = toMarkdown(res)
    expect(md).toContain(
      '| layer | pass | hand-written JS | fake normc | memcpy floor | JS read floor |',
    )
    expect(md).toContain('normc-js / hand')
    expect(md).toContain("## Issue 5's bar for normc-js")
    const bars = barChecks(res)
    expect(bars.some((b) => b.includes('BatchNorm NHWC') && b.includes('(bar ≤ 1.1×)'))).toBe(true)
  })
})
