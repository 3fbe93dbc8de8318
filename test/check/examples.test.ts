// `normc check` passes on every example with its spec, in every mode; the spec is found by the
// lookup rule; checking one example stays well under two seconds.

import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { findSpec } from '../../runtime/check/lookup.js'
import { repoRoot } from '../utils/ast.js'
import { normc } from '../utils/cli.js'
import { checkSources, example, failures, read } from './helpers.js'

const names = readdirSync(join(repoRoot, 'examples'))
  .filter((f) => f.endsWith('.norm'))
  .map((f) => f.replace(/\.norm$/, ''))
  .sort()

/** The examples the papers' specs were written for (spec/README.md). */
const withSpecs = [
  'batchnorm1d',
  'batchnorm2d',
  'batchrenorm',
  'groupnorm',
  'instancenorm',
  'layernorm',
  'rmsnorm',
]

describe('every example with its spec, in every mode', { timeout: 60_000 }, () => {
  for (const name of names) {
    it(name, () => {
      const specFile = findSpec(join(repoRoot, 'examples', `${name}.norm`))
      if (withSpecs.includes(name))
        expect(specFile, `a spec for examples/${name}.norm`).toBe(
          join(repoRoot, 'spec', `${name}.spec.norm`),
        )
      if (!specFile) return void expect(failures(checkSources([example(name)]))).toEqual([])
      const cpu0 = process.cpuUsage()
      const rows = checkSources(
        [example(name), { file: `spec/${name}.spec.norm`, text: read(`spec/${name}.spec.norm`) }],
        {},
        [`examples/${name}.norm`],
      )
      const cpu = process.cpuUsage(cpu0)
      const ms = (cpu.user + cpu.system) / 1000
      expect(failures(rows)).toEqual([])
      // Every gradient the layer has was compared with the spec, in every mode.
      const specRows = rows.filter((r) => r.check === 'spec' && r.status === 'PASS')
      expect(specRows.length).toBeGreaterThanOrEqual(2)
      expect(rows.some((r) => r.check === 'spec' && r.status === 'SKIP')).toBe(false)
      // Finite differences ran for every input and param.
      expect(
        rows.filter((r) => r.check.startsWith('finite diff') && r.status === 'PASS').length,
      ).toBeGreaterThanOrEqual(4)
      // The budget: one example, default trials, well under 2 s of CPU (measured: 0.1-0.6 s).
      expect(ms).toBeLessThan(2000)
    })
  }
})

describe('normc check on the command line', { timeout: 60_000 }, () => {
  it('npm run examples: every example, each with the spec the lookup finds, exit 0', () => {
    const r = normc(['check', ...names.map((n) => `examples/${n}.norm`)])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^OK: \d+ rows: \d+ passed, 0 failed/m)
    for (const n of withSpecs) expect(r.stdout).toContain(`spec/${n}.spec.norm`)
  })

  it('one example takes under 2 s, node start-up included', () => {
    const r = normc(['check', 'examples/batchrenorm.norm', '--spec', 'spec/batchrenorm.spec.norm'])
    expect(r.code).toBe(0)
    // Generous under a loaded test machine; on an idle one it is about 0.5 s.
    expect(r.ms).toBeLessThan(6000)
  })
})
