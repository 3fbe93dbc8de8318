// CST → AST. The parser says what is well formed; this visitor turns chevrotain's concrete
// syntax tree into the typed AST of ./ast.ts, with a span on every node.

import type { CstNode, IToken } from 'chevrotain'
import type {
  AxisRef,
  BinaryOp,
  Expr,
  LayerDecl,
  LayerItem,
  Mode,
  OutputDecl,
  Span,
  SpecDecl,
  Stmt,
  TensorDecl,
  TopDecl,
} from './ast.js'
import { joinSpans } from './ast.js'
import { normParser } from './parser.js'

type Children = Record<string, (CstNode | IToken)[] | undefined>

export function tokenSpan(t: IToken): Span {
  return {
    start: t.startOffset,
    end: (t.endOffset ?? t.startOffset) + 1,
    line: t.startLine ?? 1,
    col: t.startColumn ?? 1,
    endLine: t.endLine ?? t.startLine ?? 1,
    endCol: (t.endColumn ?? t.startColumn ?? 1) + 1,
  }
}

function nodeSpan(n: CstNode): Span {
  const l = n.location
  if (!l || Number.isNaN(l.startOffset))
    return { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 }
  return {
    start: l.startOffset,
    end: (l.endOffset ?? l.startOffset) + 1,
    line: l.startLine ?? 1,
    col: l.startColumn ?? 1,
    endLine: l.endLine ?? l.startLine ?? 1,
    endCol: (l.endColumn ?? l.startColumn ?? 1) + 1,
  }
}

const noComments = () => ({ leading: [] as string[] })

function tok(c: Children, name: string, i = 0): IToken {
  const t = c[name]?.[i] as IToken | undefined
  if (!t) throw new Error(`internal: missing token ${name}`)
  return t
}

function node(c: Children, name: string, i = 0): CstNode {
  const n = c[name]?.[i] as CstNode | undefined
  if (!n) throw new Error(`internal: missing node ${name}`)
  return n
}

function nodes(c: Children, name: string): CstNode[] {
  return (c[name] ?? []) as CstNode[]
}

function tokens(c: Children, name: string): IToken[] {
  return (c[name] ?? []) as IToken[]
}

const BaseVisitor = normParser.getBaseCstVisitorConstructor()

class AstBuilder extends BaseVisitor {
  constructor() {
    super()
    this.validateVisitor()
  }

  file(c: Children): TopDecl[] {
    const decls: TopDecl[] = []
    for (const n of nodes(c, 'layer')) decls.push(this.visit(n))
    for (const n of nodes(c, 'spec')) decls.push(this.visit(n))
    return decls.sort((a, b) => a.span.start - b.span.start)
  }

  layer(c: Children, span: Span): LayerDecl {
    const name = tok(c, 'Identifier')
    const items: LayerItem[] = nodes(c, 'item').map((n) => this.visit(n))
    return {
      kind: 'layer',
      name: name.image,
      nameSpan: tokenSpan(name),
      inputs: nodes(c, 'tensor').map((n) => this.visit(n)),
      outputs: nodes(c, 'output').map((n) => this.visit(n)),
      items,
      danglingComments: [],
      span,
      comments: noComments(),
    }
  }

  tensor(c: Children, span: Span): TensorDecl {
    const name = tok(c, 'Identifier')
    return {
      name: name.image,
      nameSpan: tokenSpan(name),
      shape: this.visit(node(c, 'shape')),
      span,
    }
  }

  output(c: Children, span: Span): OutputDecl {
    const name = tok(c, 'Identifier')
    const out: OutputDecl = { name: name.image, nameSpan: tokenSpan(name), span }
    if (c.shape) out.shape = this.visit(node(c, 'shape'))
    return out
  }

  shape(c: Children): AxisRef[] {
    return tokens(c, 'Identifier').map((t) => ({ name: t.image, span: tokenSpan(t) }))
  }

  item(c: Children): LayerItem {
    const child = (c.hyperDecl ?? c.tensorDecl ?? c.axisDecl ?? c.block)?.[0] as CstNode
    return this.visit(child)
  }

  hyperDecl(c: Children, span: Span): LayerItem {
    const name = tok(c, 'Identifier')
    return {
      kind: 'hyper',
      name: name.image,
      nameSpan: tokenSpan(name),
      value: this.visit(node(c, 'expr')),
      span,
      comments: noComments(),
    }
  }

  tensorDecl(c: Children, span: Span): LayerItem {
    const name = tok(c, 'Identifier')
    const item: LayerItem = {
      kind: c.Param ? 'param' : 'state',
      name: name.image,
      nameSpan: tokenSpan(name),
      shape: this.visit(node(c, 'shape')),
      span,
      comments: noComments(),
    }
    if (c.expr) item.init = this.visit(node(c, 'expr'))
    return item
  }

