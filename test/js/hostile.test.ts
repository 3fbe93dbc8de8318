// A .norm file from a stranger cannot make the generated JavaScript do anything but
// arithmetic: every identifier in emitted code is one the compiler made, and names from the
// source appear only as JSON string data.

import { tokenizer } from 'acorn'
import { describe, expect, it } from 'vitest'
import { compileMode } from '../../runtime/js/index.js'
import { layerModule } from '../../compiler/emit/js/module.js'
import { compile } from '../../runtime/index.js'
import { allExampleLayers, checkSource, modesOf } from '../helpers/examples.js'

const hostile = `
layer constructor(__proto__: [toString, arguments], Function: [arguments]) -> process {
  hyper require = 1e308
  hyper globalThis = -0
  param prototype: [arguments] = 1
  state import: [arguments] = 0
  train {
    valueOf = mean(__proto__, [toString])
    hasOwnProperty = mean((__proto__ - valueOf) ^ 2, [toString])
    process = prototype * (__proto__ - valueOf) / sqrt(hasOwnProperty + require * 0 + 1e-5) + Function
    import <- lerp(import, valueOf, globalThis)
  }
  eval {
    process = __proto__ * prototype + Function
  }
}
`

// What generated code may name: its own variables, its parameters, Math and a few literals.
const allowed =
  /^(?:[bvsiojkadtmn]\d*(?:_\d+){0,2}|[BSH]|d|s|m|t|Math|sqrt|exp|log|abs|tanh|max|min|sign|Infinity|NaN|fill|set|length|meta|let|forward_(?:train|eval)|backward_(?:train|eval))$/

function identifiers(code: string): string[] {
  const out: string[] = []
  for (const t of tokenizer(code, { ecmaVersion: 2022, sourceType: 'module' })) {
    if (t.type.label === 'name') out.push(String((t as unknown as { value: unknown }).value))
  }
  return out
}

describe('generated code from hostile sources', () => {
  it('a layer named with JavaScript builtins checks, compiles and runs', () => {
    const mod = compile(hostile, { precision: 'f64' })
    const L = mod.layer('constructor', { axes: { toString: 4, arguments: 3 } })
    const x = Float64Array.from({ length: 12 }, (_, i) => Math.sin(i))
    const inputs = Object.fromEntries([
      ['__proto__', x],
      ['Function', new Float64Array(3).fill(0.5)],
    ])
    const r = L.forward(inputs, { mode: 'train', params: L.initParams(), state: L.initState() })
    expect(r.outputs.process).toHaveLength(12)
    expect([...r.outputs.process!].every(Number.isFinite)).toBe(true)
    // Object.prototype was not touched.
    expect(({} as Record<string, unknown>).eval).toBeUndefined()
  })

  it('the identifier filter rejects what an injection would need', () => {
    for (const bad of [
      'eval',
      'constructor',
      'Function',
      'require',
      'process',
      'globalThis',
      '__proto__',
    ])
      expect(allowed.test(bad)).toBe(false)
    expect(identifiers('b1[o2_1] = Math.sqrt(v3)')).toEqual(['b1', 'o2_1', 'Math', 'sqrt', 'v3'])
  })

  it('every identifier in the emitted step functions is generated', async () => {
    const layers = [...checkSource(hostile), ...allExampleLayers()]
    for (const layer of layers) {
      for (const mode of modesOf(layer)) {
        const e = compileMode(layer, mode).emitted
        for (const body of [e.forward.body, e.backward.body]) {
          const bad = identifiers(`function f(B, S, H) {${body}}`).filter(
            (id) => id !== 'f' && !allowed.test(id),
          )
          expect(bad).toEqual([])
        }
      }
      const m = await layerModule(layer, 'f32')
      const code = m.js.replace(/export const meta = [\s\S]*?\n\}\n/, '')
      expect(
        identifiers(code).filter((id) => !allowed.test(id) && id !== 'export' && id !== 'function'),
      ).toEqual([])
    }
  })

  it('numbers that would not be finite are refused before code is written', () => {
    expect(() =>
      checkSource('layer L(x: [N]) -> y { hyper h = 1e999\n forward { y = x * h } }'),
    ).toThrow(/too large/)
    expect(() => checkSource('layer L(x: [N]) -> y { forward { y = x * 1e999 } }')).toThrow(
      /too large/,
    )
  })
})
