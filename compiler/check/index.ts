// The checker: applies the language rules of spec/language.md to parsed files. Resolves
// names, infers the named axes of every expression, checks reductions, regroupings, state
// updates, modes and outputs, and reports every problem with its place. Later phases only
// ever see layers that checked clean.

import type {
  AxisRef,
  BlockItem,
  Expr,
  LayerDecl,
  Mode,
  NormFile,
  Span,
  SpecDecl,
  Stmt,
} from '../../grammar/ast.js'
import { builtins } from '../builtins.js'
import { DiagnosticBag, type Diagnostic } from '../diagnostics.js'
import { AxisTable, type AxisInfo } from './axes.js'

export { AxisTable, type AxisInfo }

/** The type of an expression: a value with named axes, or an axis list (a call argument). */
export interface Type {
  kind: 'value' | 'axes'
  axes: string[]
}

export interface TensorInfo {
  name: string
  axes: string[]
  span: Span
  /** Declared initial value of a param or state (a constant scalar). */
  init?: number
}

export interface HyperInfo {
  name: string
  value: number
  span: Span
}

export interface CheckedLayer {
  decl: LayerDecl
  file: string
  axes: AxisTable
  inputs: TensorInfo[]
  params: TensorInfo[]
  states: TensorInfo[]
  hypers: HyperInfo[]
  outputs: TensorInfo[]
  /** The block that runs in each mode (a `forward` block serves both). */
  blocks: Record<'train' | 'eval', BlockItem>
  hasForward: boolean
  types: Map<Expr, Type>
}

export interface CheckedSpec {
  decl: SpecDecl
  file: string
  layer: CheckedLayer
  /** The mode of the layer the spec describes (`forward` specs describe `train`). */
  mode: 'train' | 'eval'
  types: Map<Expr, Type>
}

export interface CheckResult {
  layers: CheckedLayer[]
  specs: CheckedSpec[]
  diagnostics: Diagnostic[]
}

type ValueKind = 'input' | 'param' | 'state' | 'hyper' | 'bind' | 'dy'

interface ValueEntry {
  kind: ValueKind
  axes: string[]
  span: Span
  used: boolean
  /** A binding whose value had an error: its uses report nothing more. */
  unknown?: boolean
}

const fmtAxes = (axes: string[]) => `[${axes.join(', ')}]`

/** `an input`, `a param`. */
const withArticle = (word: string) => (/^[aeiou]/.test(word) ? 'an ' : 'a ') + word

/** Evaluates a constant expression of numbers (hyper values, initial values). */
function constValue(e: Expr, bag: DiagnosticBag, what: string): number | undefined {
  switch (e.kind) {
    case 'num':
      return e.value
    case 'neg': {
      const v = constValue(e.operand, bag, what)
      return v === undefined ? undefined : -v
    }
    case 'binary': {
      const a = constValue(e.left, bag, what)
      const b = constValue(e.right, bag, what)
      if (a === undefined || b === undefined) return undefined
      const r =
        e.op === '+'
          ? a + b
          : e.op === '-'
            ? a - b
            : e.op === '*'
              ? a * b
              : e.op === '/'
                ? a / b
                : a ** b
      if (!Number.isFinite(r)) {
        bag.error(e.span, `${what} is not a finite number`)
        return undefined
      }
      return r
    }
    default:
      bag.error(e.span, `${what} must be a constant number`)
      return undefined
  }
}

class LayerChecker {
  readonly axes = new AxisTable()
  readonly values = new Map<string, ValueEntry>()
  readonly types = new Map<Expr, Type>()
  readonly inputs: TensorInfo[] = []
  readonly params: TensorInfo[] = []
  readonly states: TensorInfo[] = []
  readonly hypers: HyperInfo[] = []
  /** In a spec: the names of the upstream gradients (`dy`, or `dy_NAME` for each output). */
  upstream: string[] | undefined
  /** The names the statements being checked bind further down, and where. */
  private later = new Map<string, Span>()
  /** Names used (and reported) before their binding: the binding then counts as used. */
  private usedEarly = new Set<string>()

