// The harness's bookkeeping at small sizes: interleaving caps, cross-check, report, bar lines;
// asynchronous runners (timed with a fake clock: nothing here is timed for real); progress.

import { describe, expect, it } from 'vitest'
import { floorImpls } from '../../bench/floors.js'
import { barChecks, checkFailures, runBenchmark, runsIn, toMarkdown } from '../../bench/harness.js'
import type { Impl, Outputs, Runner } from '../../bench/impl.js'
import { handRunner, handwrittenImpl } from '../../bench/impls/handwritten.js'
import type { LayerCase } from '../../bench/layers.js'

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
      progress: { enabled: false },
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
    expect(md).toContain("## Issue 5's bar for normc's CPU targets")
    const bars = barChecks(res)
    expect(bars.some((b) => b.includes('BatchNorm NHWC') && b.includes('(bar ≤ 1.1×)'))).toBe(true)
  })
})

/** A clock that only the fakes below move. */
function fakeClock() {
  const c = { t: 0, now: () => c.t }
  return c
}

/**
 * The hand-written loops behind an asynchronous interface: each pass returns a Promise, does its
 * work and moves the clock by `cost[pass]` only after a macrotask (so only a harness that awaits
 * sees it), and publishes its outputs then. Records whether a pass started while another was
 * still pending.
 */
function asyncFake(clock: { t: number }, cost: Record<'forward' | 'backward' | 'fwdbwd', number>) {
  const seen = { overlapped: false, calls: 0 }
  const impl: Impl = {
    name: 'async-fake',
    label: 'async fake',
    async setup(layer: LayerCase): Promise<Runner> {
      const hand = handRunner(layer)
      const want = hand.outputs!()
      // published outputs start as zeros: wrong until an awaited pass has copied the real ones
      const out: Outputs = {
        y: new Float32Array(layer.size),
        dx: new Float32Array(layer.size),
        dgamma: new Float32Array(layer.gamma.length),
        ...(want.dbeta ? { dbeta: new Float32Array(layer.gamma.length) } : {}),
      }
      let pending = 0
      const later = async (pass: keyof typeof cost, work: () => void) => {
        if (pending > 0) seen.overlapped = true
        pending++
        seen.calls++
        await new Promise((r) => setTimeout(r, 0))
        work()
        out.y!.set(hand.bufs.y)
        out.dx!.set(hand.bufs.dx)
        out.dgamma!.set(hand.bufs.dgamma)
        out.dbeta?.set(hand.bufs.dbeta)
        clock.t += cost[pass]
        pending--
      }
      return {
        forward: () => later('forward', () => hand.forward()),
        backward: () => later('backward', () => hand.backward()),
        fwdbwd: () =>
          later('fwdbwd', () => {
            hand.forward()
            hand.backward()
          }),
        outputs: () => out,
        ran: () => ({
          requested: 'fake',
          backend: 'fake',
          device: 'a fake device',
          renderer: 'software renderer: fake',
          software: true,
        }),
      }
    },
  }
  return { impl, seen }
}

/** The hand-written loops, synchronous, moving the clock by `cost[pass]` before returning. */
function syncFake(clock: { t: number }, cost: Record<'forward' | 'backward' | 'fwdbwd', number>) {
  const impl: Impl = {
    name: 'sync-fake',
    label: 'sync fake',
    async setup(layer) {
      const hand = handRunner(layer)
      return {
        ...hand,
        forward: () => {
          hand.forward()
          clock.t += cost.forward
        },
        backward: () => {
          hand.backward()
          clock.t += cost.backward
        },
        fwdbwd: () => {
          hand.fwdbwd()
          clock.t += cost.fwdbwd
        },
      }
    },
  }
  return impl
}

