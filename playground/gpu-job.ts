// The GPU tab's job, built in the worker: the layer's gpu.js programs (compiler/emit/gpu, the
// same lowering as `normc run --target gpu`) at small sizes, random inputs rounded to float32,
// and one step of the float64 interpreter on those same inputs as the reference. The page runs
// the programs with gpu.js (gpu-run.ts) and compares; nothing here touches gpu.js.

import { upstreamName, type CheckedLayer } from '../compiler/check/index.js'
import { emitGpuLayer, type GpuStepProgram } from '../compiler/emit/gpu/index.js'
import type { Node } from '../compiler/ir/index.js'
import type { LayerGraphs } from '../compiler/pipeline.js'
import type { KernelPlan } from '../compiler/schedule/index.js'
import { layerTensors, makeData, makeTrial, sizeOnlyHypers } from '../runtime/check/trials.js'
import type { GpuProgram } from '../runtime/gpu/core.js'
import { checkPlanDivisions } from '../runtime/interp.js'
import type { RunCase } from '../runtime/case.js'
import { bindCase, runStepInterp, setOwn, type StepResult } from '../runtime/step.js'

/** Where a program input's data comes from. */
export type GpuJobInput =
  | { from: 'host'; data: Float32Array }
  /** A buffer the forward program read back (a value saved for the backward). */
  | { from: 'forward'; buffer: string }

export interface GpuJobResult {
  /** `y`, `running_mean <-`, `dx`. */
  label: string
  kind: 'output' | 'state' | 'grad'
  /** The program buffer holding it (an output of the program, or one of its inputs). */
  buffer: string
  /** The float64 interpreter's value on the same (float32-rounded) inputs. */
  reference: Float64Array
}

export interface GpuJobStep {
  program: GpuProgram
  inputs: Record<string, GpuJobInput>
  results: GpuJobResult[]
  /** The program as readable text: its inputs, then each launch with its kernel's source. */
  source: string
}

export interface GpuJob {
  layer: string
  mode: 'train' | 'eval'
  /** `N=3 C=5 H=3 W=5`: the sizes the kernels are compiled for. */
  sizes: string
  forward: GpuJobStep
  backward: GpuJobStep
}

/** The seed of the inputs: the same text gives the same job. */
const SEED = 1
/** The largest tensor of the job (the sizes shrink until every tensor fits). */
const MAX_ELEMENTS = 1000

const f32 = (a: Float64Array) => Float64Array.from(a, Math.fround)

/** A program's text: what each input holds, then every launch and the kernel it runs. */
function programText(
  title: string,
  step: GpuStepProgram,
  leafText: (n: Node) => string,
  plan: KernelPlan['forward'],
): string {
  const { program } = step
  const nodeOf = new Map<string, Node>()
  for (const n of plan.materialized) {
    const b = step.bufferOf.get(n.id)
    if (b) nodeOf.set(b, n)
  }
  const roles = new Map<string, string[]>()
  const role = (buffer: string, text: string) =>
    roles.set(buffer, [...(roles.get(buffer) ?? []), text])
  for (const o of step.outputs)
    role(o.buffer, plan.name === 'backward' ? o.name : `output ${o.name}`)
  for (const u of step.updates) role(u.buffer, `${u.name} <-`)
  for (const s of step.saved) role(s.buffer, 'saved for the backward')
  const lines = [
    `// ${title}`,
    `// ${program.kernels.length} kernel${program.kernels.length === 1 ? '' : 's'}, launched in this order; buffers are flat float32 arrays`,
    '// inputs:',
  ]
  for (const n of plan.leaves) {
    const name = step.inputOf.get(n.id)!
    const count = program.inputs[name]![0]!
    lines.push(`//   ${name} = ${leafText(n)} (${count} value${count === 1 ? '' : 's'})`)
    const lo = step.lo.get(n.id)
    if (lo && program.inputs[lo]) lines.push(`//   ${lo} = the low part of ${name} (hi + lo)`)
  }
  lines.push(`// read back: ${program.outputs.join(', ')}`, '')
  const kernels = new Map(program.kernels.map((k) => [k.name, k]))
  for (const s of program.steps) {
    const k = kernels.get(s.kernel)!
    const bind = k.args.map((a) => `${a} = ${s.inputs[a]}`).join(', ')
    const hint = nodeOf.get(s.out)?.hint
    const what = [
      ...(hint ? [hint] : []),
      ...(roles.get(s.out) ?? []),
      ...(/lo$/.test(s.out) ? [`the low part of ${s.out.slice(0, -2)}`] : []),
    ]
    lines.push(
      `// ${s.out} = ${k.name}(${bind}): ${k.output.join(' × ')} threads${k.loopMaxIterations ? `, loops ≤ ${k.loopMaxIterations}` : ''}${what.length ? ` — ${what.join(', ')}` : ''}`,
      `const ${k.name} = ${k.source}`,
      '',
    )
  }
  return lines.join('\n').trimEnd() + '\n'
}