  constructor(
    readonly decl: LayerDecl,
    public bag: DiagnosticBag,
  ) {}

  check(): CheckedLayer | undefined {
    const before = this.bag.items.filter((d) => d.severity === 'error').length
    this.declareAxes()
    this.declareValues()
    const blocks = this.checkBlocks()
    const errors = this.bag.items.filter((d) => d.severity === 'error').length
    if (errors > before || !blocks) return undefined
    return {
      decl: this.decl,
      file: this.bag.file,
      axes: this.axes,
      inputs: this.inputs,
      params: this.params,
      states: this.states,
      hypers: this.hypers,
      outputs: blocks.outputs,
      blocks: blocks.blocks,
      hasForward: blocks.hasForward,
      types: this.types,
    }
  }

  private declareAxes(): void {
    const { decl, axes } = this
    const axisItems = decl.items.filter((it) => it.kind === 'axis')
    const products = axisItems.filter((it) => it.def && isProduct(it.def))
    const factorNames = new Set(products.flatMap((it) => productNames(it.def!).map((f) => f.name)))
    // An axis an `axis` item declares (a factor of `axis C = G * K`, a free `axis H` or
    // `axis H = hidden`) is that kind of axis even where an input uses it, and keeps the place
    // its declaration gives it in the canonical order (§4.1): the params and upstream gradients
    // of a derived backward layer are inputs over such axes.
    const declared = new Set(factorNames)
    for (const it of axisItems) if (!products.includes(it)) declared.add(it.name)
    let i = 0
    for (const inp of decl.inputs) {
      for (const a of inp.shape) {
        if (!axes.has(a.name) && !declared.has(a.name))
          axes.axes.set(a.name, { name: a.name, kind: 'input', span: a.span, rank: [i++] })
      }
    }
    // First pass: free axes (in declaration order), then factorisations, so that a free axis
    // may be factorised and `axis G = groups` may follow `axis C = G * K`.
    let free = 0
    for (const it of axisItems)
      if (!products.includes(it) && !factorNames.has(it.name) && !axes.has(it.name))
        axes.axes.set(it.name, {
          name: it.name,
          kind: 'free',
          span: it.nameSpan,
          rank: [1e6 + free++],
        })
    for (const it of products) {
      const parent = axes.get(it.name)
      const factors = productNames(it.def!)
      if (!parent) {
        this.bag.error(
          it.nameSpan,
          `axis ${it.name} is not an axis of the inputs: only an existing axis can be factorised`,
        )
        continue
      }
      if (parent.factors) {
        this.bag.error(it.nameSpan, `axis ${it.name} is already factorised`)
        continue
      }
      const names = factors.map((f) => f.name)
      const dup = factors.find((f, j) => names.indexOf(f.name) !== j || axes.has(f.name))
      if (dup) {
        this.bag.error(dup.span, `duplicate declaration of axis ${dup.name}`)
        continue
      }
      parent.factors = names
      factors.forEach((f, j) =>
        axes.axes.set(f.name, {
          name: f.name,
          kind: 'factor',
          span: f.span,
          rank: [...parent.rank, j],
          parent: it.name,
        }),
      )
    }
    // Second pass: sizes.
    const sized = new Set<string>()
    for (const it of axisItems) {
      if (!it.def || isProduct(it.def)) continue
      const info = axes.get(it.name)
      if (!info) continue
      if (sized.has(it.name)) {
        this.bag.error(it.nameSpan, `duplicate declaration of axis ${it.name}`)
        continue
      }
      sized.add(it.name)
      this.checkSizeExpr(it.def)
      info.size = it.def
    }
    const bare = new Set<string>()
    for (const it of axisItems) {
      if (!it.def) {
        const info = axes.get(it.name)
        if (info && (info.kind !== 'free' || bare.has(it.name) || sized.has(it.name)))
          this.bag.error(it.nameSpan, `duplicate declaration of axis ${it.name}`)
        bare.add(it.name)
      }
    }
  }

