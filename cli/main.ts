// normc: dispatch to a subcommand. Usage errors exit 2 with one line; nothing prints a stack.

import { readFileSync } from 'node:fs'
import { EXIT_USAGE, UsageError, writeStderr, writeStdout, type Command } from './command.js'
import { commands } from './commands/index.js'
import { createStyle, table } from './style.js'

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}

function help(): string {
  const s = createStyle(process.stdout)
  const rows = commands.map((c: Command) => ['', s.bold(s.cyan(c.name)), c.summary])
  return [
    `${s.bold('normc')} — a compiler for normalization layers`,
    '',
    'Usage: normc COMMAND [options] FILE...',
    '',
    'Commands:',
    table(rows, { gap: 2 }),
    '',
    'Run `normc COMMAND --help` for the options of a command.',
    'Exit codes: 0 success, 1 the input was wrong or a check failed, 2 usage error.',
    '',
  ].join('\n')
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    await writeStdout(help())
    return name === undefined ? EXIT_USAGE : 0
  }
  if (name === '--version' || name === '-v') {
    await writeStdout(version() + '\n')
    return 0
  }
  const cmd = commands.find((c) => c.name === name)
  if (!cmd) {
    writeStderr(`normc: unknown command '${name}' (see normc --help)`)
    return EXIT_USAGE
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    await writeStdout(cmd.usage.endsWith('\n') ? cmd.usage : cmd.usage + '\n')
    return 0
  }
  try {
    return await cmd.run(rest)
  } catch (e) {
    if (e instanceof UsageError) {
      writeStderr(`normc ${name}: ${e.message}`)
      return EXIT_USAGE
    }
    throw e
  }
}
