// The targets `normc run` can execute a step on. Each takes the checked layer, the mode and the
// case, and returns the same result shape as the interpreter.

import type { CheckedLayer } from '../../compiler/check/index.js'
import { NormcError } from '../../compiler/diagnostics.js'
import type { RunCase } from '../../runtime/case.js'
import { runStepInterp, type StepResult } from '../../runtime/step.js'
import { runStepJs } from '../../runtime/js/step.js'

export interface TargetOptions {
  precision?: string
  backend?: string
}

export type RunTarget = (layer: CheckedLayer, mode: 'train' | 'eval', c: RunCase, opts: TargetOptions) => Promise<StepResult>

export const runTargets: Record<'interp' | 'js' | 'gpu', RunTarget> = {
  interp: async (layer, mode, c) => runStepInterp(layer, mode, c),
  js: async (layer, mode, c, opts) => runStepJs(layer, mode, c, opts.precision === 'f32' ? 'f32' : 'f64'),
  gpu: async () => {
    throw new NormcError('the gpu target is not available yet')
  },
}
