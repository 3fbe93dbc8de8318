// The inputs a check runs on: seeded trials with random axis sizes (odd sizes, a batch of one,
// never only powers of two) and, per trial, variants of the data that find real bugs: a
// constant group, a group of very low variance, a large offset (1e4 + noise).

import type { CheckedLayer } from '../../compiler/check/index.js'
import { upstreamName } from '../../compiler/check/index.js'
import type { Program } from '../../compiler/ir/index.js'
import { topoOrder } from '../../compiler/ir/index.js'
import { sizeOf } from '../interp.js'
import { rng } from '../random.js'
import { bindHypers, bindSizes, evalSize } from '../sizes.js'
import { groupIndex, type Group } from './structure.js'

export type Variant = 'plain' | 'constant' | 'lowvar' | 'offset'

export const variantText: Record<Variant, string> = {
  plain: 'random data',
  constant: 'one constant group',
  lowvar: 'one group of variance ~1e-7',
  offset: '1e4 + noise',
}

export interface Trial {
  index: number
  seed: number
  sizes: Map<string, number>
  hypers: Map<string, number>
  /** `N=3, C=5` and any hyper varied with the sizes. */
  label: string
}

/** Hypers used only to size axes (`axis G = groups`) and not given by the user. */
export function sizeOnlyHypers(
  layer: CheckedLayer,
  programs: Program[],
  given: Record<string, number>,
): string[] {
  const inSizes = new Set<string>()
  const walk = (e: {
    kind: string
    name?: string
    left?: unknown
    right?: unknown
    operand?: unknown
  }): void => {
    if (e.kind === 'name') inSizes.add(e.name!)
    for (const k of ['left', 'right', 'operand'] as const) if (e[k]) walk(e[k] as never)
  }
  for (const info of layer.axes.axes.values()) if (info.size) walk(info.size as never)
  const inValues = new Set<string>()
  for (const p of programs)
    for (const n of topoOrder([...p.outputs, ...p.updates].map((o) => o.node)))
      if (n.op === 'hyper') inValues.add(n.name!)
  return [...inSizes].filter((h) => !inValues.has(h) && !(h in given))
}

/**
 * The sizes and hypers of trial `t`: trial 0 has odd sizes (3 or 5), trial 1 a first axis of
 * size 1 (a batch of one), later trials sizes 2..5. Hypers that only size axes are varied too.
 */
export function makeTrial(
  layer: CheckedLayer,
  t: number,
  seed: number,
  given: Record<string, number>,
  varied: string[],
  maxElements = 300,
): Trial {
  const r = rng(seed * 7919 + t * 104729 + 1)
  const overrides: Record<string, number> = { ...given }
  for (const h of varied) overrides[h] = [2, 1, 3][t % 3]!
  const hypers = bindHypers(layer, overrides)
  const pick = () =>
    t === 0 ? [3, 5][Math.floor(r() * 2)]! : 2 + Math.floor(r() * (t === 1 ? 3 : 4))
  const given2: Record<string, number> = {}
  const first = layer.inputs[0]?.axes[0]
  for (const info of layer.axes.axes.values()) {
    if (info.kind === 'factor' || info.size) continue
    if (info.factors) continue
    given2[info.name] = t === 1 && info.name === first ? 1 : pick()
  }
  // Factorised axes: random sizes for the factors without a declared size, the parent their product.
  for (const info of layer.axes.axes.values()) {
    if (!info.factors) continue
    let total = 1
    for (const f of info.factors) {
      const fi = layer.axes.get(f)!
      if (fi.size) total *= evalSize(fi.size, hypers)
      else if (!fi.factors) {
        given2[f] = 1 + Math.floor(r() * 3)
        total *= given2[f]!
      }
    }
    given2[info.name] = total
  }
  // Keep the largest tensor small enough for element-wise finite differences.
  const tensors = [...layer.inputs, ...layer.params, ...layer.states, ...layer.outputs]
  const elems = () =>
    Math.max(...tensors.map((x) => x.axes.reduce((p, a) => p * (given2[a] ?? 1), 1)))
  for (let guard = 0; guard < 20 && elems() > maxElements; guard++) {
    const big = Object.keys(given2)
      .filter(
        (a) =>
          !layer.axes.get(a)!.factors && layer.axes.get(a)!.kind !== 'factor' && given2[a]! > 2,
      )
      .sort((a, b) => given2[b]! - given2[a]!)[0]
    if (!big) break
    given2[big] = given2[big]! - 1
  }
  const sizes = bindSizes(layer, given2, hypers)
  const shown = [...layer.axes.axes.values()]
    .filter((i) => i.kind !== 'factor' || i.size)
    .map((i) => `${i.name}=${sizes.get(i.name)}`)
  return { index: t, seed, sizes, hypers, label: shown.join(' ') }
}

