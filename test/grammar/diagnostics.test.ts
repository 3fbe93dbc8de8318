import { describe, expect, it } from 'vitest'
import { frontend, renderDiagnostics } from '../../compiler/frontend.js'
import { badPrograms } from './cases.js'

function diagnose(src: string | Record<string, string>): string[] {
  const files = typeof src === 'string' ? { 't.norm': src } : src
  const r = frontend(Object.entries(files).map(([file, text]) => ({ file, text })))
  const prefix = typeof src === 'string' ? () => '' : (f: string) => `${f}:`
  return r.diagnostics.map(
    (d) => `${prefix(d.file)}${d.span.line}:${d.span.col}: ${d.severity}: ${d.message}`,
  )
}

describe('malformed and ill-typed programs', () => {
  it('covers at least 45 programs', () => {
    expect(badPrograms.length).toBeGreaterThanOrEqual(45)
    expect(new Set(badPrograms.map((c) => c.name)).size).toBe(badPrograms.length)
  })

  for (const c of badPrograms) {
    it(c.name, () => {
      const t0 = performance.now()
      const got = diagnose(c.src)
      expect(performance.now() - t0).toBeLessThan(2000)
      expect(got).toEqual(c.expected)
      expect(got.some((d) => d.includes(': error: '))).toBe(true)
    })
  }
})

describe('parse errors recover', () => {
  it('reports an error in each of several layers and specs', () => {
    const src = `layer A(x: [N]) -> y {
  forward {
    y = x +
  }
}

layer B(x: [N]) -> y {
  forward {
    y = (x
  }
}

layer C(x: [N]) -> y {
  hyper = 3
  forward {
    y = x
  }
}

spec A forward {
  dx = dy +* 2
}
`
    expect(diagnose(src)).toEqual([
      "4:3: error: unexpected '}': expected an expression",
      "10:3: error: expected ')' but found '}' (the '(' at 9:9 is not closed)",
      "14:9: error: expected a name but found '='",
      "21:12: error: unexpected '*': expected an expression",
    ])
  })

  it('reports lexing, parsing and number errors of one file together', () => {
    const src = `layer A(x: [N]) -> y {
  hyper h = 1e400
  forward {
    y = x \u00d7 2
    z = 
  }
}
`
    expect(diagnose(src)).toEqual([
      "4:11: error: unexpected character '\u00d7' (U+00D7): did you mean '*'?",
      "6:3: error: unexpected '}': expected an expression",
    ])
  })

  it('checks every file of a multi-file lint, even when one does not parse', () => {
    expect(
      diagnose({
        'a.norm': 'layer A(x: [N]) -> y { forward { y = ) } }',
        'b.norm': 'layer B(x: [N]) -> y { forward { y = q } }',
      }),
    ).toEqual([
      "a.norm:1:38: error: unexpected ')': expected an expression",
      "b.norm:1:38: error: unknown name 'q'",
    ])
  })
})

describe('rendering', () => {
  it('prints FILE:LINE:COL, the source line and a caret under the span', () => {
    const text = `layer L(x: [N, C]) -> y {\n  forward {\n    y = sum(x, [N]) + undefined_name\n  }\n}\n`
    const r = frontend([{ file: 'examples/t.norm', text }])
    expect(renderDiagnostics(r)).toBe(
      [
        "examples/t.norm:3:23: error: unknown name 'undefined_name'",
        '   3 |     y = sum(x, [N]) + undefined_name',
        '     |                       ^~~~~~~~~~~~~~',
      ].join('\n'),
    )
  })

  it('puts the caret of an end-of-file error after the last character', () => {
    const text = 'layer L(x: [N]) -> y {\n  forward {\n    y = x'
    const r = frontend([{ file: 't.norm', text }])
    expect(renderDiagnostics(r)).toBe(
      [
        "t.norm:3:10: error: unexpected end of file: expected '}' (the '{' at 2:11 is not closed)",
        '   3 |     y = x',
        '     |          ^',
      ].join('\n'),
    )
  })
})
