// Layers a user invents check cleanly, with no code that knows them: the properties that apply
// are found from the graph, the others are skipped with the reason.

import { describe, expect, it } from 'vitest'
import { layerStructure } from '../../runtime/check/index.js'
import { frontend } from '../../compiler/frontend.js'
import { checkSources, failures } from './helpers.js'

const meanOnly = `# A "mean-only" BatchNorm: centering without scaling.
layer MeanOnlyBN(x: [N, C]) -> y {
  hyper momentum = 0.1
  param gamma: [C] = 1
  param beta: [C] = 0
  state running_mean: [C] = 0

  train {
    mu = mean(x, [N])
    y = gamma * (x - mu) + beta
    running_mean <- lerp(running_mean, mu, momentum)
  }
  eval {
    y = gamma * (x - running_mean) + beta
  }
}

spec MeanOnlyBN train {
  dx = gamma * (dy - mean(dy, [N]))
  dgamma = sum(dy * (x - mean(x, [N])), [N])
  dbeta = sum(dy, [N])
  running_mean <- (1 - momentum) * running_mean + momentum * mean(x, [N])
}
`

const learnedEps = `# BatchNorm with a learned eps: a scalar param, differentiated like any other.
layer LearnedEpsBN(x: [N, C]) -> y {
  param eps: [] = 1e-5
  param gamma: [C] = 1
  param beta: [C] = 0

  forward {
    mu = mean(x, [N])
    var = mean((x - mu) ^ 2, [N])
    y = gamma * (x - mu) / sqrt(var + eps) + beta
  }
}

spec LearnedEpsBN train {
  m = count([N])
  mu = mean(x, [N])
  var = mean((x - mu) ^ 2, [N])
  inv = rsqrt(var + eps)
  xhat = (x - mu) * inv
  dbeta = sum(dy, [N])
  dgamma = sum(dy * xhat, [N])
  dx = gamma * inv / m * (m * dy - dbeta - xhat * dgamma)
  deps = sum(-0.5 * inv ^ 3 * sum(gamma * dy * (x - mu), [N]), [C]) # d/d eps of (var + eps)^(-1/2)
}
`

const structureOf = (text: string, mode: 'train' | 'eval' = 'train') => {
  const fe = frontend([{ file: 'u.norm', text }])
  return layerStructure(fe.layers[0]!, mode, fe.sources).inputs[0]!
}

describe('invented layers', { timeout: 60_000 }, () => {
  it('a mean-only BatchNorm: zero sum and shift invariance apply; orthogonality and scale do not', () => {
    const rows = checkSources([{ file: 'meanonly.norm', text: meanOnly }])
    expect(failures(rows)).toEqual([])
    const get = (mode: string, check: string) =>
      rows.find((r) => r.mode === mode && r.check === check)!
    expect(get('train', 'sum dx = 0 per group').status).toBe('PASS')
    expect(get('train', 'y shift-invariant').status).toBe('PASS')
    expect(get('train', 'sum dx * xhat = 0 (eps=0)').status).toBe('SKIP')
    expect(get('train', 'sum dx * xhat = 0 (eps=0)').note).toMatch(
      /not normalized by a root mean square/,
    )
    expect(get('train', 'y scale-invariant (eps=0)').status).toBe('SKIP')
    expect(get('eval', 'sum dx = 0 per group').note).toMatch(/x is never centered/)
    // Its spec (written here) was compared, gradients and state update.
    expect(
      rows
        .filter((r) => r.mode === 'train' && r.check === 'spec' && r.status === 'PASS')
        .map((r) => r.wrt),
    ).toEqual(['x', 'gamma', 'beta', 'running_mean <-'])
  })

  it('a BatchNorm with a learned eps: its gradient is checked, and eps = 0 is set on the param', () => {
    const rows = checkSources([{ file: 'learnedeps.norm', text: learnedEps }])
    expect(failures(rows)).toEqual([])
    expect(rows.find((r) => r.wrt === 'eps' && r.check === 'finite diff')!.status).toBe('PASS')
    expect(rows.find((r) => r.wrt === 'eps' && r.check === 'spec')!.status).toBe('PASS')
    for (const check of [
      'sum dx = 0 per group',
      'sum dx * xhat = 0 (eps=0)',
      'y shift-invariant',
      'y scale-invariant (eps=0)',
    ])
      expect(rows.find((r) => r.check === check)!.status).toBe('PASS')
    expect(structureOf(learnedEps).eps).toEqual([{ kind: 'tensor', name: 'eps' }])
  })

  it('an eps written as a constant cannot be set to 0: the exact properties are skipped, saying so', () => {
    const s = structureOf(`layer L(x: [B, D]) -> y {
  forward {
    y = (x - mean(x, [D])) * rsqrt(mean((x - mean(x, [D])) ^ 2, [D]) + 1e-5)
  }
}`)
    expect(s.zeroSum.holds).toBe(true)
    expect(s.ortho.holds).toBe(false)
    expect(s.ortho.why).toMatch(/eps is the constant 0.00001 in the source: it cannot be set to 0/)
  })

  it('a layer that also passes x around its centering: the zero sum does not apply, and the place is named', () => {
    const text = `layer Leaky(x: [N, C]) -> y {
  forward {
    y = (x - mean(x, [N])) + 0.1 * x
  }
}`
    const s = structureOf(text)
    expect(s.zeroSum.holds).toBe(false)
    expect(s.zeroSum.why).toMatch(
      /x reaches the output outside its centering x − mean\(x, \[N\]\), at `0.1 \* x` \(u\.norm:3:30\)/,
    )
    expect(failures(checkSources([{ file: 'leaky.norm', text }]))).toEqual([])
  })

  it('a layer with a max, several outputs and a free axis checks cleanly (kinks at ties are left out)', () => {
    const text = `layer MaxNorm(x: [N, C]) -> y {
  forward {
    y = x / max(abs(x), [N])
  }
}

layer TwoOut(x: [B, D]) -> y, z {
  hyper eps = 1e-5
  param gamma: [D] = 1
  forward {
    mu = mean(x, [D])
    z = x - mu
    y = gamma * z * rsqrt(mean(z ^ 2, [D]) + eps)
  }
}

layer Proj(x: [B, D]) -> y {
  axis H
  param W: [D, H] = 0.1
  forward {
    y = tanh(sum(x * W, [D]))
  }
}`
    const rows = checkSources([{ file: 'odd.norm', text }])
    expect(failures(rows)).toEqual([])
    const maxFd = rows.find((r) => r.layer === 'MaxNorm' && r.check === 'finite diff')!
    expect(maxFd.note).toMatch(
      /not differentiable at \d+ elements? on trial 1 .*one constant group .*left out there/,
    )
    const two = rows.filter((r) => r.layer === 'TwoOut')
    expect(two.find((r) => r.check === 'sum dx = 0 per group')!.status).toBe('PASS')
    expect(two.find((r) => r.check === 'sum dx * xhat = 0 (eps=0)')!.note).toMatch(/at `x - mu`/)
    expect(
      rows.find((r) => r.layer === 'Proj' && r.wrt === 'W' && r.check === 'finite diff')!.status,
    ).toBe('PASS')
  })
})
