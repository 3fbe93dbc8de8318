// parse(): `.norm` text → AST plus diagnostics. Lexing, depth limits, parsing with error
// recovery (all errors of a file are reported), CST → AST, and comment attachment.

import type { IRecognitionException, IToken, TokenType } from 'chevrotain'
import { EOF } from 'chevrotain'
import type { Comments, Expr, NormFile, Span, Stmt, TopDecl } from './ast.js'
import { DiagnosticBag, type Diagnostic } from '../compiler/diagnostics.js'
import { normParser } from './parser.js'
import * as T from './tokens.js'
import { astBuilder, tokenSpan } from './visitor.js'

export * from './ast.js'

/** Nesting beyond this is refused before the recursive-descent parser could overflow its stack. */
export const MAX_NESTING = 200

/**
 * Files with more tokens than this are refused before lexing: the parse tree takes about 2 KB
 * per token, so a 10 MB file of statements would exhaust the heap (200,000 tokens, ~1 MB of
 * dense code, is some 100 times the largest layer, and about 0.5 GB to parse).
 */
export const MAX_TOKENS = 200_000

/** Where the token after the first MAX_TOKENS stands, if the file has that many (comments skipped). */
function tooManyTokens(src: string): Span | undefined {
  const re =
    /#[^\r\n]*|[ \t\r\n]+|[A-Za-z_][A-Za-z0-9_]*|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|<-|->|[^]/g
  let count = 0
  for (let m = re.exec(src); m; m = re.exec(src)) {
    const c = m[0].charCodeAt(0)
    if (c === 35 || c === 32 || c === 9 || c === 10 || c === 13) continue
    if (++count <= MAX_TOKENS) continue
    const before = src.slice(0, m.index).split(/\r\n|\r|\n/)
    const line = before.length
    const col = before[before.length - 1]!.length + 1
    return {
      start: m.index,
      end: m.index + m[0].length,
      line,
      col,
      endLine: line,
      endCol: col + m[0].length,
    }
  }
  return undefined
}

export interface ParseResult {
  ast: NormFile | undefined
  diagnostics: Diagnostic[]
}

const tokenLabels = new Map<TokenType, string>([
  [T.Identifier, 'a name'],
  [T.NumberLiteral, 'a number'],
  [T.Arrow, "'->'"],
  [T.LeftArrow, "'<-'"],
  [T.Plus, "'+'"],
  [T.Minus, "'-'"],
  [T.Star, "'*'"],
  [T.Slash, "'/'"],
  [T.Caret, "'^'"],
  [T.Equals, "'='"],
  [T.Colon, "':'"],
  [T.Comma, "','"],
  [T.LParen, "'('"],
  [T.RParen, "')'"],
  [T.LBracket, "'['"],
  [T.RBracket, "']'"],
  [T.LBrace, "'{'"],
  [T.RBrace, "'}'"],
  [EOF, 'end of file'],
  ...T.keywordTokens.map((k): [TokenType, string] => [k, `'${(k.PATTERN as RegExp).source}'`]),
])

function describe(t: IToken): string {
  if (t.tokenType === EOF) return 'end of file'
  return `'${t.image.length > 20 ? t.image.slice(0, 20) + '…' : t.image}'`
}

const ruleWhat: Record<string, string> = {
  file: "a 'layer' or 'spec'",
  item: "a declaration ('hyper', 'param', 'state', 'axis') or a block ('train', 'eval', 'forward')",
  mode: "a mode: 'train', 'eval' or 'forward'",
  atom: 'an expression',
  unary: 'an expression',
  stmt: 'a statement (name = expr or name <- expr)',
}

function endOfSource(src: string): Span {
  const lines = src.split(/\r\n|\r|\n/) // as the lexer counts lines: LF, CRLF or a lone CR
  const line = lines.length
  const col = lines[lines.length - 1]!.length + 1
  return { start: src.length, end: src.length, line, col, endLine: line, endCol: col }
}

const openers = new Map<TokenType, TokenType>([
  [T.RParen, T.LParen],
  [T.RBracket, T.LBracket],
  [T.RBrace, T.LBrace],
])

/** The innermost bracket of type `open` still unclosed before `toks[end]`. */
function unclosed(toks: IToken[], end: number, open: TokenType): IToken | undefined {
  const stack: IToken[] = []
  for (let i = 0; i < end && i < toks.length; i++) {
    const t = toks[i]!
    if (t.tokenType === T.LParen || t.tokenType === T.LBracket || t.tokenType === T.LBrace)
      stack.push(t)
    else if (openers.has(t.tokenType) && stack.at(-1)?.tokenType === openers.get(t.tokenType))
      stack.pop()
  }
  for (let i = stack.length - 1; i >= 0; i--) if (stack[i]!.tokenType === open) return stack[i]
  return undefined
}

