// Runs the built command line (dist/, compiled by test/setup/build.ts) as a user would.

import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { repoRoot } from './ast.js'

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
  ms: number
}

export function normc(args: string[], opts: { cwd?: string } = {}): CliResult {
  const t0 = performance.now()
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'normc'), ...args], {
    cwd: opts.cwd ?? repoRoot,
    encoding: 'utf8',
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 }
}
