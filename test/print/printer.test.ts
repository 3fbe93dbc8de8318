import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  emptySpan,
  parse,
  type AxisRef,
  type BinaryOp,
  type Expr,
  type LayerDecl,
  type NormFile,
  type Stmt,
} from '../../grammar/index.js'
import {
  formatFile,
  formatNumber,
  printExpr,
  printFile,
  printLayer,
  printStmt,
} from '../../compiler/print/index.js'
import { exampleFiles, stripSpans } from '../utils/ast.js'

function parseOk(src: string): NormFile {
  const r = parse(src, 't.norm')
  expect(r.diagnostics).toEqual([])
  return r.ast!
}

/** The value of the single statement of `forward { y = … }`. */
function exprOf(src: string): Expr {
  const ast = parseOk(`layer L(x: [N]) -> y {\n  forward {\n    y = ${src}\n  }\n}\n`)
  const layer = ast.decls[0] as LayerDecl
  const block = layer.items[0]!
  if (block.kind !== 'block') throw new Error('no block')
  return block.stmts[0]!.value
}

/** Prints, parses again, and checks the AST is unchanged and printing is idempotent. */
function roundTrip(src: string, printWidth?: number): string {
  const ast = parseOk(src)
  const out = printFile(ast, printWidth ? { printWidth } : {})
  const again = parseOk(out)
  expect(stripSpans(again)).toEqual(stripSpans(ast))
  expect(printFile(again, printWidth ? { printWidth } : {})).toBe(out)
  return out
}

describe('examples', () => {
  for (const { file, text } of exampleFiles()) {
    it(`${file} is canonical and round-trips`, () => {
      const out = roundTrip(text)
      expect(out).toBe(text)
    })
    it(`${file} round-trips at narrow widths`, () => {
      for (const w of [20, 40, 60, 80]) roundTrip(text, w)
    })
  }
})

describe('parentheses follow precedence', () => {
  const cases: [string, string][] = [
    ['-x^2', '-x ^ 2'],
    ['-(x^2)', '-x ^ 2'],
    ['(-x)^2', '(-x) ^ 2'],
    ['x^-1', 'x ^ -1'],
    ['x^(-1)', 'x ^ -1'],
    ['x^--1', 'x ^ -(-1)'],
    ['a^b^c', 'a ^ b ^ c'],
    ['a^(b^c)', 'a ^ b ^ c'],
    ['(a^b)^c', '(a ^ b) ^ c'],
    ['x^(2*y)', 'x ^ (2 * y)'],
    ['2^(x+1)', '2 ^ (x + 1)'],
    ['(a+b)^2', '(a + b) ^ 2'],
    ['f(x)^2', 'f(x) ^ 2'],
    ['a - (b - c)', 'a - (b - c)'],
    ['(a - b) - c', 'a - b - c'],
    ['a + (b + c)', 'a + (b + c)'],
    ['(a + b) + c', 'a + b + c'],
    ['a - (b + c)', 'a - (b + c)'],
    ['a / (b * c)', 'a / (b * c)'],
    ['(a / b) * c', 'a / b * c'],
    ['a / (b / c)', 'a / (b / c)'],
    ['a * (b + c)', 'a * (b + c)'],
    ['(a * b) + c', 'a * b + c'],
    ['a + b * c', 'a + b * c'],
    ['((a))', 'a'],
    ['-(a * b)', '-(a * b)'],
    ['(-a) * b', '-a * b'],
    ['a * -b', 'a * -b'],
    ['a * (-b)', 'a * -b'],
    ['a - -b', 'a - -b'],
    ['- -a', '-(-a)'],
    ['-(-a)', '-(-a)'],
    ['-(a + b)', '-(a + b)'],
    ['-(2)', '-2'],
    ['(-2)^2', '(-2) ^ 2'],
    ['x as [N]', 'x as [N]'],
    ['(x + 1) as [N]', 'x + 1 as [N]'],
    ['x + 1 as [N]', 'x + 1 as [N]'],
    ['(x as [N]) + 1', '(x as [N]) + 1'],
    ['2 * (x as [N])', '2 * (x as [N])'],
    ['-(x as [N])', '-(x as [N])'],
    ['(x as [N]) ^ 2', '(x as [N]) ^ 2'],
    ['(x as [A]) as [B]', 'x as [A] as [B]'],
    ['f((x as [A]), y)', 'f(x as [A], y)'],
    ['max(a,b)', 'max(a, b)'],
    ['count([N,H , W])', 'count([N, H, W])'],
    ['count([])', 'count([])'],
    ['f()', 'f()'],
    ['mean((x - mu)^2, [N])', 'mean((x - mu) ^ 2, [N])'],
    ['gamma * (((xg - mu) / s) as [N, C]) + beta', 'gamma * ((xg - mu) / s as [N, C]) + beta'],
  ]
  for (const [src, want] of cases) {
    it(`${src}  →  ${want}`, () => {
      const e = exprOf(src)
      expect(printExpr(e)).toBe(want)
      expect(stripSpans(exprOf(want))).toEqual(stripSpans(e))
    })
  }
})

