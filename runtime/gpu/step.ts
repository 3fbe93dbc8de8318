// One `normc run` step on the gpu target: the layer's kernel plan lowered to gpu.js programs
// (compiler/emit/gpu), run on the requested backend — never another: the runner checks which
// backend every kernel actually ran on.

import type { CheckedLayer } from '../../compiler/check/index.js'
import { emitGpuLayer } from '../../compiler/emit/gpu/index.js'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { planLayer } from '../../compiler/schedule/index.js'
import type { RunCase } from '../case.js'
import { checkPlanDivisions } from '../interp.js'
import { bindCase, setOwn, type StepResult } from '../step.js'
import type { GpuBackend, RanBackend } from './backends.js'
import type { GpuProgram } from './core.js'

export interface GpuStepResult extends StepResult {
  backend: RanBackend
}

async function execute(
  program: GpuProgram,
  inputs: Record<string, Float32Array>,
  backend: GpuBackend,
) {
  if (backend === 'webgl2' || (backend === 'webgpu' && process.env.NORMC_WEBGPU === 'chromium')) {
    const { runInChromium } = await import('./browser/index.js')
    return runInChromium(program, inputs, backend as 'webgl2' | 'webgpu')
  }
  const { runGpuProgram } = await import('./runner.js')
  return runGpuProgram(program, inputs, backend)
}

export async function runStepGpu(
  layer: CheckedLayer,
  mode: 'train' | 'eval',
  c: RunCase,
  backend: GpuBackend,
): Promise<GpuStepResult> {
  const bound = bindCase(layer, c)
  const plan = planLayer(compileLayerGraphs(layer, mode))
  checkPlanDivisions(plan, bound.sizes, bound.hypers, layer.file)
  const gpu = emitGpuLayer(plan, bound.sizes, bound.hypers)
  const f32 = (a: Float64Array) => Float32Array.from(a)
  const fwdIn: Record<string, Float32Array> = {}
  for (const n of plan.forward.leaves)
    fwdIn[gpu.forward.inputOf.get(n.id)!] = f32(bound.tensors.get(n.name!)!)
  const fr = await execute(gpu.forward.program, fwdIn, backend)
  const result: GpuStepResult = { outputs: {}, state: {}, backend: fr.backend }
  for (const o of gpu.forward.outputs)
    setOwn(result.outputs, o.name, Float64Array.from(fr.outputs[o.buffer] ?? fwdIn[o.buffer]!))
  // Names are the user's (`__proto__` included): own properties, never the prototype.
  for (const s of layer.states) setOwn(result.state, s.name, bound.tensors.get(s.name)!.slice())
  if (mode === 'train')
    for (const u of gpu.forward.updates)
      setOwn(result.state, u.name, Float64Array.from(fr.outputs[u.buffer]!))
  if (bound.hasDy) {
    const savedData = new Map(gpu.forward.saved.map((s) => [s.node.id, fr.outputs[s.buffer]!]))
    const bwdIn: Record<string, Float32Array> = {}
    for (const n of plan.backward.leaves) {
      const name = gpu.backward.inputOf.get(n.id)!
      if (n.op === 'input') {
        const key = n.role === 'dy' ? n.name! : n.name!
        bwdIn[name] = f32(bound.tensors.get(key)!)
      } else bwdIn[name] = savedData.get(n.id)!
      // A saved mean travels as hi + lo (see compiler/emit/gpu).
      const lo = gpu.forward.lo.get(n.id)
      if (lo && gpu.backward.lo.has(n.id)) bwdIn[gpu.backward.lo.get(n.id)!] = fr.outputs[lo]!
    }
    const br = await execute(gpu.backward.program, bwdIn, backend)
    if (br.backend !== fr.backend)
      throw new Error(`internal: backward ran on ${br.backend}, forward on ${fr.backend}`)
    result.grads = {}
    for (const o of gpu.backward.outputs)
      setOwn(
        result.grads,
        o.name.slice(1),
        Float64Array.from(br.outputs[o.buffer] ?? bwdIn[o.buffer]!),
      )
  }
  return result
}
