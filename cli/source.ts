// Reading `.norm` files for the commands: unreadable files are usage errors (exit 2).

import { readFileSync } from 'node:fs'
import { UsageError } from './command.js'

export function readSource(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : (code ?? 'unreadable')
    throw new UsageError(`cannot read ${path}: ${why}`)
  }
}