  /** A size is an integer expression over hypers and numbers. */
  private checkSizeExpr(e: Expr): void {
    const hyperNames = new Set(
      this.decl.items.filter((it) => it.kind === 'hyper').map((it) => it.name),
    )
    const walk = (x: Expr): void => {
      if (x.kind === 'num') return
      if (x.kind === 'name') {
        if (!hyperNames.has(x.name))
          this.bag.error(x.span, `an axis size may only use hypers and numbers, not '${x.name}'`)
        return
      }
      if (x.kind === 'neg') return walk(x.operand)
      if (x.kind === 'binary' && x.op !== '^') {
        walk(x.left)
        walk(x.right)
        return
      }
      this.bag.error(x.span, 'an axis size may only use hypers, numbers and + - * /')
    }
    walk(e)
  }

  private shapeAxes(shape: AxisRef[], what: string): string[] | undefined {
    let ok = true
    const seen = new Set<string>()
    for (const a of shape) {
      if (!this.axes.has(a.name)) {
        this.bag.error(a.span, `unknown axis ${a.name} in the shape of ${what}`)
        ok = false
      } else if (seen.has(a.name)) {
        this.bag.error(a.span, `axis ${a.name} appears twice in the shape of ${what}`)
        ok = false
      }
      seen.add(a.name)
    }
    if (!ok) return undefined
    const names = shape.map((a) => a.name)
    for (let i = 0; i < names.length; i++)
      for (let j = i + 1; j < names.length; j++)
        if (this.axes.related(names[i]!, names[j]!)) {
          this.bag.error(
            shape[j]!.span,
            `the shape of ${what} has both ${names[i]} and ${names[j]}, one a factor of the other`,
          )
          return undefined
        }
    return names
  }

  private declare(name: string, span: Span, entry: Omit<ValueEntry, 'span' | 'used'>): boolean {
    if (builtins.has(name)) {
      this.bag.error(span, `'${name}' is a builtin function and cannot be redeclared`)
      return false
    }
    // The upstream gradients' names: a tensor so named would meet them in specs, in the derived
    // backward program and in the tensors of a run.
    const outs = this.decl.outputs
    if (outs.some((o) => upstreamName({ outputs: outs }, o.name) === name)) {
      const of = outs.length === 1 ? 'of the output' : `of output '${name.slice(3)}'`
      this.bag.error(
        span,
        `'${name}' is the name of the upstream gradient ${of}: choose another name`,
      )
      // Still declared, so that its uses report nothing more.
    }
    const prev = this.values.get(name)
    if (prev) {
      this.bag.error(
        span,
        `duplicate declaration of '${name}' (first declared at ${prev.span.line}:${prev.span.col})`,
      )
      return false
    }
    this.values.set(name, { ...entry, span, used: false })
    return true
  }

  private declareValues(): void {
    const { decl } = this
    for (const inp of decl.inputs) {
      const shape = this.shapeAxes(inp.shape, `input ${inp.name}`)
      // An input's data is laid out in the canonical order (§4.1), as lowering reads it, whatever
      // order the signature lists its axes in: its type says so too.
      const axes = shape ? this.axes.sort(shape) : []
      // Except over an axis an `axis` item declares, whose place the signature does not show:
      // there the input must list its axes in the canonical order, as a param does.
      const own = shape?.find((a) => this.axes.get(a)!.kind !== 'input')
      if (shape && own && axes.join() !== shape.join()) {
        const d = this.axes.get(own)!
        this.bag.error(
          inp.span,
          `the axes of ${inp.name} must be in the layer's order: ${fmtAxes(axes)} (axis ${own}, declared at ${d.span.line}:${d.span.col}, is ${d.kind === 'free' ? 'a free axis: it comes after the input axes' : `a factor of ${d.parent}: it stands where ${d.parent} stands`})`,
        )
      }
      if (this.declare(inp.name, inp.nameSpan, { kind: 'input', axes }))
        this.inputs.push({ name: inp.name, axes, span: inp.nameSpan })
    }
    for (const it of decl.items) {
      if (it.kind === 'hyper') {
        const v = constValue(it.value, this.bag, `the value of hyper ${it.name}`)
        if (this.declare(it.name, it.nameSpan, { kind: 'hyper', axes: [] }))
          this.hypers.push({ name: it.name, value: v ?? 0, span: it.nameSpan })
      } else if (it.kind === 'param' || it.kind === 'state') {
        const axes = this.shapeAxes(it.shape, `${it.kind} ${it.name}`) ?? []
        const init = it.init
          ? constValue(it.init, this.bag, `the initial value of ${it.name}`)
          : it.kind === 'param'
            ? 0
            : 0
        if (this.declare(it.name, it.nameSpan, { kind: it.kind, axes })) {
          const info: TensorInfo = {
            name: it.name,
            axes: this.axes.sort(axes),
            span: it.nameSpan,
            init: init ?? 0,
          }
          if (this.axes.sort(axes).join() !== axes.join())
            this.bag.error(
              it.span,
              `the axes of ${it.name} must be in the layer's order: ${fmtAxes(this.axes.sort(axes))}`,
            )
          ;(it.kind === 'param' ? this.params : this.states).push(info)
        }
      }
    }
    const outNames = new Set<string>()
    for (const o of decl.outputs) {
      if (outNames.has(o.name)) this.bag.error(o.nameSpan, `duplicate output '${o.name}'`)
      else if (this.values.has(o.name))
        this.bag.error(
          o.nameSpan,
          `output '${o.name}' has the name of ${withArticle(this.values.get(o.name)!.kind)}`,
        )
      outNames.add(o.name)
      if (o.shape) this.shapeAxes(o.shape, `output ${o.name}`)
    }
  }

