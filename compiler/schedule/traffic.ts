// Memory traffic of a kernel plan: what each pass reads and writes of the full-size tensors,
// against the minimum any implementation must move.

import { topoOrder, type Node } from '../ir/index.js'
import { leafAxes, viewed, type KernelPlan, type Stage, type StepPlan } from './index.js'

export interface PassTraffic {
  space: string[]
  reads: string[]
  writes: string[]
}

export interface StepTraffic {
  step: 'forward' | 'backward'
  passes: PassTraffic[]
  /** Stages over smaller (per-channel) spaces: negligible traffic. */
  smallStages: number
  /** Full-size tensors moved (each read or write of one counts 1). */
  tensorsMoved: number
  minimumTensorsMoved: number
  minimumPasses: number
}

const nameOf = (n: Node) => n.name ?? `%${n.id}`

/** The full-size buffers a stage loads (walking through what it computes inline). */
function stageLoads(st: Stage, step: StepPlan, isFull: (n: Node) => boolean): Node[] {
  const leaves = new Set(step.leaves.map((n) => n.id))
  const mat = new Set(step.materialized.map((n) => n.id))
  const own = new Set(
    [...st.stores, ...st.reductions, ...st.moments.flatMap((m) => [m.sum1, m.sum2])].map(
      (n) => n.id,
    ),
  )
  const out = new Map<number, Node>()
  const starts = [
    ...st.stores.flatMap((n) => n.args),
    ...st.reductions.map((r) => r.args[0]!),
    ...st.moments.map((m) => m.src),
  ]
  const seen = new Set<number>()
  const stack = [...starts]
  while (stack.length) {
    const v = viewed(stack.pop()!)
    if (seen.has(v.id)) continue
    seen.add(v.id)
    if (leaves.has(v.id) || (mat.has(v.id) && !own.has(v.id))) {
      if (isFull(v)) out.set(v.id, v)
      continue
    }
    stack.push(...v.args)
  }
  return [...out.values()]
}

export function stepTraffic(plan: KernelPlan, step: StepPlan): StepTraffic {
  const axes = plan.layer.axes
  const full = plan.fullSpace.length
  const isFull = (n: Node) => leafAxes(n, axes).length >= full
  const passes: PassTraffic[] = []
  let small = 0
  for (const st of step.stages) {
    if (!st.full) {
      small++
      continue
    }
    const reads = stageLoads(st, step, isFull).map(nameOf)
    const writes = st.stores
      .filter(isFull)
      .map(
        (n) => step.outputs.find((o) => viewed(o.node) === n || o.node === n)?.name ?? `%${n.id}`,
      )
    passes.push({ space: st.space, reads, writes })
  }
  const moved = passes.reduce((s, p) => s + p.reads.length + p.writes.length, 0)
  // The minimum: full outputs written once; each full input read once per phase it is needed
  // in, where a phase boundary is a full-size reduction that a full-size output depends on.
  const leafIds = new Set(step.leaves.map((n) => n.id))
  const fullOutputs = step.outputs.filter((o) => isFull(o.node))
  const fullReductions = step.materialized.filter(
    (n) => (n.op === 'sum' || n.op === 'rmax' || n.op === 'rmin') && isFull(n.args[0]!),
  )
  const inputsOf = (roots: Node[]) =>
    new Set(
      topoOrder(roots, leafIds)
        .filter((n) => leafIds.has(n.id) && isFull(n))
        .map((n) => n.id),
    )
  const outIn = inputsOf(fullOutputs.map((o) => o.node))
  const redIn = inputsOf(fullReductions.map((r) => r.args[0]!))
  const redIds = new Set(fullReductions.map((r) => r.id))
  const dependsOnReduction = (o: Node) => topoOrder([o], leafIds).some((n) => redIds.has(n.id))
  const needsTwo = fullOutputs.some((o) => dependsOnReduction(o.node))
  const minimum =
    fullOutputs.length + (needsTwo ? outIn.size + redIn.size : new Set([...outIn, ...redIn]).size)
  return {
    step: step.name,
    passes,
    smallStages: small,
    tensorsMoved: moved,
    minimumTensorsMoved: minimum,
    minimumPasses: needsTwo ? 2 : 1,
  }
}
