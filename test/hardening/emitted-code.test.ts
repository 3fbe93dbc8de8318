// No .norm file can make generated JavaScript do anything but arithmetic: the emitted module of
// every fuzz-generated layer (and every example) parses with acorn and passes a whitelist of
// syntax (fuzz/codecheck.ts): its own variables, B/S/H and buffer indexing, loops, arithmetic,
// comparisons, Math.f(…), bN.fill(…), bN.set(bM), and `meta` as pure data. This extends the
// identifier scan of test/js/hostile.test.ts from the examples to every generated layer.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { layerModule } from '../../compiler/emit/js/module.js'
import { frontend } from '../../compiler/frontend.js'
import { compileMode } from '../../runtime/js/index.js'
import { validLayer } from '../../fuzz/arbitraries.js'
import {
  ALLOWED_IDENTIFIER,
  checkModule,
  checkStepBody,
  identifiers,
} from '../../fuzz/codecheck.js'
import { allExampleLayers, modesOf } from '../helpers/examples.js'

describe('the whitelist', () => {
  it('refuses what an injection would need', () => {
    const bodies = [
      "b0.constructor.constructor('return process')()",
      'globalThis.process.exit(1)',
      "eval('1')",
      'new Function()',
      'const v1 = `${b0}`',
      "import('node:fs')",
      'this.x = 1',
      "const v1 = B['constructor']",
      "const v1 = Math['constructor']",
      'b0.fill.call(b1, 0)',
      'b0.set(globalThis)',
      'var v1 = 1',
      'const v1 = () => 1',
      'const v1 = b0?.[0]',
      'const v1 = 1; delete b0[0]',
      'const v1 = typeof b0',
      'const v1 = b0 || b1',
      'while (true) {}',
      'const v1 = "string"',
      'const __proto__ = 1',
      'const v1 = { a: 1 }',
      'const v1 = [b0]',
      'label: for (;;) break label',
    ]
    for (const b of bodies) expect(checkStepBody(b), b).not.toEqual([])
    for (const bad of [
      'eval',
      'constructor',
      'Function',
      'require',
      'process',
      'globalThis',
      '__proto__',
      'this',
    ])
      expect(ALLOWED_IDENTIFIER.test(bad), bad).toBe(false)
  })

  it('accepts what the emitter writes', () => {
    const body = [
      'const s0 = S[0]',
      'const b0 = B[0]',
      'const b1 = B[1]',
      'b1.fill(0)',
      'let a1_0 = 0, a1_1 = 0',
      'for (let i1 = 0; i1 < s0; i1++) { const o0_1 = 0 + i1 * (s0); const v2 = b0[o0_1]; a1_0 += Math.sqrt(v2 > 0 ? v2 : -v2) ** 2 }',
      'b1[0] += (a1_0 + a1_1) / (1 / 0) + H[0]',
      'b1.set(b0)',
    ].join('\n')
    expect(checkStepBody(body)).toEqual([])
  })
})

describe('emitted code of every generated layer', () => {
  it('step functions: arithmetic only (300 layers, both modes, forward and backward)', () => {
    let steps = 0
    fc.assert(
      fc.property(validLayer({ safe: false }), (l) => {
        const fe = frontend([{ file: 'g.norm', text: l.text }])
        for (const layer of fe.layers)
          for (const mode of modesOf(layer)) {
            const e = compileMode(layer, mode).emitted
            for (const s of [e.forward, e.backward]) {
              expect(checkStepBody(s.body), l.text).toEqual([])
              steps++
            }
          }
      }),
      { numRuns: 300, seed: 11 },
    )
    expect(steps).toBeGreaterThan(600)
  })

  it(
    'modules (normc compile --target js): arithmetic and data only (40 layers, f32 and f64)',
    { timeout: 60_000 },
    async () => {
      await fc.assert(
        fc.asyncProperty(validLayer({ safe: false }), async (l) => {
          const fe = frontend([{ file: 'g.norm', text: l.text }])
          for (const layer of fe.layers)
            for (const precision of ['f32', 'f64'] as const) {
              const m = await layerModule(layer, precision)
              expect(checkModule(m.js), l.text).toEqual([])
              // No identifier of the source leaks into code (names travel only as JSON strings).
              const code = m.js.replace(/export const meta = [\s\S]*?\n\}\n/, '')
              expect(
                identifiers(code).filter(
                  (id) => !ALLOWED_IDENTIFIER.test(id) && id !== 'export' && id !== 'function',
                ),
              ).toEqual([])
            }
        }),
        { numRuns: 40, seed: 12 },
      )
    },
  )

  it('the examples’ modules too', async () => {
    for (const layer of allExampleLayers()) {
      for (const mode of modesOf(layer)) {
        const e = compileMode(layer, mode).emitted
        expect(checkStepBody(e.forward.body)).toEqual([])
        expect(checkStepBody(e.backward.body)).toEqual([])
      }
      expect(checkModule((await layerModule(layer, 'f32')).js)).toEqual([])
    }
  })
})
