// `normc grad --explain` / `--latex`: the derivation of a backward pass, step by step, the way a
// student would write it, generated from the IR (nothing here knows a layer by name).
//
// The forward block is read as a chain of named bindings. Walking them in reverse, each
// binding `u = E(v1, v2, …)` passes its adjoint ū to the adjoints of the named values it uses:
// E is differentiated alone, with the values it names as leaves (the same rule table as the
// compiler, then the simplifier), so every line is one application of the chain rule. The
// Jacobians of the reductions in E (a mean divides by the count and broadcasts back, a sum
// broadcasts back, a broadcast sums), the stop_gradient cuts and the clamps are stated as
// they are applied. Then each gradient is the sum of its contributions, and last comes the
// simplified backward pass, as `normc grad` prints it.

import type { AxisRef, Expr, Stmt } from '../../grammar/ast.js'
import { emptySpan } from '../../grammar/ast.js'
import { backwardLayer } from '../backward.js'
import type { CheckedLayer } from '../check/index.js'
import { upstreamName } from '../check/index.js'
import { adjoints } from '../grad/index.js'
import { Builder, topoOrder, type Node } from '../ir/index.js'
import { lowerLayer } from '../lower/index.js'
import type { LayerGraphs } from '../pipeline.js'
import { printExpr } from '../print/index.js'
import { simplifyGraphs } from '../simplify/index.js'
import { latex, latexAdjoint, latexName, type Names } from './latex.js'

export { latex, latexName }

/** One fact about a Jacobian or a cut, in words and in LaTeX. */
export interface Rule {
  text: string
  latex: string
}

export interface Step {
  /** The binding (`var`), its definition over named values, and the name of its adjoint. */
  name: string
  def: Expr
  adjoint: string
  /** The binding is a stop_gradient: its adjoint goes no further. */
  stopped: boolean
  rules: Rule[]
  /** What this step adds to the adjoints of the values it uses. */
  contributions: { to: string; adjoint: string; expr: Expr }[]
  /** For a stopped binding: the adjoint it received (and drops). */
  dropped?: Expr[]
}

export interface Derivation {
  layer: string
  /** train, eval, or forward. */
  mode: string
  /** The outputs and the upstream gradients that seed the backward pass. */
  seeds: { output: string; upstream: string }[]
  forward: { name: string; expr: Expr }[]
  steps: Step[]
  /** dNAME = the sum of the contributions to NAME, for every input and param. */
  totals: { name: string; of: string; terms: Expr[] }[]
  /** The simplified backward pass (the body of what `normc grad` prints). */
  simplified: Stmt[]
}

const sp = emptySpan
const axisRefs = (axes: readonly string[]): AxisRef[] => axes.map((name) => ({ name, span: sp }))
const nameE = (n: string): Expr => ({ kind: 'name', name: n, span: sp })
const numE = (v: number): Expr =>
  v < 0 || Object.is(v, -0)
    ? { kind: 'neg', operand: numE(-v), span: sp }
    : { kind: 'num', value: v, text: String(v), span: sp }
const callE = (callee: string, args: Expr[]): Expr => ({
  kind: 'call',
  callee,
  calleeSpan: sp,
  args,
  span: sp,
})
const axesE = (axes: readonly string[]): Expr => ({ kind: 'axes', axes: axisRefs(axes), span: sp })
const infix = { add: '+', sub: '-', mul: '*', div: '/', pow: '^' } as const
const reduceName: Record<string, string> = { sum: 'sum', mean: 'mean', rmax: 'max', rmin: 'min' }

/** An IR graph as a `.norm` expression, inline, with `leafName` naming the leaves it stops at. */
export function toExpr(n: Node, leafName: (n: Node) => string | undefined = () => undefined): Expr {
  const named = leafName(n)
  if (named) return nameE(named)
  const a = () => n.args.map((x) => toExpr(x, leafName))
  switch (n.op) {
    case 'input':
    case 'hyper':
      return nameE(n.name!)
    case 'const':
      return numE(n.value!)
    case 'count':
      return callE('count', [axesE(n.over!)])
    case 'broadcast':
      return toExpr(n.args[0]!, leafName)
    case 'regroup':
      return {
        kind: 'as',
        operand: toExpr(n.args[0]!, leafName),
        axes: axisRefs(n.axes),
        axesSpan: sp,
        span: sp,
      }
    case 'neg':
      return { kind: 'neg', operand: toExpr(n.args[0]!, leafName), span: sp }
    case 'recip':
      return {
        kind: 'binary',
        op: '/',
        left: numE(1),
        right: toExpr(n.args[0]!, leafName),
        span: sp,
      }
    case 'sum':
    case 'mean':
    case 'rmax':
    case 'rmin':
      return callE(reduceName[n.op]!, [toExpr(n.args[0]!, leafName), axesE(n.over!)])
    case 'add':
    case 'sub':
    case 'mul':
    case 'div':
    case 'pow': {
      const [l, r] = a() as [Expr, Expr]
      return { kind: 'binary', op: infix[n.op], left: l, right: r, span: sp }
    }
    default:
      return callE(n.op, a())
  }
}