  private checkBlocks():
    | { blocks: Record<'train' | 'eval', BlockItem>; outputs: TensorInfo[]; hasForward: boolean }
    | undefined {
    const byMode = new Map<Mode, BlockItem>()
    for (const it of this.decl.items) {
      if (it.kind !== 'block') continue
      if (byMode.has(it.mode)) {
        this.bag.error(it.modeSpan, `duplicate ${it.mode} block`)
        continue
      }
      byMode.set(it.mode, it)
    }
    const fwd = byMode.get('forward')
    const train = byMode.get('train')
    const evalB = byMode.get('eval')
    if (fwd && (train || evalB)) {
      this.bag.error(
        (train ?? evalB)!.modeSpan,
        `a layer has either one forward block or both train and eval blocks, not both`,
      )
      return undefined
    }
    if (!fwd && !train && !evalB) {
      this.bag.error(
        this.decl.nameSpan,
        `layer ${this.decl.name} has no block: add forward { … } or train { … } and eval { … }`,
      )
      return undefined
    }
    if (!fwd && (!train || !evalB)) {
      const missing = train ? 'eval' : 'train'
      this.bag.error(
        (train ?? evalB)!.modeSpan,
        `layer ${this.decl.name} has a ${train ? 'train' : 'eval'} block but no ${missing} block`,
      )
      return undefined
    }
    const outputs: TensorInfo[] = []
    const blocks = fwd ? [fwd] : [train!, evalB!]
    const outAxes = new Map<string, string[]>()
    for (const b of blocks) {
      const env = this.checkStmts(b.stmts, b.mode, 'layer')
      for (const o of this.decl.outputs) {
        const t = env.get(o.name)
        if (!t) {
          this.bag.error(b.modeSpan, `output '${o.name}' is not bound in the ${b.mode} block`)
          continue
        }
        t.used = true
        if (t.unknown) continue
        if (o.shape) {
          const declared = o.shape.map((a) => a.name)
          if (
            declared.join() !== t.axes.join() &&
            this.axes.isRegrouping(t.axes, declared) === false
          )
            this.bag.error(
              t.span,
              `output '${o.name}' has axes ${fmtAxes(t.axes)}, but its declared shape is ${fmtAxes(declared)}`,
            )
          else if (declared.join() !== t.axes.join())
            this.bag.error(
              t.span,
              `output '${o.name}' has axes ${fmtAxes(t.axes)}; regroup it with 'as ${fmtAxes(declared)}'`,
            )
        }
        const prev = outAxes.get(o.name)
        if (prev && prev.join() !== t.axes.join())
          this.bag.error(
            t.span,
            `output '${o.name}' has axes ${fmtAxes(t.axes)} here but ${fmtAxes(prev)} in the train block`,
          )
        if (!prev) outAxes.set(o.name, t.axes)
      }
      this.warnUnused(env)
    }
    for (const o of this.decl.outputs)
      outputs.push({ name: o.name, axes: outAxes.get(o.name) ?? [], span: o.nameSpan })
    return {
      blocks: fwd ? { train: fwd, eval: fwd } : { train: train!, eval: evalB! },
      outputs,
      hasForward: !!fwd,
    }
  }

