// The layout of a step, shared by the CPU targets (js, wasm): its buffer table, and for each
// stage the loop nest, the values it loads and computes inline, and where each accumulator
// is flushed. What a target writes for these is its own business; the decisions are made once.

import type { AxisTable } from '../check/axes.js'
import type { CheckedLayer } from '../check/index.js'
import type { Node } from '../ir/index.js'
import { leafAxes, rootTarget, viewed, type Stage, type StepPlan } from '../schedule/index.js'

export type BufferRole =
  'input' | 'param' | 'state' | 'dy' | 'saved' | 'temp' | 'shift' | 'output' | 'update'

export interface BufferSpec {
  role: BufferRole
  /** The input, param, state, output or update name (for leaves and results); never written into code. */
  name?: string
  /** Leaf axes, in memory order. */
  axes: string[]
  /** The IR node (not for shift buffers). */
  node?: Node
}

/**
 * Buffers a step owns and keeps in float64 whatever the storage precision: temporaries, shifts,
 * saved values and state updates (results accumulate in float64; see StepLayout).
 */
export const isWorkBuffer = (role: BufferRole): boolean =>
  role === 'temp' || role === 'shift' || role === 'saved' || role === 'update'

/** The leaf axes of a layer in the order of the size array S. */
export function leafAxisOrder(layer: CheckedLayer): string[] {
  const out: string[] = []
  for (const a of layer.axes.sort(layer.axes.axes.keys()))
    for (const l of layer.axes.leaves(a)) if (!out.includes(l)) out.push(l)
  return out
}

/** One loop of a stage's nest: adjacent leaf axes that every access treats alike, merged. */
export interface Loop {
  axes: string[]
}

/** A stage as a loop nest: what it loads, computes, and at which loop level. */
export interface StageNest {
  loops: Loop[]
  /** Nodes computed inline, in dependency order. */
  inline: Node[]
  /** Nodes read from buffers. */
  loads: Node[]
  /** Buffers the stage reads or writes, by node. */
  accessed: Node[]
  /** Loop level (0 = outside every loop) of a value: the deepest loop over one of its axes. */
  level: (n: Node) => number
  /** Per reduction (and moment, by its sum1): the level whose loop it is complete after. */
  flushLevel: Map<number, number>
}

export class StepLayout {
  readonly buffers: BufferSpec[] = []
  protected readonly bufIndex = new Map<number, number>()
  /** Results kept in a float64 buffer of their own: the output buffer each is copied to. */
  readonly copyOf = new Map<number, number>()
  /** Moments (by sum1): the buffer of their shift. */
  readonly shiftOf = new Map<number, number>()

  constructor(
    readonly step: StepPlan,
    readonly layer: CheckedLayer,
    readonly leafOrder: string[],
  ) {
    // Buffers: leaves first, then results, then temporaries.
    for (const n of step.leaves) {
      if (n.op === 'input') this.buffer(n, n.role === 'dy' ? 'dy' : (n.role as BufferRole), n.name)
      else this.buffer(n, 'saved')
    }
    for (const o of step.outputs)
      if (!this.hasBuffer(rootTarget(o.node))) this.buffer(rootTarget(o.node), 'output', o.name)
    for (const u of step.updates)
      if (!this.hasBuffer(rootTarget(u.node))) this.buffer(rootTarget(u.node), 'update', u.name)
    for (const s of step.saved) if (!this.hasBuffer(s)) this.buffer(s, 'saved')
    for (const n of step.materialized) if (!this.hasBuffer(n)) this.buffer(n, 'temp')
    // An output buffer may be a Float32Array. A result the step accumulates into (a reduction),
    // reads again (a later stage) or saves for the backward therefore lives in a float64 buffer
    // of its own, copied to the output after its stage: nothing reads a rounded output back
    // (BatchNorm's dx uses dβ; the gradient of max(x, [N]) compares x with the maximum).
    const reread = new Set(step.stages.flatMap((st) => this.stageNodes(st).loads.map((n) => n.id)))
    const results = [
      ...step.stages.flatMap((st) => [
        ...st.reductions,
        ...st.moments.flatMap((m) => [m.sum1, m.sum2]),
      ]),
      ...step.saved,
      ...step.stages.flatMap((st) => st.stores.filter((n) => reread.has(n.id))),
    ]
    // A saved value that is also a state update (s <- m, m saved) gets a buffer of its own
    // too: a saved value is found by its role, which the update's buffer does not have.
    for (const n of results) {
      const out = this.bufIndex.get(n.id)
      const role = out === undefined ? undefined : this.buffers[out]!.role
      const saved = step.saved.includes(n)
      if (!(role === 'output' || (role === 'update' && saved)) || this.copyOf.has(n.id)) continue
      this.buffers.push({ role: saved ? 'saved' : 'temp', axes: leafAxes(n, this.axes), node: n })
      this.bufIndex.set(n.id, this.buffers.length - 1)
      this.copyOf.set(n.id, out!)
    }
    for (const st of step.stages)
      for (const m of st.moments) {
        this.buffers.push({ role: 'shift', axes: leafAxes(m.sum1, this.axes) })
        this.shiftOf.set(m.sum1.id, this.buffers.length - 1)
      }
  }

