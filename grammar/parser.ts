// Grammar rules of the `.norm` language, as a chevrotain CST parser. The AST is built from the
// CST by ./visitor.ts; this file only says what is well formed.
//
//   file      := (layer | spec)*
//   layer     := 'layer' Id '(' [tensor (',' tensor)*] ')' '->' output (',' output)* '{' item* '}'
//   tensor    := Id ':' shape            output := Id [':' shape]
//   shape     := '[' [Id (',' Id)*] ']'
//   item      := 'hyper' Id '=' expr | ('param'|'state') Id ':' shape ['=' expr]
//              | 'axis' Id ['=' expr] | ('train'|'eval'|'forward') '{' stmt* '}'
//   spec      := 'spec' Id ('train'|'eval'|'forward') '{' stmt* '}'
//   stmt      := Id ('=' | '<-') expr
//   expr      := additive ('as' shape)*
//   additive  := term (('+'|'-') term)*
//   term      := unary (('*'|'/') unary)*
//   unary     := '-' unary | power
//   power     := atom ['^' unary]          (right-associative; `x^-1` is legal)
//   atom      := Number | Id ['(' [expr (',' expr)*] ')'] | '(' expr ')' | shape

import { CstParser, type CstNode } from 'chevrotain'
import * as T from './tokens.js'

export class NormParser extends CstParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: true, maxLookahead: 3, nodeLocationTracking: 'full' })
    this.performSelfAnalysis()
  }

  file = this.RULE('file', () => {
    this.MANY(() => {
      this.OR([{ ALT: () => this.SUBRULE(this.layer) }, { ALT: () => this.SUBRULE(this.spec) }])
    })
  })

  layer = this.RULE('layer', () => {
    this.CONSUME(T.Layer)
    this.CONSUME(T.Identifier)
    this.CONSUME(T.LParen)
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.tensor) })
    this.CONSUME(T.RParen)
    this.CONSUME(T.Arrow)
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.output) })
    this.CONSUME(T.LBrace)
    this.MANY(() => this.SUBRULE(this.item))
    this.CONSUME(T.RBrace)
  })

  tensor = this.RULE('tensor', () => {
    this.CONSUME(T.Identifier)
    this.CONSUME(T.Colon)
    this.SUBRULE(this.shape)
  })

  output = this.RULE('output', () => {
    this.CONSUME(T.Identifier)
    this.OPTION(() => {
      this.CONSUME(T.Colon)
      this.SUBRULE(this.shape)
    })
  })

  shape = this.RULE('shape', () => {
    this.CONSUME(T.LBracket)
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.CONSUME(T.Identifier) })
    this.CONSUME(T.RBracket)
  })

  item = this.RULE('item', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.hyperDecl) },
      { ALT: () => this.SUBRULE(this.tensorDecl) },
      { ALT: () => this.SUBRULE(this.axisDecl) },
      { ALT: () => this.SUBRULE(this.block) },
    ])
  })

  hyperDecl = this.RULE('hyperDecl', () => {
    this.CONSUME(T.Hyper)
    this.CONSUME(T.Identifier)
    this.CONSUME(T.Equals)
    this.SUBRULE(this.expr)
  })

  tensorDecl = this.RULE('tensorDecl', () => {
    this.OR([{ ALT: () => this.CONSUME(T.Param) }, { ALT: () => this.CONSUME(T.State) }])
    this.CONSUME(T.Identifier)
    this.CONSUME(T.Colon)
    this.SUBRULE(this.shape)
    this.OPTION(() => {
      this.CONSUME(T.Equals)
      this.SUBRULE(this.expr)
    })
  })

  axisDecl = this.RULE('axisDecl', () => {
    this.CONSUME(T.Axis)
    this.CONSUME(T.Identifier)
    this.OPTION(() => {
      this.CONSUME(T.Equals)
      this.SUBRULE(this.expr)
    })
  })

  mode = this.RULE('mode', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Train) },
      { ALT: () => this.CONSUME(T.Eval) },
      { ALT: () => this.CONSUME(T.Forward) },
    ])
  })

  block = this.RULE('block', () => {
    this.SUBRULE(this.mode)
    this.CONSUME(T.LBrace)
    this.MANY(() => this.SUBRULE(this.stmt))
    this.CONSUME(T.RBrace)
  })

  spec = this.RULE('spec', () => {
    this.CONSUME(T.Spec)
    this.CONSUME(T.Identifier)
    this.SUBRULE(this.mode)
    this.CONSUME(T.LBrace)
    this.MANY(() => this.SUBRULE(this.stmt))
    this.CONSUME(T.RBrace)
  })

  stmt = this.RULE('stmt', () => {
    this.CONSUME(T.Identifier)
    this.OR([{ ALT: () => this.CONSUME(T.Equals) }, { ALT: () => this.CONSUME(T.LeftArrow) }])
    this.SUBRULE(this.expr)
  })

  expr = this.RULE('expr', () => {
    this.SUBRULE(this.additive)
    this.MANY(() => {
      this.CONSUME(T.As)
      this.SUBRULE(this.shape)
    })
  })

  additive = this.RULE('additive', () => {
    this.SUBRULE(this.term)
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus) }, { ALT: () => this.CONSUME(T.Minus) }])
      this.SUBRULE2(this.term)
    })
  })

  term = this.RULE('term', () => {
    this.SUBRULE(this.unary)
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Star) }, { ALT: () => this.CONSUME(T.Slash) }])
      this.SUBRULE2(this.unary)
    })
  })

  unary = this.RULE('unary', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus)
          this.SUBRULE(this.unary)
        },
      },
      { ALT: () => this.SUBRULE(this.power) },
    ])
  })

  power = this.RULE('power', () => {
    this.SUBRULE(this.atom)
    this.OPTION(() => {
      this.CONSUME(T.Caret)
      this.SUBRULE(this.unary)
    })
  })

  atom = this.RULE('atom', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.NumberLiteral) },
      { ALT: () => this.SUBRULE(this.callOrName) },
      {
        ALT: () => {
          this.CONSUME(T.LParen)
          this.SUBRULE(this.expr)
          this.CONSUME(T.RParen)
        },
      },
      { ALT: () => this.SUBRULE(this.shape) },
    ])
  })

  callOrName = this.RULE('callOrName', () => {
    this.CONSUME(T.Identifier)
    this.OPTION(() => {
      this.CONSUME(T.LParen)
      this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expr) })
      this.CONSUME(T.RParen)
    })
  })
}

/** One parser instance serves every parse (chevrotain parsers are reusable via `input`). */
export const normParser = new NormParser()

export type { CstNode }