  private warnUnused(env: Map<string, ValueEntry>): void {
    for (const [name, e] of env)
      if (e.kind === 'bind' && !e.used)
        this.bag.warning(e.span, `'${name}' is bound but never used`)
  }

  /**
   * Checks a block's statements in order. Returns the block's own bindings (the layer-level
   * names stay in this.values). In a spec, `dNAME` bindings and `<-` are compared later.
   */
  checkStmts(
    stmts: Stmt[],
    mode: Mode,
    where: 'layer' | 'spec',
    extra?: Map<string, ValueEntry>,
  ): Map<string, ValueEntry> {
    const local = new Map<string, ValueEntry>(extra ?? [])
    const updated = new Set<string>()
    const lookup = (name: string) => local.get(name) ?? this.values.get(name)
    this.later = new Map()
    this.usedEarly = new Set()
    for (const s of stmts)
      if (s.kind === 'bind' && !this.later.has(s.name)) this.later.set(s.name, s.nameSpan)
    for (const s of stmts) {
      const t = this.infer(s.value, lookup)
      if (s.kind === 'bind' && this.later.get(s.name) === s.nameSpan) this.later.delete(s.name)
      if (s.kind === 'update') {
        const st = this.values.get(s.name)
        if (mode === 'eval' || (mode === 'forward' && where === 'layer')) {
          this.bag.error(
            s.nameSpan,
            `state update '${s.name} <- …' is only allowed in a train block`,
          )
        } else if (!st || st.kind !== 'state') {
          this.bag.error(
            s.nameSpan,
            `'${s.name}' is not a state: only state buffers can be updated with <-`,
          )
        } else if (updated.has(s.name)) {
          this.bag.error(s.nameSpan, `state '${s.name}' is updated twice in this block`)
        } else {
          updated.add(s.name)
          st.used = true
          if (t && t.axes.join() !== st.axes.join())
            this.bag.error(
              s.value.span,
              `state '${s.name}' has axes ${fmtAxes(st.axes)}, but the update has axes ${fmtAxes(t.axes)}`,
            )
        }
        continue
      }
      if (builtins.has(s.name)) {
        this.bag.error(s.nameSpan, `'${s.name}' is a builtin function and cannot be rebound`)
        continue
      }
      const prev = lookup(s.name)
      if (prev) {
        const what =
          prev.kind === 'bind'
            ? `is already bound at ${prev.span.line}:${prev.span.col}`
            : `would shadow the ${prev.kind === 'dy' ? 'upstream gradient' : prev.kind} '${s.name}'`
        this.bag.error(s.nameSpan, `'${s.name}' ${what}: bindings are immutable`)
        continue
      }
      if (t?.kind === 'axes')
        this.bag.error(
          s.value.span,
          `an axis list is not a value: use it as an argument, e.g. sum(x, ${fmtAxes(t.axes)})`,
        )
      const ok = t?.kind === 'value'
      local.set(s.name, {
        kind: 'bind',
        axes: ok ? t.axes : [],
        span: s.nameSpan,
        used: this.usedEarly.has(s.name),
        ...(ok ? {} : { unknown: true }),
      })
    }
    return local
  }

  /** Infers the axes of an expression; reports problems and returns undefined where it cannot. */
  infer(e: Expr, lookup: (name: string) => ValueEntry | undefined): Type | undefined {
    const t = this.inferInner(e, lookup)
    if (t) this.types.set(e, t)
    return t
  }

  private boundInBlocks(name: string): boolean {
    return this.decl.items.some(
      (it) => it.kind === 'block' && it.stmts.some((st) => st.kind === 'bind' && st.name === name),
    )
  }

