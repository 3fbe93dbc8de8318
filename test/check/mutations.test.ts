// Planted mistakes make `normc check` fail, with the right message: the classic mistakes of
// spec/README.md §11 in the specs, mistakes in the layers themselves checked against a correct
// spec, and a wrong derivative rule in the compiler.

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { rules, type RuleTable } from '../../compiler/grad/index.js'
import type { Row } from '../../runtime/check/index.js'
import { formatReport } from '../../runtime/check/report.js'
import { normc } from '../utils/cli.js'
import { checkSources, example, failing, failures, plant, read, spec } from './helpers.js'

interface Mutation {
  name: string
  /** The example the layer comes from. */
  example: string
  /** The layer's source (default: the example, unchanged). */
  layer?: (text: string) => string
  /** The spec's source (default: the spec of the example, unchanged). */
  spec?: (text: string) => string
  /** What must fail, as `mode wrt check`, and nothing else. */
  fails: string[]
  /** Text the failure of the first of `fails` must show (the element, a hint). */
  message?: RegExp
}

const noStopDx = `inR = ge(sigmaB / sigma, 1 / rmax) * le(sigmaB / sigma, rmax)
  inD = ge((muB - mu) / sigma, -dmax) * le((muB - mu) / sigma, dmax)
  dx = gamma * r / sigmaB * (dy - mean(dy, [N]) - xhatB * mean(dy * xhatB, [N]))
    + gamma / sigma * (inR * xhatB * mean(dy * xhatB, [N]) + inD * mean(dy, [N]))`

