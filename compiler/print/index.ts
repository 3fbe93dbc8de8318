// The canonical printer: AST → `.norm` text. It reads only the fields of the AST (never the
// source text nor the spans), so it also prints programs built by the compiler itself, such as
// derived backward passes. `print(parse(src))` is idempotent and `parse(print(ast))` gives the
// same AST up to spans.
//
// Layout: two-space indent, one item per line, a blank line between top-level declarations and
// before the first block of a layer that has declarations, spaces around binary operators,
// minimal parentheses. Lines longer than `printWidth` are broken by a small Wadler-style layout
// engine: call arguments and axis lists one per line, operator chains before each operator.

import type {
  AxisRef,
  BinaryOp,
  Comments,
  Expr,
  LayerDecl,
  LayerItem,
  NormFile,
  OutputDecl,
  SpecDecl,
  Stmt,
  TensorDecl,
  TopDecl,
} from '../../grammar/ast.js'
import { parse } from '../../grammar/index.js'
import type { Diagnostic } from '../diagnostics.js'

export interface PrintOptions {
  /** The width lines are kept within where possible (comments and long names may exceed it). */
  printWidth?: number
}

export interface IndentedPrintOptions extends PrintOptions {
  /** Columns of indentation of the first line (and the base of continuation lines). */
  indent?: number
}

const DEFAULT_WIDTH = 100
const INDENT = 2

// ---------------------------------------------------------------------------------------------
// Layout documents

type Doc =
  string | Doc[] | { t: 'group'; d: Doc } | { t: 'indent'; d: Doc } | { t: 'line'; flat: string }

const group = (d: Doc): Doc => ({ t: 'group', d })
const indent = (d: Doc): Doc => ({ t: 'indent', d })
/** A space when its group fits on the line, else a line break. */
const line: Doc = { t: 'line', flat: ' ' }
/** Nothing when its group fits on the line, else a line break. */
const softline: Doc = { t: 'line', flat: '' }

function join(sep: Doc, docs: Doc[]): Doc[] {
  const out: Doc[] = []
  docs.forEach((d, i) => {
    if (i > 0) out.push(sep)
    out.push(d)
  })
  return out
}

/** A bracketed, comma-separated list that breaks one element per line. */
function list(open: string, items: Doc[], close: string): Doc {
  if (items.length === 0) return open + close
  return group([open, indent([softline, join([',', line], items)]), softline, close])
}

type Mode = 'flat' | 'break'
type Cmd = [ind: number, mode: Mode, doc: Doc]

/** Whether `next` (flat), followed by `rest` up to its first line break, fits in `width`. */
function fits(next: Cmd, rest: Cmd[], width: number): boolean {
  const stack: Cmd[] = [next]
  let restIdx = rest.length
  while (width >= 0) {
    if (stack.length === 0) {
      if (restIdx === 0) return true
      stack.push(rest[--restIdx]!)
      continue
    }
    const [ind, mode, d] = stack.pop()!
    if (typeof d === 'string') width -= d.length
    else if (Array.isArray(d))
      for (let i = d.length - 1; i >= 0; i--) stack.push([ind, mode, d[i]!])
    else if (d.t === 'group' || d.t === 'indent') stack.push([ind, mode, d.d])
    else if (mode === 'break') return true
    else width -= d.flat.length
  }
  return false
}