describe('numbers', () => {
  const num = (value: number, text = ''): Expr => ({ kind: 'num', value, text, span: emptySpan })
  const name = (n: string): Expr => ({ kind: 'name', name: n, span: emptySpan })
  const bin = (op: BinaryOp, left: Expr, right: Expr): Expr => ({
    kind: 'binary',
    op,
    left,
    right,
    span: emptySpan,
  })

  it('keeps the source text of a literal', () => {
    for (const t of ['1e-5', '1E5', '1.', '.5', '007', '0.10', '3', '1e+3'])
      expect(printExpr(exprOf(t))).toBe(t)
  })

  it('prints the shortest round-trip form when there is no usable text', () => {
    expect(formatNumber(0.1)).toBe('0.1')
    expect(formatNumber(1e-7)).toBe('1e-7')
    expect(formatNumber(1e21)).toBe('1e+21')
    expect(formatNumber(2, '3')).toBe('2') // text that no longer matches the value
    expect(formatNumber(2, 'two')).toBe('2')
    expect(printExpr(num(1 / 3))).toBe(String(1 / 3))
  })

  it('prints negative, infinite and NaN values as expressions', () => {
    expect(printExpr(num(-2))).toBe('-2')
    expect(printExpr(num(-1, '-1'))).toBe('-1')
    expect(printExpr(num(-0))).toBe('-0')
    expect(printExpr(bin('*', name('x'), num(-2)))).toBe('x * -2')
    expect(printExpr(bin('^', num(-2), num(2)))).toBe('(-2) ^ 2')
    expect(printExpr(bin('^', name('x'), num(-1)))).toBe('x ^ -1')
    expect(printExpr(bin('-', name('x'), num(-1)))).toBe('x - -1')
    expect(printExpr(num(Infinity))).toBe('1 / 0')
    expect(printExpr(num(-Infinity))).toBe('-(1 / 0)')
    expect(printExpr(num(NaN))).toBe('0 / 0')
    expect(printExpr(bin('*', name('x'), num(Infinity)))).toBe('x * (1 / 0)')
  })

  it('prints every finite double so that it reads back exactly', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (v) => {
        const e = exprOf(printExpr(num(v)))
        const back =
          e.kind === 'num'
            ? e.value
            : e.kind === 'neg' && e.operand.kind === 'num'
              ? -e.operand.value
              : e
        expect(back).toBe(Object.is(v, -0) ? -0 : v)
      }),
      { numRuns: 300 },
    )
  })
})

