// The experiments' model: an MLP whose every layer is a normc kernel — the linear layers,
// ReLU and softmax cross-entropy of experiments/mlp.norm, the normalization layers of
// examples/batchnorm1d.norm and examples/batchrenorm.norm (and the centering layers of
// experiments/centering.norm). Forward, backward and the running-statistics updates all run
// on the kernels normc compiles; only SGD with momentum and the argmax are plain TypeScript.

import { readFileSync } from 'node:fs'
import { compile, type JsLayer, type Module, type Saved } from '../runtime/index.js'
import { CLASSES, PIXELS, type Batch, type Dataset } from './data.js'
import { Rng } from './rng.js'

export type NormKind =
  'none' | 'batchnorm' | 'batchrenorm' | 'mean-in-gradient' | 'mean-outside-gradient'

interface Modules {
  mlp: Module
  batchnorm: Module
  batchrenorm: Module
  centering: Module
}

let modules: Modules | undefined

function load(path: string): Module {
  const url = new URL(path, import.meta.url)
  return compile(readFileSync(url, 'utf8'), { precision: 'f32', file: url.pathname })
}

/** The compiled modules (compiled once per process). */
export function normcModules(): Modules {
  modules ??= {
    mlp: load('./mlp.norm'),
    batchnorm: load('../examples/batchnorm1d.norm'),
    batchrenorm: load('../examples/batchrenorm.norm'),
    centering: load('./centering.norm'),
  }
  return modules
}

/** A trainable tensor with its gradient and momentum buffer. */
export interface Param {
  /** Block and param name, e.g. `linear1.W`. */
  name: string
  value: Float32Array
  grad: Float32Array
  velocity: Float32Array
  trainable: boolean
}

/**
 * One normc layer in the network. A compiled instance has fixed axis sizes, so there is one
 * per batch size (training minibatch, evaluation chunks), created once and reused; they share
 * the params and the state, and each owns its output buffer.
 */
export class NormcBlock {
  readonly params: Record<string, Float32Array>
  readonly state: Record<string, Float32Array>
  readonly grads: Record<string, Float32Array>
  private readonly instances = new Map<number, JsLayer>()
  private readonly outputs = new Map<number, Float32Array>()
  private readonly dx = new Map<number, Float32Array>()
  private readonly hyper: Record<string, number>
  private saved: Saved | undefined
  private savedSize = 0

  constructor(
    readonly name: string,
    private readonly module: Module,
    private readonly layerName: string,
    /** The axis sizes for a batch of n examples. */
    private readonly axes: (n: number) => Record<string, number>,
    /** The name of the input that the previous block feeds and whose gradient flows back. */
    readonly input: string,
    /** Output values per example (0: one scalar output, whatever the batch size). */
    readonly outWidth: number,
    /** Input values per example. */
    readonly inWidth: number,
    hyper: Record<string, number> = {},
  ) {
    this.hyper = { ...hyper }
    const first = this.instance(2)
    this.params = first.initParams() as Record<string, Float32Array>
    this.state = first.initState() as Record<string, Float32Array>
    this.grads = Object.fromEntries(
      Object.entries(this.params).map(([k, v]) => [k, new Float32Array(v.length)]),
    )
  }

  private instance(n: number): JsLayer {
    let l = this.instances.get(n)
    if (!l) {
      l = this.module.layer(this.layerName, { axes: this.axes(n), hyper: this.hyper })
      this.instances.set(n, l)
    }
    return l
  }

  /** Changes a runtime hyper on every instance, present and future (Batch Renorm's rmax, dmax). */
  setHyper(name: string, value: number): void {
    this.hyper[name] = value
    for (const l of this.instances.values()) l.setHyper(name, value)
  }

