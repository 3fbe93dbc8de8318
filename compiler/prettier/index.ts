// normc/prettier: a prettier plugin for `.norm` files.
//
//   prettier --plugin normc/prettier --write "**/*.norm"
//
// The parser is normc's own (grammar/); the printer is the canonical printer (compiler/print),
// so prettier, `normc fmt` and the printer used by the compiler itself always agree. Options:
// `printWidth` (default 100, the canonical layout's width); `tabWidth` and `useTabs` do not
// apply (the layout indents by two spaces). A file that does not parse is refused with every
// error located; prettier shows the first one with a code frame.

import type { Doc, Parser, Plugin, Printer, SupportLanguage } from 'prettier'
import { builders } from 'prettier/doc'
import { parse, type NormFile } from '../../grammar/index.js'
import type { Diagnostic } from '../diagnostics.js'
import { printFile, sameModuloSpans } from '../print/index.js'

/** The width of the canonical layout, and of prettier's layout for `.norm` unless configured. */
export const DEFAULT_PRINT_WIDTH = 100

export const languages: SupportLanguage[] = [
  {
    name: 'norm',
    extensions: ['.norm'],
    parsers: ['norm'],
    vscodeLanguageIds: ['norm'],
  },
]

/**
 * The error a `.norm` file that does not parse gives: a SyntaxError with prettier's `loc` (so
 * the CLI prints `FILE: SyntaxError: message (LINE:COL)` and a code frame) and every
 * diagnostic, for tools (normc fmt prints them its own way).
 */
export class NormSyntaxError extends SyntaxError {
  readonly loc: { start: { line: number; column: number }; end: { line: number; column: number } }
  constructor(readonly diagnostics: Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === 'error')
    const first = errors[0]!
    const at = (d: Diagnostic) => `(${d.span.line}:${d.span.col})`
    const more = errors.slice(1).map((d) => `\n  and: ${d.message} ${at(d)}`)
    super(`${first.message} ${at(first)}${more.join('')}`)
    this.name = 'SyntaxError'
    const s = first.span
    this.loc = {
      start: { line: s.line, column: s.col },
      end: {
        line: s.endLine,
        column: s.endLine === s.line && s.endCol <= s.col ? s.col + 1 : s.endCol,
      },
    }
  }
}

/** The AST prettier holds: the parsed file (its nodes keep their comments). */
export type NormAst = NormFile

const normParser: Parser<NormAst> = {
  astFormat: 'norm',
  parse(text, options) {
    const file = (options as { filepath?: string }).filepath ?? '<input>'
    const r = parse(text, file)
    if (!r.ast) throw new NormSyntaxError(r.diagnostics)
    return r.ast
  },
  locStart: (node: { span?: { start: number } }) => node.span?.start ?? 0,
  locEnd: (node: { span?: { end: number } }) => node.span?.end ?? 0,
}

/** The canonical text of a parsed file, checked to parse back to the same program. */
export function printNorm(ast: NormFile, printWidth = DEFAULT_PRINT_WIDTH): string {
  const text = printFile(ast, { printWidth })
  const again = parse(text, ast.file)
  if (!again.ast || !sameModuloSpans(ast, again.ast))
    throw new Error(`the formatter would change the meaning of ${ast.file}; please report this`)
  return text
}

const normPrinter: Printer<NormAst> = {
  print(path, options) {
    const text = printNorm(path.node, options.printWidth)
    // Lines joined by prettier's hard lines, so that its end-of-line option applies.
    const lines = text.split('\n')
    if (lines.at(-1) === '') lines.pop()
    const doc: Doc[] = []
    for (const l of lines) doc.push(l, builders.hardline)
    return doc
  },
  // The file is printed whole by the canonical printer: prettier walks no children (the cursor
  // of an editor is kept relative to the whole file).
  getVisitorKeys: () => [],
}

export const parsers = { norm: normParser }
export const printers = { norm: normPrinter }
export const defaultOptions = { printWidth: DEFAULT_PRINT_WIDTH }

const plugin: Plugin<NormAst> = { languages, parsers, printers, defaultOptions }
export default plugin
