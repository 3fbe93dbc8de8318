// `--order 2`: the derived backward pass is printed as a `.norm` layer (as `normc grad` prints
// it), checked again by the front end, and differentiated again; its derivatives are compared
// with finite differences of the first derivative. Second derivatives with respect to the
// inputs, the params and the upstream gradient dy; the state stays frozen.

import { backwardLayer, backwardName } from '../../compiler/backward.js'
import type { CheckedLayer } from '../../compiler/check/index.js'
import { upstreamName } from '../../compiler/check/index.js'
import { NormcError } from '../../compiler/diagnostics.js'
import { frontend } from '../../compiler/frontend.js'
import { lowerLayer } from '../../compiler/lower/index.js'
import { compileLayerGraphs, type LayerGraphs } from '../../compiler/pipeline.js'
import { printLayer } from '../../compiler/print/index.js'
import { freezeStops } from '../fd.js'
import { evaluate, type Bindings } from '../interp.js'
import { rng } from '../random.js'
import { Acc, fdCompare, stepsFor, TOL, type Row } from './core.js'
import { hasNonFinite, type Kink } from './numeric.js'
import { groupIndex } from './structure.js'
import {
  elementCoords,
  elementName,
  makeData,
  variantText,
  type TensorSpec,
  type Trial,
  type Variant,
} from './trials.js'

export function secondOrder(
  layer: CheckedLayer,
  mode: 'train' | 'eval',
  graphs: LayerGraphs,
  trials: Trial[],
  first: TensorSpec[],
  opts: { seed: number; modeName: string },
): Row[] {
  const name = layer.decl.name
  const text = printLayer(backwardLayer(graphs))
  const file = `<${backwardName(layer, mode)}>`
  const fe = frontend([{ file, text }])
  const errors = fe.diagnostics.filter((d) => d.severity === 'error')
  const layer2 = fe.layers[0]
  if (errors.length || !layer2) {
    return [
      {
        layer: name,
        mode: opts.modeName,
        wrt: '-',
        check: 'finite diff, 2nd order',
        maxAbs: null,
        maxRel: null,
        tol: null,
        status: 'FAIL',
        note: `the printed backward pass does not check: ${errors.map((d) => `${d.span.line}:${d.span.col}: ${d.message}`).join('; ')}`,
        order: 2,
      },
    ]
  }
  const fwd2 = lowerLayer(layer2, 'train')
  const g2 = compileLayerGraphs(layer2, 'train')
  const byName = new Map(first.map((t) => [t.name, t]))
  const specs: TensorSpec[] = [
    ...layer2.inputs.map((t) => ({
      ...(byName.get(t.name) ?? { role: 'input' as const }),
      name: t.name,
      axes: layer2.axes.sort(t.axes),
    })),
    ...layer2.outputs.map((o) => ({
      name: upstreamName(layer2, o.name),
      axes: o.axes,
      role: 'dy' as const,
    })),
  ]
  const bwd = g2.backward.program.outputs
  const wrts = bwd.map((o) => g2.backward.of.get(o.name)!)
  const differentiate = wrts.filter((w) => byName.get(w)?.role !== 'state')
  const hasStops = fwd2.outputs.some((o) => containsStop(o.node))
  const check = hasStops ? 'finite diff, 2nd order (surrogate)' : 'finite diff, 2nd order'
  const accs = new Map(differentiate.map((w) => [w, new Acc(w, check, TOL.fd)]))
  const outs = fwd2.outputs.map((o) => o.node)
  const dyNames = layer2.outputs.map((o) => upstreamName(layer2, o.name))
  const notes: string[] = []
  for (const trial of trials) {
    const variants: Variant[] = trial.index === 0 ? ['plain', 'constant'] : ['plain']
    const r = rng(opts.seed * 13 + trial.index)
    for (const v of variants) {
      const tensors = makeData(
        specs,
        trial.sizes,
        opts.seed * 977 + trial.index * 3 + variants.indexOf(v),
        v,
      )
      const env: Bindings = { sizes: trial.sizes, tensors, hypers: trial.hypers }
      const where = `trial ${trial.index + 1} (${trial.label}), ${variantText[v]}`
      let ys: Float64Array[]
      let derived: Float64Array[]
      try {
        ys = evaluate(outs, env)
        derived = evaluate(
          bwd.map((o) => o.node),
          env,
        )
      } catch (e) {
        if (!(e instanceof NormcError)) throw e
        break
      }
      if (ys.some(hasNonFinite)) {
        notes.push(`${where}: the first derivative is not finite, skipped there`)
        continue
      }
      const us = dyNames.map((d) => tensors.get(d)!)
      const envF: Bindings = hasStops ? { ...env, frozen: freezeStops(outs, env) } : env
      for (const w of differentiate) {
        const ts = specs.find((t) => t.name === w)!
        const acc = accs.get(w)!
        const h = stepsFor(ts.role, v, tensors.get(w)!)
        const ids = ts.group ? groupIndex(ts.group, trial.sizes).ids : undefined
        const kinks = new Map<number, Kink>()
        const c = fdCompare(outs, us, envF, w, derived[wrts.indexOf(w)]!, h, acc.tol, r, ids, kinks)
        acc.kinks(kinks, (i) => elementName(w, ts.axes, trial.sizes, i), where)
        acc.add(
          c,
          v,
          () => ({
            quantity: `d${w} of ${layer2.outputs.map((o) => o.name).join(', ')}`,
            element: elementName(w, ts.axes, trial.sizes, c.at),
            coords: elementCoords(ts.axes, trial.sizes, c.at),
            expected: c.expected,
            actual: c.actual,
            expectedFrom: `finite differences of the first derivative (${dyNames.join(', ')} as cotangents)`,
            actualFrom: 'the derivative of the printed backward pass',
          }),
          where,
        )
      }
    }
  }
  return differentiate.map((w) => {
    const row = accs.get(w)!.row(name, opts.modeName, 2)
    if (notes.length) row.note = [row.note, ...notes].filter(Boolean).join('; ')
    return row
  })
}

function containsStop(
  n: { op: string; args: readonly unknown[] },
  seen = new Set<unknown>(),
): boolean {
  if (seen.has(n)) return false
  seen.add(n)
  if (n.op === 'stop_gradient') return true
  return n.args.some((a) => containsStop(a as never, seen))
}
