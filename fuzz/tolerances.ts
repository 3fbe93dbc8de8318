// Measures the accuracy of every target against its reference, for spec/tolerances.md:
//
//   npx tsx fuzz/tolerances.ts [--seeds N]
//
// - oracle: the PyTorch float64 cases (../shared/oracle/cases) on the interpreter and the js
//   and wasm targets (f64, f32);
// - examples: each example layer and mode on random inputs of three kinds (ordinary; a constant
//   channel; a large offset, 1e4 + noise): the derived gradient against finite differences, the
//   js target in f64 against the interpreter, and in f32 against the interpreter on the same
//   f32-rounded inputs (the kernel's own error) and on the exact inputs (end to end); the wasm
//   target likewise (f64; f32 on the same inputs).
//
// The error is max |got − want| / max(1, |want|) over all outputs, gradients and state.

import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CheckedLayer } from '../compiler/check/index.js'
import { frontend } from '../compiler/frontend.js'
import { compileLayerGraphs } from '../compiler/pipeline.js'
import type { RunCase } from '../runtime/case.js'
import { evaluate } from '../runtime/interp.js'
import { maxScaledError, numericGradient } from '../runtime/fd.js'
import { runStepJs } from '../runtime/js/step.js'
import { WasmLayer } from '../runtime/wasm/index.js'
import { randomSizes, randomTensors, rng, type Variant } from '../runtime/random.js'
import { bindHypers, bindSizes } from '../runtime/sizes.js'
import { runStepInterp, type StepResult } from '../runtime/step.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

export interface Row {
  what: string
  /** The worst error per comparison. */
  errors: Record<string, number>
}

/** max |a − b| / max(1, |b|) over every element of every tensor both results have. */
export function resultError(
  got: StepResult,
  want: {
    outputs: Record<string, ArrayLike<number>>
    grads?: Record<string, ArrayLike<number>>
    state: Record<string, ArrayLike<number>>
  },
): number {
  let worst = 0
  const parts = [
    [got.outputs, want.outputs],
    [got.grads ?? {}, want.grads ?? {}],
    [got.state, want.state],
  ] as const
  for (const [g, w] of parts)
    for (const k of Object.keys(w)) {
      const a = g[k]
      if (!a) return Infinity
      worst = Math.max(worst, maxScaledError(a, w[k]!).err)
    }
  return worst
}

export function exampleLayers(): CheckedLayer[] {
  const dir = join(root, 'examples')
  return readdirSync(dir)
    .filter((f) => f.endsWith('.norm'))
    .sort()
    .flatMap(
      (f) => frontend([{ file: `examples/${f}`, text: readFileSync(join(dir, f), 'utf8') }]).layers,
    )
}

const modesOf = (l: CheckedLayer): ('train' | 'eval')[] =>
  l.hasForward ? ['train'] : ['train', 'eval']

/** A random case for an example layer (sizes 2..5, GroupNorm with 2 groups). */
export function exampleCase(layer: CheckedLayer, seed: number, variant: Variant): RunCase {
  const r = rng(seed)
  const hyper: Record<string, number> = layer.axes.has('G') ? { groups: 2 } : {}
  const hypers = bindHypers(layer, hyper)
  const axes = randomSizes(layer, hypers, r)
  const sizes = bindSizes(layer, axes, hypers)
  const { tensors, dys } = randomTensors(layer, sizes, r, variant)
  const inputs: Record<string, Float64Array> = Object.create(null)
  for (const [k, v] of tensors) inputs[k] = v
  const dyList = [...dys.values()]
  const dy =
    layer.outputs.length === 1
      ? dyList[0]!
      : Object.fromEntries(layer.outputs.map((o, i) => [o.name, dyList[i]!]))
  return { axes, hyper, inputs, dy }
}

function rounded(c: RunCase): RunCase {
  const f = (a: Float64Array) => a.map(Math.fround)
  const inputs: Record<string, Float64Array> = Object.create(null)
  for (const k of Object.keys(c.inputs)) inputs[k] = f(c.inputs[k]!)
  const dy =
    c.dy instanceof Float64Array
      ? f(c.dy)
      : Object.fromEntries(Object.entries(c.dy ?? {}).map(([k, v]) => [k, f(v)]))
  return { ...c, inputs, dy }
}

/**
 * Derived gradients against float64 finite differences (stop_gradient frozen). `absolute`: a
 * step of 1e-4 whatever the data (runtime/fd.ts scales it by each element's magnitude, capped
 * by the spread of its tensor: the same at small values, 1e-4 of the noise at a large offset).
 */