/** Lays out a document; `start` is the column the first line starts at. */
function layout(doc: Doc, width: number, start: number): string {
  let out = ''
  let pos = start
  const stack: Cmd[] = [[start, 'break', doc]]
  while (stack.length) {
    const cmd = stack.pop()!
    const [ind, mode, d] = cmd
    if (typeof d === 'string') {
      out += d
      pos += d.length
    } else if (Array.isArray(d)) {
      for (let i = d.length - 1; i >= 0; i--) stack.push([ind, mode, d[i]!])
    } else if (d.t === 'indent') {
      stack.push([ind + INDENT, mode, d.d])
    } else if (d.t === 'group') {
      const flat: Cmd = [ind, 'flat', d.d]
      stack.push(mode === 'flat' || fits(flat, stack, width - pos) ? flat : [ind, 'break', d.d])
    } else if (mode === 'flat') {
      out += d.flat
      pos += d.flat.length
    } else {
      out += '\n' + ' '.repeat(ind)
      pos = ind
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Expressions

const NUMBER_RE = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/

/** Binding strength: `as` loosest, then `+ -`, `* /`, unary minus, `^`, atoms. */
const PREC_AS = 0
const PREC_ADD = 1
const PREC_MUL = 2
const PREC_NEG = 3
const PREC_POW = 4
const PREC_ATOM = 5

function opPrec(op: BinaryOp): number {
  return op === '+' || op === '-' ? PREC_ADD : op === '*' || op === '/' ? PREC_MUL : PREC_POW
}

/**
 * A number as a literal the lexer reads back to the same value: its source text when that still
 * holds, else the shortest round-trip form. Negative numbers and non-finite values are not
 * literals; see `normalizeNumber`.
 */
export function formatNumber(value: number, text?: string): string {
  if (text && NUMBER_RE.test(text) && Object.is(Number(text), value)) return text
  return String(value)
}

/**
 * Numbers that cannot be written as one literal become the expression that computes them:
 * `-2` is unary minus of `2`, infinity `1 / 0`, NaN `0 / 0`.
 */
function normalizeNumber(e: Extract<Expr, { kind: 'num' }>): Expr {
  const v = e.value
  const num = (value: number): Expr => ({ kind: 'num', value, text: String(value), span: e.span })
  if (Number.isNaN(v)) return { kind: 'binary', op: '/', left: num(0), right: num(0), span: e.span }
  if (v < 0 || Object.is(v, -0))
    return { kind: 'neg', operand: { ...e, value: -v, text: formatNumber(-v) }, span: e.span }
  if (v === Infinity) return { kind: 'binary', op: '/', left: num(1), right: num(0), span: e.span }
  return e
}

function prec(e: Expr): number {
  switch (e.kind) {
    case 'as':
      return PREC_AS
    case 'binary':
      return opPrec(e.op)
    case 'neg':
      return PREC_NEG
    case 'num': {
      const n = normalizeNumber(e)
      return n === e ? PREC_ATOM : prec(n)
    }
    default:
      return PREC_ATOM
  }
}

function axesDoc(axes: AxisRef[]): Doc {
  return list(
    '[',
    axes.map((a) => a.name),
    ']',
  )
}

function parens(d: Doc): Doc {
  return group(['(', indent([softline, d]), softline, ')'])
}

/** The operand `e` where at least `min` binding strength is needed. */
function operand(e: Expr, min: number): Doc {
  return prec(e) < min ? parens(exprDoc(e)) : exprDoc(e)
}

function exprDoc(e: Expr): Doc {
  switch (e.kind) {
    case 'num': {
      const n = normalizeNumber(e)
      return n === e ? formatNumber(e.value, e.text) : exprDoc(n)
    }
    case 'name':
      return e.name
    case 'axes':
      return axesDoc(e.axes)
    case 'neg': {
      // `-(-x)` rather than `--x`, which reads like a decrement.
      return ['-', operand(e.operand, prec(e.operand) === PREC_NEG ? PREC_POW : PREC_NEG)]
    }
    case 'call':
      return [
        e.callee,
        list(
          '(',
          e.args.map((a) => exprDoc(a)),
          ')',
        ),
      ]
    case 'as':
      // `as` applies to everything on its left, so its operand never needs parentheses.
      return group([exprDoc(e.operand), indent([line, 'as ', axesDoc(e.axes)])])
    case 'binary': {
      const p = opPrec(e.op)
      if (p === PREC_POW)
        // Right-associative: the base is an atom, the exponent any unary (`x ^ -1`).
        return [operand(e.left, PREC_ATOM), ' ^ ', operand(e.right, PREC_NEG)]
      // Left-associative chain of one precedence level: a + b - c.
      const rights: { op: BinaryOp; e: Expr }[] = []
      let left: Expr = e
      while (left.kind === 'binary' && opPrec(left.op) === p) {
        rights.push({ op: left.op, e: left.right })
        left = left.left
      }
      rights.reverse()
      return group([
        operand(left, p),
        indent(rights.map((r) => [line, r.op, ' ', operand(r.e, p + 1)])),
      ])
    }
  }
}

/**
 * An expression as text. Without `printWidth` it is one line; with it, lines are broken where
 * they would exceed the width (continuation lines indented from `indent`).
 */
export function printExpr(e: Expr, opts: IndentedPrintOptions = {}): string {
  const ind = opts.indent ?? 0
  return layout(exprDoc(e), opts.printWidth ?? Infinity, ind)
}

// ---------------------------------------------------------------------------------------------
// Statements, declarations, files

function commentsOf(n: { comments?: Comments }): Comments {
  return n.comments ?? { leading: [] }
}

/** Leading comment lines, the node's own lines (indented), and its trailing comment. */
function withComments(ind: number, c: Comments, body: string): string[] {
  const pad = ' '.repeat(ind)
  const lines = c.leading.map((l) => pad + l)
  lines.push(pad + body + (c.trailing ? ' ' + c.trailing : ''))
  return lines
}

function stmtDoc(s: Stmt): Doc {
  const op = s.kind === 'update' ? ' <- ' : ' = '
  return [s.name, op, exprDoc(s.value)]
}

/** A statement with its comments, indented by `indent` columns (no final newline). */
export function printStmt(s: Stmt, opts: IndentedPrintOptions = {}): string {
  const ind = opts.indent ?? 0
  const body = layout(stmtDoc(s), opts.printWidth ?? DEFAULT_WIDTH, ind)
  return withComments(ind, commentsOf(s), body).join('\n')
}

function tensorDoc(t: TensorDecl | OutputDecl): Doc {
  return t.shape ? [t.name, ': ', axesDoc(t.shape)] : t.name
}

/** A body `{ … }`: its lines indented, dangling comments last; `{}` when empty. */
function body(open: string, ind: number, lines: string[], dangling: string[]): string {
  const pad = ' '.repeat(ind + INDENT)
  const all = [...lines, ...dangling.map((c) => pad + c)]
  if (all.length === 0) return open + '{}'
  return [open + '{', ...all, ' '.repeat(ind) + '}'].join('\n')
}

function stmtLines(stmts: Stmt[], ind: number, width: number): string[] {
  return stmts.map((s) => printStmt(s, { indent: ind, printWidth: width }))
}

function itemText(it: LayerItem, ind: number, width: number): string {
  const c = commentsOf(it)
  const pad = ' '.repeat(ind)
  let head: Doc
  switch (it.kind) {
    case 'hyper':
      head = ['hyper ', it.name, ' = ', exprDoc(it.value)]
      break
    case 'param':
    case 'state':
      head = [it.kind, ' ', it.name, ': ', axesDoc(it.shape)]
      if (it.init) head = [head, ' = ', exprDoc(it.init)]
      break
    case 'axis':
      head = it.def ? ['axis ', it.name, ' = ', exprDoc(it.def)] : ['axis ', it.name]
      break
    case 'block': {
      const text = body(
        it.mode + ' ',
        ind,
        stmtLines(it.stmts, ind + INDENT, width),
        it.danglingComments ?? [],
      )
      return [
        ...c.leading.map((l) => pad + l),
        pad + text + (c.trailing ? ' ' + c.trailing : ''),
      ].join('\n')
    }
  }
  return withComments(ind, c, layout(head, width, ind)).join('\n')
}

/** One layer, its comments included (no final newline). */
export function printLayer(l: LayerDecl, opts: PrintOptions = {}): string {
  const width = opts.printWidth ?? DEFAULT_WIDTH
  const c = commentsOf(l)
  const outputs = join(', ', l.outputs.map(tensorDoc))
  const head = layout(
    group(['layer ', l.name, list('(', l.inputs.map(tensorDoc), ')'), ' -> ', outputs, ' ']),
    width - 1, // room for the `{` that follows
    0,
  )
  const lines: string[] = []
  l.items.forEach((it, i) => {
    // A blank line separates the declarations from the first block.
    if (it.kind === 'block' && i > 0 && l.items[i - 1]!.kind !== 'block') lines.push('')
    lines.push(itemText(it, INDENT, width))
  })
  const text = body(head, 0, lines, l.danglingComments ?? [])
  return [...c.leading, text + (c.trailing ? ' ' + c.trailing : '')].join('\n')
}

/** One spec, its comments included (no final newline). */
export function printSpec(s: SpecDecl, opts: PrintOptions = {}): string {
  const width = opts.printWidth ?? DEFAULT_WIDTH
  const c = commentsOf(s)
  const text = body(
    `spec ${s.layer} ${s.mode} `,
    0,
    stmtLines(s.stmts, INDENT, width),
    s.danglingComments ?? [],
  )
  return [...c.leading, text + (c.trailing ? ' ' + c.trailing : '')].join('\n')
}

export function printDecl(d: TopDecl, opts: PrintOptions = {}): string {
  return d.kind === 'layer' ? printLayer(d, opts) : printSpec(d, opts)
}

/** A whole file: declarations separated by blank lines, ending in one newline. */
export function printFile(ast: NormFile, opts: PrintOptions = {}): string {
  const parts = ast.decls.map((d) => printDecl(d, opts))
  const dangling = ast.danglingComments ?? []
  if (dangling.length) parts.push(dangling.join('\n'))
  return parts.length ? parts.join('\n\n') + '\n' : ''
}

// ---------------------------------------------------------------------------------------------
// Formatting source text

/** Whether two ASTs are the same program with the same comments, whatever their spans. */
export function sameModuloSpans(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null)
    return Number.isNaN(a) && Number.isNaN(b)
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const keys = (o: object) =>
    Object.keys(o).filter(
      (k) => k !== 'span' && !k.endsWith('Span') && (o as Record<string, unknown>)[k] !== undefined,
    )
  const ka = keys(a)
  const kb = keys(b)
  if (ka.length !== kb.length) return false
  return ka.every((k) =>
    sameModuloSpans((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  )
}

export interface FormatResult {
  /** The canonical text; undefined when the source does not parse. */
  formatted: string | undefined
  diagnostics: Diagnostic[]
}

/**
 * Parses and prints `.norm` source. The printed text is parsed again and compared with the
 * original AST, so a printer bug can never silently change a program.
 */
export function formatFile(src: string, file = '<input>', opts: PrintOptions = {}): FormatResult {
  const r = parse(src, file)
  if (!r.ast) return { formatted: undefined, diagnostics: r.diagnostics }
  const formatted = printFile(r.ast, opts)
  const again = parse(formatted, file)
  if (!again.ast || !sameModuloSpans(r.ast, again.ast))
    throw new Error(`the formatter would change the meaning of ${file}; please report this`)
  return { formatted, diagnostics: r.diagnostics }
}
