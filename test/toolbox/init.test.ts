// normc init: the starter layer and spec lint, format and check clean.

import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { STARTER_NAME, starterLayer, starterSpec } from '../../cli/commands/init.js'
import { normc, scratch } from './helpers.js'

describe('normc init', { timeout: 120_000 }, () => {
  it('writes a layer and its spec that lint, format and check clean', () => {
    const dir = join(scratch('init'), 'new', 'project')
    const r = normc(['init', dir])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const layer = join(dir, `${STARTER_NAME}.norm`)
    const spec = join(dir, `${STARTER_NAME}.spec.norm`)
    expect(readFileSync(layer, 'utf8')).toBe(starterLayer)
    expect(readFileSync(spec, 'utf8')).toBe(starterSpec)
    expect(r.stdout).toContain(`wrote ${layer}`)
    expect(r.stdout).toContain(`normc check ${layer}`)

    expect(normc(['lint', layer, spec])).toMatchObject({ code: 0, stderr: '' })
    expect(normc(['fmt', '--check', layer, spec])).toMatchObject({ code: 0, stderr: '' })
    // check finds the spec next to the layer and compares with it, in both modes.
    const c = normc(['check', layer])
    expect(c.code, c.stdout + c.stderr).toBe(0)
    expect(c.stdout).toContain(`specs: ${spec}`)
    expect(c.stdout).toMatch(/MeanOnlyBatchNorm +train +x +spec +\S+ +\S+ +\S+ +PASS/)
    expect(c.stdout).toMatch(/MeanOnlyBatchNorm +eval +beta +spec +\S+ +\S+ +\S+ +PASS/)
    expect(c.stdout).toMatch(/running_mean <- +spec .* PASS/)
    expect(c.stdout).toMatch(/^OK: /m)
  })

  it('writes into the current directory by default', () => {
    const dir = scratch('init-cwd')
    expect(normc(['init'], { cwd: dir }).code).toBe(0)
    expect(existsSync(join(dir, `${STARTER_NAME}.norm`))).toBe(true)
    expect(existsSync(join(dir, `${STARTER_NAME}.spec.norm`))).toBe(true)
  })

  it('keeps existing files unless --force', () => {
    const dir = scratch('init-force')
    const layer = join(dir, `${STARTER_NAME}.norm`)
    writeFileSync(layer, '# mine\n')
    const r = normc(['init', dir])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(`normc init: ${layer} exists (--force overwrites it)\n`)
    expect(readFileSync(layer, 'utf8')).toBe('# mine\n')
    expect(existsSync(join(dir, `${STARTER_NAME}.spec.norm`))).toBe(false)
    expect(normc(['init', dir, '--force']).code).toBe(0)
    expect(readFileSync(layer, 'utf8')).toBe(starterLayer)
  })

  it('refuses two directories and unknown flags with exit 2', () => {
    expect(normc(['init', 'a', 'b'])).toMatchObject({
      code: 2,
      stderr: 'normc init: init takes one directory\n',
    })
    expect(normc(['init', '--nope']).code).toBe(2)
  })
})
