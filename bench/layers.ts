// The benchmark's layer cases: shapes, hyper-parameters, deterministic inputs, and the minimum
// traffic any implementation must move (issue 5: train forward reads x twice and writes y; eval
// forward reads x once and writes y; backward reads x and dy twice and writes dx).

export type LayerId = 'bn-nchw' | 'bn-nhwc' | 'layernorm' | 'groupnorm' | 'rmsnorm' | 'batchrenorm'
export type Pass = 'forward' | 'backward' | 'fwdbwd'

export const LAYER_IDS: readonly LayerId[] = [
  'bn-nchw',
  'bn-nhwc',
  'layernorm',
  'groupnorm',
  'rmsnorm',
  'batchrenorm',
]
export const PASSES: readonly Pass[] = ['forward', 'backward', 'fwdbwd']

export const PASS_LABEL: Record<Pass, string> = {
  forward: 'forward (train)',
  backward: 'backward',
  fwdbwd: 'forward+backward',
}

export interface Hyper {
  eps: number
  /** Running-statistics momentum, PyTorch convention: new = (1 - m)·old + m·batch. */
  momentum?: number
  groups?: number
  rmax?: number
  dmax?: number
}

/** Bytes a pass must move over the full-size tensors, at least (float32). */
export interface Traffic {
  forward: number
  evalForward: number
  backward: number
  fwdbwd: number
}

export interface LayerCase {
  id: LayerId
  /** e.g. 'BatchNorm NCHW [32,64,32,32]' */
  label: string
  /** The layer in examples/*.norm this case corresponds to, and its axis sizes. */
  norm: { layer: string; axes: Record<string, number> }
  /**
   * Memory order of x. NCHW: [N, C, H, W]; NHWC: [N, H, W, C] (per-channel statistics, channel
   * innermost); ND: [B, D] normalised over D; NC: [N, C] per-channel statistics over N.
   */
  layout: 'NCHW' | 'NHWC' | 'ND' | 'NC'
  /** Shape of x in memory order. */
  shape: number[]
  /** Number of elements of x (and y, dy, dx). */
  size: number
  hyper: Hyper
  /** Full-size inputs, float32, fixed per run (seeded). */
  x: Float32Array
  dy: Float32Array
  /** Per-channel (BN, GN, renorm) or per-feature (LN, RMS) affine parameters. */
  gamma: Float32Array
  /** null for RMSNorm, which has no bias. */
  beta: Float32Array | null
  /**
   * Initial state. BN: runningMean, runningVar. Batch Renorm: mu, sigma (moving mean and moving
   * standard deviation). Others: empty. Implementations copy it; every forward starts from these
   * values so that outputs are deterministic from run to run (Batch Renorm's r and d depend on
   * the state).
   */
  state: Record<string, Float32Array>
  traffic: Traffic
}

// ---------------------------------------------------------------------------------------------
// Deterministic inputs

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Standard normal samples (Box–Muller) from a uniform source. */
export function normals(n: number, rand: () => number, mean = 0, std = 1): Float32Array {
  const out = new Float32Array(n)
  for (let i = 0; i < n; i += 2) {
    const u = 1 - rand()
    const v = rand()
    const r = Math.sqrt(-2 * Math.log(u))
    out[i] = mean + std * r * Math.cos(2 * Math.PI * v)
    if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(2 * Math.PI * v)
  }
  return out
}

function traffic(size: number): Traffic {
  const S = size * 4
  return { forward: 3 * S, evalForward: 2 * S, backward: 5 * S, fwdbwd: 8 * S }
}

// ---------------------------------------------------------------------------------------------
// Cases

export interface CaseOptions {
  /** Small sizes for a smoke run. */
  quick?: boolean
  seed?: number
}

const FULL: Record<LayerId, number[]> = {
  'bn-nchw': [32, 64, 32, 32],
  'bn-nhwc': [32, 32, 32, 64],
  layernorm: [4096, 1024],
  groupnorm: [32, 64, 32, 32],
  rmsnorm: [4096, 1024],
  batchrenorm: [32768, 64],
}

const QUICK: Record<LayerId, number[]> = {
  'bn-nchw': [4, 16, 16, 16],
  'bn-nhwc': [4, 16, 16, 16],
  layernorm: [64, 256],
  groupnorm: [4, 64, 8, 8],
  rmsnorm: [64, 256],
  batchrenorm: [1024, 16],
}

export function makeLayerCase(id: LayerId, opts: CaseOptions = {}): LayerCase {
  return makeLayerCaseWithShape(id, (opts.quick ? QUICK : FULL)[id], opts.seed ?? 1)
}

/** A case of the given kind at any shape (memory order); used by tests at small sizes. */
export function makeLayerCaseWithShape(id: LayerId, shape: number[], seed = 1): LayerCase {
  const rand = rng(seed * 7919 + LAYER_IDS.indexOf(id))
  const size = shape.reduce((a, b) => a * b, 1)
  const x = normals(size, rand, 0.5, 1.5)
  const dy = normals(size, rand)
  const dims = `[${shape.join(',')}]`
  const params = (n: number, bias: boolean) => ({
    gamma: normals(n, rand, 1, 0.1),
    beta: bias ? normals(n, rand, 0, 0.1) : null,
  })
  const base = { id, shape: [...shape], size, x, dy, traffic: traffic(size) }
  switch (id) {
    case 'bn-nchw':
    case 'bn-nhwc': {
      const nhwc = id === 'bn-nhwc'
      const [N, A, B, D] = shape as [number, number, number, number]
      const C = nhwc ? D : A
      const H = nhwc ? A : B
      const W = nhwc ? B : D
      const p = params(C, true)
      return {
        ...base,
        ...p,
        label: `BatchNorm ${nhwc ? 'NHWC' : 'NCHW'} ${dims}`,
        norm: { layer: 'BatchNorm2d', axes: { N, C, H, W } },
        layout: nhwc ? 'NHWC' : 'NCHW',
        hyper: { eps: 1e-5, momentum: 0.1 },
        state: {
          runningMean: normals(C, rand, 0, 0.1),
          runningVar: normals(C, rand, 1, 0.1).map(Math.abs),
        },
      }
    }
    case 'layernorm':
    case 'rmsnorm': {
      const [B, D] = shape as [number, number]
      const ln = id === 'layernorm'
      return {
        ...base,
        ...params(D, ln),
        label: `${ln ? 'LayerNorm' : 'RMSNorm'} ${dims}`,
        norm: { layer: ln ? 'LayerNorm' : 'RMSNorm', axes: { B, D } },
        layout: 'ND',
        hyper: { eps: ln ? 1e-5 : 1e-6 },
        state: {},
      }
    }
    case 'groupnorm': {
      const [N, C, H, W] = shape as [number, number, number, number]
      const G = Math.min(32, C)
      return {
        ...base,
        ...params(C, true),
        label: `GroupNorm G=${G} ${dims}`,
        norm: { layer: 'GroupNorm', axes: { N, C, H, W, G, K: C / G } },
        layout: 'NCHW',
        hyper: { eps: 1e-5, groups: G },
        state: {},
      }
    }
    case 'batchrenorm': {
      const [N, C] = shape as [number, number]
      return {
        ...base,
        ...params(C, true),
        label: `Batch Renorm ${dims}`,
        norm: { layer: 'BatchRenorm', axes: { N, C } },
        layout: 'NC',
        hyper: { eps: 1e-3, momentum: 0.01, rmax: 3, dmax: 5 },
        state: { mu: normals(C, rand, 0.4, 0.2), sigma: normals(C, rand, 1.2, 0.2).map(Math.abs) },
      }
    }
  }
}