  private value(e: Expr, lookup: (name: string) => ValueEntry | undefined): Type | undefined {
    const t = this.infer(e, lookup)
    if (t?.kind === 'axes') {
      this.bag.error(e.span, `an axis list is not a value here`)
      return undefined
    }
    return t
  }

  private broadcast(span: Span, ts: Type[]): Type | undefined {
    let axes: string[] = []
    for (const t of ts) {
      const u = this.axes.union(axes, t.axes)
      if ('clash' in u) {
        const [a, b] = u.clash
        this.bag.error(
          span,
          `cannot broadcast axis ${a} against ${b}: one is a factor of the other; regroup one side with 'as'`,
        )
        return undefined
      }
      axes = u.axes
    }
    return { kind: 'value', axes }
  }

  private axisList(refs: AxisRef[], what: string): string[] | undefined {
    let ok = true
    const seen = new Set<string>()
    for (const a of refs) {
      if (!this.axes.has(a.name)) {
        this.bag.error(a.span, `unknown axis ${a.name}${what}`)
        ok = false
      } else if (seen.has(a.name)) {
        this.bag.error(a.span, `axis ${a.name} is listed twice`)
        ok = false
      } else {
        // An axis and its own factor never meet (§4.2): not in count([C, G]), not in broadcast.
        const kin = [...seen].find((b) => this.axes.has(b) && this.axes.related(a.name, b))
        if (kin !== undefined) {
          this.bag.error(
            a.span,
            `the axis list has both ${kin} and ${a.name}, one a factor of the other`,
          )
          ok = false
        }
      }
      seen.add(a.name)
    }
    return ok ? refs.map((a) => a.name) : undefined
  }

  private inferInner(e: Expr, lookup: (name: string) => ValueEntry | undefined): Type | undefined {
    switch (e.kind) {
      case 'num':
        return { kind: 'value', axes: [] }
      case 'name': {
        const v = lookup(e.name)
        if (!v) {
          if (builtins.has(e.name))
            this.bag.error(e.span, `'${e.name}' is a function: call it, e.g. ${e.name}(…)`)
          else if (this.axes.has(e.name))
            this.bag.error(
              e.span,
              `'${e.name}' is an axis, not a value; use count([${e.name}]) for its size`,
            )
          else if (this.upstream && /^dy(_|$)/.test(e.name))
            this.bag.error(
              e.span,
              `unknown name '${e.name}': the upstream gradient${this.upstream.length > 1 ? 's' : ''} of ${this.decl.name} ${this.upstream.length > 1 ? 'are' : 'is'} ${this.upstream.join(', ')}`,
            )
          else if (this.later.has(e.name)) {
            const at = this.later.get(e.name)!
            this.usedEarly.add(e.name)
            this.bag.error(
              e.span,
              `'${e.name}' is used before it is bound (at ${at.line}:${at.col}): bind it first`,
            )
          } else if (this.upstream && this.boundInBlocks(e.name))
            this.bag.error(
              e.span,
              `unknown name '${e.name}': a spec sees the layer's inputs, params, hypers and state, not the bindings of its blocks`,
            )
          else this.bag.error(e.span, `unknown name '${e.name}'`)
          return undefined
        }
        v.used = true
        if (v.unknown) return undefined
        return { kind: 'value', axes: v.axes }
      }
      case 'axes': {
        const axes = this.axisList(e.axes, '')
        return axes ? { kind: 'axes', axes } : undefined
      }
      case 'neg':
        return this.value(e.operand, lookup)
      case 'binary': {
        const a = this.value(e.left, lookup)
        const b = this.value(e.right, lookup)
        if (!a || !b) return undefined
        return this.broadcast(e.span, [a, b])
      }
      case 'as': {
        const t = this.value(e.operand, lookup)
        const target = this.axisList(e.axes, '')
        if (!t || !target) return undefined
        if (!this.axes.isRegrouping(t.axes, target)) {
          this.bag.error(
            e.axesSpan,
            `cannot regroup ${fmtAxes(t.axes)} as ${fmtAxes(target)}: 'as' only splits or merges declared factorisations in place`,
          )
          return undefined
        }
        return { kind: 'value', axes: target }
      }
      case 'call':
        return this.inferCall(e, lookup)
    }
  }

