// normc lint FILE…: parse and check; a spec file is checked together with its layer file.

import { frontend, renderDiagnostics } from '../../compiler/frontend.js'
import { hasErrors } from '../../compiler/diagnostics.js'
import { EXIT_FAIL, EXIT_OK, UsageError, parseFlags, type Command } from '../command.js'
import { readSource } from '../source.js'
import { writeDiagnostics } from '../style.js'

export const lint: Command = {
  name: 'lint',
  summary: 'parse and check .norm files (layers and specs together)',
  usage: `Usage: normc lint FILE.norm...

Parses and checks every file together (a spec is resolved against the layers of all the
files named), and prints each problem as FILE:LINE:COL: error|warning: message, with the
source line and a caret.

Exit: 0 clean or warnings only, 1 errors, 2 usage error (unknown flag, unreadable file).
Options:
  -q, --quiet   print errors only, not warnings
`,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { quiet: { type: 'boolean', short: 'q' } })
    if (positionals.length === 0) throw new UsageError('no input files')
    const r = frontend(positionals.map((file) => ({ file, text: readSource(file) })))
    if (values.quiet) r.diagnostics = r.diagnostics.filter((d) => d.severity === 'error')
    if (r.diagnostics.length) writeDiagnostics(renderDiagnostics(r))
    return hasErrors(r.diagnostics) ? EXIT_FAIL : EXIT_OK
  },
}