function errorMessage(
  e: IRecognitionException,
  src: string,
  toks: IToken[],
  index: Map<IToken, number>,
): { span: Span; message: string } {
  const t = e.token
  const eof = t.tokenType === EOF || Number.isNaN(t.startOffset)
  const span = eof ? endOfSource(src) : tokenSpan(t)
  const found = describe(t)
  const at = eof ? toks.length : (index.get(t) ?? toks.length)
  const rule = e.context.ruleStack[e.context.ruleStack.length - 1] ?? 'file'
  // `1.2.3` lexes as `1.2` `.3`.
  const prev = toks[at - 1]
  if (
    !eof &&
    t.tokenType === T.NumberLiteral &&
    prev?.tokenType === T.NumberLiteral &&
    (prev.endOffset ?? -2) + 1 === t.startOffset
  )
    return { span: tokenSpan(prev), message: `malformed number '${prev.image}${t.image}'` }
  switch (e.name) {
    case 'MismatchedTokenException': {
      const m = /-->\s*(\w+)\s*<--/.exec(e.message)
      const type = m ? [...tokenLabels.keys()].find((k) => k.name === m[1]) : undefined
      const expected = type ? tokenLabels.get(type)! : (m?.[1] ?? 'something else')
      if (type === T.RBrace && !eof && (rule === 'layer' || rule === 'block' || rule === 'spec')) {
        const what =
          rule === 'layer'
            ? 'a declaration (hyper, param, state, axis), a block (train, eval, forward)'
            : 'a statement (name = expr or name <- expr)'
        return { span, message: `unexpected ${found}: expected ${what} or '}'` }
      }
      // Name the bracket left open, where the closing one is missing.
      const open = type && openers.get(type)
      const opener = open && (eof || type !== T.RBrace) ? unclosed(toks, at, open) : undefined
      const note = opener
        ? ` (the '${opener.image}' at ${opener.startLine}:${opener.startColumn} is not closed)`
        : ''
      if (eof) return { span, message: `unexpected end of file: expected ${expected}${note}` }
      return { span, message: `expected ${expected} but found ${found}${note}` }
    }
    case 'NotAllInputParsedException':
      return { span, message: `unexpected ${found}: expected ${ruleWhat.file}` }
    default: {
      const what = ruleWhat[rule] ?? 'something else'
      if (eof) return { span, message: `unexpected end of file: expected ${what}` }
      return { span, message: `unexpected ${found}: expected ${what}` }
    }
  }
}

/**
 * Refuses nesting (brackets, runs of unary minus, chains of `^`) deeper than MAX_NESTING, so that
 * a hostile file gets a located diagnostic instead of a stack overflow.
 */
function checkNesting(toks: IToken[], bag: DiagnosticBag): boolean {
  let depth = 0
  let run = 0
  for (const t of toks) {
    const k = t.tokenType
    if (k === T.LParen || k === T.LBracket || k === T.LBrace) depth++
    else if (k === T.RParen || k === T.RBracket || k === T.RBrace) depth = Math.max(0, depth - 1)
    if (k === T.Minus || k === T.Caret) run++
    else if (k !== T.Identifier && k !== T.NumberLiteral && k !== T.LParen && k !== T.RParen)
      run = 0
    if (depth + run > MAX_NESTING) {
      bag.error(tokenSpan(t), `expression nested too deeply (more than ${MAX_NESTING} levels)`)
      return false
    }
  }
  return true
}

/** Depth of an expression tree, computed without recursion. */
function exprDepth(root: Expr): number {
  let max = 0
  const stack: [Expr, number][] = [[root, 1]]
  while (stack.length) {
    const [e, d] = stack.pop()!
    if (d > max) max = d
    switch (e.kind) {
      case 'neg':
      case 'as':
        stack.push([e.operand, d + 1])
        break
      case 'binary':
        stack.push([e.left, d + 1], [e.right, d + 1])
        break
      case 'call':
        for (const a of e.args) stack.push([a, d + 1])
        break
      default:
    }
  }
  return max
}

/** Visits every expression of the file (values of hypers, inits, axis defs, statements). */
function eachTopExpr(decls: TopDecl[], f: (e: Expr) => void): void {
  for (const d of decls) {
    const stmts: Stmt[] = d.kind === 'spec' ? d.stmts : []
    if (d.kind === 'layer') {
      for (const it of d.items) {
        if (it.kind === 'hyper') f(it.value)
        else if ((it.kind === 'param' || it.kind === 'state') && it.init) f(it.init)
        else if (it.kind === 'axis' && it.def) f(it.def)
        else if (it.kind === 'block') stmts.push(...it.stmts)
      }
    }
    for (const s of stmts) f(s.value)
  }
}

