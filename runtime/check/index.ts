// `normc check`, the library: compares the derived gradients of a layer with three independent
// things — float64 finite differences, the closed forms of a spec, and the properties the
// structure of the forward graph implies — on seeded random trials, and reports one row per
// (tensor, check) with the worst error found and, for a failure, the element, the values and
// the trial. Nothing here knows a layer by name.

import type { CheckedLayer, CheckedSpec } from '../../compiler/check/index.js'
import { upstreamName } from '../../compiler/check/index.js'
import { NormcError } from '../../compiler/diagnostics.js'
import type { Node } from '../../compiler/ir/index.js'
import type { RuleTable } from '../../compiler/grad/index.js'
import { lowerLayer, lowerSpec } from '../../compiler/lower/index.js'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { freezeStops } from '../fd.js'
import { evaluate, type Bindings } from '../interp.js'
import { rng } from '../random.js'
import {
  compare,
  elementwise,
  hasNonFinite,
  noComparison,
  type Comparison,
  type Kink,
} from './numeric.js'
import {
  analyse,
  groupIndex,
  type Group,
  type InputStructure,
  type Structure,
} from './structure.js'
import {
  elementCoords,
  elementName,
  layerTensors,
  makeData,
  makeTrial,
  sizeOnlyHypers,
  variantText,
  type TensorSpec,
  type Trial,
  type Variant,
} from './trials.js'
import { secondOrder } from './order2.js'
import {
  Acc,
  fdCompare,
  fdIndices,
  kappa,
  offsetScale,
  stepsFor,
  TOL,
  type Failure,
  type Row,
  type Status,
} from './core.js'

export { TOL, type Failure, type Row, type Status }

export interface CheckOptions {
  /** Trials (random sizes) per mode; default 3. */
  trials?: number
  seed?: number
  order?: 1 | 2
  /** Hyper overrides (names the layer does not declare are ignored here). */
  hypers?: Record<string, number>
  /** Specs to compare with (those of other layers or modes are ignored). */
  specs?: CheckedSpec[]
  /** A replacement derivative table (tests plant wrong rules with it). */
  rules?: RuleTable
  /** Where specs were looked for, for the note when there is none. */
  specSearch?: string
  /** Source texts by file, to quote the source in explanations. */
  sources?: ReadonlyMap<string, string>
}

function describeNode(sources: ReadonlyMap<string, string> | undefined, file: string) {
  return (n: Node): string => {
    const text = sources?.get(file)
    if (n.span && text !== undefined) {
      const snippet = text.slice(n.span.start, n.span.end).replace(/\s+/g, ' ')
      return `\`${snippet}\` (${file}:${n.span.line}:${n.span.col})`
    }
    return n.hint ?? n.op
  }
}

/** The structure of a layer's forward graph in one mode (for the report and for tests). */
export function layerStructure(
  layer: CheckedLayer,
  mode: 'train' | 'eval',
  sources?: ReadonlyMap<string, string>,
): Structure {
  return analyse(layer, lowerLayer(layer, mode), describeNode(sources, layer.file))
}

/** `x[n=*, c=2]` for the group of element `flat` of a tensor seen in `group.axes`. */
function groupName(
  name: string,
  group: Group,
  sizes: ReadonlyMap<string, number>,
  flat: number,
): string {
  const c = elementCoords(group.axes, sizes, flat)
  return `${name}[${group.axes.map((a) => `${a.toLowerCase()}=${group.over.includes(a) ? '*' : c[a]}`).join(', ')}]`
}

/**
 * Reads the pattern of a disagreement e = actual − expected of an input gradient per group:
 * constant within each group (a mean term), along the centered input (a variance term), or
 * both.
 */