export function fdError(
  layer: CheckedLayer,
  mode: 'train' | 'eval',
  c: RunCase,
  absolute = false,
): number {
  const g = compileLayerGraphs(layer, mode)
  const hypers = bindHypers(layer, c.hyper)
  const sizes = bindSizes(layer, c.axes, hypers)
  const tensors = new Map(Object.entries(c.inputs))
  const dyNodes = g.backward.program.inputs.filter((n) => n.role === 'dy')
  const dys = layer.outputs.map((o) => (c.dy instanceof Float64Array ? c.dy : c.dy![o.name]!))
  dyNodes.forEach((n, i) => tensors.set(n.name!, dys[i]!))
  const env = { sizes, tensors, hypers }
  const derived = evaluate(
    g.backward.program.outputs.map((o) => o.node),
    env,
  )
  let worst = 0
  g.backward.program.outputs.forEach((o, i) => {
    const wrt = g.backward.of.get(o.name)!
    const num = numericGradient(
      g.forward.outputs.map((x) => x.node),
      dys,
      env,
      wrt,
      absolute ? { surrogate: true, step: 1e-4, absolute: true } : { surrogate: true },
    )
    worst = Math.max(worst, maxScaledError(derived[i]!, num).err)
  })
  return worst
}

/** Every example, mode and variant over `seeds` seeds: the worst error of each comparison. */
export function measureExamples(seeds = 5): Row[] {
  const rows: Row[] = []
  for (const layer of exampleLayers())
    for (const mode of modesOf(layer))
      for (const variant of ['plain', 'constant', 'offset'] as const) {
        const errors: Record<string, number> = {
          fd: 0,
          'fd (absolute step)': 0,
          'js f64': 0,
          'js f32 (same inputs)': 0,
          'js f32 (end to end)': 0,
          'wasm f64': 0,
          'wasm f32 (same inputs)': 0,
        }
        for (let seed = 1; seed <= seeds; seed++) {
          const c = exampleCase(layer, seed, variant)
          const ref = runStepInterp(layer, mode, c)
          const c32 = rounded(c)
          const ref32 = runStepInterp(layer, mode, c32)
          const js32 = runStepJs(layer, mode, c32, 'f32')
          errors.fd = Math.max(errors.fd!, fdError(layer, mode, c))
          errors['fd (absolute step)'] = Math.max(
            errors['fd (absolute step)']!,
            fdError(layer, mode, c, true),
          )
          errors['js f64'] = Math.max(
            errors['js f64']!,
            resultError(runStepJs(layer, mode, c, 'f64'), ref),
          )
          errors['js f32 (same inputs)'] = Math.max(
            errors['js f32 (same inputs)']!,
            resultError(js32, ref32),
          )
          errors['js f32 (end to end)'] = Math.max(
            errors['js f32 (end to end)']!,
            resultError(js32, ref),
          )
          errors['wasm f64'] = Math.max(
            errors['wasm f64']!,
            resultError(runStepJs(layer, mode, c, 'f64', WasmLayer), ref),
          )
          errors['wasm f32 (same inputs)'] = Math.max(
            errors['wasm f32 (same inputs)']!,
            resultError(runStepJs(layer, mode, c32, 'f32', WasmLayer), ref32),
          )
        }
        rows.push({ what: `${layer.decl.name} ${mode} ${variant}`, errors })
      }
  return rows
}

/** The oracle cases: interpreter, js f64 and js f32 against PyTorch in float64. */
export async function measureOracle(): Promise<Row[]> {
  const { loadOracleCases } = await import('../test/helpers/oracle.js')
  const layers = exampleLayers()
  const rows: Row[] = []
  for (const c of loadOracleCases().filter((x) => !x.expectError)) {
    const layer = layers.find((l) => l.decl.name === c.layer)!
    const want = { outputs: c.expected.outputs, grads: c.expected.grads, state: c.expected.state }
    rows.push({
      what: c.name,
      errors: {
        interp: resultError(runStepInterp(layer, c.mode, c.run), want),
        'js f64': resultError(runStepJs(layer, c.mode, c.run, 'f64'), want),
        'js f32': resultError(runStepJs(layer, c.mode, c.run, 'f32'), want),
        'wasm f64': resultError(runStepJs(layer, c.mode, c.run, 'f64', WasmLayer), want),
        'wasm f32': resultError(runStepJs(layer, c.mode, c.run, 'f32', WasmLayer), want),
      },
    })
  }
  return rows
}

function table(rows: Row[]): string {
  const cols = Object.keys(rows[0]?.errors ?? {})
  const fmt = (v: number) => (v === 0 ? '0' : v.toExponential(1))
  return [
    `| case | ${cols.join(' | ')} |`,
    `| --- | ${cols.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.what} | ${cols.map((c) => fmt(r.errors[c]!)).join(' | ')} |`),
  ].join('\n')
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf('--seeds')
  const seeds = i > 0 ? Number(process.argv[i + 1]) : 5
  process.stdout.write(
    `## Oracle\n\n${table(await measureOracle())}\n\n## Examples (${seeds} seeds each)\n\n${table(measureExamples(seeds))}\n`,
  )
}