const specMistakes: Mutation[] = [
  {
    name: '1. running variance not Bessel-corrected (BatchNorm2d)',
    example: 'batchnorm2d',
    spec: (s) =>
      plant(s, 'sum((x - mu) ^ 2, [N, H, W]) / (m - 1)', 'sum((x - mu) ^ 2, [N, H, W]) / m'),
    fails: ['train running_var <- spec', 'train running_var <- spec @1e4'],
    message:
      /spec: running_var <- at running_var\[c=\d\]\n\s+expected [-\d.e]+ \(the spec's running_var <- \(spec\/batchnorm2d\.spec\.norm:22\)\)\n\s+actual\s+[-\d.e]+ \(the layer's update\)/,
  },
  {
    name: '2. the mean term missing from dx (BatchNorm2d, "normalization outside the gradient")',
    example: 'batchnorm2d',
    spec: (s) => plant(s, '(m * dy - dbeta - xhat * dgamma)', '(m * dy - xhat * dgamma)'),
    fails: ['train x spec', 'train x spec @1e4'],
    message:
      /dx at x\[n=\d, c=\d, h=\d, w=\d\][\s\S]*hint: the difference is constant within each group over \[N, H, W\]: a mean term/,
  },
  {
    name: "2'. the mean term missing from dx in the paper's chain-rule form (BatchNorm1d)",
    example: 'batchnorm1d',
    spec: (s) => plant(s, ' + dmu / m\n', '\n'),
    fails: ['train x spec', 'train x spec @1e4'],
    message: /hint: the difference is constant within each group over \[N\]: a mean term/,
  },
  {
    name: '3. the variance term missing from dx (BatchNorm2d)',
    example: 'batchnorm2d',
    spec: (s) => plant(s, '(m * dy - dbeta - xhat * dgamma)', '(m * dy - dbeta)'),
    fails: ['train x spec', 'train x spec @1e4'],
    message:
      /hint: the difference lies along the centered input \(x̂\) within each group over \[N, H, W\]: a variance term/,
  },
  {
    name: '4. eps outside the square root (BatchNorm2d)',
    example: 'batchnorm2d',
    spec: (s) =>
      plant(
        s,
        'rsqrt(mean((x - mu) ^ 2, [N, H, W]) + eps)',
        '1 / (sqrt(mean((x - mu) ^ 2, [N, H, W])) + eps)',
      ),
    fails: ['train gamma spec', 'train gamma spec @1e4', 'train x spec', 'train x spec @1e4'],
    message:
      /dgamma at gamma\[c=\d\][\s\S]*hint: the error is far larger on a constant or low-variance group[\s\S]*check where eps enters/,
  },
  {
    name: "5. Batch Renorm's r and d not stopped (the README's no-stop formula)",
    example: 'batchrenorm',
    spec: (s) =>
      plant(
        s,
        'dx = gamma * r / sigmaB * (dy - mean(dy, [N]) - xhatB * mean(dy * xhatB, [N]))',
        noStopDx,
      ),
    fails: ['train x spec', 'train x spec @1e4'],
    message:
      /spec: dx at x\[n=\d, c=\d\]\n\s+expected [-\d.e]+ \(the spec's dx \(spec\/batchrenorm\.spec\.norm:2[6-9]\)\)/,
  },
  {
    name: "6. r left out of Batch Renorm's dx",
    example: 'batchrenorm',
    spec: (s) => plant(s, 'dx = gamma * r / sigmaB', 'dx = gamma / sigmaB'),
    fails: ['train x spec', 'train x spec @1e4'],
  },
  {
    name: "7. Batch Renorm's dgamma with xhatB instead of xhatB * r + d",
    example: 'batchrenorm',
    spec: (s) => plant(s, 'dgamma = sum(dy * xhat, [N])', 'dgamma = sum(dy * xhatB, [N])'),
    fails: ['train gamma spec', 'train gamma spec @1e4'],
  },
  {
    name: "8. Batch Renorm's moving sigma fed the variance sigmaB^2",
    example: 'batchrenorm',
    spec: (s) => plant(s, 'momentum * (sigmaB - sigma)', 'momentum * (sigmaB ^ 2 - sigma)'),
    fails: ['train sigma <- spec', 'train sigma <- spec @1e4'],
  },
  {
    name: '9. a GroupNorm that reduces over W only',
    example: 'groupnorm',
    spec: (s) => s.split('[K, H, W]').join('[W]'),
    fails: [
      'forward gamma spec',
      'forward gamma spec @1e4',
      'forward x spec',
      'forward x spec @1e4',
    ],
  },
  {
    name: '10. GroupNorm with gamma factored out of the group sums',
    example: 'groupnorm',
    spec: (s) =>
      plant(
        plant(s, 'dxhat = gamma * dy as [N, G, K, H, W]', 'dxhat = dy as [N, G, K, H, W]'),
        'dx = dxg as [N, C, H, W]',
        'dx = gamma * (dxg as [N, C, H, W])',
      ),
    fails: ['forward x spec', 'forward x spec @1e4'],
  },
  {
    name: '11. RMSNorm with a mean term copied from LayerNorm',
    example: 'rmsnorm',
    spec: (s) =>
      plant(
        s,
        '- x * rinv ^ 3 / m * sum(gamma * dy * x, [D])',
        '- x * rinv ^ 3 / m * sum(gamma * dy * x, [D]) - rinv / m * sum(gamma * dy, [D])',
      ),
    fails: ['forward x spec', 'forward x spec @1e4'],
  },
  {
    name: '13. InstanceNorm running variance not Bessel-corrected',
    example: 'instancenorm',
    spec: (s) =>
      plant(
        s,
        'varU = sum((x - mu) ^ 2, [H, W]) / (m - 1)',
        'varU = sum((x - mu) ^ 2, [H, W]) / m',
      ),
    fails: ['train running_var <- spec', 'train running_var <- spec @1e4'],
  },
  {
    name: '14. LayerNorm with gamma factored out of the row sums',
    example: 'layernorm',
    spec: (s) =>
      plant(
        plant(s, 'dxhat = gamma * dy', 'dxhat = dy'),
        'dx = inv / m * (m * dxhat',
        'dx = gamma * inv / m * (m * dxhat',
      ),
    fails: ['forward x spec', 'forward x spec @1e4'],
  },
]

const layerMistakes: Mutation[] = [
  {
    name: 'a BatchNorm2d whose output ignores eps, against the correct spec',
    example: 'batchnorm2d',
    layer: (s) =>
      plant(
        s,
        'y = gamma * (x - mu) / sqrt(var + eps) + beta',
        'y = gamma * (x - mu) / sqrt(var) + beta',
      ),
    fails: ['train gamma spec', 'train gamma spec @1e4', 'train x spec', 'train x spec @1e4'],
    message: /the error is far larger on a constant or low-variance group/,
  },
  {
    name: 'a BatchNorm2d that feeds the biased variance to its running variance',
    example: 'batchnorm2d',
    layer: (s) =>
      plant(
        s,
        'lerp(running_var, var * m / (m - 1), momentum)',
        'lerp(running_var, var, momentum)',
      ),
    fails: ['train running_var <- spec', 'train running_var <- spec @1e4'],
  },
  {
    name: 'a Batch Renorm whose r and d are not stopped, against the spec that holds them constant',
    example: 'batchrenorm',
    layer: (s) =>
      plant(
        plant(
          s,
          'r = stop_gradient(clamp(sigmaB / sigma, 1 / rmax, rmax))',
          'r = clamp(sigmaB / sigma, 1 / rmax, rmax)',
        ),
        'd = stop_gradient(clamp((muB - mu) / sigma, -dmax, dmax))',
        'd = clamp((muB - mu) / sigma, -dmax, dmax)',
      ),
    fails: ['train x spec', 'train x spec @1e4'],
  },
]

function run(m: Mutation, opts: { rules?: RuleTable } = {}): Row[] {
  const layer = example(m.example)
  const s = spec(m.example)
  return checkSources(
    [
      { file: layer.file, text: m.layer ? m.layer(layer.text) : layer.text },
      { file: s.file, text: m.spec ? m.spec(s.text) : s.text },
    ],
    opts,
    [layer.file],
  )
}

describe('classic mistakes in a spec are caught', { timeout: 60_000 }, () => {
  for (const m of specMistakes) {
    it(m.name, () => {
      const rows = run(m)
      expect(failures(rows).sort()).toEqual([...m.fails].sort())
      // Every failure names the element, both values and the trial.
      for (const r of failing(rows)) {
        expect(r.failure!.element).toMatch(/^[a-z_]+\[([a-z]=\d+(, )?)+\]$/)
        expect(Number.isFinite(r.failure!.expected) || Number.isNaN(r.failure!.expected)).toBe(true)
        expect(r.failure!.trial).toMatch(/^trial \d \(/)
      }
      if (m.message) expect(formatReport(rows)).toMatch(m.message)
    })
  }

  it("12. LayerNorm's dgamma summed over D instead of B: a shape error, before any number", () => {
    const dir = 'spec/layernorm.spec.norm'
    const bad = plant(read(dir), 'dgamma = sum(dy * xhat, [B])', 'dgamma = sum(dy * xhat, [D])')
    const r = normcWith({ 'bad.spec.norm': bad }, [
      'check',
      'examples/layernorm.norm',
      '--spec',
      '$bad.spec.norm',
    ])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("'dgamma' has axes [B], but gamma has axes [D]")
  })
})

describe('mistakes in a layer, against a correct spec', { timeout: 60_000 }, () => {
  for (const m of layerMistakes) {
    it(m.name, () => {
      const rows = run(m)
      expect(failures(rows).sort()).toEqual([...m.fails].sort())
      if (m.message) expect(formatReport(rows)).toMatch(m.message)
    })
  }

  it('a wrong derivative rule in the compiler (mean without 1 / m) fails finite differences and the spec', () => {
    const wrongMean: RuleTable = { ...rules, mean: (n, g, b) => [b.broadcast(g, n.args[0]!.axes)] }
    const rows = run({ name: '', example: 'batchnorm2d', fails: [] }, { rules: wrongMean })
    const f = failures(rows)
    expect(f).toContain('train x finite diff')
    expect(f).toContain('train x spec')
    // The properties see it too: the gradient no longer sums to zero over a channel.
    expect(f).toContain('train x sum dx = 0 per group')
    expect(formatReport(rows)).toMatch(
      /finite diff: dx at x\[n=\d, c=\d, h=\d, w=\d\]\n\s+expected [-\d.e]+ \(finite differences\)\n\s+actual\s+[-\d.e]+ \(normc's derived gradient\)/,
    )
  })
})

describe('on the command line', { timeout: 60_000 }, () => {
  it('a failing spec exits 1 and prints the failure in full', () => {
    const bad = plant(
      read('spec/batchnorm2d.spec.norm'),
      '(m * dy - dbeta - xhat * dgamma)',
      '(m * dy - xhat * dgamma)',
    )
    const r = normcWith({ 'bn.spec.norm': bad }, [
      'check',
      'examples/batchnorm2d.norm',
      '--spec',
      '$bn.spec.norm',
      '--mode',
      'train',
    ])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(
      /BatchNorm2d\s+train\s+x\s+spec\s+[\d.e+-]+\s+[\d.e+-]+\s+1e-10\s+FAIL/,
    )
    expect(r.stdout).toMatch(/FAIL  BatchNorm2d train, spec: dx at x\[n=\d, c=\d, h=\d, w=\d\]/)
    expect(r.stdout).toMatch(/^FAILED: /m)
  })
})

/** Runs normc with extra files written to a temporary folder (`$NAME` in args is their path). */
function normcWith(files: Record<string, string>, args: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'normc-check-'))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  return normc(args.map((a) => (a.startsWith('$') ? join(dir, a.slice(1)) : a)))
}