const fmtAxes = (axes: readonly string[]) => `[${axes.join(', ')}]`
const letters = (axes: readonly string[]) => axes.map((a) => a.toLowerCase()).join(',')
const short = (e: Expr) => {
  const t = printExpr(e)
  return t.length <= 40 ? t : undefined
}

/** Derives the explanation of the backward pass of `g.layer` in `g.mode`. */
export function explain(g: LayerGraphs): Derivation {
  const layer: CheckedLayer = g.layer
  const fwd = lowerLayer(layer, g.mode)
  const roots = fwd.outputs.map((o) => o.node)
  const order = topoOrder(roots)
  const isLeaf = (n: Node) =>
    n.op === 'input' || n.op === 'hyper' || n.op === 'const' || n.op === 'count'
  // Nodes that depend on an input or a param: with stop_gradient cutting (live), and at all.
  const live = new Set<number>()
  const depends = new Set<number>()
  for (const n of order) {
    const leaf = n.op === 'input' && (n.role === 'input' || n.role === 'param')
    if (leaf || n.args.some((a) => depends.has(a.id))) depends.add(n.id)
    if (leaf || (n.op !== 'stop_gradient' && n.args.some((a) => live.has(a.id)))) live.add(n.id)
  }
  const outputName = new Map(fwd.outputs.map((o) => [o.node.id, o.name]))
  const nameOf = (n: Node): string | undefined =>
    n.op === 'input' || n.op === 'hyper'
      ? n.name
      : (outputName.get(n.id) ?? (n.op === 'count' ? undefined : n.hint))
  const named = order.filter((n) => !isLeaf(n) && nameOf(n) !== undefined)
  // A count bound to a name (`m = count([N, H, W])`) is written with that name.
  const countNames = new Map<string, string>()
  for (const n of topoOrder([...roots, ...fwd.updates.map((u) => u.node)]))
    if (n.op === 'count' && n.hint && !countNames.has(n.over!.join()))
      countNames.set(n.over!.join(), n.hint)
  const countLeaf = (n: Node) => (n.op === 'count' ? countNames.get(n.over!.join()) : undefined)
  const adjName = (n: Node): string => {
    const out = outputName.get(n.id)
    return out !== undefined ? upstreamName(layer, out) : 'd' + nameOf(n)!
  }

  // The forward pass and the definitions as written in the source, where a binding has one.
  const stmts = layer.blocks[g.mode].stmts.filter((st) => st.kind === 'bind')
  const source = new Map(stmts.map((st) => [st.name, st.value]))
  const forward = stmts.map((st) => ({ name: st.name, expr: st.value }))
  const origOf = new Map<string, Node>()
  for (const n of order)
    if (n.op === 'input' || (nameOf(n) !== undefined && !isLeaf(n))) origOf.set(nameOf(n)!, n)
  const steps: Step[] = []
  // Contributions received so far, by the id of the value they are the adjoint of.
  const received = new Map<number, Expr[]>()
  for (let i = named.length - 1; i >= 0; i--) {
    const u = named[i]!
    if (!depends.has(u.id)) continue
    const name = nameOf(u)!
    const def = source.get(name) ?? toExpr(u, (m) => (m !== u ? nameOf(m) : undefined))
    const step: Step = {
      name,
      def,
      adjoint: adjName(u),
      stopped: u.op === 'stop_gradient',
      rules: [],
      contributions: [],
    }
    if (!outputName.has(u.id) && !received.has(u.id)) continue
    // The definition as its own graph, the named values it uses as leaves.
    const b = new Builder(layer.axes)
    const leaves = new Map<number, Node>()
    const inside: Node[] = []
    let under = false
    const copy = (n: Node, root: boolean): Node => {
      if (!root && nameOf(n) !== undefined && !isLeaf(n)) {
        let l = leaves.get(n.id)
        if (!l) leaves.set(n.id, (l = b.input(nameOf(n)!, 'input', n.axes)))
        return l
      }
      if (n.op === 'input') return b.input(n.name!, n.role!, n.axes)
      if (n.op === 'hyper') return b.hyper(n.name!)
      if (n.op === 'const') return b.c(n.value!)
      if (n.op === 'count') return b.count(n.over!)
      if (!under) inside.push(n)
      const wasUnder = under
      if (n.op === 'stop_gradient') under = true
      const args = n.args.map((a) => copy(a, false))
      under = wasUnder
      if (n.op === 'broadcast') return b.broadcast(args[0]!, n.axes)
      if (n.op === 'regroup') return b.regroup(args[0]!, n.axes)
      return b.make(n.op, args, n.axes, n.over ? { over: n.over } : {})
    }
    const top = copy(u, true)
    step.rules = rulesOf(
      inside,
      u,
      depends,
      (n) =>
        nameOf(n) !== undefined ? nameE(nameOf(n)!) : toExpr(n, (m) => nameOf(m) ?? countLeaf(m)),
      (R) => countNames.get(R.join()),
    )
    if (step.stopped) {
      step.dropped = received.get(u.id) ?? []
      steps.push(step)
      continue
    }
    // The leaves the adjoint flows to: named values and inputs / params that depend on the inputs.
    const targets: { orig: Node; leaf: Node }[] = []
    for (const n of topoOrder([u])) {
      if (n === u || !depends.has(n.id)) continue
      if (nameOf(n) === undefined) continue
      const leaf = n.op === 'input' ? b.input(n.name!, n.role!, n.axes) : leaves.get(n.id)
      if (leaf && !targets.some((t) => t.leaf === leaf)) targets.push({ orig: n, leaf })
    }
    const seed = b.input(step.adjoint, 'dy', u.axes)
    const adj = adjoints(
      [{ node: top, seed }],
      targets.map((t) => t.leaf),
      b,
    )
    const hit = targets.filter((t) => adj.has(t.leaf.id))
    const all = simplifyGraphs([...hit.map((t) => adj.get(t.leaf.id)!), top], layer.axes).roots
    const simplified = all.slice(0, hit.length)
    const sTop = all[hit.length]!
    // The value of the binding itself, where its derivative uses it (sqrt, exp), by its name.
    const leafName = (n: Node) => (n === sTop && !isLeaf(n) ? name : countLeaf(n))
    for (const z of centredSums(simplified, origOf)) step.rules.push(z)
    hit.forEach((t, k) => {
      const expr = toExpr(simplified[k]!, leafName)
      step.contributions.push({ to: nameOf(t.orig)!, adjoint: adjName(t.orig), expr })
      const list = received.get(t.orig.id) ?? []
      list.push(expr)
      received.set(t.orig.id, list)
    })
    steps.push(step)
  }
  const totals = [...fwd.inputs, ...fwd.params].map((w) => ({
    name: 'd' + w.name!,
    of: w.name!,
    terms: received.get(w.id) ?? [],
  }))
  const body = backwardLayer(g).items.find((it) => it.kind === 'block')
  return {
    layer: layer.decl.name,
    mode: layer.hasForward ? 'forward' : g.mode,
    seeds: fwd.outputs.map((o) => ({ output: o.name, upstream: upstreamName(layer, o.name) })),
    forward,
    steps,
    totals,
    simplified: body && body.kind === 'block' ? body.stmts : [],
  }
}

