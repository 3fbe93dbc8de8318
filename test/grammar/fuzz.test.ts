// Property tests: whatever the input, the front end returns diagnostics (it never throws and
// never hangs), every diagnostic is located inside the file, and whatever parses also formats
// and parses back to the same program.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { frontend } from '../../compiler/frontend.js'
import { formatFile } from '../../compiler/print/index.js'
import { normLexer } from '../../grammar/tokens.js'
import { exampleFiles } from '../utils/ast.js'

const examples = exampleFiles()
const PER_CASE_MS = 2000

/** Runs the front end on `text` and checks the invariants; returns whether it parsed. */
function survives(text: string): void {
  const t0 = performance.now()
  const r = frontend([{ file: 'f.norm', text }])
  // Lines as the lexer counts them: a lone CR ends a line too (spec/reliability.md bug 19).
  const lines = text.split(/\r\n|\r|\n/)
  for (const d of r.diagnostics) {
    expect(d.file).toBe('f.norm')
    expect(d.span.line).toBeGreaterThanOrEqual(1)
    expect(d.span.line).toBeLessThanOrEqual(lines.length)
    expect(d.span.col).toBeGreaterThanOrEqual(1)
    expect(d.span.col).toBeLessThanOrEqual(lines[d.span.line - 1]!.length + 1)
    expect(d.message).not.toMatch(/internal|undefined|NaN|\[object/)
  }
  // Whatever parses formats to text that parses back to the same AST (formatFile checks that
  // and throws otherwise), and formatting is idempotent.
  const f = formatFile(text, 'f.norm')
  if (f.formatted !== undefined)
    expect(formatFile(f.formatted, 'f.norm').formatted).toBe(f.formatted)
  expect(performance.now() - t0).toBeLessThan(PER_CASE_MS)
}

const vocabulary = [
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
  'x',
  'y',
  'mu',
  'gamma',
  'N',
  'C',
  'G',
  'K',
  'sum',
  'mean',
  'max',
  'count',
  'lerp',
  'sqrt',
  'stop_gradient',
  'dy',
  'dx',
  '0',
  '1',
  '1e-5',
  '.5',
  '2.',
  '1e999',
  '->',
  '<-',
  '+',
  '-',
  '*',
  '/',
  '^',
  '=',
  ':',
  ',',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  '# comment\n',
  '\n',
  '\u2212',
  '\u00a0',
  '@',
  'С',
]

const tokenSeq = fc.array(fc.constantFrom(...vocabulary), { maxLength: 80 })
const separator = fc.constantFrom(' ', '', '\n')

describe('random token sequences', () => {
  it('only ever produce diagnostics', () => {
    fc.assert(
      fc.property(tokenSeq, separator, (toks, sep) => survives(toks.join(sep))),
      { numRuns: 300 },
    )
  })

  it('that look like a layer only ever produce diagnostics', () => {
    const body = fc.array(fc.constantFrom(...vocabulary), { maxLength: 40 })
    fc.assert(
      fc.property(body, body, (head, stmts) =>
        survives(
          `layer L(x: [N, C]) -> y {\n  ${head.join(' ')}\n  forward {\n    ${stmts.join(' ')}\n  }\n}\n`,
        ),
      ),
      { numRuns: 300 },
    )
  })
})

type Mutation =
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'duplicate'; at: number; len: number }
  | { kind: 'swap'; a: number; b: number; len: number }

function applyChars(text: string, m: Mutation): string {
  const pos = (p: number) => Math.floor(p * (text.length + 1))
  switch (m.kind) {
    case 'delete': {
      const at = pos(m.at)
      return text.slice(0, at) + text.slice(at + m.len)
    }
    case 'insert': {
      const at = pos(m.at)
      return text.slice(0, at) + m.text + text.slice(at)
    }
    case 'duplicate': {
      const at = pos(m.at)
      return text.slice(0, at + m.len) + text.slice(at, at + m.len) + text.slice(at + m.len)
    }
    case 'swap': {
      const [a, b] = [pos(m.a), pos(m.b)].sort((x, y) => x - y) as [number, number]
      if (a + m.len > b) return text
      const sa = text.slice(a, a + m.len)
      const sb = text.slice(b, b + m.len)
      return text.slice(0, a) + sb + text.slice(a + m.len, b) + sa + text.slice(b + m.len)
    }
  }
}

/** The same mutations on the token images of the text, joined by single spaces. */
function applyTokens(text: string, m: Mutation): string {
  const toks = normLexer.tokenize(text).tokens.map((t) => t.image)
  const pos = (p: number) => Math.floor(p * (toks.length + 1))
  switch (m.kind) {
    case 'delete':
      toks.splice(pos(m.at), m.len)
      break
    case 'insert':
      toks.splice(pos(m.at), 0, m.text)
      break
    case 'duplicate': {
      const at = pos(m.at)
      toks.splice(at, 0, ...toks.slice(at, at + m.len))
      break
    }
    case 'swap': {
      const a = Math.min(pos(m.a), toks.length - 1)
      const b = Math.min(pos(m.b), toks.length - 1)
      ;[toks[a], toks[b]] = [toks[b]!, toks[a]!]
      break
    }
  }
  return toks.join(' ')
}

const unit = fc.double({ min: 0, max: 1, noNaN: true })
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('delete' as const),
    at: unit,
    len: fc.integer({ min: 1, max: 12 }),
  }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: unit,
    text: fc.oneof(fc.constantFrom(...vocabulary), fc.string({ maxLength: 4, unit: 'binary' })),
  }),
  fc.record({
    kind: fc.constant('duplicate' as const),
    at: unit,
    len: fc.integer({ min: 1, max: 40 }),
  }),
  fc.record({
    kind: fc.constant('swap' as const),
    a: unit,
    b: unit,
    len: fc.integer({ min: 1, max: 8 }),
  }),
)
const example = fc.constantFrom(...examples.map((e) => e.text))

describe('random mutations of the examples', () => {
  it('of characters only ever produce diagnostics', () => {
    fc.assert(
      fc.property(example, fc.array(mutation, { minLength: 1, maxLength: 5 }), (text, ms) =>
        survives(ms.reduce(applyChars, text)),
      ),
      { numRuns: 300 },
    )
  })

  it('of tokens only ever produce diagnostics', () => {
    fc.assert(
      fc.property(example, fc.array(mutation, { minLength: 1, maxLength: 5 }), (text, ms) =>
        survives(ms.reduce(applyTokens, text)),
      ),
      { numRuns: 300 },
    )
  })
})
