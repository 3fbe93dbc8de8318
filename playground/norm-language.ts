// `.norm` syntax highlighting for CodeMirror 6: a small stream tokenizer (no Lezer grammar),
// following grammar/tokens.ts: keywords, builtins, numbers, axis names (capitalised), the
// arrows, and `#` comments.

import { StreamLanguage, type StreamParser } from '@codemirror/language'
import { builtins } from '../compiler/builtins.js'

const keywords = new Set([
  'layer',
  'spec',
  'hyper',
  'param',
  'state',
  'axis',
  'train',
  'eval',
  'forward',
  'as',
])

/** The token class of each lexeme (CodeMirror's legacy token names, mapped to highlight tags). */
export const normParser: StreamParser<{ inBrackets: number; afterDecl: boolean }> = {
  name: 'norm',
  startState: () => ({ inBrackets: 0, afterDecl: false }),
  token(stream, state) {
    if (stream.eatSpace()) return null
    if (stream.match(/^#.*/)) return 'comment'
    if (stream.match(/^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/)) return 'number'
    if (stream.match(/^(?:->|<-)/)) return 'operator'
    const word = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/) as RegExpMatchArray | null
    if (word) {
      const w = word[0]
      const afterDecl = state.afterDecl
      state.afterDecl = w === 'layer' || w === 'spec'
      if (keywords.has(w)) return 'keyword'
      // The name a `layer` or `spec` declares.
      if (afterDecl) return 'def'
      if (builtins.has(w) && stream.peek() === '(') return 'builtin'
      // Axis names: inside [ ], or all capitals (N, C, H, W).
      if (state.inBrackets > 0 || /^[A-Z][A-Z0-9_]*$/.test(w)) return 'typeName'
      return 'variableName'
    }
    state.afterDecl = false
    const ch = stream.next()
    if (ch === '[') state.inBrackets++
    else if (ch === ']') state.inBrackets = Math.max(0, state.inBrackets - 1)
    if (ch && '+-*/^='.includes(ch)) return 'operator'
    if (ch && '()[]{},:'.includes(ch)) return 'punctuation'
    return null
  },
  languageData: { commentTokens: { line: '#' } },
}

export const normLanguage = StreamLanguage.define(normParser)
