// Compiled layers on the gpu target: like runtime/js's JsLayer, but asynchronous (WebGPU
// kernels are) and float32. Each mode's forward and backward programs are built once per
// instance (sizes and hypers are compile-time numbers in the kernels).

import type { CheckedLayer } from '../../compiler/check/index.js'
import { upstreamName } from '../../compiler/check/index.js'
import { NormcError } from '../../compiler/diagnostics.js'
import { emitGpuLayer, type EmittedGpuLayer } from '../../compiler/emit/gpu/index.js'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { planLayer, type KernelPlan } from '../../compiler/schedule/index.js'
import { checkPlanDivisions, sizeOf } from '../interp.js'
import { bindHypers, bindSizes } from '../sizes.js'
import { ownValue, setOwn } from '../step.js'
import type { GpuBackend } from './backends.js'
import type { GpuProgram } from './core.js'

export type GpuTensorMap = Record<string, Float32Array>

interface Compiled {
  plan: KernelPlan
  gpu: EmittedGpuLayer
  run: (
    p: 'forward' | 'backward',
    inputs: Record<string, Float32Array>,
  ) => Promise<Record<string, Float32Array>>
  destroy: () => Promise<void>
}

export interface GpuSaved {
  mode: 'train' | 'eval'
  leaves: Map<number, Float32Array>
  lo: Map<number, Float32Array>
}

export class GpuLayer {
  readonly sizes: Map<string, number>
  readonly hypers: Map<string, number>
  private readonly modes = new Map<string, Promise<Compiled>>()

  constructor(
    readonly layer: CheckedLayer,
    opts: { axes: Record<string, number>; hyper?: Record<string, number> },
    readonly backend: GpuBackend,
  ) {
    this.hypers = bindHypers(layer, opts.hyper ?? {})
    this.sizes = bindSizes(layer, opts.axes, this.hypers)
  }

  private compiled(mode: 'train' | 'eval'): Promise<Compiled> {
    let c = this.modes.get(mode)
    if (!c) {
      c = this.build(mode)
      this.modes.set(mode, c)
    }
    return c
  }

  private async build(mode: 'train' | 'eval'): Promise<Compiled> {
    const plan = planLayer(compileLayerGraphs(this.layer, mode))
    checkPlanDivisions(plan, this.sizes, this.hypers, this.layer.file)
    const gpu = emitGpuLayer(plan, this.sizes, this.hypers)
    const backend = this.backend
    if (backend === 'webgl2' || backend === 'webgpu') {
      const { runInChromium } = await import('./browser/index.js')
      const programs: Record<string, GpuProgram> = {
        forward: gpu.forward.program,
        backward: gpu.backward.program,
      }
      return {
        plan,
        gpu,
        run: async (p, inputs) => {
          const r = await runInChromium(programs[p]!, inputs, backend)
          if (r.backend !== backend)
            throw new NormcError(`${backend}: the kernels ran on ${r.backend}`)
          return r.outputs
        },
        destroy: async () => {},
      }
    }
    const { compileGpuProgram } = await import('./runner.js')
    const { createGpu } = await import('./backends.js')
    const handle = await createGpu(backend)
    const fwd = await compileGpuProgram(gpu.forward.program, handle)
    const bwd = await compileGpuProgram(gpu.backward.program, handle)
    return {
      plan,
      gpu,
      run: async (p, inputs) => (await (p === 'forward' ? fwd : bwd).run(inputs)).outputs,
      destroy: async () => {
        await fwd.destroy()
        await bwd.destroy()
        await handle.destroy()
      },
    }
  }

  initParams(): GpuTensorMap {
    return Object.fromEntries(
      this.layer.params.map((p) => [
        p.name,
        new Float32Array(sizeOf(p.axes, this.sizes)).fill(p.init ?? 0),
      ]),
    )
  }

  initState(): GpuTensorMap {
    return Object.fromEntries(
      this.layer.states.map((s) => [
        s.name,
        new Float32Array(sizeOf(s.axes, this.sizes)).fill(s.init ?? 0),
      ]),
    )
  }

  /** One forward step; in train mode the state is updated in place. */
  async forward(
    inputs: GpuTensorMap,
    opts: { mode: 'train' | 'eval'; params?: GpuTensorMap; state?: GpuTensorMap },
  ) {
    const c = await this.compiled(opts.mode)
    // Spread copies own properties (a `__proto__` key included, as an own key).
    const all: GpuTensorMap = { ...opts.params, ...opts.state, ...inputs }
    const host: Record<string, Float32Array> = {}
    for (const n of c.plan.forward.leaves) {
      const t = Object.prototype.hasOwnProperty.call(all, n.name!) ? all[n.name!] : undefined
      const want = sizeOf(
        n.axes.flatMap((a) => this.layer.axes.leaves(a)),
        this.sizes,
      )
      if (!t || t.length !== want)
        throw new NormcError(`'${n.name}' must be a Float32Array of ${want} values`)
      host[c.gpu.forward.inputOf.get(n.id)!] = t
    }
    const out = await c.run('forward', host)
    const outputs: GpuTensorMap = {}
    for (const o of c.gpu.forward.outputs) setOwn(outputs, o.name, out[o.buffer] ?? host[o.buffer]!)
    const saved: GpuSaved = { mode: opts.mode, leaves: new Map(), lo: new Map() }
    for (const n of c.plan.forward.leaves)
      saved.leaves.set(
        n.id,
        n.role === 'state'
          ? host[c.gpu.forward.inputOf.get(n.id)!]!.slice()
          : host[c.gpu.forward.inputOf.get(n.id)!]!,
      )
    for (const s of c.gpu.forward.saved) saved.leaves.set(s.node.id, out[s.buffer]!)
    for (const [id, buf] of c.gpu.forward.lo) if (out[buf]) saved.lo.set(id, out[buf]!)
    if (opts.mode === 'train' && opts.state)
      for (const u of c.gpu.forward.updates) ownValue(opts.state, u.name)?.set(out[u.buffer]!)
    return { outputs, saved }
  }

  /** Gradients of sum(y · dy) for every input and param, from the values of the forward step. */
  async backward(saved: GpuSaved, dy: Float32Array | GpuTensorMap): Promise<GpuTensorMap> {
    const c = await this.compiled(saved.mode)
    const host: Record<string, Float32Array> = {}
    for (const n of c.plan.backward.leaves) {
      const name = c.gpu.backward.inputOf.get(n.id)!
      if (n.role === 'dy') {
        const out = this.layer.outputs.find((o) => upstreamName(this.layer, o.name) === n.name)!
        host[name] = dy instanceof Float32Array ? dy : ownValue(dy as GpuTensorMap, out.name)!
      } else host[name] = saved.leaves.get(n.id)!
      const lo = c.gpu.backward.lo.get(n.id)
      if (lo) host[lo] = saved.lo.get(n.id)!
    }
    const out = await c.run('backward', host)
    const grads: GpuTensorMap = {}
    for (const o of c.gpu.backward.outputs)
      setOwn(grads, o.name.slice(1), out[o.buffer] ?? host[o.buffer]!)
    return grads
  }

  async dispose(): Promise<void> {
    for (const c of this.modes.values()) await (await c).destroy()
    this.modes.clear()
  }
}
