// Differential testing of the gpu target: random safe layers (fuzz/arbitraries.ts) at small
// random sizes through compiler/emit/gpu and gpu.js, against the float64 interpreter on the
// same f32-rounded inputs (fuzz/differential.ts differentialGpu). On gpu.js's CPU backend (the
// kernel functions as JavaScript: always available) and on headless-gl (the same kernels as
// GLSL on Mesa llvmpipe; required under CI=true, like the other headless-gl tests).

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { frontend } from '../../compiler/frontend.js'
import { validLayer } from '../../fuzz/arbitraries.js'
import { differentialGpu, type DiffResult } from '../../fuzz/differential.js'
import { createGpu, type GpuBackend } from '../../runtime/gpu/backends.js'
import { reportUnavailable, tryBackend } from '../gpu/helpers.js'

const LAYERS = 150

async function campaign(backend: GpuBackend, seed: number) {
  const texts = fc.sample(validLayer({ safe: true }), { seed, numRuns: LAYERS }).map((l) => l.text)
  let compared = 0
  let worst = 0
  const failures: string[] = []
  for (const [k, text] of texts.entries()) {
    const layer = frontend([{ file: 'gen.norm', text }]).layers[0]
    expect(layer, text).toBeDefined()
    const r: DiffResult = await differentialGpu(layer!, { seed: seed + k, backend })
    if (r.skipped) continue
    compared++
    worst = Math.max(worst, r.worstErr.gpu ?? 0)
    for (const f of r.findings.slice(0, 1))
      failures.push(
        `layer ${k}: ${f.mode} ${f.tensor}[${f.index}]: got ${f.got}, want ${f.want} (error ${f.err.toExponential(2)} > ${f.tol.toExponential(2)})\n${text}`,
      )
  }
  return { compared, worst, failures }
}

/** Every generated layer agrees; most of them run (a few are refused at their random sizes). */
async function expectAgreement(backend: GpuBackend, seed: number) {
  const r = await campaign(backend, seed)
  console.log(
    `[gpu differential] ${backend}: ${r.compared} layers compared, worst error ${r.worst.toExponential(2)}`,
  )
  expect(r.failures).toEqual([])
  expect(r.compared).toBeGreaterThan(LAYERS / 2)
  expect(r.worst).toBeLessThan(1e-3)
}

describe('the gpu target = the interpreter on random layers', () => {
  it(`gpu.js cpu backend: ${LAYERS} layers`, { timeout: 180_000 }, () => expectAgreement('cpu', 7))
})

const headless = await tryBackend(async () => (await createGpu('headlessgl')).destroy())
if (!headless.ok) reportUnavailable('gpu differential on headlessgl', headless.reason, true)
else
  describe('the gpu target = the interpreter on random layers, in GLSL', () => {
    it(`headlessgl (Mesa llvmpipe): ${LAYERS} layers`, { timeout: 300_000 }, () =>
      expectAgreement('headlessgl', 8),
    )
  })

// The three bugs the runs above found (spec/reliability.md, bugs 31–33), shrunk.
describe('the gpu target (fixed)', () => {
  const check = async (text: string, backend: GpuBackend) => {
    const layer = frontend([{ file: 'r.norm', text }]).layers[0]!
    const r = await differentialGpu(layer, { seed: 3, backend })
    expect(r.skipped).toBeUndefined()
    return r.findings.map((f) => `${f.mode} ${f.tensor}[${f.index}]: got ${f.got}, want ${f.want}`)
  }
  it('results named __proto__ are own properties (were missing from the results)', async () => {
    const text =
      'layer L(__proto__: [N]) -> constructor {\n  param toString: [] = 2\n  forward {\n    constructor = __proto__ * toString\n  }\n}\n'
    expect(await check(text, 'cpu')).toEqual([])
  })
  it('the gradient of max(f(x), [N]) on a float32-storing backend (was NaN: no element matched)', async () => {
    const text = 'layer L(x: [N]) -> y {\n  forward {\n    y = max(sigmoid(x) * 3, [N])\n  }\n}\n'
    expect(await check(text, 'cpu')).toEqual([])
  })
  if (headless.ok)
    it('x ^ 3 and x ^ k of a negative x in GLSL (pow was NaN on Mesa)', async () => {
      const text =
        'layer L(x: [N]) -> y, z {\n  hyper k = 3\n  forward {\n    y = x ^ 3 - 1\n    z = (x - 2) ^ k\n  }\n}\n'
      expect(await check(text, 'headlessgl')).toEqual([])
    })
})