function diagnose(
  e: Float64Array,
  x: Float64Array,
  group: Group,
  sizes: ReadonlyMap<string, number>,
  centered: boolean,
): string | undefined {
  const { ids, count } = groupIndex(group, sizes)
  if (ids.length !== e.length) return undefined
  const n = new Float64Array(count)
  const me = new Float64Array(count)
  const mx = new Float64Array(count)
  ids.forEach((g, i) => {
    n[g]!++
    me[g]! += e[i]!
    mx[g]! += x[i]!
  })
  for (let g = 0; g < count; g++) {
    me[g]! /= n[g]!
    mx[g]! /= n[g]!
  }
  let emax = 0
  for (const v of e) emax = Math.max(emax, Math.abs(v))
  if (!(emax > 0) || !Number.isFinite(emax)) return undefined
  const c = (i: number) => x[i]! - (centered ? mx[ids[i]!]! : 0)
  // Per group, least squares of e on 1 (a constant), on c (along x̂) or on both.
  const fit = (useA: boolean, useB: boolean) => {
    const sc = new Float64Array(count)
    const scc = new Float64Array(count)
    const sec = new Float64Array(count)
    ids.forEach((g, i) => {
      sc[g]! += c(i)
      scc[g]! += c(i) * c(i)
      sec[g]! += e[i]! * c(i)
    })
    const coef = (g: number): [number, number] => {
      const m = n[g]!
      if (useA && useB) {
        const vc = scc[g]! - (sc[g]! * sc[g]!) / m
        const b = vc > 0 ? (sec[g]! - (me[g]! * m * sc[g]!) / m) / vc : 0
        return [me[g]! - (b * sc[g]!) / m, b]
      }
      if (useA) return [me[g]!, 0]
      return [0, scc[g]! > 0 ? sec[g]! / scc[g]! : 0]
    }
    const k = Array.from({ length: count }, (_, g) => coef(g))
    let worst = 0
    ids.forEach((g, i) => (worst = Math.max(worst, Math.abs(e[i]! - k[g]![0] - k[g]![1] * c(i)))))
    return worst / emax
  }
  const over = `[${group.over.join(', ')}]`
  if (fit(true, false) < 1e-6)
    return `the difference is constant within each group over ${over}: a mean term (Σ dy / m, the gradient through the mean) is missing or wrong`
  if (fit(false, true) < 1e-6)
    return `the difference lies along the ${centered ? 'centered input (x̂)' : 'input'} within each group over ${over}: a variance term (x̂ · Σ dy x̂ / m, the gradient through the variance) is missing or wrong`
  if (fit(true, true) < 1e-6)
    return `the difference is a constant plus a multiple of x̂ within each group over ${over}: the mean and variance terms are wrong`
  return undefined
}