/**
 * The case a job runs: sizes as `normc check`'s first trial (odd sizes, 3 or 5), at most
 * MAX_ELEMENTS values per tensor; inputs U(−1, 1), params near their initial values, state and
 * dy in [0.5, 1.5), all rounded to float32 so that the kernels and the reference see the same
 * numbers; and the float64 interpreter's step on it. (The wasm tab runs the same case.)
 */
export function jobCase(
  layer: CheckedLayer,
  mode: 'train' | 'eval',
  graphs: LayerGraphs,
  plan: KernelPlan,
): { c: RunCase; bound: ReturnType<typeof bindCase>; ref: StepResult; label: string } {
  const varied = sizeOnlyHypers(layer, [graphs.forward], {})
  const trial = makeTrial(layer, 0, SEED, {}, varied, MAX_ELEMENTS)
  const data = makeData(layerTensors(layer, new Map()), trial.sizes, SEED, 'plain')
  const c: RunCase = {
    axes: Object.fromEntries(trial.sizes),
    hyper: Object.fromEntries(trial.hypers),
    inputs: {},
  }
  for (const t of [...layer.inputs, ...layer.params, ...layer.states])
    setOwn(c.inputs, t.name, f32(data.get(t.name)!))
  const dy: Record<string, Float64Array> = {}
  for (const o of layer.outputs) setOwn(dy, o.name, f32(data.get(upstreamName(layer, o.name))!))
  c.dy = dy
  const bound = bindCase(layer, c)
  checkPlanDivisions(plan, bound.sizes, bound.hypers, layer.file)
  const ref = runStepInterp(layer, mode, c, graphs)
  return { c, bound, ref, label: trial.label }
}

/** The job for `layer` in `mode`, on the case of `jobCase`. */
export function gpuJob(
  layer: CheckedLayer,
  mode: 'train' | 'eval',
  graphs: LayerGraphs,
  plan: KernelPlan,
): GpuJob {
  const { bound, ref, label } = jobCase(layer, mode, graphs, plan)
  const gpu = emitGpuLayer(plan, bound.sizes, bound.hypers)
  const host = (name: string): GpuJobInput => ({
    from: 'host',
    data: Float32Array.from(bound.tensors.get(name)!),
  })
  const axesText = (n: Node) => `[${n.axes.join(', ')}]`

  const fwdInputs: Record<string, GpuJobInput> = {}
  for (const n of plan.forward.leaves) fwdInputs[gpu.forward.inputOf.get(n.id)!] = host(n.name!)
  const fwdResults: GpuJobResult[] = gpu.forward.outputs.map((o) => ({
    label: o.name,
    kind: 'output',
    buffer: o.buffer,
    reference: ref.outputs[o.name]!,
  }))
  if (mode === 'train')
    for (const u of gpu.forward.updates)
      fwdResults.push({
        label: `${u.name} <-`,
        kind: 'state',
        buffer: u.buffer,
        reference: ref.state[u.name]!,
      })

  const savedBuffer = new Map(gpu.forward.saved.map((s) => [s.node.id, s.buffer]))
  const bwdInputs: Record<string, GpuJobInput> = {}
  for (const n of plan.backward.leaves) {
    const name = gpu.backward.inputOf.get(n.id)!
    bwdInputs[name] =
      n.op === 'input' ? host(n.name!) : { from: 'forward', buffer: savedBuffer.get(n.id)! }
    const lo = gpu.forward.lo.get(n.id)
    const loIn = gpu.backward.lo.get(n.id)
    if (lo && loIn) bwdInputs[loIn] = { from: 'forward', buffer: lo }
  }
  const bwdResults: GpuJobResult[] = gpu.backward.outputs.map((o) => ({
    label: o.name,
    kind: 'grad',
    buffer: o.buffer,
    reference: ref.grads![o.name.slice(1)]!,
  }))

  const name = `${layer.decl.name} (${layer.hasForward ? 'forward' : mode})`
  const leaf = (n: Node) =>
    n.role === 'dy'
      ? `${n.name} ${axesText(n)}, the upstream gradient`
      : `${n.role ?? 'input'} ${n.name} ${axesText(n)}`
  const forwardLeaf = leaf
  const backwardLeaf = (n: Node) =>
    n.op === 'input'
      ? leaf(n)
      : `${n.hint ?? 'a value'} ${axesText(n)}, saved by the forward (its ${savedBuffer.get(n.id)})`
  return {
    layer: layer.decl.name,
    mode,
    sizes: label,
    forward: {
      program: gpu.forward.program,
      inputs: fwdInputs,
      results: fwdResults,
      source: programText(
        `forward step of ${name} at ${label}`,
        gpu.forward,
        forwardLeaf,
        plan.forward,
      ),
    },
    backward: {
      program: gpu.backward.program,
      inputs: bwdInputs,
      results: bwdResults,
      source: programText(
        `backward step of ${name} at ${label}`,
        gpu.backward,
        backwardLeaf,
        plan.backward,
      ),
    },
  }
}