/** mean(X, R) as written (mean, or sum / count), for noticing centred sums. */
function meanOf(n: Node): { X: Node; R: readonly string[] } | undefined {
  if (n.op === 'mean') return { X: n.args[0]!, R: n.over! }
  const c =
    n.op === 'div' ? (n.args[1]!.op === 'broadcast' ? n.args[1]!.args[0]! : n.args[1]!) : undefined
  if (n.op === 'div' && n.args[0]!.op === 'sum' && c?.op === 'count')
    return { X: n.args[0]!.args[0]!, R: n.args[0]!.over! }
  return undefined
}

/**
 * Sums of deviations from a mean in the contributions: sum(x − mu, R) with mu = mean(x, R) is
 * exactly zero, which a student should see (the simplifier cannot: mu is a leaf here).
 */
function centredSums(roots: Node[], origOf: Map<string, Node>): Rule[] {
  const out: Rule[] = []
  for (const n of topoOrder(roots)) {
    if (n.op !== 'sum') continue
    const c = n.args[0]!
    if (c.op !== 'sub') continue
    const [a, b] = c.args as [Node, Node]
    const leaf = b.op === 'broadcast' ? b.args[0]! : b
    if (a.op !== 'input' || leaf.op !== 'input') continue
    const m = origOf.get(leaf.name!)
    const mo = m && meanOf(m)
    const same = (p: readonly string[], q: readonly string[]) =>
      p.length === q.length && p.every((z) => q.includes(z))
    if (mo && same(mo.R, n.over!) && (mo.X.name ?? mo.X.hint) === a.name) {
      const text = `sum(${a.name} - ${leaf.name}, [${n.over!.join(', ')}]) = 0: deviations from the mean ${leaf.name} sum to zero, so the term with it vanishes`
      if (!out.some((r) => r.text === text))
        out.push({
          text,
          latex: `$\\sum_{${letters(n.over!)}} (${latexName(a.name!)} - ${latexName(leaf.name!)}) = 0$: deviations from the mean sum to zero, so the term with it vanishes`,
        })
    }
  }
  return out
}