  /** Runs the layer on n examples; train mode updates the state and keeps what backward needs. */
  forward(inputs: Record<string, Float32Array>, n: number, mode: 'train' | 'eval'): Float32Array {
    const layer = this.instance(n)
    let y = this.outputs.get(n)
    if (!y) {
      y = new Float32Array(this.outWidth === 0 ? 1 : this.outWidth * n)
      this.outputs.set(n, y)
    }
    const outName = layer.layer.outputs[0]!.name
    const r = layer.forward(inputs, {
      mode,
      params: this.params,
      state: this.state,
      out: { [outName]: y },
    })
    if (mode === 'train') {
      this.saved = r.saved
      this.savedSize = n
    }
    return y
  }

  /** Backward of the last train-mode forward: fills `grads`, returns the input's gradient. */
  backward(dy: Float32Array): Float32Array {
    if (!this.saved) throw new Error(`${this.name}: backward before a train-mode forward`)
    const n = this.savedSize
    let dx = this.dx.get(n)
    if (!dx) {
      dx = new Float32Array(this.inWidth * n)
      this.dx.set(n, dx)
    }
    this.instance(n).backward(this.saved, dy, { ...this.grads, [this.input]: dx })
    return dx
  }
}

export interface MlpConfig {
  /** Hidden widths, e.g. [100, 100]. */
  hidden: number[]
  /** The layer after each hidden linear layer, before its ReLU. */
  norm: NormKind
  /** Seeds the weight initialisation. */
  seed: number
  /** Hypers of the normalization layers (e.g. momentum). */
  normHyper?: Record<string, number>
  /** Whether the hidden linear layers have a trainable bias (default true). */
  hiddenBias?: boolean
}

/** He-normal initialisation, W ~ N(0, 2 / fan_in), biases 0. */
function initLinear(block: NormcBlock, fanIn: number, rng: Rng): void {
  const W = block.params.W!
  const s = Math.sqrt(2 / fanIn)
  for (let i = 0; i < W.length; i++) W[i] = s * rng.normal()
}

export class Mlp {
  /** The blocks from the input to the logits, in order. */
  readonly blocks: NormcBlock[] = []
  readonly loss: NormcBlock
  readonly params: Param[] = []
  /** The normalization blocks, in order. */
  readonly norms: NormcBlock[] = []

  constructor(readonly config: MlpConfig) {
    const m = normcModules()
    const rng = new Rng(config.seed, 2)
    let width = PIXELS
    const widths = [...config.hidden, CLASSES]
    widths.forEach((w, i) => {
      const d = width
      const linear = new NormcBlock(
        `linear${i + 1}`,
        m.mlp,
        i === 0 ? 'InputLinear' : 'Linear',
        (n) => ({ B: n, D: d, H: w }),
        'x',
        w,
        d,
      )
      initLinear(linear, d, rng)
      this.blocks.push(linear)
      this.register(linear, { b: i === widths.length - 1 || config.hiddenBias !== false })
      width = w
      if (i === widths.length - 1) return
      const norm = this.normBlock(i + 1, w)
      if (norm) {
        this.blocks.push(norm)
        this.norms.push(norm)
        this.register(norm, {})
      }
      this.blocks.push(
        new NormcBlock(`relu${i + 1}`, m.mlp, 'ReLU', (n) => ({ B: n, H: w }), 'x', w, w),
      )
    })
    this.loss = new NormcBlock(
      'loss',
      m.mlp,
      'SoftmaxCrossEntropy',
      (n) => ({ B: n, K: CLASSES }),
      'z',
      0,
      CLASSES,
    )
  }

