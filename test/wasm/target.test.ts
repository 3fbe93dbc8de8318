// The wasm target (runtime/wasm, compiler/emit/wasm): every oracle case; the js target's numbers
// on every example at random sizes (odd ones included, so the scalar tail after the two-lane
// loop runs); the vector path really taken; tensors in the layer's memory used in place; a
// training loop that allocates nothing; hostile names that never reach the module.

import fc from 'fast-check'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compile } from '../../runtime/index.js'
import { runStepJs } from '../../runtime/js/step.js'
import { WasmLayer } from '../../runtime/wasm/index.js'
import { allExampleLayers, loadExample, modesOf, randomExampleCase } from '../helpers/examples.js'
import { expectMatchesOracle, loadOracleCases, maxRelError, root } from '../helpers/oracle.js'
import { normc } from '../utils/cli.js'

describe('oracle cases on the wasm target', () => {
  for (const c of loadOracleCases().filter((x) => !x.expectError)) {
    for (const precision of ['f64', 'f32'] as const) {
      it(`${c.name} ${precision}`, () => {
        const layer = loadExample(c.example).find((l) => l.decl.name === c.layer)!
        const r = runStepJs(layer, c.mode, c.run, precision, WasmLayer)
        const tol = precision === 'f64' ? 1e-9 : c.largeOffset ? 1e-2 : 1e-4
        expectMatchesOracle(r, c, tol)
      })
    }
  }
  it('refuses one value per channel in train, like the js target', () => {
    const c = loadOracleCases().find((x) => x.expectError)!
    const layer = loadExample(c.example).find((l) => l.decl.name === c.layer)!
    expect(() => runStepJs(layer, 'train', c.run, 'f64', WasmLayer)).toThrow(
      /division by zero in size arithmetic/,
    )
  })
})

describe('wasm target = js target on random inputs', () => {
  for (const layer of allExampleLayers()) {
    for (const mode of modesOf(layer)) {
      it(`${layer.decl.name} ${mode}`, () => {
        fc.assert(
          fc.property(
            fc.integer({ min: 1, max: 1e9 }),
            fc.constantFrom('plain' as const, 'offset' as const, 'constant' as const),
            (seed, variant) => {
              const c = randomExampleCase(layer, seed, variant, { min: 1, max: 7, round: true })
              let js
              try {
                js = runStepJs(layer, mode, c, 'f64')
              } catch {
                return // sizes the layer refuses (one value per channel in train)
              }
              // Same float64 arithmetic in another order: f64 agrees to rounding; f32 results
              // are one rounding of that, so they differ by at most an ulp where a value sits
              // on a rounding boundary.
              for (const [precision, tol] of [
                ['f64', 1e-12],
                ['f32', 2.5e-7],
              ] as const) {
                const a = precision === 'f64' ? js : runStepJs(layer, mode, c, 'f32')
                const b = runStepJs(layer, mode, c, precision, WasmLayer)
                for (const [k, v] of Object.entries(a.outputs))
                  expect(maxRelError(b.outputs[k]!, v), `${precision} ${k}`).toBeLessThan(tol)
                for (const [k, v] of Object.entries(a.grads!))
                  expect(maxRelError(b.grads![k]!, v), `${precision} d${k}`).toBeLessThan(tol)
                for (const [k, v] of Object.entries(a.state))
                  expect(maxRelError(b.state[k]!, v), `${precision} ${k}`).toBeLessThan(tol)
              }
            },
          ),
          { numRuns: 12, seed: 7 },
        )
      })
    }
  }
})

const source = (file: string) => readFileSync(join(root, 'examples', file), 'utf8')
const bn = () =>
  compile(source('batchnorm2d.norm'), { target: 'wasm', precision: 'f32' }).layer('BatchNorm2d', {
    axes: { N: 4, C: 3, H: 5, W: 6 },
  }) as WasmLayer

describe('the wasm target runs two lanes at a time', () => {
  it("BatchNorm2d's passes load f32 pairs, compute in f64x2 and store f32 pairs", () => {
    const wat = bn().wat('train')
    for (const op of [
      'v128.load64_zero',
      'f64x2.promote_low_f32x4',
      'f64x2.sub',
      'f64x2.mul',
      'f32x4.demote_f64x2_zero',
      'v128.store64_lane',
    ])
      expect(wat, op).toContain(op)
  })

  it('a layer whose innermost axis is odd also runs its scalar tail, and agrees', () => {
    const text = source('layernorm.norm')
    const x = Float64Array.from({ length: 3 * 7 }, (_, i) => Math.sin(i) * 4 + 2)
    const run = (target: 'js' | 'wasm') => {
      const L = compile(text, { target, precision: 'f64' }).layer('LayerNorm', {
        axes: { B: 3, D: 7 },
      })
      return L.forward({ x }, { mode: 'train', params: L.initParams(), state: L.initState() })
        .outputs.y!
    }
    expect(maxRelError(run('wasm'), run('js'))).toBeLessThan(1e-14)
  })
})

