// The fuzzing campaigns (fuzz/), a few thousand cases in CI: every stage of the compiler on
// arbitrary and mutated input ends in success or diagnostics, and random valid layers agree
// with finite differences and across targets. Fixed seeds, so a failure here replays with
// `npm run fuzz -- --campaign crash --seed SEED --runs RUNS` (see the message). Longer runs:
// `npm run fuzz -- --runs 100000` (spec/reliability.md records one).

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { frontend } from '../../compiler/frontend.js'
import {
  validLayer,
  nearValidLayer,
  Chooser,
  buildLayer,
  printLayer,
} from '../../fuzz/arbitraries.js'
import { runChunk, type ChunkReport } from '../../fuzz/campaign.js'
import { parseArgs } from '../../fuzz/main.js'

/** Unknown bugs of a report, one line each, with what replays them. */
function unknownBugs(r: ChunkReport): string[] {
  return r.bugs
    .filter((b) => !b.known)
    .map((b) => `${b.campaign} seed ${b.seed} path ${b.index}: ${b.where}: ${b.message}\n${b.text}`)
}

const CRASH_CHUNKS = [1, 2, 3, 4, 5, 6]
const CASES = 400

describe('crash fuzzing: every stage, arbitrary and mutated input', () => {
  for (const seed of CRASH_CHUNKS) {
    it(`${CASES} cases, seed ${seed}`, { timeout: 120_000 }, async () => {
      const r = await runChunk({
        campaign: 'crash',
        seed,
        runs: CASES,
        moduleEvery: 40,
        runEvery: 3,
        timeoutMs: 10_000,
      })
      expect(r.cases).toBe(CASES)
      expect(unknownBugs(r)).toEqual([])
      // The mix reaches the back end, not only the parser.
      expect(r.outcomes.ok ?? 0).toBeGreaterThan(CASES / 10)
      expect(r.outcomes.diagnostics ?? 0).toBeGreaterThan(CASES / 10)
    })
  }
})

describe('differential testing: random valid layers', () => {
  for (const seed of [1, 2]) {
    it(
      `150 layers, seed ${seed}: gradients = finite differences, js f64/f32 = interpreter`,
      { timeout: 120_000 },
      async () => {
        const r = await runChunk({ campaign: 'diff', seed, runs: 150 })
        expect(unknownBugs(r)).toEqual([])
        expect(r.outcomes['generator-rejected'] ?? 0).toBe(0)
        expect(r.fdElements).toBeGreaterThan(500)
      },
    )
  }
})

describe('the generator', () => {
  it('makes layers the checker accepts, of every kind', () => {
    let forward = 0
    let trainEval = 0
    let factorised = 0
    let withState = 0
    fc.assert(
      fc.property(validLayer({ safe: false }), (l) => {
        const fe = frontend([{ file: 'g.norm', text: l.text }])
        expect(fe.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual(
          [],
        )
        if (l.model.blocks[0]!.mode === 'forward') forward++
        else trainEval++
        if (l.model.axisDecls.some((a) => a.includes('*'))) factorised++
        if (l.model.tensors.some((t) => t.kind === 'state')) withState++
      }),
      { numRuns: 300, seed: 42 },
    )
    for (const n of [forward, trainEval, factorised, withState]) expect(n).toBeGreaterThan(30)
  })

  it('is deterministic: the same choices make the same layer', () => {
    const xs = Array.from({ length: 200 }, (_, i) => (i * 7919) % 65536)
    const a = printLayer(buildLayer(new Chooser(xs), { safe: true }))
    const b = printLayer(buildLayer(new Chooser(xs), { safe: true }))
    expect(a).toBe(b)
    // Running out of choices gives the simplest layer.
    expect(printLayer(buildLayer(new Chooser([]), { safe: true }))).toBe(
      'layer L(x: [N]) -> y {\n  forward {\n    y = mean(x, [N])\n  }\n}\n',
    )
  })

  it('near-valid layers are mostly refused, each with located diagnostics', () => {
    let refused = 0
    fc.assert(
      fc.property(nearValidLayer(), ({ text }) => {
        const fe = frontend([{ file: 'n.norm', text }])
        if (fe.diagnostics.some((d) => d.severity === 'error')) refused++
      }),
      { numRuns: 200, seed: 7 },
    )
    expect(refused).toBeGreaterThan(120)
  })
})

describe('npm run fuzz', () => {
  it('parses its flags', () => {
    const o = parseArgs([
      '--runs',
      '50',
      '--seed',
      '9',
      '--campaign',
      'diff',
      '--workers',
      '1',
      '--no-shrink',
    ])
    expect(o).toMatchObject({ runs: 50, seed: 9, campaigns: ['diff'], workers: 1, shrink: false })
    expect(() => parseArgs(['--bogus'])).toThrow(/unknown flag/)
  })
})