/** Checks one layer in one mode; returns the rows of the report. */
export function checkLayer(
  layer: CheckedLayer,
  mode: 'train' | 'eval',
  opts: CheckOptions = {},
): Row[] {
  const K = Math.max(1, opts.trials ?? 3)
  const seed = opts.seed ?? 1
  const modeName = layer.hasForward ? 'forward' : mode
  const name = layer.decl.name
  const declared = new Set(layer.hypers.map((h) => h.name))
  const given: Record<string, number> = {}
  for (const [k, v] of Object.entries(opts.hypers ?? {})) if (declared.has(k)) given[k] = v

  const fwd = lowerLayer(layer, mode)
  const graphs = compileLayerGraphs(layer, mode, opts.rules ? { rules: opts.rules } : {})
  const describe = describeNode(opts.sources, layer.file)
  const structure = analyse(layer, fwd, describe)
  const groups = new Map<string, Group>()
  for (const s of structure.inputs) if (s.group) groups.set(s.input, s.group)
  const tspecs = layerTensors(layer, groups)
  const varied = sizeOnlyHypers(layer, [fwd], given)
  const specs = (opts.specs ?? []).filter(
    (s) => s.layer === layer && (s.mode === mode || layer.hasForward),
  )
  const lowered = specs.map((s) => ({ spec: s, ...lowerSpec(s, lowerLayer(layer, mode)) }))

  const outs = fwd.outputs.map((o) => o.node)
  const bwd = graphs.backward.program.outputs
  const wrts = bwd.map((o) => graphs.backward.of.get(o.name)!)
  const wrtSpec = (w: string) => tspecs.find((t) => t.name === w)!
  const dyNames = layer.outputs.map((o) => upstreamName(layer, o.name))
  const hasStops = structure.stops.length > 0
  const fdName = hasStops ? 'finite diff (surrogate)' : 'finite diff'

  const rows: Row[] = []
  const notes: Row[] = []
  const info = (wrt: string, check: string, status: Status, note: string) =>
    notes.push({
      layer: name,
      mode: modeName,
      wrt,
      check,
      maxAbs: null,
      maxRel: null,
      tol: null,
      status,
      note,
      order: 1,
    })

  const fd = new Map(wrts.map((w) => [w, new Acc(w, fdName, TOL.fd)]))
  const fdOff = new Map(wrts.map((w) => [w, new Acc(w, `${fdName} @1e4`, TOL.fd)]))
  // The true function's derivative, where a stop_gradient value depends on the tensor.
  const stopDeps = (w: string) => structure.stops.filter((s) => s.dependsOn.includes(w))
  const truth = new Map(
    wrts.filter((w) => stopDeps(w).length).map((w) => [w, { maxAbs: 0, maxRel: 0, ran: false }]),
  )
  type SpecAccs = {
    spec: CheckedSpec
    grads: Map<string, [Acc, Acc]>
    updates: Map<string, [Acc, Acc]>
  }
  const specAccs: SpecAccs[] = lowered.map((l) => ({
    spec: l.spec,
    grads: new Map(
      [...l.grads.keys()].map((w) => [
        w,
        [new Acc(w, 'spec', TOL.spec), new Acc(w, 'spec @1e4', TOL.spec)],
      ]),
    ),
    updates: new Map(
      l.updates.map((u) => [
        u.name,
        [new Acc(`${u.name} <-`, 'spec', TOL.spec), new Acc(`${u.name} <-`, 'spec @1e4', TOL.spec)],
      ]),
    ),
  }))
  const prop = new Map<string, { zero: Acc; ortho: Acc; shift: Acc; scale: Acc }>()
  for (const s of structure.inputs) {
    const ortho =
      s.normalized && !s.centered
        ? `sum dx * ${s.input} = 0 (eps=0)`
        : `sum dx * ${s.input}hat = 0 (eps=0)`
    prop.set(s.input, {
      zero: new Acc(s.input, 'sum dx = 0 per group', TOL.property),
      ortho: new Acc(s.input, ortho, TOL.property),
      shift: new Acc(s.input, 'y shift-invariant', TOL.property),
      scale: new Acc(s.input, 'y scale-invariant (eps=0)', TOL.property),
    })
  }
  const linear = new Acc('all', 'linear in dy', TOL.property)

  const specLabel = (s: CheckedSpec, node: Node, what: string) =>
    `the spec's ${what} (${s.file}${node.span ? `:${node.span.line}` : ''})`
  const trials: Trial[] = []
  for (let t = 0; t < K; t++) {
    let trial: Trial
    try {
      trial = makeTrial(layer, t, seed, given, varied)
    } catch (e) {
      if (!(e instanceof NormcError)) throw e
      info('-', `trial ${t + 1}`, 'INFO', `sizes refused: ${e.message}`)
      continue
    }
    trials.push(trial)
    const fdVariants: Variant[] = ['plain']
    if (t === 0) fdVariants.push('constant')
    if (t === K - 1) fdVariants.push('offset')
    const variants: Variant[] = ['plain', 'constant', 'lowvar', 'offset']
    const r = rng(seed * 31 + t * 17 + 5)
    let refused = false
    for (const v of variants) {
      if (refused) break
      const tensors = makeData(tspecs, trial.sizes, seed * 1000 + t * 10 + variants.indexOf(v), v)
      const env: Bindings = { sizes: trial.sizes, tensors, hypers: trial.hypers }
      const where = `trial ${t + 1} (${trial.label}), ${variantText[v]}`
      let ys: Float64Array[]
      let derived: Float64Array[]
      try {
        const all = evaluate([...outs, ...fwd.updates.map((u) => u.node)], env, layer.file)
        ys = all.slice(0, outs.length)
        derived = evaluate(
          bwd.map((o) => o.node),
          env,
          layer.file,
        )
      } catch (e) {
        if (!(e instanceof NormcError)) throw e
        const at = e.span ? ` (${e.file ?? layer.file}:${e.span.line}:${e.span.col})` : ''
        info(
          '-',
          `trial ${t + 1}`,
          'INFO',
          `${trial.label}: the layer refuses these sizes: ${e.message}${at}; trial skipped, as intended`,
        )
        refused = true
        break
      }
      const us = dyNames.map((d) => tensors.get(d)!)
      const finite = !ys.some(hasNonFinite)
      const kap = Math.max(...layer.inputs.map((i) => kappa(tensors.get(i.name)!)))
      const scale = v === 'offset' ? offsetScale(kap) : 1
      const gradOf = (w: string) => derived[wrts.indexOf(w)]!

      // 1. Finite differences of the surrogate (stop_gradient values frozen).
      if (fdVariants.includes(v)) {
        if (!finite) {
          info('-', fdName, 'INFO', `${where}: y is not finite, finite differences skipped there`)
        } else {
          const frozen = freezeStops(outs, env)
          const envF: Bindings = hasStops ? { ...env, frozen } : env
          for (const w of wrts) {
            const ts = wrtSpec(w)
            const acc = (v === 'offset' ? fdOff : fd).get(w)!
            const h = stepsFor(ts.role, v, tensors.get(w)!)
            const ids = ts.group ? groupIndex(ts.group, trial.sizes).ids : undefined
            const kinks = new Map<number, Kink>()
            const c = fdCompare(outs, us, envF, w, gradOf(w), h, acc.tol * scale, r, ids, kinks)
            acc.kinks(kinks, (i) => elementName(w, ts.axes, trial.sizes, i), where)
            acc.add(
              c,
              v,
              () => ({
                quantity: 'd' + w,
                element: elementName(w, ts.axes, trial.sizes, c.at),
                coords: elementCoords(ts.axes, trial.sizes, c.at),
                expected: c.expected,
                actual: c.actual,
                expectedFrom: hasStops
                  ? 'finite differences of the surrogate'
                  : 'finite differences',
                actualFrom: "normc's derived gradient",
              }),
              where,
              acc.tol * scale,
            )
            // 3. The true function: reported, never a failure.
            const tr = truth.get(w)
            if (tr && v === 'plain' && t === 0) {
              const idx = fdIndices(gradOf(w).length, r, ids)
              const num = elementwise(outs, us, env, w, idx, (i) =>
                typeof h === 'number' ? h : h[i]!,
              )
              const ct = compare(gradOf(w), num, idx)
              tr.ran = true
              tr.maxAbs = Math.max(tr.maxAbs, ct.maxAbs)
              tr.maxRel = Math.max(tr.maxRel, ct.maxRel)
            }
          }
        }
      }

      // 2. The spec: its dNAME against the derived gradients, its `<-` against the layer's.
      lowered.forEach((l, k) => {
        const accs = specAccs[k]!
        const gradNodes = [...l.grads.entries()]
        const updNodes = l.updates
        let vals: Float64Array[]
        try {
          vals = evaluate(
            [...gradNodes.map(([, g]) => g.node), ...updNodes.map((u) => u.node)],
            env,
            l.spec.file,
          )
        } catch (e) {
          if (!(e instanceof NormcError)) throw e
          for (const [a] of [...accs.grads.values(), ...accs.updates.values()])
            a.fail({
              quantity: a.wrt,
              element: '-',
              coords: {},
              expected: NaN,
              actual: NaN,
              expectedFrom: 'the spec',
              actualFrom: 'the layer',
              trial: where,
              hint: `the spec refuses sizes the layer accepts: ${e.line(l.spec.file)}`,
            })
          return
        }
        gradNodes.forEach(([w, g], i) => {
          const acc = accs.grads.get(w)![v === 'offset' ? 1 : 0]
          const ts = wrtSpec(w)
          const actual = gradOf(w)
          const c = compare(actual, vals[i]!)
          acc.add(
            c,
            v,
            () => {
              const st = structure.inputs.find((s) => s.input === w)
              const e = actual.map((a, j) => a - vals[i]![j]!)
              const hint = st?.group
                ? diagnose(e, tensors.get(w)!, st.group, trial.sizes, st.centered)
                : undefined
              return {
                quantity: 'd' + w,
                element: elementName(w, ts.axes, trial.sizes, c.at),
                coords: elementCoords(ts.axes, trial.sizes, c.at),
                expected: c.expected,
                actual: c.actual,
                expectedFrom: specLabel(l.spec, g.node, 'd' + w),
                actualFrom: "normc's derived gradient",
                ...(hint ? { hint } : {}),
              }
            },
            where,
            acc.tol * scale,
          )
        })
        const layerUpd = fwd.updates
        let upd: Float64Array[] = []
        if (updNodes.length)
          upd = evaluate(
            layerUpd.map((u) => u.node),
            env,
            layer.file,
          )
        updNodes.forEach((u, i) => {
          const acc = accs.updates.get(u.name)![v === 'offset' ? 1 : 0]
          const k2 = layerUpd.findIndex((x) => x.name === u.name)
          const st = layer.states.find((s) => s.name === u.name)!
          const actual = k2 >= 0 ? upd[k2]! : tensors.get(u.name)!
          const c = compare(actual, vals[gradNodes.length + i]!)
          acc.add(
            c,
            v,
            () => ({
              quantity: `${u.name} <-`,
              element: elementName(u.name, st.axes, trial.sizes, c.at),
              coords: elementCoords(st.axes, trial.sizes, c.at),
              expected: c.expected,
              actual: c.actual,
              expectedFrom: specLabel(l.spec, u.node, `${u.name} <-`),
              actualFrom:
                k2 >= 0
                  ? "the layer's update"
                  : 'the state unchanged (the layer does not update it)',
            }),
            where,
            acc.tol * scale,
          )
        })
      })

      // 4. Properties, on plain data (and the constant group for the zero sum).
      if ((v === 'plain' || v === 'constant') && finite) {
        for (const s of structure.inputs) {
          const p = prop.get(s.input)!
          if (s.zeroSum.holds && s.group && wrts.includes(s.input)) {
            const c = groupSums(gradOf(s.input), undefined, s.group, trial.sizes)
            p.zero.add(
              c,
              v,
              () => groupFailure(s, trial.sizes, c, 'sum over the group of d' + s.input),
              where,
            )
          }
        }
      }
      if (v === 'plain' && finite) {
        for (const s of structure.inputs) {
          const p = prop.get(s.input)!
          if (s.shift.holds && s.group) {
            const c = invariance(outs, env, s, trial.sizes, r, 'shift')
            p.shift.add(
              c,
              v,
              () => outFailure(layer, c, trial.sizes, 'y after shifting each group of ' + s.input),
              where,
            )
          }
          if ((s.ortho.holds || s.scale.holds) && s.group) {
            const sizeOK = s.group.over.reduce((q, a) => q * trial.sizes.get(a)!, 1) >= 2
            if (!sizeOK) {
              p.ortho.notes.push(
                `groups of one element in ${trial.label}: skipped there (0 / 0 at eps = 0)`,
              )
              continue
            }
            const env0 = epsZero(env, s)
            if (s.ortho.holds && wrts.includes(s.input)) {
              const [g0] = evaluate([bwd[wrts.indexOf(s.input)]!.node], env0)
              const x = tensors.get(s.input)!
              const c = groupSums(g0!, centeredOf(x, s), s.group, trial.sizes)
              p.ortho.add(
                c,
                v,
                () =>
                  groupFailure(
                    s,
                    trial.sizes,
                    c,
                    `sum over the group of d${s.input} * ${s.centered ? s.input + 'hat' : s.input}`,
                  ),
                where,
              )
            }
            if (s.scale.holds) {
              const c = invariance(outs, env0, s, trial.sizes, r, 'scale')
              p.scale.add(
                c,
                v,
                () => outFailure(layer, c, trial.sizes, 'y after scaling each group of ' + s.input),
                where,
              )
            }
          }
        }
        // Linear in dy: G(u + 2.5 u2) = G(u) + 2.5 G(u2), with u2 of both signs.
        const r2 = rng(seed * 7 + t)
        const u2 = dyNames.map((d) => Float64Array.from(tensors.get(d)!, () => r2() - 0.5))
        const withDy = (f: (u: Float64Array, i: number) => Float64Array) => {
          const m = new Map(tensors)
          dyNames.forEach((d, i) => m.set(d, f(tensors.get(d)!, i)))
          return evaluate(
            bwd.map((o) => o.node),
            { ...env, tensors: m },
          )
        }
        const g2 = withDy((_, i) => u2[i]!)
        const g3 = withDy((u, i) => u.map((a, j) => a + 2.5 * u2[i]![j]!))
        wrts.forEach((w, i) => {
          const expected = derived[i]!.map((a, j) => a + 2.5 * g2[i]![j]!)
          const c = compare(g3[i]!, expected)
          const ts = wrtSpec(w)
          linear.add(
            c,
            v,
            () => ({
              quantity: 'd' + w,
              element: elementName('d' + w, ts.axes, trial.sizes, c.at),
              coords: elementCoords(ts.axes, trial.sizes, c.at),
              expected: c.expected,
              actual: c.actual,
              expectedFrom: 'G(u) + 2.5 G(u2)',
              actualFrom: 'G(u + 2.5 u2)',
            }),
            where,
          )
        })
      }
    }
  }

  if (trials.length) {
    const hyp = varied.length ? `; ${varied.join(', ')} varied with the sizes (an axis size)` : ''
    notes.unshift({
      layer: name,
      mode: modeName,
      wrt: '-',
      check: 'trials',
      maxAbs: null,
      maxRel: null,
      tol: null,
      status: 'INFO',
      note: `${trials.map((t) => `${t.index + 1}: ${t.label}`).join('; ')}${hyp}`,
      order: 1,
    })
  }

  // Rows, in the order of the report. An eps to blame: a normalization's, or a hyper named so.
  const hasEps =
    structure.inputs.some((s) => s.eps.some((e) => e.kind !== 'none')) ||
    layer.hypers.some((h) => /eps/i.test(h.name))
  for (const w of wrts) {
    rows.push(fd.get(w)!.row(name, modeName, 1, hasEps))
    rows.push(fdOff.get(w)!.row(name, modeName, 1, hasEps))
    const tr = truth.get(w)
    if (tr?.ran) {
      const labels = stopDeps(w).map((s) => s.label)
      const held = `${labels.join(', ')} held constant (stop_gradient)`
      const note =
        tr.maxRel > TOL.fd
          ? `${held}: the true derivative differs by up to ${tr.maxAbs.toExponential(1)}, as intended`
          : `${held}: the true derivative agrees on these trials (the stopped values are clipped or do not vary)`
      rows.push({
        layer: name,
        mode: modeName,
        wrt: w,
        check: 'finite diff (true fn)',
        maxAbs: tr.maxAbs,
        maxRel: tr.maxRel,
        tol: null,
        status: 'INFO',
        note,
        order: 1,
      })
    }
  }
  if (specs.length === 0) {
    rows.push({
      layer: name,
      mode: modeName,
      wrt: '-',
      check: 'spec',
      maxAbs: null,
      maxRel: null,
      tol: null,
      status: 'SKIP',
      note: `no spec for ${name}${layer.hasForward ? '' : ` ${mode}`}${opts.specSearch ? ` (${opts.specSearch})` : ''}`,
      order: 1,
    })
  }
  for (const a of specAccs) {
    for (const w of wrts)
      if (!a.grads.has(w))
        rows.push({
          layer: name,
          mode: modeName,
          wrt: w,
          check: 'spec',
          maxAbs: null,
          maxRel: null,
          tol: null,
          status: 'INFO',
          note: `the spec (${a.spec.file}) states no d${w}`,
          order: 1,
        })
    for (const [, [p, o]] of a.grads)
      rows.push(p.row(name, modeName, 1, hasEps), o.row(name, modeName, 1, hasEps))
    for (const [, [p, o]] of a.updates)
      rows.push(p.row(name, modeName, 1, hasEps), o.row(name, modeName, 1, hasEps))
    for (const u of fwd.updates)
      if (!a.updates.has(u.name))
        rows.push({
          layer: name,
          mode: modeName,
          wrt: `${u.name} <-`,
          check: 'spec',
          maxAbs: null,
          maxRel: null,
          tol: null,
          status: 'INFO',
          note: `the spec (${a.spec.file}) states no ${u.name} <-`,
          order: 1,
        })
  }
  for (const s of structure.inputs) {
    const p = prop.get(s.input)!
    const add = (acc: Acc, v: { holds: boolean; why: string }) => {
      if (!v.holds)
        rows.push({
          layer: name,
          mode: modeName,
          wrt: s.input,
          check: acc.check,
          maxAbs: null,
          maxRel: null,
          tol: null,
          status: 'SKIP',
          note: `does not apply: ${v.why}`,
          order: 1,
        })
      else {
        const row = acc.row(name, modeName, 1)
        row.why = v.why
        rows.push(row)
      }
    }
    add(p.zero, s.zeroSum)
    add(p.ortho, s.ortho)
    add(p.shift, s.shift)
    add(p.scale, s.scale)
  }
  rows.push(linear.row(name, modeName, 1))
  rows.push(...notes)
  if ((opts.order ?? 1) >= 2)
    rows.push(...secondOrder(layer, mode, graphs, trials, tspecs, { seed, modeName }))
  return rows
}

