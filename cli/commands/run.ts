// normc run FILE --input CASE.json: one step of a layer, per the JSON contract of DESIGN.md.

import { readFileSync } from 'node:fs'
import { NormcError } from '../../compiler/diagnostics.js'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { dumpGraph } from '../../compiler/ir/index.js'
import { printFile } from '../../compiler/print/index.js'
import { nonFiniteFromFinite, parseCase, resultJson } from '../../runtime/case.js'
import { runStepInterp } from '../../runtime/step.js'
import {
  EXIT_FAIL,
  EXIT_OK,
  UsageError,
  parseFlags,
  writeStderr,
  writeStdout,
  type Command,
} from '../command.js'
import { loadFiles, parseMode, pickLayer } from '../load.js'
import { readSource } from '../source.js'
import { dumpPhases } from './grad.js'
import { runTargets, type RunTarget } from './run-targets.js'

export const run: Command = {
  name: 'run',
  summary: 'run one step of a layer on JSON input (outputs, gradients, state)',
  usage: `Usage: normc run FILE.norm --input CASE.json [--layer NAME] [--mode train|eval]
                 [--target interp|js|wasm|gpu] [--precision f32|f64] [--backend B]

CASE.json: { "axes":   { "N": 4, "C": 3, "H": 5, "W": 5 },
             "hyper":  { "eps": 1e-5 },                         (optional)
             "inputs": { "x": [flat, row-major], "gamma": [...], ... },
             "dy":     [flat, shaped like y] }                  (optional)
Prints { "y": [...], "grads": { "x": [...], ... }, "state": { ... } } on stdout.
Params and state not given take their declared initial values. Gradients are computed when
dy is given (with several outputs, dy is an object keyed by output name) and use the values
of that step. Non-finite numbers are the strings "NaN", "Infinity", "-Infinity"; when every
number given is finite and the step still makes some, a warning on stderr says where.

Options:
  --input FILE      the case (required; - for standard input)
  --layer NAME      the layer (default: the only layer in the file)
  --mode MODE       train (default) or eval
  --target T        interp (float64 reference, default), js, wasm (js with WebAssembly SIMD
                    kernels), gpu
  --precision P     f64 (default for js and wasm) or f32
  --backend B       for --target gpu: headlessgl, webgpu, webgl2, webasm, cpu
  --dump PHASE      print a phase before running, on stderr: ast, ir, grad, simplified
`,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      input: { type: 'string', short: 'i' },
      layer: { type: 'string' },
      mode: { type: 'string' },
      target: { type: 'string' },
      precision: { type: 'string' },
      backend: { type: 'string' },
      dump: { type: 'string' },
    })
    if (!values.input) throw new UsageError('--input CASE.json is required')
    const target = (values.target as string | undefined) ?? 'interp'
    if (!(target in runTargets))
      throw new UsageError(
        `--target must be one of ${Object.keys(runTargets).join(', ')}, got '${target}'`,
      )
    const precision = values.precision as string | undefined
    if (precision !== undefined && precision !== 'f32' && precision !== 'f64')
      throw new UsageError(`--precision must be f32 or f64, got '${precision}'`)
    const dump = values.dump as string | undefined
    if (dump !== undefined && !(dumpPhases as readonly string[]).includes(dump))
      throw new UsageError(`--dump must be one of ${dumpPhases.join(', ')}, got '${dump}'`)
    const mode = parseMode(values.mode as string | undefined) as 'train' | 'eval'
    const caseText = values.input === '-' ? readStdin() : readSource(values.input as string)
    const loaded = loadFiles(positionals, { quiet: true })
    if (!loaded) return EXIT_FAIL
    const layer = pickLayer(loaded, values.layer as string | undefined)
    if (typeof layer === 'string') {
      writeStderr(`normc run: ${layer}`)
      return EXIT_FAIL
    }
    try {
      const c = parseCase(caseText, values.input as string)
      if (dump) {
        if (dump === 'ast') writeStderr(loaded.fe.files.map((f) => printFile(f)).join('\n'))
        else {
          const g = compileLayerGraphs(layer, mode, { simplify: dump === 'simplified' })
          writeStderr(dumpGraph(dump === 'ir' ? g.forward.outputs : g.backward.program.outputs))
        }
      }
      const runTarget: RunTarget = runTargets[target as keyof typeof runTargets]
      const result =
        target === 'interp'
          ? runStepInterp(layer, mode, c)
          : await runTarget(layer, mode, c, {
              precision,
              backend: values.backend as string | undefined,
            })
      await writeStdout(resultJson(result))
      // The numbers stand as IEEE computes them; the user hears that finite inputs gave NaN.
      const warning = nonFiniteFromFinite(c, result)
      if (warning) writeStderr(`normc run: warning: ${warning}`)
      return EXIT_OK
    } catch (e) {
      if (e instanceof NormcError) {
        writeStderr(e.line(layer.file))
        return EXIT_FAIL
      }
      throw e
    }
  },
}

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8')
  } catch {
    throw new UsageError('cannot read the case from standard input')
  }
}