  private inferCall(
    e: Extract<Expr, { kind: 'call' }>,
    lookup: (name: string) => ValueEntry | undefined,
  ): Type | undefined {
    const b = builtins.get(e.callee)
    if (!b) {
      const v = lookup(e.callee)
      if (v) v.used = true
      this.bag.error(
        e.calleeSpan,
        v
          ? `'${e.callee}' is ${withArticle(v.kind === 'bind' ? 'value' : v.kind)}, not a function`
          : `unknown function '${e.callee}'`,
      )
      return undefined
    }
    if (e.args.length !== b.arity) {
      this.bag.error(
        e.span,
        `${b.name} takes ${b.arity} argument${b.arity === 1 ? '' : 's'}, got ${e.args.length} (${b.doc})`,
      )
      return undefined
    }
    const last = e.args[e.args.length - 1]!
    switch (b.kind) {
      case 'count': {
        if (last.kind !== 'axes') {
          this.bag.error(last.span, `count takes an axis list, e.g. count([N, H, W])`)
          return undefined
        }
        return this.infer(last, lookup) ? { kind: 'value', axes: [] } : undefined
      }
      case 'reduce':
      case 'reduce-or-elementwise': {
        if (last.kind !== 'axes') {
          if (b.kind === 'reduce') {
            this.bag.error(
              last.span,
              `the second argument of ${b.name} must be an axis list, e.g. ${b.name}(x, [N])`,
            )
            return undefined
          }
          const ts = e.args.map((a) => this.value(a, lookup))
          if (ts.some((t) => !t)) return undefined
          return this.broadcast(e.span, ts as Type[])
        }
        const x = this.value(e.args[0]!, lookup)
        const r = this.infer(last, lookup)
        if (!x || !r) return undefined
        for (const a of r.axes) {
          if (!x.axes.includes(a)) {
            const factors = x.axes.filter((y) => this.axes.related(a, y))
            const hint = factors.length ? ` (it has ${factors.join(', ')}: regroup with 'as')` : ''
            this.bag.error(
              last.span,
              `${b.name} over axis ${a}, but its operand has axes ${fmtAxes(x.axes)}${hint}`,
            )
            return undefined
          }
        }
        return { kind: 'value', axes: x.axes.filter((a) => !r.axes.includes(a)) }
      }
      case 'broadcast': {
        if (last.kind !== 'axes') {
          this.bag.error(
            last.span,
            `the second argument of broadcast must be an axis list, e.g. broadcast(x, [N, C])`,
          )
          return undefined
        }
        const x = this.value(e.args[0]!, lookup)
        const r = this.infer(last, lookup)
        if (!x || !r) return undefined
        const missing = x.axes.filter((a) => !r.axes.includes(a))
        if (missing.length) {
          this.bag.error(
            last.span,
            `broadcast to ${fmtAxes(r.axes)} would drop axes ${fmtAxes(missing)} of its operand`,
          )
          return undefined
        }
        return this.broadcast(e.span, [x, { kind: 'value', axes: r.axes }])
      }
      case 'elementwise':
      case 'stop_gradient': {
        const ts = e.args.map((a) => this.value(a, lookup))
        if (ts.some((t) => !t)) return undefined
        return this.broadcast(e.span, ts as Type[])
      }
    }
  }
}

function isProduct(e: Expr): boolean {
  return (
    e.kind === 'binary' &&
    e.op === '*' &&
    productNames(e).length >= 2 &&
    productNames(e).every(Boolean)
  )
}

function productNames(e: Expr): AxisRef[] {
  if (e.kind === 'name') return [{ name: e.name, span: e.span }]
  if (e.kind === 'binary' && e.op === '*') {
    const l = productNames(e.left)
    const r = productNames(e.right)
    return l.length && r.length ? [...l, ...r] : []
  }
  return []
}

/** The upstream-gradient names a spec or backward program sees: `dy`, or `dy_NAME` for several outputs. */
export function upstreamName(layer: { outputs: { name: string }[] }, output: string): string {
  return layer.outputs.length === 1 ? 'dy' : `dy_${output}`
}