describe('layout and comments', () => {
  it('prints the canonical layout of a messy file', () => {
    const src = `# file header
layer   L ( x : [N,C] , w:[C] )->y:[N,C],z{hyper eps=1e-5 param g:[C]=1
state s:[C]=0 axis H
  train{y=x*g+w
  z = sum(x,[N])
  s<-mean(x,[N])} eval{y=x z=sum(x,[N]) }}
spec L train { dg = sum(dy_y*x,[N]) }`
    expect(roundTrip(src)).toBe(`# file header
layer L(x: [N, C], w: [C]) -> y: [N, C], z {
  hyper eps = 1e-5
  param g: [C] = 1
  state s: [C] = 0
  axis H

  train {
    y = x * g + w
    z = sum(x, [N])
    s <- mean(x, [N])
  }
  eval {
    y = x
    z = sum(x, [N])
  }
}

spec L train {
  dg = sum(dy_y * x, [N])
}
`)
  })

  it('keeps leading, trailing and dangling comments', () => {
    const src = `# header 1
# header 2
layer L(x: [N]) -> y { # after the brace
  hyper a = 1   # trailing hyper
  # before the block
  forward {
    # before y
    y = x * a # trailing y
    # dangling in block
  } # after block
  # dangling in layer
} # after layer
# before spec
spec L forward {
  dx = dy # grad
}
# end of file 1

# end of file 2
`
    expect(roundTrip(src)).toBe(`# header 1
# header 2
layer L(x: [N]) -> y {
  # after the brace
  hyper a = 1 # trailing hyper

  # before the block
  forward {
    # before y
    y = x * a # trailing y
    # dangling in block
  } # after block
  # dangling in layer
} # after layer

# before spec
spec L forward {
  dx = dy # grad
}

# end of file 1
# end of file 2
`)
  })

  it('moves a comment inside a multi-line statement before it', () => {
    const out = roundTrip(
      `layer L(x: [N]) -> y {\n  forward {\n    y = x +\n      # why\n      1\n  }\n}\n`,
    )
    expect(out).toBe(`layer L(x: [N]) -> y {\n  forward {\n    # why\n    y = x + 1\n  }\n}\n`)
  })

  it('prints empty bodies and files', () => {
    expect(roundTrip('layer L() -> y {}')).toBe('layer L() -> y {}\n')
    expect(roundTrip('layer L(x: []) -> y { forward {} }')).toBe(
      'layer L(x: []) -> y {\n  forward {}\n}\n',
    )
    expect(roundTrip('spec L eval {}')).toBe('spec L eval {}\n')
    expect(roundTrip('')).toBe('')
    expect(roundTrip('  # only a comment  ')).toBe('# only a comment\n')
  })

  it('puts no blank line before the first block of a layer without declarations', () => {
    expect(roundTrip('layer L(x: [N]) -> y { train { y = x } eval { y = x } }')).toBe(
      'layer L(x: [N]) -> y {\n  train {\n    y = x\n  }\n  eval {\n    y = x\n  }\n}\n',
    )
  })

  it('breaks long calls one argument per line', () => {
    const arg = (i: number) => `a_rather_long_name_${i}`
    const src = `layer L(x: [N]) -> y {\n  forward {\n    y = lerp(${arg(1)} + ${arg(2)}, ${arg(3)}, ${arg(4)})\n  }\n}\n`
    expect(roundTrip(src)).toBe(`layer L(x: [N]) -> y {
  forward {
    y = lerp(
      a_rather_long_name_1 + a_rather_long_name_2,
      a_rather_long_name_3,
      a_rather_long_name_4
    )
  }
}
`)
  })

  it('breaks long operator chains before the operators', () => {
    const terms = Array.from({ length: 8 }, (_, i) => `term_number_${i}`)
    const src = `layer L(x: [N]) -> y {\n  forward {\n    y = ${terms.join(' + ')}\n  }\n}\n`
    const out = roundTrip(src)
    expect(out).toContain('    y = term_number_0\n      + term_number_1\n      + term_number_2\n')
    for (const l of out.split('\n')) expect(l.length).toBeLessThanOrEqual(100)
  })

  it('breaks a long layer header one input per line', () => {
    const inputs = Array.from({ length: 6 }, (_, i) => `input_${i}: [N, C, H, W]`).join(', ')
    const out = roundTrip(`layer L(${inputs}) -> y { forward { y = input_0 } }`)
    expect(out.split('\n').slice(0, 9)).toEqual([
      'layer L(',
      '  input_0: [N, C, H, W],',
      '  input_1: [N, C, H, W],',
      '  input_2: [N, C, H, W],',
      '  input_3: [N, C, H, W],',
      '  input_4: [N, C, H, W],',
      '  input_5: [N, C, H, W]',
      ') -> y {',
      '  forward {',
    ])
  })

  it('keeps lines within the width where a break is possible', () => {
    const out = roundTrip(
      exampleFiles()
        .map((f) => f.text)
        .join('\n'),
      50,
    )
    for (const l of out.split('\n'))
      if (!l.trimStart().startsWith('#')) expect(l.length, l).toBeLessThanOrEqual(50)
  })
})

