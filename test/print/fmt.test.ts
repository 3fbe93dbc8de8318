import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { exampleFiles } from '../utils/ast.js'
import { normc } from '../utils/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'normc-fmt-'))
function file(name: string, text: string): string {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

const messy = 'layer L(x:[N,C])->y{forward{y=(x-1)*2 # scale\n}}'
const canonical = 'layer L(x: [N, C]) -> y {\n  forward {\n    y = (x - 1) * 2 # scale\n  }\n}\n'

describe('normc fmt', () => {
  it('prints the formatted file on stdout, changing nothing', () => {
    const p = file('print.norm', messy)
    expect(normc(['fmt', p])).toMatchObject({ code: 0, stdout: canonical, stderr: '' })
    expect(readFileSync(p, 'utf8')).toBe(messy)
  })

  it('--check exits 1 and names the files that would change', () => {
    const a = file('a.norm', messy)
    const b = file('b.norm', canonical)
    const r = normc(['fmt', '--check', a, b])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(`${a}: not formatted (normc fmt --write ${a} fixes it)\n`)
    expect(readFileSync(a, 'utf8')).toBe(messy)
    expect(normc(['fmt', '--check', b])).toMatchObject({ code: 0, stdout: '', stderr: '' })
  })

  it('--write rewrites the files in place', () => {
    const a = file('w1.norm', messy)
    const b = file('w2.norm', canonical)
    expect(normc(['fmt', '--write', a, b])).toMatchObject({ code: 0, stdout: '', stderr: '' })
    expect(readFileSync(a, 'utf8')).toBe(canonical)
    expect(readFileSync(b, 'utf8')).toBe(canonical)
  })

  it('the examples are formatted', () => {
    const r = normc(['fmt', '--check', ...exampleFiles().map((e) => e.file)])
    expect(r).toMatchObject({ code: 0, stderr: '' })
  })

  it('reports parse errors with their place and exits 1, writing nothing', () => {
    const bad = 'layer L(x: [N]) -> y {\n  forward {\n    y = x +\n  }\n}\n'
    const p = file('bad.norm', bad)
    const r = normc(['fmt', '--write', p])
    expect(r.code).toBe(1)
    expect(r.stderr.split('\n')[0]).toBe(`${p}:4:3: error: unexpected '}': expected an expression`)
    expect(readFileSync(p, 'utf8')).toBe(bad)
    expect(normc(['fmt', p])).toMatchObject({ code: 1, stdout: '' })
  })

  it('formats a file with type errors', () => {
    const p = file('ill.norm', 'layer L(x:[N])->y{forward{y=zz}}')
    expect(normc(['fmt', p])).toMatchObject({
      code: 0,
      stdout: 'layer L(x: [N]) -> y {\n  forward {\n    y = zz\n  }\n}\n',
    })
  })

  it('usage errors exit 2 with one line', () => {
    const a = file('u.norm', canonical)
    expect(normc(['fmt'])).toMatchObject({ code: 2, stderr: 'normc fmt: no input files\n' })
    expect(normc(['fmt', '--check', '--write', a])).toMatchObject({
      code: 2,
      stderr: 'normc fmt: --check and --write exclude each other\n',
    })
    expect(normc(['fmt', a, a])).toMatchObject({
      code: 2,
      stderr: 'normc fmt: several files: use --write or --check (or name one file to print it)\n',
    })
    expect(normc(['fmt', '--width', '80', a])).toMatchObject({
      code: 2,
      stderr: "normc fmt: Unknown option '--width'\n",
    })
    expect(normc(['fmt', join(dir, 'missing.norm')])).toMatchObject({
      code: 2,
      stderr: `normc fmt: cannot read ${join(dir, 'missing.norm')}: no such file\n`,
    })
  })

  it('prints its usage for --help', () => {
    const r = normc(['fmt', '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^Usage: normc fmt FILE\.norm/)
  })
})
