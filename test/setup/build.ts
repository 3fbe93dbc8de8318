// vitest globalSetup: compiles the TypeScript sources to dist/ once, so that tests can spawn the
// real `bin/normc`. Type errors do not stop the build (tsc still emits; `tsc --noEmit` is CI's
// job), but a build that produces no CLI does.

import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export default function setup(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: root,
    encoding: 'utf8',
  })
  if (r.status !== 0) {
    const out = `${r.stdout}${r.stderr}`.split('\n').slice(0, 20).join('\n')
    process.stderr.write(
      `test/setup/build.ts: tsc reported errors (dist/ was still written):\n${out}\n`,
    )
  }
  if (!existsSync(join(root, 'dist', 'cli', 'main.js')))
    throw new Error('test/setup/build.ts: the build produced no dist/cli/main.js')
}