/** x − its group mean (centered inputs) or x (an uncentered normalization). */
function centeredOf(
  x: Float64Array,
  s: InputStructure,
): (ids: Int32Array, count: number) => Float64Array {
  return (ids, count) => {
    if (!s.centered) return x
    const sum = new Float64Array(count)
    const n = new Float64Array(count)
    ids.forEach((g, i) => {
      sum[g]! += x[i]!
      n[g]!++
    })
    return x.map((v, i) => v - sum[ids[i]!]! / n[ids[i]!]!)
  }
}

/** Per group |Σ g · w| against max(1, Σ |g · w|): a comparison whose `at` is the worst group's first element. */
function groupSums(
  g: Float64Array,
  weight: ((ids: Int32Array, count: number) => Float64Array) | undefined,
  group: Group,
  sizes: ReadonlyMap<string, number>,
): Comparison {
  const { ids, count } = groupIndex(group, sizes)
  const w = weight ? weight(ids, count) : undefined
  const s = new Float64Array(count)
  const l1 = new Float64Array(count)
  const first = new Int32Array(count).fill(-1)
  ids.forEach((k, i) => {
    const t = g[i]! * (w ? w[i]! : 1)
    s[k]! += t
    l1[k]! += Math.abs(t)
    if (first[k]! < 0) first[k] = i
  })
  const c = noComparison()
  for (let k = 0; k < count; k++) {
    const abs = Math.abs(s[k]!)
    const rel = Number.isFinite(abs) ? abs / Math.max(1, l1[k]!) : Infinity
    if (c.at < 0 || rel > c.maxRel)
      Object.assign(c, { maxRel: rel, at: first[k]!, expected: 0, actual: s[k]! })
    c.maxAbs = Math.max(c.maxAbs, abs)
  }
  return c
}

