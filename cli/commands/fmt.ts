// normc fmt FILE… [--check | --write]: print `.norm` files in the canonical layout. It formats
// through prettier and the normc/prettier plugin, with the prettier configuration that applies
// to each file, so `normc fmt` and `prettier --plugin normc/prettier` always agree.

import { writeFileSync } from 'node:fs'
import { renderDiagnostics } from '../../compiler/frontend.js'
import type { Diagnostic } from '../../compiler/diagnostics.js'
import { PrettierConfigError, formatNorm } from '../../compiler/prettier/format.js'
import {
  EXIT_FAIL,
  EXIT_OK,
  UsageError,
  parseFlags,
  writeStderr,
  writeStdout,
  type Command,
} from '../command.js'
import { readSource } from '../source.js'
import { writeDiagnostics } from '../style.js'

export const fmt: Command = {
  name: 'fmt',
  summary: 'print .norm files in the canonical layout (--check, --write)',
  usage: `Usage: normc fmt FILE.norm            print the formatted file on stdout
       normc fmt --write FILE.norm...  rewrite the files in place
       normc fmt --check FILE.norm...  list the files that are not formatted

Formats .norm files canonically: two-space indent, one declaration or statement per line,
spaces around binary operators, minimal parentheses, lines broken at 100 columns. Comments
are kept. Only the syntax is needed: a file with type errors is still formatted.

This is \`prettier --plugin normc/prettier\`: where a prettier configuration applies to the
file (.prettierrc, package.json, .editorconfig), its printWidth sets the width for both.

Exit: 0 success (with --check: every file is formatted), 1 a file does not parse or (with
--check) would change, 2 usage error (unknown flag, unreadable file).
Options:
  --check   change nothing; name each file that would change on stderr
  --write   rewrite each file that would change
`,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      check: { type: 'boolean' },
      write: { type: 'boolean' },
    })
    if (values.check && values.write) throw new UsageError('--check and --write exclude each other')
    if (positionals.length === 0) throw new UsageError('no input files')
    if (!values.check && !values.write && positionals.length > 1)
      throw new UsageError('several files: use --write or --check (or name one file to print it)')

    const sources = positionals.map((file) => ({ file, text: readSource(file) }))
    const diagnostics: Diagnostic[] = []
    let failed = false
    for (const { file, text } of sources) {
      let r: Awaited<ReturnType<typeof formatNorm>>
      try {
        r = await formatNorm(text, file)
      } catch (e) {
        if (e instanceof PrettierConfigError) throw new UsageError(e.message)
        throw e
      }
      if (r.formatted === undefined) {
        diagnostics.push(...r.diagnostics)
        failed = true
        continue
      }
      if (values.check) {
        if (r.formatted !== text) {
          writeStderr(`${file}: not formatted (normc fmt --write ${file} fixes it)`)
          failed = true
        }
      } else if (values.write) {
        if (r.formatted !== text) writeFileSync(file, r.formatted)
      } else {
        await writeStdout(r.formatted)
      }
    }
    if (diagnostics.length)
      writeDiagnostics(
        renderDiagnostics({
          diagnostics,
          sources: new Map(sources.map((s) => [s.file, s.text])),
        }),
      )
    return failed ? EXIT_FAIL : EXIT_OK
  },
}
