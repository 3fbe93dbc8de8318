// What every subcommand provides. Each lives in its own file under cli/commands/.

import { parseArgs, type ParseArgsConfig } from 'node:util'

export interface Command {
  name: string
  /** One line for `normc --help`. */
  summary: string
  /** The full text of `normc NAME --help`. */
  usage: string
  run(argv: string[]): Promise<number>
}

/** Exit codes: 0 success, 1 the input was wrong or a check failed, 2 usage error. */
export const EXIT_OK = 0
export const EXIT_FAIL = 1
export const EXIT_USAGE = 2

/** A usage error: unknown flag, missing argument, unreadable file. Exit code 2. */
export class UsageError extends Error {}

export type Options = NonNullable<ParseArgsConfig['options']>

/** node:util parseArgs with errors turned into UsageError (one line, no stack). */
export function parseFlags<O extends Options>(
  argv: string[],
  options: O,
): {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>
  positionals: string[]
} {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: true, strict: true })
    return {
      values: r.values as Record<string, string | boolean | string[] | undefined>,
      positionals: r.positionals,
    }
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '')
    throw new UsageError(msg)
  }
}

/** Writes to stdout and resolves once the data is flushed (safe for megabytes into a pipe). */
export function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (err) => (err ? reject(err) : resolve()))
  })
}

export function writeStderr(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : text + '\n')
}
