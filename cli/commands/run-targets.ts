// The targets `normc run` can execute a step on. Each takes the checked layer, the mode and the
// case, and returns the same result shape as the interpreter.

import type { CheckedLayer } from '../../compiler/check/index.js'
import { NormcError } from '../../compiler/diagnostics.js'
import { UsageError } from '../command.js'
import type { RunCase } from '../../runtime/case.js'
import { runStepInterp, type StepResult } from '../../runtime/step.js'
import { runStepJs } from '../../runtime/js/step.js'
import { WasmLayer } from '../../runtime/wasm/index.js'

export interface TargetOptions {
  precision?: string
  backend?: string
}

export type RunTarget = (
  layer: CheckedLayer,
  mode: 'train' | 'eval',
  c: RunCase,
  opts: TargetOptions,
) => Promise<StepResult>

export const runTargets: Record<'interp' | 'js' | 'wasm' | 'gpu', RunTarget> = {
  interp: async (layer, mode, c) => runStepInterp(layer, mode, c),
  js: async (layer, mode, c, opts) =>
    runStepJs(layer, mode, c, opts.precision === 'f32' ? 'f32' : 'f64'),
  wasm: async (layer, mode, c, opts) =>
    runStepJs(layer, mode, c, opts.precision === 'f32' ? 'f32' : 'f64', WasmLayer),
  gpu: async (layer, mode, c, opts) => {
    const backend = opts.backend ?? 'headlessgl'
    const { GPU_BACKENDS, BackendUnavailableError, BackendMismatchError } =
      await import('../../runtime/gpu/backends.js')
    if (!(GPU_BACKENDS as readonly string[]).includes(backend))
      throw new UsageError(`--backend must be one of ${GPU_BACKENDS.join(', ')}, got '${backend}'`)
    if (opts.precision === 'f64')
      throw new UsageError('the gpu target computes in float32: --precision f64 is not available')
    const { runStepGpu } = await import('../../runtime/gpu/step.js')
    try {
      const r = await runStepGpu(layer, mode, c, backend as never)
      if (r.backend !== backend)
        throw new NormcError(`${backend}: the kernels ran on ${r.backend} instead`)
      return r
    } catch (e) {
      // Never fall back silently: an unavailable backend is one line and a non-zero exit.
      if (e instanceof BackendUnavailableError || e instanceof BackendMismatchError)
        throw new NormcError(e.message)
      throw e
    } finally {
      if (backend === 'webgl2' || backend === 'webgpu')
        await (await import('../../runtime/gpu/browser/index.js')).closeChromium()
    }
  },
}