describe('asynchronous runners', () => {
  it('awaits a returned Promise inside the timed region; synchronous passes are timed as before', async () => {
    const clock = fakeClock()
    const a = asyncFake(clock, { forward: 7, backward: 11, fwdbwd: 18 })
    const res = await runBenchmark({
      layers: ['layernorm', 'bn-nchw'],
      runs: 4,
      warmup: 1,
      quick: true,
      impls: [
        handwrittenImpl,
        { ...a.impl, maxRuns: 2 },
        syncFake(clock, { forward: 3, backward: 5, fwdbwd: 8 }),
      ],
      gcBetween: false,
      log: () => {},
      progress: { enabled: false },
      now: clock.now,
    })
    expect(a.seen.overlapped).toBe(false)
    // per layer: setup runs each pass once, then 1 warm-up and 2 timed runs of each pass
    expect(a.seen.calls).toBe(2 * 3 * (1 + 1 + 2))
    for (const l of res.layers) {
      const byName = Object.fromEntries(l.impls.map((i) => [i.name, i]))
      const af = byName['async-fake']!
      expect(af.passes.forward!.samplesMs).toEqual([7, 7])
      expect(af.passes.backward!.samplesMs).toEqual([11, 11])
      expect(af.passes.fwdbwd!.samplesMs).toEqual([18, 18])
      const sf = byName['sync-fake']!
      expect(sf.passes.forward!.samplesMs).toEqual([3, 3, 3, 3])
      expect(sf.passes.backward!.samplesMs).toEqual([5, 5, 5, 5])
      expect(sf.passes.fwdbwd!.samplesMs).toEqual([8, 8, 8, 8])
      // nothing moved the clock during the hand-written loops' runs
      expect(byName.hand!.passes.fwdbwd!.samplesMs).toEqual([0, 0, 0, 0])
      // the outputs the async runner published once its passes had settled
      for (const e of Object.values(af.check!)) expect(e).toBe(0)
      expect(Object.keys(af.check!)).toEqual(expect.arrayContaining(['y', 'dx', 'dgamma']))
      expect(af.checkOk).toBe(true)
      expect(af.ran).toMatchObject({ backend: 'fake', software: true })
    }
    expect(checkFailures(res)).toEqual([])
    const md = toMarkdown(res)
    expect(md).toContain('async fake † (software renderer: fake)')
    expect(md).toContain('## GPU backends')
    expect(md).toContain('| async fake | fake | fake | a fake device |')
  })

  it('fails the cross-check of outputs beyond the tolerance', async () => {
    const wrong: Impl = {
      name: 'wrong',
      label: 'wrong',
      tolerance: 1e-3,
      async setup(layer) {
        const r = handRunner(layer)
        return { ...r, outputs: () => ({ ...r.outputs!(), dx: r.bufs.dx.map((v) => v * 1.01) }) }
      },
    }
    const res = await runBenchmark({
      layers: ['rmsnorm'],
      passes: ['fwdbwd'],
      runs: 1,
      warmup: 0,
      quick: true,
      impls: [handwrittenImpl, wrong],
      gcBetween: false,
      memory: false,
      log: () => {},
      progress: { enabled: false },
    })
    const w = res.layers[0]!.impls.find((i) => i.name === 'wrong')!
    expect(w.checkOk).toBe(false)
    const fails = checkFailures(res)
    expect(fails).toHaveLength(1)
    expect(fails[0]).toMatch(
      /^FAIL RMSNorm \[64,256\]: wrong differs .* beyond 1e-3: dx [0-9.]+e-[23]$/,
    )
    expect(toMarkdown(res)).toContain('| **NO** (1e-3) |')
  })
})

describe('progress', () => {
  const stream = (isTTY: boolean, columns = 200) => {
    const s = { isTTY, columns, text: '', write: (t: string) => (s.text += t) }
    return s
  }
  const run = (out: ReturnType<typeof stream>, log: string[], enabled?: boolean) =>
    runBenchmark({
      layers: ['layernorm'],
      runs: 3,
      warmup: 1,
      quick: true,
      impls: [handwrittenImpl, floorImpls[0]!],
      gcBetween: false,
      memory: false,
      log: (line) => log.push(line),
      progress: { stream: out, intervalMs: 0, ...(enabled !== undefined ? { enabled } : {}) },
    })

  it('is silent off a terminal: the log is plain lines', async () => {
    const out = stream(false)
    const log: string[] = []
    await run(out, log)
    expect(out.text).toBe('')
    expect(log[0]).toBe('\n== LayerNorm [64,256] (0.02 M elements)')
    expect(log.some((l) => l.startsWith('  set up hand in '))).toBe(true)
    expect(log.filter((l) => /^ {2}(forward|backward|fwdbwd) +hand /.test(l))).toHaveLength(3)
    for (const l of log) expect(l).not.toMatch(/[\r\x1b]/)
  })

  it('on a terminal shows layer, pass, implementation and repetition, with the log above it', async () => {
    const out = stream(true)
    const log: string[] = []
    await run(out, log, true)
    // the log goes through the indicator (written above it), not to `log`
    expect(log).toEqual([])
    expect(out.text).toContain('== LayerNorm [64,256] (0.02 M elements)\n')
    expect(out.text).toContain('bench 1/1 LayerNorm [64,256]')
    expect(out.text).toContain('setting up floor-memcpy')
    expect(out.text).toContain('forward · hand · warm-up 1/1')
    expect(out.text).toContain('fwdbwd · floor-memcpy · rep 3/3')
    // setups (2) + 3 passes × 2 implementations × (1 warm-up + 3 runs)
    expect(out.text).toContain('26/26')
    // the indicator is cleared at the end
    expect(out.text.endsWith('\r\x1b[2K')).toBe(true)
  })

  it('on a terminal that reports 0 columns (script, some CI ptys) still shows the line', async () => {
    const out = stream(true, 0)
    await run(out, [], true)
    // drawn 80 columns wide (before: cut to '…')
    expect(out.text).toContain('bench 1/1 LayerNorm [64,256]')
    expect(out.text).toContain('26/26')
  })
})