  axisDecl(c: Children, span: Span): LayerItem {
    const name = tok(c, 'Identifier')
    const item: LayerItem = {
      kind: 'axis',
      name: name.image,
      nameSpan: tokenSpan(name),
      span,
      comments: noComments(),
    }
    if (c.expr) item.def = this.visit(node(c, 'expr'))
    return item
  }

  mode(c: Children): { mode: Mode; span: Span } {
    const t = (c.Train ?? c.Eval ?? c.Forward)![0] as IToken
    return { mode: t.image as Mode, span: tokenSpan(t) }
  }

  block(c: Children, span: Span): LayerItem {
    const m = this.visit(node(c, 'mode')) as { mode: Mode; span: Span }
    return {
      kind: 'block',
      mode: m.mode,
      modeSpan: m.span,
      stmts: nodes(c, 'stmt').map((n) => this.visit(n)),
      danglingComments: [],
      span,
      comments: noComments(),
    }
  }

  spec(c: Children, span: Span): SpecDecl {
    const name = tok(c, 'Identifier')
    const m = this.visit(node(c, 'mode')) as { mode: Mode; span: Span }
    return {
      kind: 'spec',
      layer: name.image,
      layerSpan: tokenSpan(name),
      mode: m.mode,
      modeSpan: m.span,
      stmts: nodes(c, 'stmt').map((n) => this.visit(n)),
      danglingComments: [],
      span,
      comments: noComments(),
    }
  }

  stmt(c: Children, span: Span): Stmt {
    const name = tok(c, 'Identifier')
    return {
      kind: c.LeftArrow ? 'update' : 'bind',
      name: name.image,
      nameSpan: tokenSpan(name),
      value: this.visit(node(c, 'expr')),
      span,
      comments: noComments(),
    }
  }

  expr(c: Children): Expr {
    let e: Expr = this.visit(node(c, 'additive'))
    for (const s of nodes(c, 'shape')) {
      const axesSpan = nodeSpan(s)
      e = {
        kind: 'as',
        operand: e,
        axes: this.visit(s),
        axesSpan,
        span: joinSpans(e.span, axesSpan),
      }
    }
    return e
  }

  additive(c: Children): Expr {
    return this.leftAssoc(nodes(c, 'term'), [...tokens(c, 'Plus'), ...tokens(c, 'Minus')])
  }

  term(c: Children): Expr {
    return this.leftAssoc(nodes(c, 'unary'), [...tokens(c, 'Star'), ...tokens(c, 'Slash')])
  }

  /** Folds `a op b op c` to the left; operators are ordered by position. */
  private leftAssoc(operands: CstNode[], ops: IToken[]): Expr {
    ops.sort((a, b) => a.startOffset - b.startOffset)
    let e: Expr = this.visit(operands[0]!)
    for (let i = 0; i < ops.length; i++) {
      const right: Expr = this.visit(operands[i + 1]!)
      e = {
        kind: 'binary',
        op: ops[i]!.image as BinaryOp,
        left: e,
        right,
        span: joinSpans(e.span, right.span),
      }
    }
    return e
  }

  unary(c: Children, span: Span): Expr {
    if (c.Minus) return { kind: 'neg', operand: this.visit(node(c, 'unary')), span }
    return this.visit(node(c, 'power'))
  }

  power(c: Children, span: Span): Expr {
    const base: Expr = this.visit(node(c, 'atom'))
    if (!c.Caret) return base
    return { kind: 'binary', op: '^', left: base, right: this.visit(node(c, 'unary')), span }
  }

  atom(c: Children, span: Span): Expr {
    if (c.NumberLiteral) {
      const t = tok(c, 'NumberLiteral')
      return { kind: 'num', value: Number(t.image), text: t.image, span: tokenSpan(t) }
    }
    if (c.callOrName) return this.visit(node(c, 'callOrName'))
    if (c.shape) return { kind: 'axes', axes: this.visit(node(c, 'shape')), span }
    return this.visit(node(c, 'expr'))
  }

  callOrName(c: Children, span: Span): Expr {
    const name = tok(c, 'Identifier')
    if (!c.LParen) return { kind: 'name', name: name.image, span: tokenSpan(name) }
    return {
      kind: 'call',
      callee: name.image,
      calleeSpan: tokenSpan(name),
      args: nodes(c, 'expr').map((n) => this.visit(n)),
      span,
    }
  }

  // chevrotain calls visit(node) with node.children; we also want the node's span.
  override visit(n: CstNode | CstNode[]): any {
    const one = Array.isArray(n) ? n[0]! : n
    const fn = (this as unknown as Record<string, (c: Children, s: Span) => unknown>)[one.name]!
    return fn.call(this, one.children as Children, nodeSpan(one))
  }
}

export const astBuilder = new AstBuilder()