/** BatchNorm2d with x and dy written into the layer's own memory. */
function bnInPlace() {
  const L = bn()
  const n = 4 * 3 * 5 * 6
  const x = L.buffer('x', { mode: 'train' })
  x.set(Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.7) * 3))
  const dy = L.buffer('dy', { mode: 'train', step: 'backward' })
  dy.set(Float32Array.from({ length: n }, (_, i) => Math.sin(i)))
  return { L, x, dy }
}

describe("tensors in the layer's memory", () => {
  it('are used in place, and give the numbers of a copied call', () => {
    const { L, x, dy } = bnInPlace()
    const params = L.initParams()
    const inPlace = L.forward({ x }, { mode: 'train', params, state: L.initState() })
    const gIn = L.backward(inPlace.saved, dy)
    // Outputs and gradients the layer owns live in the same memory.
    expect(inPlace.outputs.y!.buffer).toBe(x.buffer)
    expect(gIn.x!.buffer).toBe(x.buffer)
    const y = Float32Array.from(inPlace.outputs.y!)
    const dx = Float32Array.from(gIn.x!)

    const M = bn()
    const copied = M.forward(
      { x: Float32Array.from(x) },
      { mode: 'train', params, state: M.initState() },
    )
    const gCopy = M.backward(copied.saved, Float32Array.from(dy))
    expect(Array.from(copied.outputs.y!)).toEqual(Array.from(y))
    expect(Array.from(gCopy.x!)).toEqual(Array.from(dx))
    expect(y.some((v) => v !== 0)).toBe(true)
  })

  it('a backward from copies of the saved values (normc/tfjs keeps them) reads the copies', () => {
    const L = bn()
    const n = 4 * 3 * 5 * 6
    const params = L.initParams()
    const x1 = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.7) * 3)
    const x2 = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.3) + 7)
    const dy = Float32Array.from({ length: n }, (_, i) => Math.sin(i))
    const first = L.forward({ x: x1 }, { mode: 'train', params, state: L.initState() })
    const want = Array.from(L.backward(first.saved, dy).x!)
    // Keep copies of what the first step saved, then let a second step overwrite the layer's.
    const kept = { mode: first.saved.mode, leaves: new Map<number, Float32Array | Float64Array>() }
    for (const [id, t] of first.saved.leaves) kept.leaves.set(id, t === x1 ? t : t.slice())
    L.forward({ x: x2 }, { mode: 'train', params, state: L.initState() })
    const got = Array.from(L.backward(kept, dy).x!)
    expect(got).toEqual(want)
    expect(got.some((v) => v !== 0)).toBe(true)
  })

  it('a mode that is not train or eval, and a `saved` from elsewhere, are clear errors', () => {
    for (const target of ['js', 'wasm'] as const) {
      const L = compile(source('batchnorm2d.norm'), { target, precision: 'f32' }).layer(
        'BatchNorm2d',
        { axes: { N: 4, C: 3, H: 5, W: 6 } },
      )
      const dy = new Float32Array(360).fill(1)
      expect(() => L.backward({ mode: 'foo' as 'train', leaves: new Map() }, dy)).toThrow(
        /mode must be 'train' or 'eval', got 'foo'/,
      )
      // Read as they are, missing values would be whatever the buffers last held.
      expect(() => L.backward({ mode: 'train', leaves: new Map() }, dy)).toThrow(
        /`saved` is not what a train forward of this layer instance returned \(a value it needs is missing\)/,
      )
    }
    expect(() => bn().wat('foo' as 'train')).toThrow(/mode must be 'train' or 'eval'/)
  })

  it('an unknown name is a clear error', () => {
    expect(() => bn().buffer('nope', { mode: 'train' })).toThrow(
      /the forward step of BatchNorm2d reads no tensor 'nope'/,
    )
  })

  it('a Float64Array given to an f32 layer is rounded on the way in, as f32 storage is', () => {
    const L = bn()
    const x64 = Float64Array.from({ length: 360 }, (_, i) => Math.sin(i) + 1e-9)
    const a = L.forward({ x: x64 }, { mode: 'eval', params: L.initParams(), state: L.initState() })
    const b = bn().forward(
      { x: Float32Array.from(x64) },
      { mode: 'eval', params: L.initParams(), state: L.initState() },
    )
    expect(Array.from(a.outputs.y!)).toEqual(Array.from(b.outputs.y!))
  })
})

