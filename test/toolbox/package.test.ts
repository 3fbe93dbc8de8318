// The package installs: `npm pack` (of the dist/ built by test/setup/build.ts), installed into a
// scratch project from the tarball, offline (its dependencies come from the local npm cache),
// and used from there as a user would: the CLI through npx, the API through import and
// require, the prettier plugin through prettier's CLI and API, the types through tsc.

import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { plainEnv, repoRoot, scratch, type Ran } from './helpers.js'

const npmCmd = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const npxCmd = process.platform === 'win32' ? 'npx.cmd' : 'npx'

function sh(cmd: string, args: string[], cwd: string): Ran {
  const r = spawnSync(cmd, args, { cwd, env: plainEnv(), encoding: 'utf8' })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** npm's own warnings about the user's configuration, which say nothing about normc. */
const npmNoise = (s: string) =>
  s
    .split('\n')
    .filter((l) => l && !/^npm warn/i.test(l))
    .join('\n')

const messy = 'layer L(x:[N,C])->y{forward{y=(x-1)*2 # scale\n}}'
const canonical = 'layer L(x: [N, C]) -> y {\n  forward {\n    y = (x - 1) * 2 # scale\n  }\n}\n'

describe('the packed package, installed in a scratch project', { timeout: 240_000 }, () => {
  let proj = ''
  let tarball = ''

  beforeAll(() => {
    const out = scratch('pack')
    // dist/ is built; --ignore-scripts skips building it again (prepare).
    const pack = sh(
      npmCmd,
      ['pack', '--ignore-scripts', '--json', '--pack-destination', out],
      repoRoot,
    )
    expect(pack.code, pack.stderr).toBe(0)
    const info = JSON.parse(pack.stdout) as { filename: string }[]
    tarball = join(out, info[0]!.filename)
    proj = join(out, 'project')
    sh('mkdir', ['-p', proj], out)
    writeFileSync(
      join(proj, 'package.json'),
      JSON.stringify({ name: 'scratch', version: '1.0.0', private: true, type: 'module' }),
    )
    const flags = ['--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock']
    let inst = sh(npmCmd, ['install', '--offline', ...flags, tarball], proj)
    if (inst.code !== 0) {
      // Not everything is in the cache (a fresh machine): let npm fill the gaps.
      console.warn(`npm install --offline failed, retrying --prefer-offline:\n${inst.stderr}`)
      inst = sh(npmCmd, ['install', '--prefer-offline', ...flags, tarball], proj)
    }
    expect(inst.code, inst.stderr).toBe(0)
    writeFileSync(
      join(proj, 'layer.norm'),
      readFileSync(join(repoRoot, 'examples/batchrenorm.norm')),
    )
    writeFileSync(join(proj, 'messy.norm'), messy)
  }, 240_000)

  it('holds the built files, not the sources or the tests', () => {
    const listing = sh('tar', ['-tzf', tarball], proj).stdout.split('\n')
    for (const f of [
      'package/bin/normc',
      'package/dist/runtime/index.js',
      'package/dist/runtime/index.d.ts',
      'package/dist/compiler/prettier/index.js',
      'package/dist/compiler/prettier/index.d.ts',
      'package/dist/cli/main.js',
      'package/examples/batchrenorm.norm',
    ])
      expect(listing).toContain(f)
    expect(listing.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([])
    expect(listing.filter((f) => f.includes('.test.'))).toEqual([])
  })

  it('runs the CLI through npx', () => {
    const lint = sh(npxCmd, ['--offline', 'normc', 'lint', 'layer.norm'], proj)
    expect(npmNoise(lint.stderr)).toBe('')
    expect(lint.code).toBe(0)
    const bad = sh(npxCmd, ['--offline', 'normc', 'lint', 'nope.norm'], proj)
    expect(bad.code).toBe(2)
    const version = sh(npxCmd, ['--offline', 'normc', '--version'], proj)
    expect(version.stdout.trim()).toBe(
      JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version,
    )
    // The SVG renderer (WebAssembly) resolves from the installed package.
    const graph = sh(
      npxCmd,
      ['--offline', 'normc', 'graph', 'layer.norm', '--backward', '-o', 'g.svg'],
      proj,
    )
    expect(graph.code, graph.stderr).toBe(0)
    expect(readFileSync(join(proj, 'g.svg'), 'utf8')).toContain('<svg')
  })

  const program = (load: string) => `${load}
const m = compile(\`layer Center(x: [N, C]) -> y {
  forward {
    y = x - mean(x, [N])
  }
}\`)
const l = m.layer('Center', { axes: { N: 2, C: 2 } })
const x = new Float32Array([1, 2, 5, 10])
const r = l.forward({ x }, { mode: 'train', params: l.initParams(), state: l.initState() })
const dx = l.backward(r.saved, new Float32Array([1, 0, 0, 0]))
console.log(JSON.stringify({ layers: m.layers, y: Array.from(r.outputs.y), dx: Array.from(dx.x) }))
`
  const expected = { layers: ['Center'], y: [-2, -4, 2, 4], dx: [0.5, 0, -0.5, 0] }

  it('imports the API (ESM)', () => {
    writeFileSync(join(proj, 'api.mjs'), program(`import { compile } from 'normc'`))
    const r = sh(process.execPath, ['api.mjs'], proj)
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toEqual(expected)
  })

  it('requires the API (CommonJS, require of ESM on Node 20.19+)', () => {
    writeFileSync(join(proj, 'api.cjs'), program(`const { compile } = require('normc')`))
    const r = sh(process.execPath, ['api.cjs'], proj)
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toEqual(expected)
    writeFileSync(
      join(proj, 'plugin.cjs'),
      `const p = require('normc/prettier'); console.log(JSON.stringify(p.default.languages))`,
    )
    const p = sh(process.execPath, ['plugin.cjs'], proj)
    expect(p.stderr).toBe('')
    expect(JSON.parse(p.stdout)[0]).toMatchObject({ name: 'norm', extensions: ['.norm'] })
  })

  it('formats with prettier --plugin normc/prettier, and the prettier API by name', () => {
    const prettier = join(proj, 'node_modules', 'prettier', 'bin', 'prettier.cjs')
    const check = sh(
      process.execPath,
      [prettier, '--plugin', 'normc/prettier', '--check', '**/*.norm'],
      proj,
    )
    expect(check.code).toBe(1)
    expect(check.stderr).toContain('messy.norm')
    expect(check.stderr).not.toContain('layer.norm')
    const write = sh(
      process.execPath,
      [prettier, '--plugin', 'normc/prettier', '--write', '**/*.norm'],
      proj,
    )
    expect(write.code, write.stderr).toBe(0)
    expect(readFileSync(join(proj, 'messy.norm'), 'utf8')).toBe(canonical)
    writeFileSync(
      join(proj, 'fmt.mjs'),
      `import * as prettier from 'prettier'
process.stdout.write(await prettier.format(${JSON.stringify(messy)}, { parser: 'norm', plugins: ['normc/prettier'] }))`,
    )
    const api = sh(process.execPath, ['fmt.mjs'], proj)
    expect(api.stderr).toBe('')
    expect(api.stdout).toBe(canonical)
  })

  it('resolves normc/tfjs (when the build has it) by import and require', () => {
    const installed = join(proj, 'node_modules', 'normc', 'dist', 'runtime', 'tfjs', 'index.js')
    if (!existsSync(installed)) {
      // runtime/tfjs is written separately; until it is built, only the export is declared.
      console.warn('normc/tfjs: dist/runtime/tfjs/index.js is not built yet; resolution not tested')
      return
    }
    // Resolution only: importing it needs @tensorflow/tfjs, which a scratch project lacks.
    writeFileSync(join(proj, 'tfjs.cjs'), `console.log(require.resolve('normc/tfjs'))`)
    expect(sh(process.execPath, ['tfjs.cjs'], proj).stdout.trim()).toBe(installed)
    writeFileSync(join(proj, 'tfjs.mjs'), `console.log(import.meta.resolve('normc/tfjs'))`)
    expect(sh(process.execPath, ['tfjs.mjs'], proj).stdout.trim()).toBe(`file://${installed}`)
  })

  it('has types for normc and normc/prettier', () => {
    writeFileSync(
      join(proj, 'use.ts'),
      `import { compile, NormcError, type Module } from 'normc'
import plugin, { DEFAULT_PRINT_WIDTH } from 'normc/prettier'
import type { Plugin } from 'prettier'
const m: Module = compile('layer L(x: [N]) -> y {\\n  forward {\\n    y = x\\n  }\\n}\\n')
const names: string[] = m.layers
const p: Plugin = plugin
const w: number = DEFAULT_PRINT_WIDTH
const e: Error = new NormcError('x')
// @ts-expect-error: layers is a list of names
const wrong: number = m.layers
export { names, p, w, e, wrong }
`,
    )
    writeFileSync(
      join(proj, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
        },
        files: ['use.ts'],
      }),
    )
    const tsc = createRequire(join(repoRoot, 'package.json')).resolve('typescript/bin/tsc')
    const r = sh(process.execPath, [tsc, '-p', 'tsconfig.json'], proj)
    expect(r.stdout + r.stderr).toBe('')
    expect(r.code).toBe(0)
  })
})