function checkNumbers(e: Expr, bag: DiagnosticBag): void {
  const stack = [e]
  while (stack.length) {
    const x = stack.pop()!
    if (x.kind === 'num' && !Number.isFinite(x.value)) {
      bag.error(x.span, `number ${x.text} is too large for a float64`)
    } else if (x.kind === 'neg' || x.kind === 'as') stack.push(x.operand)
    else if (x.kind === 'binary') stack.push(x.left, x.right)
    else if (x.kind === 'call') stack.push(...x.args)
  }
}

interface Commentable {
  span: Span
  comments: Comments
  danglingComments?: string[]
  children: Commentable[]
}

function commentTree(decls: TopDecl[]): Commentable[] {
  return decls.map((d) => {
    if (d.kind === 'spec') return { ...wrap(d), children: d.stmts.map(leaf) }
    return {
      ...wrap(d),
      children: d.items.map((it) =>
        it.kind === 'block' ? { ...wrap(it), children: it.stmts.map(leaf) } : leaf(it),
      ),
    }
  })
}

function wrap(d: {
  span: Span
  comments: Comments
  danglingComments?: string[]
}): Omit<Commentable, 'children'> {
  // Keep references to the AST node's arrays so that attaching mutates the AST.
  return {
    span: d.span,
    comments: d.comments,
    ...(d.danglingComments ? { danglingComments: d.danglingComments } : {}),
  }
}

function leaf(d: { span: Span; comments: Comments }): Commentable {
  return { span: d.span, comments: d.comments, children: [] }
}

/**
 * Attaches each comment to the innermost node it belongs to: a trailing comment on the line a
 * node ends, a leading comment before the next node at the same level, or a dangling comment
 * at the end of a block, layer or file.
 */
function attachComments(nodes: Commentable[], comments: IToken[], fileDangling: string[]): void {
  const place = (c: IToken, level: Commentable[], dangling: string[]): void => {
    const line = c.startLine ?? 0
    const text = c.image.replace(/\s+$/, '')
    for (const n of level) {
      if (
        n.span.endLine === line &&
        n.span.end <= c.startOffset &&
        n.children.every((k) => k.span.endLine !== line)
      ) {
        n.comments.trailing = text
        return
      }
      if (n.span.start <= c.startOffset && c.startOffset < n.span.end) {
        place(c, n.children, n.danglingComments ?? n.comments.leading)
        return
      }
      if (c.startOffset < n.span.start) {
        n.comments.leading.push(text)
        return
      }
    }
    dangling.push(text)
  }
  for (const c of comments) place(c, nodes, fileDangling)
}

/** Characters pasted from documents that look like a token of the language, and that token. */
const lookalikes = new Map<string, string>([
  ['\u2212', "'-'"], // minus sign
  ['\u2010', "'-'"], // hyphen
  ['\u2013', "'-'"], // en dash
  ['\u2014', "'-'"], // em dash
  ['\u00d7', "'*'"], // multiplication sign
  ['\u00b7', "'*'"], // middle dot
  ['\u22c5', "'*'"], // dot operator
  ['\u2217', "'*'"], // asterisk operator
  ['\u00f7', "'/'"], // division sign
  ['\u2215', "'/'"], // division slash
  ['\u2190', "'<-'"],
  ['\u2192', "'->'"],
  ['\uff1d', "'='"],
  ['\uff08', "'('"],
  ['\uff09', "')'"],
  ['\uff3b', "'['"],
  ['\uff3d', "']'"],
  ['\uff0c', "','"],
  ['\uff1a', "':'"],
  ['\u00a0', 'a space'],
  ['\u2009', 'a space'],
  ['\u200b', 'nothing (it is a zero-width space)'],
  ['\ufeff', 'nothing (it is a byte-order mark)'],
])

