// `normc check` on the command line: flags, usage errors, JSON, the spec lookup rule.

import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { specCandidates } from '../../runtime/check/lookup.js'
import { repoRoot } from '../utils/ast.js'
import { normc } from '../utils/cli.js'
import { plant, read } from './helpers.js'

describe('normc check: usage', { timeout: 60_000 }, () => {
  it('--help', () => {
    const r = normc(['check', '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^Usage: normc check FILE\.norm\.\.\./)
    expect(r.stdout).toContain('DIR/../spec/NAME.spec.norm')
  })

  it.each([
    [[], /no input file/],
    [['examples/layernorm.norm', '--trials', '0'], /--trials must be an integer >= 1/],
    [['examples/layernorm.norm', '--order', '3'], /--order must be 1 or 2/],
    [['examples/layernorm.norm', '--mode', 'both'], /--mode must be train, eval or all/],
    [['examples/layernorm.norm', '--hyper', 'eps'], /--hyper expects NAME=NUMBER/],
    [['examples/layernorm.norm', '--hyper', 'nope=1'], /unknown hyper 'nope' \(hypers: eps\)/],
    [['examples/layernorm.norm', '--frobnicate'], /Unknown option '--frobnicate'/],
    [['no/such/file.norm'], /cannot read no\/such\/file\.norm: no such file/],
  ])('%j is a usage error (exit 2)', (args, msg) => {
    const r = normc(['check', ...(args as string[])])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(msg)
    expect(r.stdout).toBe('')
  })

  it('an unknown layer is an input error (exit 1)', () => {
    const r = normc(['check', 'examples/layernorm.norm', '--layer', 'Nope'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("no layer 'Nope' (layers: LayerNorm)")
  })
})

describe('normc check: output', { timeout: 60_000 }, () => {
  it('--json: one object with every row; numbers, statuses, the specs used', () => {
    const r = normc([
      'check',
      'examples/batchrenorm.norm',
      '--json',
      '--trials',
      '2',
      '--hyper',
      'rmax=2',
    ])
    expect(r.code).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j.ok).toBe(true)
    expect(j.specs).toEqual(['spec/batchrenorm.spec.norm'])
    expect(j.trials).toBe(2)
    expect(j.hypers).toEqual({ rmax: 2 })
    const row = j.rows.find(
      (x: { mode: string; wrt: string; check: string }) =>
        x.mode === 'train' && x.wrt === 'x' && x.check === 'spec',
    )
    expect(row).toMatchObject({ layer: 'BatchRenorm', status: 'PASS', tol: 1e-10, order: 1 })
    expect(row.maxRel).toBeLessThan(1e-12)
    const info = j.rows.find((x: { check: string }) => x.check === 'finite diff (true fn)')
    expect(info.status).toBe('INFO')
    expect(info.note).toMatch(
      /^r, d held constant \(stop_gradient\): the true derivative differs by up to [\d.e+-]+, as intended$/,
    )
  })

  it('--mode, --layer and --order 2 select what is checked', () => {
    const r = normc([
      'check',
      'examples/batchnorm2d.norm',
      '--mode',
      'eval',
      '--json',
      '--order',
      '2',
      '--trials',
      '1',
    ])
    expect(r.code).toBe(0)
    const rows: { mode: string; order: number; wrt: string; status: string }[] = JSON.parse(
      r.stdout,
    ).rows
    expect(new Set(rows.map((x) => x.mode))).toEqual(new Set(['eval']))
    expect(rows.filter((x) => x.order === 2).map((x) => x.wrt)).toEqual([
      'x',
      'gamma',
      'beta',
      'dy',
    ])
    expect(rows.filter((x) => x.order === 2).every((x) => x.status === 'PASS')).toBe(true)
  })

  it('the table: aligned columns, the trials and the skipped properties below it, a summary line', () => {
    const r = normc(['check', 'examples/batchnorm1d.norm'])
    expect(r.code).toBe(0)
    const lines = r.stdout.split('\n')
    expect(lines[0]).toBe(
      'normc check: BatchNorm1d; specs: spec/batchnorm1d.spec.norm; 3 trials, seed 1',
    )
    expect(lines[2]).toMatch(
      /^layer\s+mode\s+w\.r\.t\.\s+check\s+max abs err\s+max rel err\s+tol\s+result$/,
    )
    const header = lines[2]!
    const resultCol = header.indexOf('result')
    for (const l of lines.slice(4).filter((l) => /^BatchNorm1d /.test(l)))
      expect(l.slice(resultCol)).toMatch(/^(PASS|FAIL|SKIP|INFO)$/)
    // N = 1 cannot be trained on: that trial is skipped, as information.
    expect(r.stdout).toMatch(
      /INFO  BatchNorm1d train, -, trial 2: N=1 C=\d: the layer refuses these sizes: division by zero in size arithmetic: the divisor is 0 with N = 1 \(examples\/batchnorm1d\.norm:18:\d+\); trial skipped, as intended/,
    )
    expect(r.stdout).toMatch(
      /SKIP  BatchNorm1d eval, x, sum dx = 0 per group: does not apply: x is never centered/,
    )
    expect(r.stdout).toMatch(
      /^OK: \d+ rows: \d+ passed, 0 failed, \d+ skipped, \d+ information \([\d.]+ s\)$/m,
    )
  })

  it('--seed changes the trials, deterministically', () => {
    const trials = (seed: string) =>
      JSON.parse(
        normc(['check', 'examples/layernorm.norm', '--json', '--seed', seed]).stdout,
      ).rows.find((x: { check: string }) => x.check === 'trials').note
    expect(trials('1')).toBe(trials('1'))
    expect(trials('1')).not.toBe(trials('2'))
  })
})

describe('the spec lookup rule', { timeout: 60_000 }, () => {
  const layer = read('examples/layernorm.norm')
  const good = read('spec/layernorm.spec.norm')
  const bad = plant(good, 'dbeta = sum(dy, [B])', 'dbeta = 2 * sum(dy, [B])')

  it('tries DIR/NAME.spec.norm, DIR/spec/NAME.spec.norm, DIR/../spec/NAME.spec.norm in order', () => {
    expect(specCandidates('a/b/ln.norm')).toEqual([
      'a/b/ln.spec.norm',
      'a/b/spec/ln.spec.norm',
      'a/spec/ln.spec.norm',
    ])
    expect(specCandidates('spec/ln.spec.norm')).toEqual([])
  })

  it.each([
    ['next to the layer', 'ln.spec.norm'],
    ['in spec/ beside it', 'spec/ln.spec.norm'],
    ['in ../spec/', '../spec/ln.spec.norm'],
  ])('finds the spec %s', (_what, rel) => {
    const dir = mkdtempSync(join(tmpdir(), 'normc-lookup-'))
    const home = join(dir, 'layers')
    mkdirSync(home)
    writeFileSync(join(home, 'ln.norm'), layer)
    mkdirSync(join(home, rel, '..'), { recursive: true })
    writeFileSync(join(home, rel), bad)
    const r = normc(['check', join(home, 'ln.norm')])
    expect(r.code).toBe(1)
    expect(r.stdout).toContain(`specs: ${join(home, rel)}`)
    expect(r.stdout).toMatch(/FAIL  LayerNorm forward, spec: dbeta at beta\[d=\d\]/)
  })

  it('--spec replaces the lookup; no spec at all is a SKIP, not a failure', () => {
    const dir = mkdtempSync(join(tmpdir(), 'normc-lookup-'))
    writeFileSync(join(dir, 'ln.norm'), layer)
    writeFileSync(join(dir, 'ln.spec.norm'), bad)
    writeFileSync(join(dir, 'good.norm'), good)
    const r = normc(['check', join(dir, 'ln.norm'), '--spec', join(dir, 'good.norm')])
    expect(r.code).toBe(0)
    const none = join(dir, 'alone')
    mkdirSync(none)
    copyFileSync(join(repoRoot, 'examples', 'layernorm.norm'), join(none, 'x.norm'))
    const r2 = normc(['check', join(none, 'x.norm')])
    expect(r2.code).toBe(0)
    expect(r2.stdout).toMatch(
      /SKIP  LayerNorm forward, -, spec: no spec for LayerNorm \(looked in .*x\.norm and .*x\.spec\.norm, .*spec\/x\.spec\.norm, .*spec\/x\.spec\.norm\)/,
    )
  })

  it('a spec written in the layer file itself is used', () => {
    const dir = mkdtempSync(join(tmpdir(), 'normc-lookup-'))
    writeFileSync(join(dir, 'both.norm'), `${layer}\n${bad}`)
    const r = normc(['check', join(dir, 'both.norm')])
    expect(r.code).toBe(1)
    expect(r.stdout).toContain('dbeta at beta[')
  })
})
