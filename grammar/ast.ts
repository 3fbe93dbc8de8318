// The abstract syntax tree of a `.norm` file. Every node carries the span of source text it
// came from, so every later phase can point at the place a problem starts.

/** A region of source text. Lines and columns are 1-based; offsets are 0-based, end exclusive. */
export interface Span {
  start: number
  end: number
  line: number
  col: number
  endLine: number
  endCol: number
}

/** Comments kept for the printer: whole-line comments before a node, and one on its last line. */
export interface Comments {
  leading: string[]
  trailing?: string
}

/** A name of an axis as written, e.g. `N` in `[N, C, H, W]`. */
export interface AxisRef {
  name: string
  span: Span
}

export type BinaryOp = '+' | '-' | '*' | '/' | '^'

export type Expr =
  | { kind: 'num'; value: number; text: string; span: Span }
  | { kind: 'name'; name: string; span: Span }
  | { kind: 'axes'; axes: AxisRef[]; span: Span }
  | { kind: 'neg'; operand: Expr; span: Span }
  | { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr; span: Span }
  | { kind: 'call'; callee: string; calleeSpan: Span; args: Expr[]; span: Span }
  | { kind: 'as'; operand: Expr; axes: AxisRef[]; axesSpan: Span; span: Span }

/** `name = expr` (a binding) or `name <- expr` (a state update). */
export interface Stmt {
  kind: 'bind' | 'update'
  name: string
  nameSpan: Span
  value: Expr
  span: Span
  comments: Comments
}

export interface TensorDecl {
  name: string
  nameSpan: Span
  shape: AxisRef[]
  span: Span
}

export interface OutputDecl {
  name: string
  nameSpan: Span
  shape?: AxisRef[]
  span: Span
}

export type Mode = 'train' | 'eval' | 'forward'

export type LayerItem =
  | { kind: 'hyper'; name: string; nameSpan: Span; value: Expr; span: Span; comments: Comments }
  | {
      kind: 'param' | 'state'
      name: string
      nameSpan: Span
      shape: AxisRef[]
      init?: Expr
      span: Span
      comments: Comments
    }
  | { kind: 'axis'; name: string; nameSpan: Span; def?: Expr; span: Span; comments: Comments }
  | {
      kind: 'block'
      mode: Mode
      modeSpan: Span
      stmts: Stmt[]
      /** Comments after the last statement, before the closing brace. */
      danglingComments: string[]
      span: Span
      comments: Comments
    }

export type BlockItem = Extract<LayerItem, { kind: 'block' }>
export type HyperItem = Extract<LayerItem, { kind: 'hyper' }>
export type TensorItem = Extract<LayerItem, { kind: 'param' | 'state' }>
export type AxisItem = Extract<LayerItem, { kind: 'axis' }>

export interface LayerDecl {
  kind: 'layer'
  name: string
  nameSpan: Span
  inputs: TensorDecl[]
  outputs: OutputDecl[]
  items: LayerItem[]
  danglingComments: string[]
  span: Span
  comments: Comments
}

export interface SpecDecl {
  kind: 'spec'
  layer: string
  layerSpan: Span
  mode: Mode
  modeSpan: Span
  stmts: Stmt[]
  danglingComments: string[]
  span: Span
  comments: Comments
}

export type TopDecl = LayerDecl | SpecDecl

export interface NormFile {
  file: string
  decls: TopDecl[]
  /** Comments after the last declaration. */
  danglingComments: string[]
  span: Span
}

export const emptySpan: Span = { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 }

/** The span from the start of `a` to the end of `b`. */
export function joinSpans(a: Span, b: Span): Span {
  return {
    start: a.start,
    line: a.line,
    col: a.col,
    end: b.end,
    endLine: b.endLine,
    endCol: b.endCol,
  }
}
