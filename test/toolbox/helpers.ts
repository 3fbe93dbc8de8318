// Helpers for the toolbox tests: running the built command line and other tools with a chosen
// environment, and scratch directories.

import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../utils/ast.js'

export { repoRoot }

export interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

/** The environment of a child without the variables that switch colors on or off. */
export function plainEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.FORCE_COLOR
  delete env.NO_COLOR
  return { ...env, ...extra }
}

/** Runs `node FILE ARGS` (a script, a tool's bin) and waits for it. */
export function runNode(
  file: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): Ran {
  const r = spawnSync(process.execPath, [file, ...args], {
    cwd: opts.cwd ?? repoRoot,
    env: opts.env ?? plainEnv(),
    encoding: 'utf8',
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** The built normc (dist/, compiled by test/setup/build.ts). */
export function normc(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Ran {
  return runNode(join(repoRoot, 'bin', 'normc'), args, opts)
}

/** prettier's own command line, as installed for this repository. */
export const prettierBin = join(repoRoot, 'node_modules', 'prettier', 'bin', 'prettier.cjs')

/** The built plugin, as `prettier --plugin` takes it. */
export const builtPlugin = join(repoRoot, 'dist', 'compiler', 'prettier', 'index.js')

export function scratch(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `normc-${prefix}-`))
}
