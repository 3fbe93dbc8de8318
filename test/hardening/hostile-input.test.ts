// Hostile input: names that mean something to JavaScript, look-alike characters, numbers at
// the edges of float64, nesting and files far beyond any real layer, axis sizes that would
// exhaust memory, and `normc run` case files that lie. Every one ends in a located diagnostic
// or a one-line error (exit 1, no stack trace), within a time bound, never in an exception.

import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { CheckedLayer } from '../../compiler/check/index.js'
import { NormcError } from '../../compiler/diagnostics.js'
import { frontend } from '../../compiler/frontend.js'
import { parseCase } from '../../runtime/case.js'
import { compile } from '../../runtime/index.js'
import { runStepJs } from '../../runtime/js/step.js'
import { MAX_BYTES } from '../../runtime/sizes.js'
import { runStepInterp } from '../../runtime/step.js'
import { crashCase } from '../../fuzz/campaign.js'
import { diagnosticProblem } from '../../fuzz/stages.js'
import { repoRoot } from '../utils/ast.js'

/** Front-end errors of a source, as `line:col message`, checking each is located in it. */
function errorsOf(text: string): string[] {
  const fe = frontend([{ file: 'h.norm', text }])
  for (const d of fe.diagnostics) expect(diagnosticProblem(d, text), d.message).toBeUndefined()
  return fe.diagnostics
    .filter((d) => d.severity === 'error')
    .map((d) => `${d.span.line}:${d.span.col} ${d.message}`)
}