function groupFailure(
  s: InputStructure,
  sizes: ReadonlyMap<string, number>,
  c: Comparison,
  what: string,
): Omit<Failure, 'trial'> {
  return {
    quantity: what,
    element: groupName(s.input, s.group!, sizes, c.at),
    coords: elementCoords(s.group!.axes, sizes, c.at),
    expected: 0,
    actual: c.actual,
    expectedFrom: 'the property',
    actualFrom: what,
  }
}

function outFailure(
  layer: CheckedLayer,
  c: Comparison,
  sizes: ReadonlyMap<string, number>,
  what: string,
): Omit<Failure, 'trial'> {
  const o = layer.outputs[0]!
  return {
    quantity: 'y',
    element: elementName(o.name, o.axes, sizes, c.at),
    coords: elementCoords(o.axes, sizes, c.at),
    expected: c.expected,
    actual: c.actual,
    expectedFrom: 'y on the original input',
    actualFrom: what,
  }
}

/** The bindings with every eps of the input's normalizations set to 0. */
function epsZero(env: Bindings, s: InputStructure): Bindings {
  const hypers = new Map(env.hypers)
  const tensors = new Map(env.tensors)
  for (const e of s.eps) {
    if (e.kind === 'hyper') hypers.set(e.name, 0)
    if (e.kind === 'tensor') tensors.set(e.name, new Float64Array(tensors.get(e.name)!.length))
  }
  return { ...env, hypers, tensors }
}

/** y after shifting (x + t) or scaling (λ x) each group of the input, against y. */
function invariance(
  outs: readonly Node[],
  env: Bindings,
  s: InputStructure,
  sizes: ReadonlyMap<string, number>,
  r: () => number,
  kind: 'shift' | 'scale',
): Comparison {
  const { ids, count } = groupIndex(s.group!, sizes)
  const k = Float64Array.from({ length: count }, () =>
    kind === 'shift' ? 4 * r() - 2 : 0.5 + 1.5 * r(),
  )
  const x = env.tensors.get(s.input)!
  const x2 = x.map((v, i) => (kind === 'shift' ? v + k[ids[i]!]! : v * k[ids[i]!]!))
  const tensors = new Map(env.tensors)
  tensors.set(s.input, x2)
  const a = evaluate(outs, env)
  const b = evaluate(outs, { ...env, tensors })
  let worst = noComparison()
  a.forEach((y, i) => {
    const c = compare(b[i]!, y)
    if (worst.at < 0 || c.maxRel > worst.maxRel) worst = c
  })
  return worst
}

export type { TensorSpec, Trial }
