// Tokens of the `.norm` language. Identifiers are ASCII only, so look-alike Unicode letters are
// a lexing error rather than a second name that prints the same.

import { createToken, Lexer, type TokenType } from 'chevrotain'

export const WhiteSpace = createToken({
  name: 'WhiteSpace',
  pattern: /[ \t\r\n]+/,
  group: Lexer.SKIPPED,
})
export const Comment = createToken({ name: 'Comment', pattern: /#[^\n\r]*/, group: 'comments' })

export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/ })

function keyword(name: string): TokenType {
  return createToken({
    name: name[0]!.toUpperCase() + name.slice(1),
    pattern: new RegExp(name),
    longer_alt: Identifier,
  })
}

export const Layer = keyword('layer')
export const Spec = keyword('spec')
export const Hyper = keyword('hyper')
export const Param = keyword('param')
export const State = keyword('state')
export const Axis = keyword('axis')
export const Train = keyword('train')
export const Eval = keyword('eval')
export const Forward = keyword('forward')
export const As = keyword('as')

export const NumberLiteral = createToken({
  name: 'NumberLiteral',
  pattern: /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/,
})

export const Arrow = createToken({ name: 'Arrow', pattern: /->/ })
export const LeftArrow = createToken({ name: 'LeftArrow', pattern: /<-/ })
export const Plus = createToken({ name: 'Plus', pattern: /\+/ })
export const Minus = createToken({ name: 'Minus', pattern: /-/ })
export const Star = createToken({ name: 'Star', pattern: /\*/ })
export const Slash = createToken({ name: 'Slash', pattern: /\// })
export const Caret = createToken({ name: 'Caret', pattern: /\^/ })
export const Equals = createToken({ name: 'Equals', pattern: /=/ })
export const Colon = createToken({ name: 'Colon', pattern: /:/ })
export const Comma = createToken({ name: 'Comma', pattern: /,/ })
export const LParen = createToken({ name: 'LParen', pattern: /\(/ })
export const RParen = createToken({ name: 'RParen', pattern: /\)/ })
export const LBracket = createToken({ name: 'LBracket', pattern: /\[/ })
export const RBracket = createToken({ name: 'RBracket', pattern: /]/ })
export const LBrace = createToken({ name: 'LBrace', pattern: /\{/ })
export const RBrace = createToken({ name: 'RBrace', pattern: /}/ })

export const keywordTokens = [Layer, Spec, Hyper, Param, State, Axis, Train, Eval, Forward, As]

// Order matters: `->` before `-`, `<-` before anything starting with `<`, keywords before Identifier.
export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  ...keywordTokens,
  Identifier,
  NumberLiteral,
  Arrow,
  LeftArrow,
  Plus,
  Minus,
  Star,
  Slash,
  Caret,
  Equals,
  Colon,
  Comma,
  LParen,
  RParen,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
]

export const keywords = new Set(keywordTokens.map((t) => (t.PATTERN as RegExp).source))

export const normLexer = new Lexer(allTokens, {
  positionTracking: 'full',
  ensureOptimizations: false,
})