function checked(text: string): CheckedLayer {
  const fe = frontend([{ file: 'h.norm', text }])
  expect(fe.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([])
  return fe.layers[0]!
}

const timed = <T>(f: () => T): { value: T; ms: number } => {
  const t0 = performance.now()
  const value = f()
  return { value, ms: performance.now() - t0 }
}

describe('names', () => {
  it('JavaScript’s own names are ordinary names everywhere, and Object.prototype is untouched', () => {
    const text = `layer constructor(__proto__: [toString, valueOf], prototype: [valueOf]) -> hasOwnProperty, __defineGetter__ {
  hyper isPrototypeOf = 0.5
  hyper propertyIsEnumerable = 1e-5
  param toLocaleString: [valueOf] = 1
  state __lookupGetter__: [valueOf] = 0
  train {
    Function = mean(__proto__, [toString])
    require = mean((__proto__ - Function) ^ 2, [toString])
    hasOwnProperty = toLocaleString * (__proto__ - Function) / sqrt(require + propertyIsEnumerable) + prototype
    __defineGetter__ = Function
    __lookupGetter__ <- lerp(__lookupGetter__, Function, isPrototypeOf)
  }
  eval {
    hasOwnProperty = __proto__ * toLocaleString
    __defineGetter__ = __lookupGetter__ + 0 * prototype
  }
}
`
    const layer = checked(text)
    const inputs = Object.create(null) as Record<string, Float64Array>
    inputs.__proto__ = Float64Array.from({ length: 12 }, (_, i) => Math.sin(i))
    inputs.prototype = Float64Array.of(0.1, 0.2, 0.3)
    const dy = Object.create(null) as Record<string, Float64Array>
    dy['hasOwnProperty' as string] = new Float64Array(12).fill(1)
    dy.__defineGetter__ = new Float64Array(3).fill(1)
    const c = { axes: { toString: 4, valueOf: 3 }, hyper: {}, inputs, dy }
    for (const mode of ['train', 'eval'] as const) {
      const a = runStepInterp(layer, mode, c)
      const b = runStepJs(layer, mode, c, 'f64')
      expect(Object.keys(a.outputs)).toEqual(['hasOwnProperty', '__defineGetter__'])
      expect(Object.keys(b.outputs)).toEqual(['hasOwnProperty', '__defineGetter__'])
      expect(Object.keys(a.grads!)).toEqual(['__proto__', 'prototype', 'toLocaleString'])
      expect(Object.keys(b.grads!)).toEqual(Object.keys(a.grads!))
      expect(Object.keys(a.state)).toEqual(['__lookupGetter__'])
    }
    expect(({} as Record<string, unknown>).hasOwnProperty).toBe(Object.prototype.hasOwnProperty)
    expect(Object.getPrototypeOf({})).toBe(Object.prototype)
  })

  it('keywords are refused as names with a located message', () => {
    for (const kw of [
      'eval',
      'train',
      'forward',
      'layer',
      'spec',
      'param',
      'state',
      'hyper',
      'axis',
      'as',
    ]) {
      expect(errorsOf(`layer L(x: [N]) -> y { forward { ${kw} = x y = x } }`)).toEqual([
        `1:34 '${kw}' is a keyword and cannot be used as a name`,
      ])
    }
  })

  it('builtin names cannot be bound or declared', () => {
    expect(errorsOf('layer L(x: [N]) -> y { forward { sum = x y = x } }')).toEqual([
      "1:34 'sum' is a builtin function and cannot be rebound",
    ])
    expect(errorsOf('layer L(x: [N]) -> y { param exp: [N] forward { y = x } }')).toEqual([
      "1:30 'exp' is a builtin function and cannot be redeclared",
    ])
  })

  it('look-alike and invisible characters are refused where they stand', () => {
    const cases: [string, RegExp][] = [
      ['\u0445', /names are ASCII letters, digits and _/], // Cyrillic х for x
      ['\u03b3', /names are ASCII letters, digits and _/], // Greek γ
      ['\uff58', /names are ASCII letters, digits and _/], // full-width ｘ
      ['x\u200by', /zero-width space/], // zero-width space inside a name
      ['x\u202e', /U\+202E/], // right-to-left override
      ['e\u0301', /only ASCII is allowed outside comments/], // combining accent
      ['\ufeffx', /byte-order mark/], // byte order mark
    ]
    for (const [name, why] of cases) {
      const text = `layer L(x: [N]) -> y { forward { y = ${name} } }`
      const errs = errorsOf(text)
      expect(errs.length, name).toBeGreaterThan(0)
      expect(errs[0], name).toMatch(why)
      // Located at the offending character itself.
      const col = 38 + [...name].findIndex((ch) => ch.charCodeAt(0) > 127)
      expect(errs[0]!.startsWith(`1:${col} `), `${name}: ${errs[0]}`).toBe(true)
    }
    expect(errorsOf('layer L(x: [N]) -> y { forward { y = x \u2212 1 } }')[0]).toMatch(/'-'/)
  })
})

describe('numbers', () => {
  it('1e999 and its kin are refused; tiny literals round to zero as float64 says', () => {
    expect(errorsOf('layer L(x: [N]) -> y { forward { y = x * 1e999 } }')).toEqual([
      '1:42 number 1e999 is too large for a float64',
    ])
    expect(errorsOf('layer L(x: [N]) -> y { hyper h = -1e999 forward { y = x * h } }')[0]).toMatch(
      /too large/,
    )
    expect(errorsOf('layer L(x: [N]) -> y { forward { y = x * 1.2.3 } }')[0]).toMatch(
      /malformed number '1.2.3'/,
    )
    for (const bad of ['0x10', '1_000', '1e', '1e+', '.'])
      expect(
        errorsOf(`layer L(x: [N]) -> y { forward { y = x * ${bad} } }`).length,
        bad,
      ).toBeGreaterThan(0)
    const layer = checked('layer L(x: [N]) -> y { forward { y = x + 1e-400 + 5e-324 } }')
    const c = { axes: { N: 1 }, hyper: {}, inputs: { x: Float64Array.of(0) } }
    expect(runStepInterp(layer, 'train', c).outputs.y![0]).toBe(5e-324)
  })

  it('NaN and Infinity are names, not literals', () => {
    expect(errorsOf('layer L(x: [N]) -> y { forward { y = x * NaN } }')).toEqual([
      "1:42 unknown name 'NaN'",
    ])
    const layer = checked(
      'layer L(x: [N]) -> y { hyper NaN = 2 hyper Infinity = 3 forward { y = x * NaN + Infinity } }',
    )
    const c = { axes: { N: 1 }, hyper: {}, inputs: { x: Float64Array.of(1) } }
    expect([...runStepInterp(layer, 'train', c).outputs.y!]).toEqual([5])
    expect([...runStepJs(layer, 'train', c, 'f64').outputs.y!]).toEqual([5])
  })

  it('-0 is a float64 like any other: a hyper -0 keeps its sign through both targets', () => {
    const layer = checked('layer L(x: [N]) -> y { hyper h = -0 forward { y = 1 / (x + h) } }')
    const c = { axes: { N: 1 }, hyper: {}, inputs: { x: Float64Array.of(-0) } }
    expect(runStepInterp(layer, 'train', c).outputs.y![0]).toBe(-Infinity)
    expect(runStepJs(layer, 'train', c, 'f64').outputs.y![0]).toBe(-Infinity)
  })
})

describe('nesting and size', () => {
  const deep = 100_000
  const shapes: [string, string][] = [
    ['parentheses', '('.repeat(deep) + 'x' + ')'.repeat(deep)],
    ['unary minus', '-'.repeat(deep) + 'x'],
    ['a ^ chain', Array(deep).fill('x').join(' ^ ')],
    ['a + chain', Array(deep).fill('x').join(' + ')],
    ['an as chain', 'x' + ' as [N]'.repeat(deep)],
    ['calls', 'sqrt('.repeat(deep) + 'x' + ')'.repeat(deep)],
    ['brackets', 'sum(x, ' + '['.repeat(deep) + ']'.repeat(deep) + ')'],
    ['unclosed parentheses', '('.repeat(deep) + 'x'],
  ]
  for (const [what, expr] of shapes) {
    it(`${deep.toLocaleString('en')}-deep ${what}: a located diagnostic, no stack overflow`, async () => {
      const text = `layer L(x: [N]) -> y {\n  forward {\n    y = ${expr}\n  }\n}\n`
      const { value: errs, ms } = timed(() => errorsOf(text))
      expect(errs.length).toBeGreaterThan(0)
      expect(errs[0]).toMatch(/^3:\d+ /)
      expect(ms).toBeLessThan(10_000)
      expect((await crashCase(text, { module: false, seed: 1 })).result).toBe('diagnostics')
    })
  }

  it('blocks nested 100,000 deep: a located diagnostic', () => {
    const errs = errorsOf('layer L(x: [N]) -> y ' + '{'.repeat(deep) + '}'.repeat(deep))
    expect(errs[0]).toMatch(/^1:\d+ .*nested too deeply|^1:\d+ /)
  })

  it(
    'a 10 MB comment, 10 MB of statements and 10 MB of garbage end in bounded time',
    { timeout: 120_000 },
    () => {
      const tenMB = 10 * 1024 * 1024
      const comment = `# ${'a'.repeat(tenMB)}\nlayer L(x: [N]) -> y { forward { y = x } }\n`
      let r = timed(() => errorsOf(comment))
      expect(r.value).toEqual([])
      expect(r.ms).toBeLessThan(20_000)
      // ~420,000 statements (2 million tokens) would need gigabytes of parse tree: the file is
      // refused, located at the first token past the limit, before it is even lexed.
      const n = Math.floor(tenMB / 23)
      const lines = Array.from({ length: n }, (_, i) => `  t${i} = x${i > 0 ? ` + t${i - 1}` : ''}`)
      const big = `layer L(x: [N]) -> y {\n forward {\n${lines.join('\n')}\n  y = t${n - 1}\n }\n}\n`
      expect(big.length).toBeGreaterThan(tenMB)
      r = timed(() => errorsOf(big))
      expect(r.value).toHaveLength(1)
      expect(r.value[0]).toMatch(
        /^\d+:\d+ the file has more than 200,000 tokens, more than normc reads$/,
      )
      expect(r.ms).toBeLessThan(20_000)
      const garbage = '@ ) ] } = <- , '.repeat(Math.ceil(tenMB / 16))
      r = timed(() => errorsOf(garbage))
      expect(r.value).toHaveLength(1)
      expect(r.ms).toBeLessThan(20_000)
      // Just under the limit (~30,000 statements, 0.7 MB): read in full, in bounded time.
      const m = 30_000
      const ok = `layer L(x: [N]) -> y {\n forward {\n${lines.slice(0, m).join('\n')}\n  y = t${m - 1}\n }\n}\n`
      r = timed(() => errorsOf(ok))
      expect(r.value).toEqual([])
      expect(r.ms).toBeLessThan(30_000)
    },
  )
})

describe('axis sizes that would exhaust memory are refused before allocating', () => {
  const product = checked('layer L(x: [N], z: [M]) -> y { forward { y = sum(x * z, [N, M]) } }')
  const free = checked(
    'layer L(x: [D]) -> y { axis H param W: [D, H] = 1 forward { y = sum(x * W, [H]) } }',
  )

  it('an input, param or state too large to index', () => {
    const c = { axes: { D: 1, H: 3e9 }, hyper: {}, inputs: { x: Float64Array.of(1) } }
    expect(() => runStepInterp(free, 'train', c)).toThrow(/'W' would have 3000000000 elements/)
    expect(() => runStepJs(free, 'train', c, 'f32')).toThrow(/'W' would have 3000000000 elements/)
  })

  it('declared tensors that fit one by one but not together (default params filled)', () => {
    const c = { axes: { D: 1, H: 1.5e9 }, hyper: {}, inputs: { x: Float64Array.of(1) } }
    expect(() => runStepInterp(free, 'train', c)).toThrow(
      /would need 11.2 GiB, more than the 8.00 GiB/,
    )
  })

  it('an intermediate broadcast of two small inputs (interpreter and js target)', () => {
    const c = {
      axes: { N: 1e5, M: 1e5 },
      hyper: {},
      inputs: { x: new Float64Array(1e5), z: new Float64Array(1e5) },
    }
    expect(() => runStepInterp(product, 'train', c)).toThrow(
      /\[N, M\] would have 10000000000 elements, too many/,
    )
    const mod = compile('layer L(x: [N], z: [M]) -> y { forward { y = x * z } }', {
      precision: 'f64',
    })
    expect(() =>
      mod
        .layer('L', { axes: { N: 1e5, M: 1e5 } })
        .forward({ x: new Float64Array(1e5), z: new Float64Array(1e5) }, { mode: 'train' }),
    ).toThrow(NormcError)
  })

  it('intermediates that each fit but not together', () => {
    // 30,000 x 30,000 = 9e8 elements per intermediate, 7.2 GB each: several of them exceed the budget.
    const c = {
      axes: { N: 3e4, M: 3e4 },
      hyper: {},
      inputs: { x: new Float64Array(3e4), z: new Float64Array(3e4) },
    }
    const layer = checked(
      'layer L(x: [N], z: [M]) -> y { forward { y = sum(exp(x * z) * (x - z), [N, M]) } }',
    )
    expect(() => runStepInterp(layer, 'train', c)).toThrow(
      /the interpreter .* would need [\d.]+ GiB/,
    )
    expect(MAX_BYTES).toBe(2 ** 33)
  })
})

// ---------------------------------------------------------------------------------------------
// normc run: the built CLI (dist/, compiled by test/setup/build.ts), as a user runs it.

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function normcRun(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(repoRoot, 'bin', 'normc'), 'run', ...args], {
      cwd: repoRoot,
    })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    p.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('normc run with case files that lie', () => {
  const dir = mkdtempSync(join(tmpdir(), 'normc-hostile-'))
  const write = (name: string, text: string) => {
    const f = join(dir, name)
    writeFileSync(f, text)
    return f
  }
  const layer = write('l.norm', 'layer L(x: [N]) -> y {\n  forward {\n    y = x * 2\n  }\n}\n')
  const proto = write(
    'proto.norm',
    'layer L(__proto__: [toString]) -> constructor {\n  hyper valueOf = 2\n  forward {\n    constructor = __proto__ * valueOf\n  }\n}\n',
  )
  const free = write(
    'free.norm',
    'layer L(x: [D]) -> y {\n  axis H\n  param W: [D, H] = 1\n  forward {\n    y = sum(x * W, [H])\n  }\n}\n',
  )
  const product = write(
    'product.norm',
    'layer L(x: [N], z: [M]) -> y {\n  forward {\n    y = sum(x * z, [N, M])\n  }\n}\n',
  )

  // [what, norm file, case text, expected stderr]
  const bad: [string, string, string, RegExp][] = [
    [
      'a __proto__ key at the top',
      layer,
      '{"__proto__": {"x": 1}, "axes": {"N": 1}, "inputs": {"x": [1]}}',
      /unknown key "__proto__"/,
    ],
    [
      'a __proto__ axis',
      layer,
      '{"axes": {"N": 1, "__proto__": 2}, "inputs": {"x": [1]}}',
      /unknown axis '__proto__'/,
    ],
    [
      'a __proto__ input',
      layer,
      '{"axes": {"N": 1}, "inputs": {"x": [1], "__proto__": [1]}}',
      /unknown input '__proto__'/,
    ],
    [
      'a constructor hyper',
      layer,
      '{"axes": {"N": 1}, "hyper": {"constructor": 1}, "inputs": {"x": [1]}}',
      /unknown hyper 'constructor'/,
    ],
    [
      'a string size',
      layer,
      '{"axes": {"N": "2"}, "inputs": {"x": [1, 2]}}',
      /axes.N: expected a positive integer/,
    ],
    [
      'a NaN size',
      layer,
      '{"axes": {"N": "NaN"}, "inputs": {"x": [1]}}',
      /axes.N: expected a positive integer/,
    ],
    [
      'a fractional size',
      layer,
      '{"axes": {"N": 2.5}, "inputs": {"x": [1, 2]}}',
      /axis N must be a positive integer, got 2.5/,
    ],
    [
      'a zero size',
      layer,
      '{"axes": {"N": 0}, "inputs": {"x": []}}',
      /axis N must be a positive integer, got 0/,
    ],
    [
      'a NaN hyper',
      proto,
      '{"axes": {"toString": 1}, "hyper": {"valueOf": "NaN"}, "inputs": {"__proto__": [1]}}',
      /hyper 'valueOf' must be a number/,
    ],
    [
      'a short input',
      layer,
      '{"axes": {"N": 2}, "inputs": {"x": [1]}}',
      /'x' has 1 values, expected 2/,
    ],
    [
      'a long dy',
      layer,
      '{"axes": {"N": 1}, "inputs": {"x": [1]}, "dy": [1, 2]}',
      /dy has 2 values, expected 1/,
    ],
    ['a missing input', layer, '{"axes": {"N": 2}}', /missing input 'x'/],
    ['missing axes', layer, '{"inputs": {"x": [1]}}', /missing "axes"/],
    [
      'a string for numbers',
      layer,
      '{"axes": {"N": 2}, "inputs": {"x": "abc"}}',
      /inputs.x: expected a number/,
    ],
    [
      'a string in the numbers',
      layer,
      '{"axes": {"N": 2}, "inputs": {"x": [1, "2"]}}',
      /inputs.x\[1\]: expected a number/,
    ],
    [
      'null in the numbers',
      layer,
      '{"axes": {"N": 2}, "inputs": {"x": [1, null]}}',
      /inputs.x\[1\]: expected a number/,
    ],
    [
      'true in the numbers',
      layer,
      '{"axes": {"N": 2}, "inputs": {"x": [1, true]}}',
      /inputs.x\[1\]: expected a number/,
    ],
    [
      'nested arrays',
      layer,
      '{"axes": {"N": 2}, "inputs": {"x": [[1], [2]]}}',
      /inputs.x\[0\]: expected a number .* got an array/,
    ],
    [
      '100,000-deep arrays',
      layer,
      `{"axes": {"N": 1}, "inputs": {"x": ${'['.repeat(1e5)}${']'.repeat(1e5)}}}`,
      /inputs.x\[0\]: expected a number/,
    ],
    ['an empty file', layer, '', /malformed JSON/],
    ['not JSON', layer, '{axes: 1}', /c\d*\.json:1:2: malformed JSON/],
    ['a top-level array', layer, '[1]', /expected a JSON object/],
    ['null', layer, 'null', /expected a JSON object/],
    [
      'an input too large to index',
      layer,
      '{"axes": {"N": 1e20}, "inputs": {"x": [1]}}',
      /'x' would have 100000000000000000000 elements/,
    ],
    [
      'a default param that would not fit in memory',
      free,
      '{"axes": {"D": 1, "H": 1500000000}, "inputs": {"x": [1]}}',
      /would need 11.2 GiB/,
    ],
    [
      'an intermediate too large',
      product,
      '{"axes": {"N": 100000, "M": 100000}, "inputs": {"x": [1], "z": [1]}}',
      /'x' has 1 values|\[N, M\] would have/,
    ],
  ]

  it(
    'each is one line on stderr, exit 1, nothing on stdout, no stack trace',
    { timeout: 180_000 },
    async () => {
      const results: [string, Run, RegExp][] = []
      // A few at a time: each is a fresh node process.
      for (let i = 0; i < bad.length; i += 4) {
        const batch = bad.slice(i, i + 4)
        const runs = await Promise.all(
          batch.map(([, file, text], k) =>
            normcRun([file, '--input', write(`c${i + k}.json`, text)]),
          ),
        )
        batch.forEach(([what, , , re], k) => results.push([what, runs[k]!, re]))
      }
      for (const [what, r, re] of results) {
        expect({ what, code: r.code }).toEqual({ what, code: 1 })
        expect(r.stdout, what).toBe('')
        const lines = r.stderr.trimEnd().split('\n')
        expect(lines, what).toHaveLength(1)
        expect(lines[0], what).toMatch(re)
        expect(r.stderr, what).not.toMatch(/\n\s+at |internal error/)
      }
    },
  )

  it('non-finite numbers travel as strings; a JSON number beyond float64 is Infinity; a BOM is ignored', async () => {
    const r = await normcRun([
      layer,
      '--input',
      write(
        'nan.json',
        '\ufeff{"axes": {"N": 3}, "inputs": {"x": ["NaN", "Infinity", 1e400]}, "dy": ["-Infinity", 1, 1]}',
      ),
    ])
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toEqual({
      y: ['NaN', 'Infinity', 'Infinity'],
      grads: { x: ['-Infinity', 2, 2] },
      state: {},
    })
  })

  it('__proto__ and friends as names of inputs, outputs and hypers come back as JSON keys', async () => {
    const r = await normcRun([
      proto,
      '--input',
      write(
        'p.json',
        '{"axes": {"toString": 2}, "hyper": {"valueOf": 3}, "inputs": {"__proto__": [1, 2]}, "dy": [1, 1]}',
      ),
      '--target',
      'js',
    ])
    expect(r.stderr).toBe('')
    const out = JSON.parse(r.stdout) as Record<string, unknown>
    expect(Object.keys(out)).toEqual(['constructor', 'grads', 'state'])
    expect(out.constructor).toEqual([3, 6])
    expect(Object.getOwnPropertyDescriptor(out.grads as object, '__proto__')?.value).toEqual([3, 3])
  })

  it('parseCase keeps __proto__ keys as data (no prototype is set)', () => {
    const c = parseCase(
      '{"axes": {"__proto__": 2}, "inputs": {"__proto__": [1, 2]}, "dy": {"__proto__": [1]}}',
      'c.json',
    )
    expect(Object.keys(c.axes)).toEqual(['__proto__'])
    expect(Object.keys(c.inputs)).toEqual(['__proto__'])
    expect(Object.keys(c.dy as object)).toEqual(['__proto__'])
  })
})