describe('a training loop on the wasm target', () => {
  it('100 steps of forward + backward + state update allocate no typed arrays', () => {
    const { L, x, dy } = bnInPlace()
    const params = L.initParams()
    const state = L.initState()
    const step = () => {
      const r = L.forward({ x }, { mode: 'train', params, state })
      const g = L.backward(r.saved, dy)
      for (let i = 0; i < params.gamma!.length; i++) params.gamma![i]! -= 0.01 * g.gamma![i]!
      return r.outputs.y!
    }
    step()
    const before = Float32Array.from(state.running_mean!)
    const originals = { F32: globalThis.Float32Array, F64: globalThis.Float64Array }
    let made = 0
    const trap = (C: typeof Float32Array | typeof Float64Array) =>
      new Proxy(C, {
        construct(t, args, nt) {
          made++
          return Reflect.construct(t, args, nt)
        },
      })
    Object.assign(globalThis, {
      Float32Array: trap(originals.F32),
      Float64Array: trap(originals.F64),
    })
    let y: ArrayLike<number>
    try {
      for (let k = 0; k < 100; k++) y = step()
    } finally {
      Object.assign(globalThis, { Float32Array: originals.F32, Float64Array: originals.F64 })
    }
    expect(made).toBe(0)
    expect(Array.from(y!).some((v) => v !== 0)).toBe(true)
    expect(Array.from(state.running_mean!)).not.toEqual(Array.from(before))
  })
})

describe('hostile names never reach the module', () => {
  it('a layer named with JavaScript builtins runs, and its module text holds only numbers', () => {
    const hostile = `
layer constructor(__proto__: [toString, arguments], Function: [arguments]) -> process {
  hyper require = 1e308
  param prototype: [arguments] = 1
  forward {
    valueOf = mean(__proto__, [toString])
    hasOwnProperty = mean((__proto__ - valueOf) ^ 2, [toString])
    process = prototype * (__proto__ - valueOf) / sqrt(hasOwnProperty + require * 0 + 1e-5) + Function
  }
}
`
    const L = compile(hostile, { target: 'wasm', precision: 'f64' }).layer('constructor', {
      axes: { toString: 4, arguments: 3 },
    }) as WasmLayer
    const inputs = Object.fromEntries([
      ['__proto__', Float64Array.from({ length: 12 }, (_, i) => Math.sin(i))],
      ['Function', new Float64Array(3).fill(0.5)],
    ])
    const r = L.forward(inputs, { mode: 'train', params: L.initParams(), state: L.initState() })
    expect([...r.outputs.process!].every(Number.isFinite)).toBe(true)
    const wat = L.wat('train')
    for (const name of ['__proto__', 'toString', 'arguments', 'Function', 'prototype', 'valueOf'])
      expect(wat).not.toContain(name)
  })
})