/** The Jacobians, broadcasts, cuts and clamps inside one binding, as they are applied. */
function rulesOf(
  inside: Node[],
  u: Node,
  depends: Set<number>,
  show: (n: Node) => Expr,
  countName: (R: readonly string[]) => string | undefined,
): Rule[] {
  const rules: Rule[] = []
  const seen = new Set<string>()
  const add = (r: Rule) => {
    if (!seen.has(r.text)) rules.push(r)
    seen.add(r.text)
  }
  for (const n of inside) {
    const x = n.args[0]
    if (!x || !depends.has(x.id)) continue
    const z = show(x)
    const zt = short(z) ?? 'its operand'
    const zl = short(z) ? latex(z) : 'z'
    const R = n.over ?? []
    switch (n.op) {
      case 'mean': {
        const m = countName(R) ?? `count(${fmtAxes(R)})`
        add({
          text: `mean over ${fmtAxes(R)}: each of the ${m} values of a group enters with weight 1 / ${m}, so the adjoint is divided by ${m} and broadcast back over ${R.join(', ')} to ${zt}`,
          latex: `$\\partial\\operatorname{mean}_{${letters(R)}} z / \\partial z_i = 1/${R.length > 1 ? `(${R.join('\\,')})` : R[0]}$ for each value $z_i$ of a group (here $z = ${zl}$): the adjoint is divided by $${R.join('\\,')}$ and broadcast back over $${letters(R)}$`,
        })
        break
      }
      case 'sum':
        add({
          text: `sum over ${fmtAxes(R)}: every value of a group enters with weight 1, so the adjoint is broadcast back over ${R.join(', ')} to ${zt}`,
          latex: `$\\partial\\sum_{${letters(R)}} z / \\partial z_i = 1$ for each value $z_i$ of a group (here $z = ${zl}$): the adjoint is broadcast back over $${letters(R)}$`,
        })
        break
      case 'rmax':
      case 'rmin':
        add({
          text: `${n.op === 'rmax' ? 'max' : 'min'} over ${fmtAxes(R)}: the adjoint goes to the values that attain it (split evenly on ties)`,
          latex: `$\\${n.op === 'rmax' ? 'max' : 'min'}_{${letters(R)}}$: the adjoint goes to the values that attain it, split evenly on ties`,
        })
        break
      case 'broadcast': {
        const added = n.axes.filter((a) => !x.axes.includes(a))
        add({
          text: `${zt} ${fmtAxes(x.axes)} is broadcast over ${added.join(', ')}: its adjoint is the sum over ${added.join(', ')}`,
          latex: `$${zl}$ is broadcast over $${letters(added)}$: its adjoint is the sum over $${letters(added)}$`,
        })
        break
      }
      case 'regroup':
        add({
          text: `${zt} is regrouped as ${fmtAxes(n.axes)} (the same values): the adjoint is regrouped back as ${fmtAxes(x.axes)}`,
          latex: `$${zl}$ is regrouped as $[${n.axes.join(', ')}]$ (the same values): the adjoint is regrouped back`,
        })
        break
      case 'stop_gradient': {
        const what =
          n === u ? `${show(u).kind === 'name' ? printExpr(show(u)) : 'its value'}` : 'its value'
        const deps = stopNames(x, depends)
        const into = deps.length ? deps.join(', ') : zt
        add({
          text: `stop_gradient cuts the flow: ${what} is a constant for the backward pass, and nothing flows back into ${into} through it`,
          latex: `$\\operatorname{sg}$ cuts the flow: ${what === 'its value' ? 'its value' : `$${latexName(what)}$`} is a constant for the backward pass, and nothing flows back into ${deps.length ? deps.map((d) => `$${latexName(d)}$`).join(', ') : 'its operand'} through it`,
        })
        break
      }
      case 'clamp':
        add({
          text: `clamp passes the adjoint where lo <= ${zt} <= hi (inclusive, as torch.clamp) and blocks it where a bound is active`,
          latex: `$\\operatorname{clip}$ passes the adjoint where $\\mathrm{lo} \\le ${zl} \\le \\mathrm{hi}$ and blocks it where a bound is active`,
        })
        break
    }
  }
  return rules
}

