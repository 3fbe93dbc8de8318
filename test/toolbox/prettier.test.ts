// normc/prettier: the plugin through prettier's API and through prettier's own command line
// (with the built plugin), and `normc fmt` agreeing with it.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as prettier from 'prettier'
import { describe, expect, it } from 'vitest'
import plugin, { DEFAULT_PRINT_WIDTH } from '../../compiler/prettier/index.js'
import { printFile } from '../../compiler/print/index.js'
import { parse } from '../../grammar/index.js'
import { exampleFiles } from '../utils/ast.js'
import { builtPlugin, normc, prettierBin, repoRoot, runNode, scratch } from './helpers.js'

const format = (text: string, opts: prettier.Options = {}) =>
  prettier.format(text, { parser: 'norm', plugins: [plugin], ...opts })

const messy = 'layer L(x:[N,C])->y{forward{y=(x-1)*2 # scale\n}}'
const canonical = 'layer L(x: [N, C]) -> y {\n  forward {\n    y = (x - 1) * 2 # scale\n  }\n}\n'

/** A layer with one long statement, which breaks below about 95 columns. */
const long = `# a comment before the layer
layer Long(x: [N, C]) -> y {
  hyper eps = 1e-5 # trailing comment
  train {
    # a comment inside a block
    y = (x - mean(x, [N])) / sqrt(mean((x - mean(x, [N])) ^ 2, [N]) + eps) * 2 + mean(x, [N]) * 3
  }
  eval {
    y = x
  }
}
# a comment at the end
`

const specs = (): { file: string; text: string }[] =>
  [
    'batchnorm1d',
    'batchnorm2d',
    'batchrenorm',
    'groupnorm',
    'instancenorm',
    'layernorm',
    'rmsnorm',
  ].map((n) => {
    const file = `spec/${n}.spec.norm`
    return { file, text: readFileSync(join(repoRoot, file), 'utf8') }
  })

describe('normc/prettier through the prettier API', { timeout: 30_000 }, () => {
  it('declares the norm language, parser and printer', () => {
    expect(plugin.languages).toEqual([
      expect.objectContaining({ name: 'norm', extensions: ['.norm'], parsers: ['norm'] }),
    ])
    expect(Object.keys(plugin.parsers ?? {})).toEqual(['norm'])
    expect(Object.keys(plugin.printers ?? {})).toEqual(['norm'])
  })

  it('formats to the canonical layout, keeping comments', async () => {
    expect(await format(messy)).toBe(canonical)
    const out = await format(long)
    for (const c of [
      '# a comment before the layer',
      '# trailing comment',
      '# a comment inside a block',
      '# a comment at the end',
    ])
      expect(out).toContain(c)
    expect(out).toBe(printFile(parse(long).ast!, { printWidth: DEFAULT_PRINT_WIDTH }))
  })

  it('is the canonical printer at every printWidth, and the default width is 100', async () => {
    const ast = parse(long).ast!
    expect(await format(long)).toBe(printFile(ast))
    for (const printWidth of [40, 60, 80, 100, 120])
      expect(await format(long, { printWidth })).toBe(printFile(ast, { printWidth }))
  })

  it('respects printWidth: lines are kept within it', async () => {
    const wide = await format(long, { printWidth: 120 })
    const narrow = await format(long, { printWidth: 60 })
    expect(wide.split('\n').some((l) => l.length > 80)).toBe(true)
    expect(narrow).not.toBe(wide)
    for (const l of narrow.split('\n'))
      if (!l.trimStart().startsWith('#')) expect(l.length).toBeLessThanOrEqual(60)
  })

  it('is idempotent on every example and spec, at several widths', async () => {
    for (const { file, text } of [...exampleFiles(), ...specs()]) {
      for (const printWidth of [50, 80, 100]) {
        const once = await format(text, { printWidth, filepath: file })
        expect(await format(once, { printWidth, filepath: file }), file).toBe(once)
      }
      // The bundled files are formatted already.
      expect(await format(text, { filepath: file }), file).toBe(text)
    }
  })

  it('refuses a file that does not parse with a located SyntaxError', async () => {
    const bad = 'layer L(x: [N]) -> y {\n  forward {\n    y = x +\n  }\n}\n'
    const err = await format(bad, { filepath: 'bad.norm' }).then(
      () => undefined,
      (e: unknown) =>
        e as SyntaxError & { loc: unknown; diagnostics: unknown[]; codeFrame: string },
    )
    expect(err).toBeInstanceOf(SyntaxError)
    expect(err!.message.split('\n')[0]).toBe("unexpected '}': expected an expression (4:3)")
    expect(err!.loc).toEqual({ start: { line: 4, column: 3 }, end: { line: 4, column: 4 } })
    expect(err!.codeFrame).toContain('> 4 |')
    expect(err!.diagnostics).toHaveLength(1)
  })

  it('lists every parse error in the message', async () => {
    const bad = 'layer L(x: [N]) -> y {\n  forward {\n    y = x +\n  }\n}\nlayer M(x: [N]) -> {}\n'
    const err = (await format(bad).catch((e: unknown) => e)) as Error
    expect(err.message).toMatch(/\(4:3\)\n {2}and: .*\(6:\d+\)/)
  })

  it('follows endOfLine, reading CRLF input', async () => {
    const crlf = canonical.replace(/\n/g, '\r\n')
    expect(await format(crlf)).toBe(canonical)
    expect(await format(canonical, { endOfLine: 'crlf' })).toBe(crlf)
  })

  it('keeps the cursor of an editor within the text', async () => {
    const r = await prettier.formatWithCursor(messy, {
      parser: 'norm',
      plugins: [plugin],
      cursorOffset: messy.indexOf('*'),
    })
    expect(r.formatted).toBe(canonical)
    expect(r.cursorOffset).toBeGreaterThanOrEqual(0)
    expect(r.cursorOffset).toBeLessThanOrEqual(canonical.length)
  })

  it('is found by file extension', async () => {
    const info = await prettier.getFileInfo('layers/bn.norm', { plugins: [plugin] })
    expect(info.inferredParser).toBe('norm')
  })
})