describe('normc run --target wasm', () => {
  it('prints the JSON of the js target, to float64 rounding', () => {
    const dir = mkdtempSync(join(tmpdir(), 'normc-wasm-'))
    const input = join(dir, 'case.json')
    const n = 3 * 2 * 3 * 5
    writeFileSync(
      input,
      JSON.stringify({
        axes: { N: 3, C: 2, H: 3, W: 5 },
        inputs: { x: Array.from({ length: n }, (_, i) => Math.sin(i * 1.3) * 2 + 5) },
        dy: Array.from({ length: n }, (_, i) => Math.cos(i)),
      }),
    )
    const run = (target: string) => {
      const r = normc(['run', 'examples/batchnorm2d.norm', '--input', input, '--target', target])
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      return JSON.parse(r.stdout) as {
        y: number[]
        grads: Record<string, number[]>
        state: Record<string, number[]>
      }
    }
    const js = run('js')
    const wasm = run('wasm')
    expect(maxRelError(wasm.y, js.y)).toBeLessThan(1e-13)
    for (const k of ['x', 'gamma', 'beta'])
      expect(maxRelError(wasm.grads[k]!, js.grads[k]!), k).toBeLessThan(1e-13)
    expect(maxRelError(wasm.state.running_var!, js.state.running_var!)).toBeLessThan(1e-13)
    expect(wasm.y.length).toBe(n)
  })

  it('is listed where a wrong target is refused', () => {
    const r = normc(['run', 'examples/batchnorm2d.norm', '--input', '-', '--target', 'wasn'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('interp, js, wasm, gpu')
  })
})

describe('normc compile --target wasm', () => {
  it('writes modules a caller can run from their JSON table alone, to the js numbers', () => {
    const dir = mkdtempSync(join(tmpdir(), 'normc-wasm-compile-'))
    const r = normc([
      'compile',
      'examples/batchnorm2d.norm',
      '--target',
      'wasm',
      '--axes',
      'N=3,C=2,H=3,W=5',
      '-o',
      dir,
    ])
    expect(r.stderr).toContain('BatchNorm2d.train.wasm')
    expect(r.code).toBe(0)
    expect(readFileSync(join(dir, 'BatchNorm2d.eval.wat'), 'utf8')).toContain('(export "forward")')
    const table = JSON.parse(readFileSync(join(dir, 'BatchNorm2d.train.json'), 'utf8')) as {
      pages: number
      imports: string[]
      forward: {
        frame: { bytes: number; hypersAt: number }
        buffers: { role: string; name?: string; elem: 'f32' | 'f64'; elements: number }[]
        hypers: string[]
      }
    }
    // A caller's own placement of the buffers, one after another in a memory of its own.
    const WA = (globalThis as unknown as { WebAssembly: any }).WebAssembly
    const memory = new WA.Memory({ initial: table.pages + 1 })
    const math = Object.fromEntries(table.imports.map((f) => [f, (Math as any)[f]]))
    const bytes = readFileSync(join(dir, 'BatchNorm2d.train.wasm'))
    const inst = new WA.Instance(new WA.Module(bytes), { env: { memory }, math })
    let top = 0
    const views = table.forward.buffers.map((b) => {
      const v =
        b.elem === 'f32'
          ? new Float32Array(memory.buffer, top, b.elements)
          : new Float64Array(memory.buffer, top, b.elements)
      top += Math.ceil((b.elements * v.BYTES_PER_ELEMENT) / 16) * 16
      return v
    })
    const n = 3 * 2 * 3 * 5
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.3) * 2 + 5)
    const slot = (name: string) => table.forward.buffers.findIndex((b) => b.name === name)
    views[slot('x')]!.set(x)
    views[slot('gamma')]!.fill(1)
    views[slot('running_var')]!.fill(1)
    const hyper: Record<string, number> = { eps: 1e-5, momentum: 0.1 }
    const frame = top
    new Uint32Array(memory.buffer, frame, views.length).set(views.map((v) => v.byteOffset))
    new Float64Array(memory.buffer, frame + table.forward.frame.hypersAt).set(
      table.forward.hypers.map((h) => hyper[h]!),
    )
    inst.exports.forward(frame)
    const L = compile(source('batchnorm2d.norm'), { precision: 'f32' }).layer('BatchNorm2d', {
      axes: { N: 3, C: 2, H: 3, W: 5 },
    })
    const ref = L.forward({ x }, { mode: 'train', params: L.initParams(), state: L.initState() })
    const y = views[table.forward.buffers.findIndex((b) => b.role === 'output')]!
    expect(maxRelError(y, ref.outputs.y!)).toBeLessThan(1e-6)
    expect(Array.from(y).some((v) => v !== 0)).toBe(true)
  })

  it('refuses to compile without sizes', () => {
    const r = normc(['compile', 'examples/batchnorm2d.norm', '--target', 'wasm', '-o', tmpdir()])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--target wasm needs --axes')
  })
})

describe('the wasm target at sizes WebAssembly cannot hold', () => {
  it('refuses with one line before allocating anything', () => {
    const m = compile(source('layernorm.norm'), { target: 'wasm', precision: 'f32' })
    // x and y of 2^28 elements are within normc's 8 GiB; x, y, dy, dx and the backward's x,
    // 1 GiB apiece in f32, are not within WebAssembly's 4 GiB.
    expect(() => m.layer('LayerNorm', { axes: { B: 2 ** 14, D: 2 ** 14 } })).toThrow(
      /a WebAssembly memory holds at most 4 GiB \(the js target has no such limit\)/,
    )
  })
})