/** The named values (and inputs) below a stop_gradient that depend on the inputs. */
function stopNames(x: Node, depends: Set<number>): string[] {
  const out: string[] = []
  const seen = new Set<number>()
  const walk = (n: Node) => {
    if (seen.has(n.id) || !depends.has(n.id)) return
    seen.add(n.id)
    const name = n.op === 'input' ? n.name : n.hint
    if (name !== undefined) {
      if (!out.includes(name)) out.push(name)
      return
    }
    n.args.forEach(walk)
  }
  walk(x)
  return out
}

// ---------------------------------------------------------------------------------------------
// Rendering

const sumOf = (terms: Expr[]): Expr | undefined =>
  terms.reduce<Expr | undefined>(
    (acc, t) => (acc ? { kind: 'binary', op: '+', left: acc, right: t, span: sp } : t),
    undefined,
  )

/** Words filled into lines of at most `width` columns. */
function wrap(text: string, width: number, first: string, rest: string): string[] {
  const lines: string[] = []
  let line = first
  for (const w of text.split(' ')) {
    if (line.length + w.length + 1 > width && line.trim().length > first.trim().length) {
      lines.push(line.trimEnd())
      line = rest
    }
    line += (line === first || line === rest ? '' : ' ') + w
  }
  lines.push(line.trimEnd())
  return lines
}

/** The derivation as plain text (expressions in `.norm` syntax). */
export function renderText(d: Derivation): string {
  const out: string[] = []
  const width = 96
  const seeds = d.seeds.map((s) => `sum(${s.output} * ${s.upstream})`).join(' + ')
  out.push(
    `# The backward pass of ${d.layer} (${d.mode}), derived step by step by normc from its graph.`,
  )
  out.push(`# The loss is l = ${seeds}; dNAME stands for dl/dNAME, the adjoint of NAME.`)
  out.push('')
  out.push('Forward pass:')
  for (const f of d.forward)
    out.push(
      `  ${f.name} = ${printExpr(f.expr, { indent: 2 + f.name.length + 3, printWidth: width })}`,
    )
  out.push('')
  out.push(
    'Backward pass, the bindings in reverse order; each adds to the adjoints of the values it uses:',
  )
  for (const s of d.steps) {
    out.push('')
    const seed = d.seeds.find((x) => x.output === s.name)
    out.push(
      `  ${s.name} = ${printExpr(s.def, { indent: 2 + s.name.length + 3, printWidth: width })}${seed ? `    (${seed.upstream} is given)` : ''}`,
    )
    for (const r of s.rules) out.push(...wrap(r.text, width, '    - ', '      '))
    if (s.stopped) {
      const got = sumOf(s.dropped ?? [])
      out.push(
        `    ${s.adjoint} = ${got ? printExpr(got, { indent: 4 + s.adjoint.length + 3, printWidth: width }) : '0'}`,
      )
      out.push(
        ...wrap(
          `is dropped: ${s.name} is a stop_gradient, so no gradient flows through it into the values it is computed from`,
          width,
          '      ',
          '      ',
        ),
      )
      continue
    }
    const pad = Math.max(...s.contributions.map((c) => c.adjoint.length), 0)
    for (const c of s.contributions)
      out.push(
        `    ${c.adjoint.padEnd(pad)} += ${printExpr(c.expr, { indent: 4 + pad + 4, printWidth: width })}`,
      )
  }
  out.push('')
  out.push('Gradients, the sums of their contributions:')
  for (const t of d.totals) {
    const s = sumOf(t.terms)
    out.push(
      `  ${t.name} = ${s ? printExpr(s, { indent: 2 + t.name.length + 3, printWidth: width }) : `0 (no gradient flows to ${t.of})`}`,
    )
  }
  out.push('')
  out.push('Simplified, as `normc grad` prints it:')
  for (const st of d.simplified)
    out.push(
      `  ${st.name} = ${printExpr(st.value, { indent: 2 + st.name.length + 3, printWidth: width })}`,
    )
  return out.join('\n') + '\n'
}