/** The message for characters the lexer cannot read (chevrotain reports a run of them at once). */
function badCharacters(text: string): string {
  const chars = [...text]
  const first = chars[0] ?? ''
  const code = first.codePointAt(0) ?? 0
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`
  const printable = !/[\p{C}\p{Z}]/u.test(text)
  const what =
    chars.length > 1
      ? `characters ${printable ? `'${text}'` : chars.length}`
      : `character ${code > 126 || code < 32 ? (printable ? `'${first}' (${hex})` : hex) : `'${first}'`}`
  const meant = lookalikes.get(first)
  const hint = meant
    ? `: did you mean ${meant}?`
    : /\p{L}/u.test(first)
      ? ': names are ASCII letters, digits and _'
      : code > 126
        ? ': only ASCII is allowed outside comments'
        : ''
  return `unexpected ${what}${hint}`
}

const declKeywords: TokenType[] = [T.Hyper, T.Param, T.State, T.Axis]
const modeKeywords: TokenType[] = [T.Train, T.Eval, T.Forward]

/**
 * `eval = …` in a block, `param state: [C]`, `layer L(as: [N])`: a keyword where a name was
 * meant. No keyword is ever followed by `=`, `<-` or `:`, so a keyword in a name's place that is
 * followed by one is reported here and parsed as the name it stands for (no cascade of errors).
 * Among a layer's declarations, `hyper = 1` is rather a missing name: the parser reports that.
 */
function keywordsAsNames(toks: IToken[], bag: DiagnosticBag): IToken[] {
  const braces: ('block' | 'layer')[] = []
  return toks.map((t, i) => {
    const prev = toks[i - 1]?.tokenType
    if (t.tokenType === T.LBrace)
      braces.push(prev && modeKeywords.includes(prev) ? 'block' : 'layer')
    else if (t.tokenType === T.RBrace) braces.pop()
    const next = toks[i + 1]?.tokenType
    if (
      !T.keywordTokens.includes(t.tokenType) ||
      (next !== T.Equals && next !== T.LeftArrow && next !== T.Colon)
    )
      return t
    const namePlace =
      prev === undefined ||
      declKeywords.includes(prev) ||
      prev === T.LParen ||
      prev === T.Comma ||
      prev === T.Arrow ||
      braces.at(-1) === 'block'
    if (!namePlace) return t
    bag.error(tokenSpan(t), `'${t.image}' is a keyword and cannot be used as a name`)
    return { ...t, tokenType: T.Identifier, tokenTypeIdx: T.Identifier.tokenTypeIdx! }
  })
}

/** Parses `.norm` source. The AST is undefined when the text is not well formed. */
export function parse(src: string, file = '<input>'): ParseResult {
  const bag = new DiagnosticBag(file)
  const over = tooManyTokens(src)
  if (over) {
    // Nesting too deep before that point is the better message (it comes first in the file).
    const nesting = new DiagnosticBag(file)
    const prefix = T.normLexer.tokenize(src.slice(0, over.start)).tokens
    if (!checkNesting(prefix, nesting)) return { ast: undefined, diagnostics: nesting.items }
    bag.error(
      over,
      `the file has more than ${MAX_TOKENS.toLocaleString('en')} tokens, more than normc reads`,
    )
    return { ast: undefined, diagnostics: bag.items }
  }
  const lexed = T.normLexer.tokenize(src)
  for (const e of lexed.errors) {
    const line = e.line ?? 1
    const col = e.column ?? 1
    bag.error(
      {
        start: e.offset,
        end: e.offset + e.length,
        line,
        col,
        endLine: line,
        endCol: col + e.length,
      },
      badCharacters(src.slice(e.offset, e.offset + e.length)),
    )
  }
  const toks = keywordsAsNames(lexed.tokens, bag)
  if (!checkNesting(toks, bag)) return { ast: undefined, diagnostics: bag.items }

  normParser.input = toks
  // Chevrotain caches, per repetition, the token its error recovery resyncs to
  // (firstAfterRepMap); computed first during a recovery, the entry can be wrong, and every later
  // parse in the process then reported errors in valid text (a file with a syntax error before a
  // good one in `normc lint`, the playground after a typo). Start each parse without it.
  ;(normParser as unknown as { firstAfterRepMap: Record<string, unknown> }).firstAfterRepMap = {}
  const cst = normParser.file()
  // A dropped character usually breaks the syntax just after it: those errors say nothing new.
  const afterBadChar = new Set<IToken>()
  let ti = 0
  for (const e of lexed.errors) {
    while (ti < toks.length && toks[ti]!.startOffset < e.offset + e.length) ti++
    for (const t of toks.slice(ti, ti + 2)) afterBadChar.add(t)
  }
  const index = new Map(toks.map((t, i) => [t, i]))
  for (const e of normParser.errors) {
    if (afterBadChar.has(e.token)) continue
    const { span, message } = errorMessage(e, src, toks, index)
    bag.error(span, message)
  }
  if (bag.hasErrors) return { ast: undefined, diagnostics: bag.items }

  const decls = astBuilder.visit(cst) as TopDecl[]
  eachTopExpr(decls, (e) => {
    if (exprDepth(e) > MAX_NESTING)
      bag.error(e.span, `expression nested too deeply (more than ${MAX_NESTING} levels)`)
    else checkNumbers(e, bag)
  })
  if (bag.hasErrors) return { ast: undefined, diagnostics: bag.items }

  const ast: NormFile = { file, decls, danglingComments: [], span: endOfSource(src) }
  ast.span = { ...ast.span, start: 0, line: 1, col: 1 }
  attachComments(commentTree(decls), lexed.groups.comments ?? [], ast.danglingComments)
  return { ast, diagnostics: bag.items }
}