describe('prettier --plugin (the built plugin) and normc fmt', { timeout: 60_000 }, () => {
  function project(files: Record<string, string>): string {
    const dir = scratch('prettier')
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(join(dir, name, '..'), { recursive: true })
      writeFileSync(join(dir, name), text)
    }
    return dir
  }

  it('prettier --write "**/*.norm" formats every file, and --check then passes', () => {
    const dir = project({
      'a.norm': messy,
      'nested/deep/b.norm': long,
      'c.spec.norm': 'spec L train{dx=dy}',
    })
    const r = runNode(prettierBin, ['--plugin', builtPlugin, '--write', '**/*.norm'], { cwd: dir })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(readFileSync(join(dir, 'a.norm'), 'utf8')).toBe(canonical)
    expect(readFileSync(join(dir, 'nested/deep/b.norm'), 'utf8')).toBe(printFile(parse(long).ast!))
    expect(readFileSync(join(dir, 'c.spec.norm'), 'utf8')).toBe('spec L train {\n  dx = dy\n}\n')
    const again = runNode(prettierBin, ['--plugin', builtPlugin, '--check', '**/*.norm'], {
      cwd: dir,
    })
    expect(again.code).toBe(0)
  })

  it('prettier reports a parse error with its place and a code frame, and exits 2', () => {
    const dir = project({
      'bad.norm': 'layer L(x: [N]) -> y {\n  forward {\n    y = x +\n  }\n}\n',
    })
    const r = runNode(prettierBin, ['--plugin', builtPlugin, '--check', 'bad.norm'], { cwd: dir })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(
      "bad.norm: SyntaxError: unexpected '}': expected an expression (4:3)",
    )
    expect(r.stderr).toContain('> 4 |   }')
  })

  it('normc fmt and prettier agree, with and without a prettier configuration', () => {
    for (const config of [undefined, '{ "printWidth": 60 }', '{ "printWidth": 120 }']) {
      const dir = project({
        'x.norm': long,
        'y.norm': long,
        ...(config ? { '.prettierrc': config } : {}),
      })
      const p = runNode(prettierBin, ['--plugin', builtPlugin, '--write', 'x.norm'], { cwd: dir })
      expect(p.code, p.stderr).toBe(0)
      const f = normc(['fmt', '--write', join(dir, 'y.norm')])
      expect(f.code, f.stderr).toBe(0)
      const byPrettier = readFileSync(join(dir, 'x.norm'), 'utf8')
      expect(readFileSync(join(dir, 'y.norm'), 'utf8'), config).toBe(byPrettier)
      const width = config ? JSON.parse(config).printWidth : DEFAULT_PRINT_WIDTH
      expect(byPrettier).toBe(printFile(parse(long).ast!, { printWidth: width }))
    }
  })

  it('normc fmt names an unreadable prettier configuration in one line and exits 2', () => {
    const dir = project({ 'x.norm': canonical, '.prettierrc': '{ "printWidth": ' })
    const r = normc(['fmt', join(dir, 'x.norm')])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^normc fmt: cannot read the prettier configuration for .*x\.norm: /)
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1)
  })
})