function checkSpec(
  spec: SpecDecl,
  layer: CheckedLayer,
  checker: LayerChecker,
  bag: DiagnosticBag,
): CheckedSpec | undefined {
  const before = bag.items.filter((d) => d.severity === 'error').length
  if (!layer.hasForward && spec.mode === 'forward') {
    bag.error(
      spec.modeSpan,
      `layer ${layer.decl.name} has train and eval blocks: a spec names one of them`,
    )
    return undefined
  }
  checker.bag = bag
  checker.upstream = layer.outputs.map((o) => upstreamName(layer, o.name))
  for (const v of checker.values.values()) v.used = false
  const extra = new Map<string, ValueEntry>()
  for (const o of layer.outputs)
    extra.set(upstreamName(layer, o.name), {
      kind: 'dy',
      axes: o.axes,
      span: spec.layerSpan,
      used: false,
    })
  const mode: 'train' | 'eval' = spec.mode === 'eval' ? 'eval' : 'train'
  const env = checker.checkStmts(
    spec.stmts,
    spec.mode === 'forward' ? 'train' : spec.mode,
    'spec',
    extra,
  )
  const targets = new Map<string, string[]>()
  for (const t of [...layer.inputs, ...layer.params]) targets.set('d' + t.name, t.axes)
  for (const [name, entry] of env) {
    if (entry.kind !== 'bind') continue
    const want = targets.get(name)
    if (want) {
      entry.used = true
      if (!entry.unknown && want.join() !== entry.axes.join())
        bag.error(
          entry.span,
          `'${name}' has axes ${fmtAxes(entry.axes)}, but ${name.slice(1)} has axes ${fmtAxes(want)}`,
        )
    }
  }
  if (![...env.keys()].some((k) => targets.has(k)) && !spec.stmts.some((s) => s.kind === 'update'))
    bag.warning(
      spec.layerSpan,
      `spec ${spec.layer} ${spec.mode} states no gradient (d${layer.inputs[0]?.name ?? 'x'}, …) and no state update`,
    )
  for (const [name, e] of env)
    if (e.kind === 'bind' && !e.used) bag.warning(e.span, `'${name}' is bound but never used`)
  if (bag.items.filter((d) => d.severity === 'error').length > before) return undefined
  return { decl: spec, file: bag.file, layer, mode, types: checker.types }
}

/** Checks parsed files together: specs may refer to layers of any of the files. */
export function check(files: NormFile[]): CheckResult {
  const diagnostics: Diagnostic[] = []
  const layers: CheckedLayer[] = []
  const specs: CheckedSpec[] = []
  const layerByName = new Map<
    string,
    { decl: LayerDecl; checked?: CheckedLayer; checker?: LayerChecker }
  >()
  for (const f of files) {
    const bag = new DiagnosticBag(f.file)
    for (const d of f.decls) {
      if (d.kind !== 'layer') continue
      if (layerByName.has(d.name)) {
        bag.error(d.nameSpan, `duplicate layer '${d.name}'`)
        continue
      }
      const checker = new LayerChecker(d, bag)
      const checked = checker.check()
      layerByName.set(d.name, checked ? { decl: d, checked, checker } : { decl: d })
      if (checked) layers.push(checked)
    }
    diagnostics.push(...bag.items)
  }
  for (const f of files) {
    const bag = new DiagnosticBag(f.file)
    const seen = new Set<string>()
    for (const d of f.decls) {
      if (d.kind !== 'spec') continue
      const target = layerByName.get(d.layer)
      if (!target) {
        bag.error(d.layerSpan, `spec for unknown layer '${d.layer}'`)
        continue
      }
      const key = `${d.layer} ${d.mode}`
      if (seen.has(key)) {
        bag.error(d.modeSpan, `duplicate spec ${key}`)
        continue
      }
      seen.add(key)
      if (!target.checked || !target.checker) continue
      const s = checkSpec(d, target.checked, target.checker, bag)
      if (s) specs.push(s)
    }
    diagnostics.push(...bag.items)
  }
  return { layers, specs, diagnostics }
}