  private normBlock(i: number, w: number): NormcBlock | undefined {
    const m = normcModules()
    const h = this.config.normHyper ?? {}
    switch (this.config.norm) {
      case 'none':
        return undefined
      case 'batchnorm':
        return new NormcBlock(
          `batchnorm${i}`,
          m.batchnorm,
          'BatchNorm1d',
          (n) => ({ N: n, C: w }),
          'x',
          w,
          w,
          h,
        )
      case 'batchrenorm':
        return new NormcBlock(
          `batchrenorm${i}`,
          m.batchrenorm,
          'BatchRenorm',
          (n) => ({ N: n, C: w }),
          'x',
          w,
          w,
          h,
        )
      case 'mean-in-gradient':
        return new NormcBlock(
          `center${i}`,
          m.centering,
          'MeanInGradient',
          (n) => ({ N: n, C: w }),
          'u',
          w,
          w,
          h,
        )
      case 'mean-outside-gradient':
        return new NormcBlock(
          `center${i}`,
          m.centering,
          'MeanOutsideGradient',
          (n) => ({ N: n, C: w }),
          'u',
          w,
          w,
          h,
        )
    }
  }

  private register(block: NormcBlock, trainable: Record<string, boolean>): void {
    for (const [k, value] of Object.entries(block.params)) {
      this.params.push({
        name: `${block.name}.${k}`,
        value,
        grad: block.grads[k]!,
        velocity: new Float32Array(value.length),
        trainable: trainable[k] ?? true,
      })
    }
  }

  /** Sets a hyper on every normalization block. */
  setNormHyper(name: string, value: number): void {
    for (const b of this.norms) b.setHyper(name, value)
  }

  /** Logits [n, 10] of n examples. */
  logits(x: Float32Array, n: number, mode: 'train' | 'eval'): Float32Array {
    let h = x
    for (const b of this.blocks) h = b.forward({ [b.input]: h }, n, mode)
    return h
  }

  private readonly one = new Float32Array([1])

  /**
   * One training step on a minibatch: forward in train mode (the normalization layers update
   * their running statistics), backward, and SGD with momentum (PyTorch's convention:
   * v ← μ v + g, p ← p − lr v). Returns the minibatch loss; the step is skipped (and the
   * loss returned) when it is not finite.
   */
  trainStep(batch: Batch, lr: number, momentum: number): number {
    const z = this.logits(batch.x, batch.size, 'train')
    const loss = this.loss.forward({ z, t: batch.t }, batch.size, 'train')[0]!
    if (!Number.isFinite(loss)) return loss
    let g = this.loss.backward(this.one)
    for (let i = this.blocks.length - 1; i >= 0; i--) g = this.blocks[i]!.backward(g)
    for (const p of this.params) {
      if (!p.trainable) continue
      const { value, grad, velocity } = p
      for (let j = 0; j < value.length; j++) {
        const v = momentum * velocity[j]! + grad[j]!
        velocity[j] = v
        value[j] = value[j]! - lr * v
      }
    }
    return loss
  }

  /** Test accuracy and mean loss in eval mode (running statistics), in chunks of `chunk`. */
  evaluate(data: Dataset, chunk = 1000): { accuracy: number; loss: number } {
    let correct = 0
    let lossSum = 0
    const t = new Float32Array(chunk * CLASSES)
    for (let start = 0; start < data.n; start += chunk) {
      const n = Math.min(chunk, data.n - start)
      const x = data.x.subarray(start * PIXELS, (start + n) * PIXELS)
      const z = this.logits(x, n, 'eval')
      const tn = t.subarray(0, n * CLASSES)
      tn.fill(0)
      for (let i = 0; i < n; i++) {
        tn[i * CLASSES + data.y[start + i]!] = 1
        if (argmax(z, i * CLASSES, CLASSES) === data.y[start + i]) correct++
      }
      lossSum += this.loss.forward({ z, t: tn }, n, 'eval')[0]! * n
    }
    return { accuracy: correct / data.n, loss: lossSum / data.n }
  }
}

function argmax(a: Float32Array, offset: number, n: number): number {
  let best = 0
  for (let i = 1; i < n; i++) if (a[offset + i]! > a[offset + best]!) best = i
  return best
}

/** The Euclidean norm of a tensor. */
export function l2(a: Float32Array): number {
  let s = 0
  for (const v of a) s += v * v
  return Math.sqrt(s)
}
