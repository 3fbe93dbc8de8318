// `normc grad --explain` / `--latex`: the derivation, generated from the IR. Its contributions,
// summed in the order it states them, must be the derived gradient: the explanation is checked
// by turning it into a spec and running the checker on it.

import { describe, expect, it } from 'vitest'
import { explain, renderLatex, renderText, type Derivation } from '../../compiler/explain/index.js'
import { frontend } from '../../compiler/frontend.js'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { printExpr } from '../../compiler/print/index.js'
import type { Expr } from '../../grammar/ast.js'
import { emptySpan } from '../../grammar/ast.js'
import { normc } from '../utils/cli.js'
import { checkSources, example, failures, modesOf } from './helpers.js'

/** A phrase, matched across the line breaks the text wraps it with. */
const words = (phrase: string) =>
  new RegExp(
    phrase
      .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      .split(' ')
      .join('\\s+'),
  )

const files = [
  'batchnorm1d',
  'batchnorm2d',
  'batchrenorm',
  'groupnorm',
  'instancenorm',
  'layernorm',
  'rmsnorm',
]

/**
 * The derivation as a spec: the forward bindings, then each adjoint as the sum of the
 * contributions it received (in the order of the steps), then the gradients.
 */
function asSpec(d: Derivation, mode: 'train' | 'eval'): string {
  const plus = (ts: Expr[]) =>
    ts.reduce((a, t) => ({ kind: 'binary', op: '+', left: a, right: t, span: emptySpan }) as Expr)
  const lines = d.forward.map((f) => `  ${f.name} = ${printExpr(f.expr)}`)
  const got = new Map<string, Expr[]>()
  const upstream = new Set(d.seeds.map((s) => s.upstream))
  for (const s of d.steps) {
    const mine = got.get(s.adjoint)
    if (mine && !upstream.has(s.adjoint) && !s.stopped)
      lines.push(`  ${s.adjoint} = ${printExpr(plus(mine))}`)
    for (const c of s.contributions) got.set(c.adjoint, [...(got.get(c.adjoint) ?? []), c.expr])
  }
  for (const t of d.totals)
    if (t.terms.length) lines.push(`  ${t.name} = ${printExpr(plus(t.terms))}`)
  return `spec ${d.layer} ${mode} {\n${lines.join('\n')}\n}\n`
}

describe('the derivation is the derived gradient', { timeout: 60_000 }, () => {
  for (const f of files) {
    const src = example(f)
    const fe = frontend([src])
    for (const layer of fe.layers)
      for (const mode of modesOf(layer)) {
        it(`${layer.decl.name} ${mode}`, () => {
          const d = explain(compileLayerGraphs(layer, mode))
          const spec = asSpec(d, mode)
          const rows = checkSources(
            [src, { file: 'explained.spec.norm', text: spec }],
            { trials: 2 },
            [src.file],
          )
          expect(failures(rows)).toEqual([])
          const specRows = rows.filter(
            (r) =>
              r.check === 'spec' &&
              r.mode === (layer.hasForward ? 'forward' : mode) &&
              !r.wrt.endsWith('<-'),
          )
          expect(specRows.length).toBeGreaterThan(0)
          expect(specRows.every((r) => r.status === 'PASS')).toBe(true)
          // Every input and param has its gradient as a sum of contributions.
          expect(d.totals.map((t) => t.name)).toEqual(
            [...layer.inputs, ...layer.params].map((t) => 'd' + t.name),
          )
        })
      }
  }
})

