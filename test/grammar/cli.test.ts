import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { exampleFiles, repoRoot } from '../utils/ast.js'
import { normc } from '../utils/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'normc-cli-'))
function file(name: string, text: string): string {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at |Error:|internal error/)

describe('normc lint', () => {
  it('passes every example, quickly', () => {
    const r = normc(['lint', ...exampleFiles().map((e) => e.file)])
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('')
    expect(r.code).toBe(0)
    expect(r.ms).toBeLessThan(5000)
  })

  it('exits 1 on errors, printing each with its line and a caret', () => {
    const p = file('bad.norm', 'layer L(x: [N, C]) -> y {\n  forward {\n    y = x + z\n  }\n}\n')
    const r = normc(['lint', p])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(
      `${p}:3:13: error: unknown name 'z'\n   3 |     y = x + z\n     |             ^\n`,
    )
  })

  it('exits 0 on warnings alone, and --quiet hides them', () => {
    const p = file(
      'warn.norm',
      'layer L(x: [N, C]) -> y {\n  forward {\n    unused = x\n    y = x\n  }\n}\n',
    )
    const r = normc(['lint', p])
    expect(r.code).toBe(0)
    expect(r.stderr.split('\n')[0]).toBe(`${p}:3:5: warning: 'unused' is bound but never used`)
    expect(normc(['lint', '-q', p])).toMatchObject({ code: 0, stderr: '' })
  })

  it('lints a spec file together with its layer file', () => {
    const layer = file('l.norm', 'layer L(x: [N, C]) -> y {\n  forward {\n    y = 2 * x\n  }\n}\n')
    const spec = file('s.norm', 'spec L forward {\n  dx = 2 * dy\n}\n')
    expect(normc(['lint', layer, spec])).toMatchObject({ code: 0, stderr: '' })
    const alone = normc(['lint', spec])
    expect(alone.code).toBe(1)
    expect(alone.stderr.split('\n')[0]).toBe(`${spec}:1:6: error: spec for unknown layer 'L'`)
  })

  it('exits 2 with one line on a missing file', () => {
    const r = normc(['lint', 'no/such/file.norm'])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe('normc lint: cannot read no/such/file.norm: no such file\n')
  })

  it('exits 2 with one line on a directory', () => {
    const r = normc(['lint', dir])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(`normc lint: cannot read ${dir}: is a directory\n`)
  })

  it('exits 2 with one line when no file is named', () => {
    expect(normc(['lint'])).toMatchObject({ code: 2, stderr: 'normc lint: no input files\n' })
  })

  it('exits 2 with one line on an unknown flag', () => {
    const r = normc(['lint', '--frobnicate', 'examples/layernorm.norm'])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe("normc lint: Unknown option '--frobnicate'\n")
    noStack(r.stderr)
  })

  it('prints its usage for --help', () => {
    const r = normc(['lint', '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^Usage: normc lint FILE\.norm\.\.\./)
    expect(r.stderr).toBe('')
  })
})

describe('normc', () => {
  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      version: string
    }
    expect(normc(['--version'])).toMatchObject({ code: 0, stdout: `${pkg.version}\n`, stderr: '' })
  })

  it('--help lists the commands', () => {
    const r = normc(['--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^normc — /)
    expect(r.stdout).toMatch(/\n {2}lint +\S/)
    expect(r.stdout).toMatch(/\n {2}fmt +\S/)
  })

  it('with no arguments prints the help and exits 2', () => {
    const r = normc([])
    expect(r.code).toBe(2)
    expect(r.stdout).toMatch(/^normc — /)
  })

  it('exits 2 with one line on an unknown command', () => {
    const r = normc(['frobnicate', 'x.norm'])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe("normc: unknown command 'frobnicate' (see normc --help)\n")
  })

  it('exits 2 with one line on an unknown top-level flag', () => {
    const r = normc(['--frobnicate'])
    expect(r.code).toBe(2)
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1)
    noStack(r.stderr)
  })
})