export interface Data {
  /** Inputs, params, state, and the upstream gradients (by the names the backward uses). */
  tensors: Map<string, Float64Array>
  /** Names of the upstream gradients, one per output, in output order. */
  dyNames: string[]
}

export type Role = 'input' | 'param' | 'state' | 'dy'

/** A tensor to generate: its name, axes, role, initial value (params) and group (inputs). */
export interface TensorSpec {
  name: string
  axes: readonly string[]
  role: Role
  init?: number
  group?: Group
}

export function layerTensors(layer: CheckedLayer, groups: Map<string, Group>): TensorSpec[] {
  return [
    ...layer.inputs.map((t) => {
      const g = groups.get(t.name)
      return {
        name: t.name,
        axes: layer.axes.sort(t.axes),
        role: 'input' as const,
        ...(g ? { group: g } : {}),
      }
    }),
    ...layer.params.map((t) => ({
      name: t.name,
      axes: t.axes,
      role: 'param' as const,
      init: t.init ?? 0,
    })),
    ...layer.states.map((t) => ({ name: t.name, axes: t.axes, role: 'state' as const })),
    ...layer.outputs.map((o) => ({
      name: upstreamName(layer, o.name),
      axes: o.axes,
      role: 'dy' as const,
    })),
  ]
}

/**
 * Random data for one trial and variant. Inputs ~ U(−1, 1) (+1e4 for `offset`; one group
 * constant or of tiny variance for `constant` / `lowvar`); params their initial value × [0.5,
 * 1.5) (± 0.5 around 0); state in [0.5, 1.5) (variances and sigmas must be positive); upstream
 * gradients in [0.5, 1.5): a non-zero mean, so a missing Σ dy term shows.
 */
export function makeData(
  specs: TensorSpec[],
  sizes: ReadonlyMap<string, number>,
  seed: number,
  variant: Variant,
): Map<string, Float64Array> {
  const r = rng(seed)
  const out = new Map<string, Float64Array>()
  for (const s of specs) {
    const n = sizeOf(s.axes, sizes)
    const a = new Float64Array(n)
    switch (s.role) {
      case 'input':
        for (let i = 0; i < n; i++) a[i] = 2 * r() - 1 + (variant === 'offset' ? 1e4 : 0)
        if (variant === 'constant' || variant === 'lowvar') {
          for (const i of firstGroup(s, sizes))
            a[i] = variant === 'constant' ? 0.25 : 0.5 + 1e-3 * (2 * r() - 1)
        }
        break
      case 'param':
        for (let i = 0; i < n; i++) a[i] = s.init ? s.init * (0.5 + r()) : r() - 0.5
        break
      case 'state':
      case 'dy':
        for (let i = 0; i < n; i++) a[i] = 0.5 + r()
        break
    }
    out.set(s.name, a)
  }
  return out
}

/** The flat indices of the first normalization group of an input (or of its first channel). */
function firstGroup(s: TensorSpec, sizes: ReadonlyMap<string, number>): number[] {
  if (s.group) {
    const { ids } = groupIndex(s.group, sizes)
    const out: number[] = []
    ids.forEach((g, i) => g === 0 && out.push(i))
    return out
  }
  const n = sizeOf(s.axes, sizes)
  if (s.axes.length < 2) return Array.from({ length: n }, (_, i) => i)
  // No group known: the slice at index 0 of the second axis (a channel in N, C, … layouts).
  const inner = sizeOf(s.axes.slice(2), sizes)
  const second = sizes.get(s.axes[1]!)!
  const outer = sizes.get(s.axes[0]!)!
  const out: number[] = []
  for (let o = 0; o < outer; o++) for (let k = 0; k < inner; k++) out.push(o * second * inner + k)
  return out
}

/** `x[n=1, c=2, h=0, w=3]`: an element of a tensor by its axis coordinates. */
export function elementName(
  name: string,
  axes: readonly string[],
  sizes: ReadonlyMap<string, number>,
  flat: number,
): string {
  const coords: string[] = []
  let rest = flat
  for (let d = axes.length - 1; d >= 0; d--) {
    const s = sizes.get(axes[d]!)!
    coords.unshift(`${axes[d]!.toLowerCase()}=${rest % s}`)
    rest = Math.floor(rest / s)
  }
  return coords.length ? `${name}[${coords.join(', ')}]` : name
}

/** The coordinates of an element, by axis name. */
export function elementCoords(
  axes: readonly string[],
  sizes: ReadonlyMap<string, number>,
  flat: number,
): Record<string, number> {
  const out: Record<string, number> = {}
  let rest = flat
  for (let d = axes.length - 1; d >= 0; d--) {
    const s = sizes.get(axes[d]!)!
    out[axes[d]!] = rest % s
    rest = Math.floor(rest / s)
  }
  return out
}