  get axes(): AxisTable {
    return this.layer.axes
  }

  private buffer(n: Node, role: BufferRole, name?: string): number {
    const hit = this.bufIndex.get(n.id)
    if (hit !== undefined) return hit
    const spec: BufferSpec = { role, axes: leafAxes(n, this.axes), node: n }
    if (name !== undefined) spec.name = name
    this.buffers.push(spec)
    this.bufIndex.set(n.id, this.buffers.length - 1)
    return this.buffers.length - 1
  }

  hasBuffer(n: Node): boolean {
    return this.bufIndex.has(n.id)
  }

  /** The buffer holding node n (a leaf, a result, a temporary, or the accumulator of a reduction). */
  bufferOf(n: Node): number {
    return this.bufIndex.get(n.id)!
  }

  /** The buffer a reduction accumulates into. */
  protected acc(r: Node): number {
    return this.bufIndex.get(r.id)!
  }

  protected reducedLeaves(r: Node): string[] {
    return r.over!.flatMap((a) => this.axes.leaves(a))
  }

  /** The nodes a stage computes inline and the buffers it reads, in dependency order. */
  protected stageNodes(st: Stage): { inline: Node[]; loads: Node[] } {
    const inline: Node[] = []
    const loads: Node[] = []
    const seen = new Set<number>()
    const visit = (n: Node, root: boolean): void => {
      const v = root ? n : viewed(n)
      if (seen.has(v.id)) return
      seen.add(v.id)
      if (!root && (v.op === 'const' || v.op === 'hyper' || v.op === 'count')) return
      if (!root && this.hasBuffer(v)) {
        loads.push(v)
        return
      }
      if (v.op === 'input') {
        loads.push(v)
        return
      }
      for (const a of v.args) visit(a, false)
      inline.push(v)
    }
    for (const n of st.stores) visit(n, true)
    for (const r of st.reductions) visit(r.args[0]!, false)
    for (const m of st.moments) visit(m.src, false)
    return {
      inline: inline.filter((n) => !(n.op === 'sum' || n.op === 'rmax' || n.op === 'rmin')),
      loads,
    }
  }

  /** Loops over the stage's space; adjacent axes that every access treats alike are merged. */
  private loops(st: Stage, accessed: Node[]): Loop[] {
    const groups: Loop[] = []
    const reduced = [...st.reductions, ...st.moments.map((m) => m.sum2)].map((r) =>
      this.reducedLeaves(r),
    )
    const alike = (a: string, b: string) =>
      accessed.every(
        (n) => leafAxes(n, this.axes).includes(a) === leafAxes(n, this.axes).includes(b),
      ) && reduced.every((R) => R.includes(a) === R.includes(b))
    for (const a of st.space) {
      const last = groups[groups.length - 1]
      if (last && alike(last.axes[last.axes.length - 1]!, a)) last.axes.push(a)
      else groups.push({ axes: [a] })
    }
    return groups
  }

  /** The loop nest of a stage. */
  protected nest(st: Stage): StageNest {
    const { inline, loads } = this.stageNodes(st)
    const results = [...st.stores, ...st.reductions, ...st.moments.flatMap((m) => [m.sum1, m.sum2])]
    const accessed = [...loads, ...results]
    const loops = this.loops(st, accessed)
    const level = (n: Node) => {
      const la = leafAxes(n, this.axes)
      let l = 0
      loops.forEach((lp, j) => {
        if (lp.axes.some((a) => la.includes(a))) l = j + 1
      })
      return l
    }
    // A reduction is complete after the loop outside the innermost run of loops it reduces.
    const flushLevel = new Map<number, number>()
    for (const r of [...st.reductions, ...st.moments.map((m) => m.sum1)]) {
      const R = this.reducedLeaves(r)
      let p = loops.length
      while (p > 0 && loops[p - 1]!.axes.every((a) => R.includes(a))) p--
      flushLevel.set(r.id, p)
    }
    return { loops, inline, loads, accessed, level, flushLevel }
  }

  private readonly layouts = new Map<string, number>()

  /** A number naming the memory layout (the leaf axes) of a buffer. */
  protected layout(bi: number): number {
    const key = this.buffers[bi]!.axes.join(',')
    let id = this.layouts.get(key)
    if (id === undefined) {
      id = this.layouts.size
      this.layouts.set(key, id)
    }
    return id
  }
}