/** The derivation as LaTeX (amsmath), ready to paste into a document. */
export function renderLatex(d: Derivation): string {
  const adjointOf = new Map<string, string>()
  for (const s of d.seeds) adjointOf.set(s.upstream, s.output)
  for (const s of d.steps) {
    adjointOf.set(s.adjoint, s.name)
    for (const c of s.contributions) adjointOf.set(c.adjoint, c.to)
  }
  for (const t of d.totals) adjointOf.set(t.name, t.of)
  const names: Names = (n) => {
    const of = adjointOf.get(n)
    return of !== undefined ? latexAdjoint(of) : latexName(n)
  }
  const L = (e: Expr) => latex(e, names)
  const out: string[] = []
  out.push(
    `% The backward pass of ${d.layer} (${d.mode}), derived step by step by normc from its graph.`,
  )
  out.push('% Needs \\usepackage{amsmath}.')
  const loss = d.seeds
    .map((s) => `\\sum ${latexName(s.output)}\\,${latexAdjoint(s.output)}`)
    .join(' + ')
  out.push(
    `\\paragraph{Notation.} The loss is $\\ell = ${loss}$, and $\\bar v = \\partial\\ell/\\partial v$ is the adjoint of a value $v$. Sums run over the lower-case axis letters; $N\\,H\\,W$ is a count of elements.`,
  )
  out.push('')
  out.push('\\paragraph{Forward pass.}')
  out.push('\\begin{align*}')
  out.push(d.forward.map((f) => `  ${latexName(f.name)} &= ${L(f.expr)}`).join(' \\\\\n'))
  out.push('\\end{align*}')
  out.push('')
  out.push(
    '\\paragraph{Backward pass.} The bindings in reverse order; each adds to the adjoints of the values it uses.',
  )
  for (const s of d.steps) {
    out.push('')
    out.push(`\\noindent From $${latexName(s.name)} = ${L(s.def)}$:`)
    if (s.rules.length) {
      out.push('\\begin{itemize}')
      for (const r of s.rules) out.push(`  \\item ${r.latex}.`)
      out.push('\\end{itemize}')
    }
    if (s.stopped) {
      const got = sumOf(s.dropped ?? [])
      out.push(
        `$${latexAdjoint(s.name)} = ${got ? L(got) : '0'}$ is dropped: $${latexName(s.name)}$ is a stop-gradient, so no gradient flows through it.`,
      )
      continue
    }
    if (s.contributions.length) {
      out.push('\\begin{align*}')
      out.push(
        s.contributions
          .map((c) => `  ${latexAdjoint(c.to)} &\\mathrel{+}= ${L(c.expr)}`)
          .join(' \\\\\n'),
      )
      out.push('\\end{align*}')
    }
  }
  out.push('')
  out.push('\\paragraph{Gradients.} The sums of their contributions:')
  out.push('\\begin{align*}')
  out.push(
    d.totals
      .map((t) => `  ${latexAdjoint(t.of)} &= ${t.terms.length ? L(sumOf(t.terms)!) : '0'}`)
      .join(' \\\\\n'),
  )
  out.push('\\end{align*}')
  out.push('')
  out.push('\\paragraph{Simplified} (as \\texttt{normc grad} prints it):')
  out.push('\\begin{align*}')
  out.push(d.simplified.map((st) => `  ${names(st.name)} &= ${L(st.value)}`).join(' \\\\\n'))
  out.push('\\end{align*}')
  return out.join('\n') + '\n'
}