describe('printing ASTs built by the compiler (dummy spans)', () => {
  const s = emptySpan
  const name = (n: string): Expr => ({ kind: 'name', name: n, span: s })
  const axes = (...ns: string[]): AxisRef[] => ns.map((n) => ({ name: n, span: s }))
  const stmt = (n: string, value: Expr, kind: Stmt['kind'] = 'bind'): Stmt => ({
    kind,
    name: n,
    nameSpan: s,
    value,
    span: s,
    comments: { leading: [] },
  })

  it('prints statements and layers from AST fields only', () => {
    const dx: Stmt = {
      ...stmt('dx', {
        kind: 'binary',
        op: '*',
        left: name('dy'),
        right: {
          kind: 'call',
          callee: 'sum',
          calleeSpan: s,
          args: [name('x'), { kind: 'axes', axes: axes('N'), span: s }],
          span: s,
        },
        span: s,
      }),
      comments: { leading: ['# derived'], trailing: '# d/dx' },
    }
    expect(printStmt(dx)).toBe('# derived\ndx = dy * sum(x, [N]) # d/dx')
    expect(printStmt(dx, { indent: 4 })).toBe('    # derived\n    dx = dy * sum(x, [N]) # d/dx')

    const layer: LayerDecl = {
      kind: 'layer',
      name: 'Backward',
      nameSpan: s,
      inputs: [
        { name: 'x', nameSpan: s, shape: axes('N', 'C'), span: s },
        { name: 'dy', nameSpan: s, shape: axes('N', 'C'), span: s },
      ],
      outputs: [{ name: 'dx', nameSpan: s, span: s }],
      items: [
        {
          kind: 'block',
          mode: 'forward',
          modeSpan: s,
          stmts: [dx, stmt('unused', name('x'))],
          danglingComments: [],
          span: s,
          comments: { leading: [] },
        },
      ],
      danglingComments: [],
      span: s,
      comments: { leading: [] },
    }
    const text = printLayer(layer)
    expect(text).toBe(`layer Backward(x: [N, C], dy: [N, C]) -> dx {
  forward {
    # derived
    dx = dy * sum(x, [N]) # d/dx
    unused = x
  }
}`)
    const back = parseOk(text)
    expect(stripSpans(back.decls[0])).toEqual(stripSpans(layer))
  })

  it('formatFile refuses nothing that parses and reports parse errors', () => {
    expect(formatFile('layer L(x: [N]) -> y { forward { y = x } }').formatted).toBe(
      'layer L(x: [N]) -> y {\n  forward {\n    y = x\n  }\n}\n',
    )
    const bad = formatFile('layer L(x: [N]) -> y { forward { y = } }', 'bad.norm')
    expect(bad.formatted).toBeUndefined()
    expect(bad.diagnostics.map((d) => d.message)).toEqual([
      "unexpected '}': expected an expression",
    ])
  })
})

describe('random programs round-trip (fast-check)', () => {
  const names = ['x', 'mu', 'gamma', 'a_1', 'eps']
  const axisNames = ['N', 'C', 'H']
  const s = emptySpan
  const axisList = fc
    .subarray(axisNames)
    .map((ns): AxisRef[] => ns.map((n) => ({ name: n, span: s })))

  const { expr } = fc.letrec<{ expr: Expr }>((tie) => ({
    expr: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc
        .oneof(fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0, max: 1e6, noNaN: true }))
        .map((v): Expr => ({ kind: 'num', value: v, text: String(v), span: s })),
      fc.constantFrom(...names).map((n): Expr => ({ kind: 'name', name: n, span: s })),
      axisList.map((axes): Expr => ({ kind: 'axes', axes, span: s })),
      tie('expr').map((operand): Expr => ({ kind: 'neg', operand: operand as Expr, span: s })),
      fc
        .tuple(fc.constantFrom<BinaryOp>('+', '-', '*', '/', '^'), tie('expr'), tie('expr'))
        .map(([op, left, right]): Expr => ({
          kind: 'binary',
          op,
          left: left as Expr,
          right: right as Expr,
          span: s,
        })),
      fc
        .tuple(fc.constantFrom('sum', 'f', 'lerp'), fc.array(tie('expr'), { maxLength: 3 }))
        .map(([callee, args]): Expr => ({
          kind: 'call',
          callee,
          calleeSpan: s,
          args: args as Expr[],
          span: s,
        })),
      fc.tuple(tie('expr'), axisList).map(([operand, axes]): Expr => ({
        kind: 'as',
        operand: operand as Expr,
        axes,
        axesSpan: s,
        span: s,
      })),
    ),
  }))

  it('parse(printExpr(e)) is e, at any width', () => {
    fc.assert(
      fc.property(expr, fc.integer({ min: 10, max: 120 }), (e, width) => {
        const text = printExpr(e, { printWidth: width, indent: 4 })
        expect(stripSpans(exprOf(text))).toEqual(stripSpans(e))
      }),
      { numRuns: 300 },
    )
  })
})
