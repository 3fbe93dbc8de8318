// The playground's compiler side (playground/analyse.ts, what its worker runs), under Node:
// every example compiles to a backward, math and kernels and passes its check; errors are
// located by offset; a spec that no longer fits the edited layer is left out with a note.
// Also: the `.norm` highlighter's tokens, and the playground's own type check (DOM libs).

import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { StringStream } from '@codemirror/language'
import { describe, expect, it } from 'vitest'
import { analyse, EDITOR_FILE, runCheck } from '../../playground/analyse.js'
import { normParser } from '../../playground/norm-language.js'
import { exampleFiles } from '../helpers/examples.js'
import { root } from '../helpers/oracle.js'

const read = (...p: string[]) => readFileSync(join(root, ...p), 'utf8')
// All the specs, as the page bundles them (each is used only for the layers it names).
const specs = readdirSync(join(root, 'spec'))
  .filter((f) => f.endsWith('.spec.norm'))
  .map((f) => ({ file: `spec/${f}`, text: read('spec', f) }))

describe('playground analysis', () => {
  for (const f of exampleFiles) {
    it(`${f}: backward, math, kernels and a passing check`, () => {
      const source = read('examples', f)
      const a = analyse({ source, specs })
      expect(a.ok).toBe(true)
      expect(a.failure).toBeUndefined()
      expect(a.diagnostics).toEqual([])
      expect(a.layers.length).toBeGreaterThan(0)
      expect(a.backward).toMatch(new RegExp(`^layer ${a.layer}_(train_)?grad\\(`, 'm'))
      expect(a.math!.tex).toMatch(/^\\begin\{aligned\}/)
      expect(a.math!.lines.some((l) => l.lhs === '\\bar{x}')).toBe(true)
      expect(a.graph!.forward).toMatch(/^digraph/)
      expect(a.graph!.backward.length).toBeGreaterThan(a.graph!.forward.length)
      expect(a.derivation!.steps.length).toBeGreaterThan(0)
      expect(a.derivation!.totals).toContain('\\bar{x} &=')
      expect(a.kernels!.forward).toContain('function step(B, S, H)')
      expect(a.kernels!.backward).toContain('function step(B, S, H)')
      // The kernel text is the code the JS target runs: it parses as a function.
      expect(() => new Function(`${a.kernels!.backward}\nreturn step`)).not.toThrow()
      // The WASM tab: the wasm kernels ran in the worker and agree with float64 to a rounding.
      const w = a.wasm!.view!
      expect(w.wat).toContain('(export "backward")')
      expect(w.rows.some((r) => r.label.startsWith('d'))).toBe(true)
      for (const r of w.rows) expect(r.err, r.label).toBeLessThan(w.tolerance)
      const spec = `spec/${f.replace(/\.norm$/, '.spec.norm')}`
      const hasSpec = specs.some((s) => s.file === spec)
      if (hasSpec) expect(a.specs).toEqual([spec])
      const c = runCheck({ source, specs, trials: 1 })!
      expect(c.ok, c.report).toBe(true)
      if (hasSpec)
        expect(c.rows.some((r) => r.check.startsWith('spec') && r.status === 'PASS')).toBe(true)
      expect(c.counts.passed).toBeGreaterThan(3)
    })
  }

  it('locates errors by offset, line and column', () => {
    const source = read('examples', 'batchrenorm.norm').replace(
      'muB = mean(x, [N])',
      'muB = mean(x, [N, Q])',
    )
    const a = analyse({ source, specs })
    expect(a.ok).toBe(false)
    expect(a.backward).toBeUndefined()
    const d = a.diagnostics[0]!
    expect(d).toMatchObject({ severity: 'error', message: 'unknown axis Q', file: EDITOR_FILE })
    expect(source.slice(d.from, d.to)).toBe('Q')
    const lines = source.split('\n')
    expect(lines[d.line - 1]!.slice(d.col - 1, d.col)).toBe('Q')
    expect(runCheck({ source })).toBeUndefined()
  })

  it('a syntax error at the end of the text is located inside it', () => {
    const source = 'layer L(x: [N]) -> y {\n  forward {\n    y = x +\n'
    const a = analyse({ source })
    expect(a.ok).toBe(false)
    for (const d of a.diagnostics) {
      expect(d.from).toBeGreaterThanOrEqual(0)
      expect(d.to).toBeLessThanOrEqual(source.length)
      expect(d.from).toBeLessThanOrEqual(d.to)
    }
  })

  it('leaves out a spec that no longer checks against the edited layer, with a note', () => {
    // Renaming the state makes the spec's `mu <- ...` name something the layer lacks.
    const source = read('examples', 'batchrenorm.norm').replace(/\bmu\b/g, 'm_avg')
    const a = analyse({ source, specs })
    expect(a.ok).toBe(true)
    expect(a.specNote).toMatch(
      /^spec\/batchrenorm\.spec\.norm:\d+:\d+: .*\(the check ran without the spec\)$/,
    )
    expect(a.specs).toEqual([])
    const c = runCheck({ source, specs, trials: 1 })!
    expect(c.ok).toBe(true)
    expect(c.rows.some((r) => r.check.startsWith('spec') && r.status === 'PASS')).toBe(false)
  })

  it('picks the layer and mode asked for, else the first layer in train', () => {
    const source = read('examples', 'batchnorm1d.norm') + '\n' + read('examples', 'layernorm.norm')
    const a = analyse({ source, layer: 'LayerNorm', mode: 'eval' })
    expect(a.layers).toEqual([
      { name: 'BatchNorm1d', modes: ['train', 'eval'] },
      { name: 'LayerNorm', modes: ['train'] },
    ])
    expect(a.layer).toBe('LayerNorm')
    expect(a.mode).toBe('train') // a forward layer has one mode
    const b = analyse({ source, layer: 'Nope', mode: 'eval' })
    expect([b.layer, b.mode]).toEqual(['BatchNorm1d', 'eval'])
    expect(b.backward).toMatch(/^layer BatchNorm1d_eval_grad\(/m)
    const c = runCheck({ source, layer: 'BatchNorm1d', mode: 'eval', trials: 1 })!
    expect([c.layer, c.mode, c.ok]).toEqual(['BatchNorm1d', 'eval', true])
  })

  it('reports a failing check', () => {
    // A layer whose gradient normc derives correctly, checked against a spec that is wrong.
    const source =
      'layer Scale(x: [N]) -> y {\n  param a: [] = 2\n  forward {\n    y = a * x\n  }\n}\n'
    const spec = 'spec Scale forward {\n  dx = 3 * dy\n}\n'
    const c = runCheck({ source, specs: [{ file: 'scale.spec.norm', text: spec }], trials: 1 })!
    expect(c.ok).toBe(false)
    expect(c.counts.failed).toBeGreaterThan(0)
    expect(c.report).toMatch(/FAILED/)
  })
})

describe('.norm highlighting', () => {
  const tokens = (line: string) => {
    const state = normParser.startState!(2)
    const s = new StringStream(line, 2, 2)
    const out: [string, string | null][] = []
    while (!s.eol()) {
      s.start = s.pos
      const t = normParser.token(s, state)
      const text = line.slice(s.start, s.pos)
      if (text.trim()) out.push([text, t])
    }
    return out
  }

  it('classifies keywords, names, axes, builtins, numbers, arrows and comments', () => {
    expect(tokens('layer BN(x: [N, C]) -> y { # note')).toEqual([
      ['layer', 'keyword'],
      ['BN', 'def'],
      ['(', 'punctuation'],
      ['x', 'variableName'],
      [':', 'punctuation'],
      ['[', 'punctuation'],
      ['N', 'typeName'],
      [',', 'punctuation'],
      ['C', 'typeName'],
      [']', 'punctuation'],
      [')', 'punctuation'],
      ['->', 'operator'],
      ['y', 'variableName'],
      ['{', 'punctuation'],
      ['# note', 'comment'],
    ])
    expect(tokens('  mu <- lerp(mu, mean(x, [N]), 1e-3)')).toEqual([
      ['mu', 'variableName'],
      ['<-', 'operator'],
      ['lerp', 'builtin'],
      ['(', 'punctuation'],
      ['mu', 'variableName'],
      [',', 'punctuation'],
      ['mean', 'builtin'],
      ['(', 'punctuation'],
      ['x', 'variableName'],
      [',', 'punctuation'],
      ['[', 'punctuation'],
      ['N', 'typeName'],
      [']', 'punctuation'],
      [')', 'punctuation'],
      [',', 'punctuation'],
      ['1e-3', 'number'],
      [')', 'punctuation'],
    ])
  })
})

describe('playground sources', () => {
  it('type-check with the DOM libs (playground/tsconfig.json)', () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
    const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'playground', 'tsconfig.json')], {
      cwd: root,
      encoding: 'utf8',
    })
    // Only the playground's own files count here (the rest of the repo has its own check).
    const out = `${r.stdout}${r.stderr}`
    expect(out).not.toMatch(/error TS5\d{3}/) // the configuration itself
    expect(out.split('\n').filter((l) => /^playground\//.test(l))).toEqual([])
  }, 120_000)

  it('import no Node built-ins (they must bundle for the browser)', () => {
    const seen = new Set<string>()
    const bad: string[] = []
    const visit = (file: string) => {
      if (seen.has(file)) return
      seen.add(file)
      const text = read(file)
      for (const m of text.matchAll(/^\s*import\s+(?!type\b)[^'"]*?['"]([^'"]+)['"]/gm)) {
        const spec = m[1]!
        if (spec.startsWith('node:') || ['fs', 'path', 'child_process', 'os'].includes(spec))
          bad.push(`${file}: ${spec}`)
        if (spec.startsWith('.')) {
          const target = join(file, '..', spec).replace(/\.js$/, '.ts')
          if (target.endsWith('.ts')) visit(target)
        }
      }
    }
    for (const f of ['main.ts', 'worker.ts', 'analyse.ts', 'norm-language.ts'])
      visit(join('playground', f))
    expect(bad).toEqual([])
    expect(seen.size).toBeGreaterThan(20)
  })
})
