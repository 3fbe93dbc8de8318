// The pluggable implementation interface of the benchmark. Each implementation (hand-written
// loops, TF.js backends, normc's generated kernels, normc's GPU target, the machine floors) is an
// `Impl`; the harness sets it up once per layer and then calls its passes, interleaved with the
// other implementations run by run.

import type { LayerCase, Pass } from './layers.js'

/** Outputs of the latest runs, for the harness's cross-check against the hand-written loops. */
export interface Outputs {
  /** y of the latest forward. */
  y?: Float32Array
  /** Gradients of the latest backward or forward+backward. */
  dx?: Float32Array
  dgamma?: Float32Array
  dbeta?: Float32Array
  /** State after the latest forward (BN: runningMean, runningVar; renorm: mu, sigma). */
  state?: Record<string, Float32Array>
}

/** Memory an implementation reports about itself (e.g. TF.js's tf.profile). */
export interface SelfReport {
  /** Peak bytes of live tensors during the pass. */
  peakBytes?: number
  /** Number of kernels the pass ran. */
  kernels?: number
}

/**
 * What a pass returns: nothing when it is synchronous, or a Promise that settles when the work is
 * finished and its results are on the host (e.g. normc's GPU target: upload, kernels, readback).
 * The harness awaits a returned Promise inside the timed region and does not await otherwise, so
 * synchronous passes are timed exactly as before.
 */
export type PassResult = void | Promise<void>

export interface Runner {
  /**
   * Train-mode forward: y from x, running statistics updated (BN, renorm), the values the
   * backward needs saved. Must be finished when it returns, or when the Promise it returns
   * settles (read results back if asynchronous work is involved: for example dataSync()).
   */
  forward(): PassResult
  /**
   * Backward from the values saved by a forward that setup() (or the latest forward()) ran:
   * dx, dgamma, dbeta for L = Σ y·dy, with the layer's fixed dy.
   */
  backward(): PassResult
  /** One training step: forward then backward. */
  fwdbwd(): PassResult
  /** Called (untimed) before each timed call, e.g. to switch the TF.js backend. */
  activate?(): void | Promise<void>
  /** Outputs for the harness's correctness cross-check (not timed). */
  outputs?(): Outputs
  /** Optional self-reported memory of one pass (run outside the timed loop). */
  selfReport?(pass: Pass): Promise<SelfReport>
  /**
   * What actually ran, for implementations that can run somewhere other than asked (gpu.js falls
   * back silently): recorded in the results and shown in the report. Read after setup.
   */
  ran?(): RanOn
  dispose?(): void | Promise<void>
}

/** Where an implementation's passes actually ran (see Runner.ran). */
export interface RanOn {
  /** The backend requested, e.g. 'headlessgl'. */
  requested: string
  /** The backend every kernel ran on, as detected after running (never the request echoed). */
  backend: string
  /** What that is, in words, e.g. 'headless-gl on DISPLAY=:99, GL driver Mesa llvmpipe'. */
  device: string
  /** Short, for the column header: e.g. 'software renderer: Mesa llvmpipe', 'CPU: WebAssembly'. */
  renderer: string
  /** True when it is a software renderer or a CPU fallback: its times say little about a GPU. */
  software: boolean
}

export interface Impl {
  /** Short id used in the JSON and in flags, e.g. 'hand', 'tfjs-wasm', 'normc-js'. */
  name: string
  /** Column label, e.g. 'hand-written JS'. */
  label: string
  /**
   * 'impl' for real implementations; 'floor' for the machine floors (not cross-checked, not
   * memory-profiled).
   */
  kind?: 'impl' | 'floor'
  /**
   * Cap on timed runs (e.g. 3 for TF.js-cpu, which takes seconds per run); the harness spreads
   * them evenly over the repetitions.
   */
  maxRuns?: number
  /** Warm-up runs per pass (default: the harness's --warmup). */
  warmup?: number
  /**
   * Largest relative error against the baseline's outputs that the cross-check accepts (default:
   * the harness's, 1e-3: float32 storage).
   */
  tolerance?: number
  /** Return false to skip a layer this implementation does not handle. */
  supports?(layer: LayerCase): boolean
  setup(layer: LayerCase): Promise<Runner>
}