describe('what the derivation says', { timeout: 60_000 }, () => {
  const text = (f: string, mode: 'train' | 'eval' = 'train') => {
    const fe = frontend([example(f)])
    return renderText(explain(compileLayerGraphs(fe.layers[0]!, mode)))
  }

  it('BatchNorm2d: the Jacobians of the mean and the variance as they are applied, the sums, the result', () => {
    const t = text('batchnorm2d')
    expect(t).toContain(
      '# The backward pass of BatchNorm2d (train), derived step by step by normc from its graph.',
    )
    expect(t).toContain('  y = gamma * (x - mu) / sqrt(var + eps) + beta    (dy is given)')
    expect(t).toContain('gamma [C] is broadcast over N, H, W: its adjoint is the sum over N, H, W')
    expect(t).toMatch(
      words(
        'mean over [N, H, W]: each of the m values of a group enters with weight 1 / m, so the adjoint is divided by m and broadcast back over N, H, W to (x - mu) ^ 2',
      ),
    )
    expect(t).toMatch(/sum\(x - mu, \[N, H, W\]\) = 0: deviations from the mean mu sum to zero/)
    expect(t).toMatch(/\n    dmu \+= /)
    expect(t).toMatch(/\n    dx \+= dmu \/ m\n/)
    expect(t).toContain('Gradients, the sums of their contributions:')
    expect(t).toContain('Simplified, as `normc grad` prints it:')
  })

  it('Batch Renorm: where stop_gradient cuts the flow, and what it drops', () => {
    const t = text('batchrenorm')
    expect(t).toMatch(
      words(
        'stop_gradient cuts the flow: r is a constant for the backward pass, and nothing flows back into sigmaB through it',
      ),
    )
    expect(t).toMatch(/\n    dr = .*\n      is dropped: r is a stop_gradient/)
    expect(t).toMatch(
      /\n    dd = gamma \* sum\(dy, \[N\]\)\n      is dropped: d is a stop_gradient/,
    )
  })

  it('GroupNorm: the regrouping and the per-group reductions', () => {
    const t = text('groupnorm')
    expect(t).toMatch(
      words(
        'x is regrouped as [N, G, K, H, W] (the same values): the adjoint is regrouped back as [N, C, H, W]',
      ),
    )
    expect(t).toMatch(/mean over \[K, H, W\]/)
  })

  it('an invented layer: a max over an axis, a clamp', () => {
    const src =
      'layer M(x: [N, C]) -> y {\n  forward {\n    s = max(x, [N])\n    y = clamp(x / s, -0.5, 0.5)\n  }\n}\n'
    const fe = frontend([{ file: 'm.norm', text: src }])
    const t = renderText(explain(compileLayerGraphs(fe.layers[0]!, 'train')))
    expect(t).toContain(
      'max over [N]: the adjoint goes to the values that attain it (split evenly on ties)',
    )
    expect(t).toMatch(
      words('clamp passes the adjoint where lo <= x / s <= hi (inclusive, as torch.clamp)'),
    )
  })

  it('LaTeX: Greek letters, bars for adjoints, fractions, balanced braces', () => {
    const fe = frontend([example('batchrenorm')])
    const l = renderLatex(explain(compileLayerGraphs(fe.layers[0]!, 'train')))
    expect(l).toContain('\\paragraph{Forward pass.}')
    expect(l).toContain(
      '\\sigma_{B} &= \\sqrt{\\operatorname{mean}_{n} \\left(x - \\mu_{B}\\right)^{2} + \\varepsilon}',
    )
    expect(l).toContain('\\bar{x} &\\mathrel{+}= ')
    expect(l).toContain('is dropped: $r$ is a stop-gradient')
    let depth = 0
    for (const ch of l.replace(/\\[{}]/g, '')) {
      if (ch === '{') depth++
      if (ch === '}') depth--
      expect(depth).toBeGreaterThanOrEqual(0)
    }
    expect(depth).toBe(0)
    expect(l.match(/\\left/g)?.length).toBe(l.match(/\\right/g)?.length)
    expect(l.match(/\\begin\{align\*\}/g)?.length).toBe(l.match(/\\end\{align\*\}/g)?.length)
  })

  it('on the command line: normc grad --explain and --latex', () => {
    const r = normc(['grad', 'examples/layernorm.norm', '--explain'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('# The backward pass of LayerNorm (forward)')
    const l = normc(['grad', 'examples/batchnorm2d.norm', '--mode', 'eval', '--latex'])
    expect(l.code).toBe(0)
    expect(l.stdout).toContain('% The backward pass of BatchNorm2d (eval)')
    expect(l.stdout).toContain('\\begin{align*}')
    // Without the flags, grad prints the backward layer as before.
    expect(normc(['grad', 'examples/layernorm.norm']).stdout).toMatch(
      /^# The backward pass of LayerNorm \(forward\), derived by normc\./,
    )
  })
})
