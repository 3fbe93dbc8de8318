// normc grad FILE: prints the derived, simplified backward pass as a `.norm` layer.

import { backwardLayer } from '../../compiler/backward.js'
import { NormcError } from '../../compiler/diagnostics.js'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { dumpGraph } from '../../compiler/ir/index.js'
import { explain, renderLatex, renderText } from '../../compiler/explain/index.js'
import { printFile, printLayer } from '../../compiler/print/index.js'
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

export const dumpPhases = ['ast', 'ir', 'grad', 'simplified'] as const

export const grad: Command = {
  name: 'grad',
  summary: 'print the derived backward pass as a .norm layer',
  usage: `Usage: normc grad FILE.norm [--layer NAME] [--mode train|eval] [--dump PHASE]
                  [--explain | --latex]

Derives the backward pass of a layer symbolically and prints it, simplified, as a valid
.norm layer: its inputs are the forward inputs, params, state and the upstream gradient dy
(dy_NAME for each output when there are several); its outputs are dNAME for every input and
param. Only the program is printed on stdout; it lints clean and can be run or differentiated
again. A layer with no inputs and no params has nothing to differentiate: that is an error.

Options:
  --layer NAME      the layer (default: the only layer in the file)
  --mode MODE       train (default) or eval; a forward layer is the same in both
  --dump PHASE      print a phase instead: ast (the parsed file), ir (the lowered forward
                    graph), grad (the raw derived graph), simplified (the simplified graph)
  --explain         print the derivation instead, step by step: each binding in reverse
                    order with the Jacobians of its reductions as they are applied, where
                    stop_gradient cuts the flow, the sum of the contributions to each
                    gradient, and the simplified result
  --latex           the same derivation as LaTeX (amsmath), ready to paste into a document
`,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      layer: { type: 'string' },
      mode: { type: 'string' },
      dump: { type: 'string' },
      explain: { type: 'boolean' },
      latex: { type: 'boolean' },
    })
    const dump = values.dump as string | undefined
    if (dump !== undefined && !(dumpPhases as readonly string[]).includes(dump))
      throw new UsageError(`--dump must be one of ${dumpPhases.join(', ')}, got '${dump}'`)
    const mode = parseMode(values.mode as string | undefined) as 'train' | 'eval'
    const loaded = loadFiles(positionals, { quiet: true })
    if (!loaded) return EXIT_FAIL
    if (dump === 'ast') {
      await writeStdout(loaded.fe.files.map((f) => printFile(f)).join('\n'))
      return EXIT_OK
    }
    const layer = pickLayer(loaded, values.layer as string | undefined)
    if (typeof layer === 'string') {
      writeStderr(`normc grad: ${layer}`)
      return EXIT_FAIL
    }
    if (dump === 'ir' || dump === 'grad') {
      const g = compileLayerGraphs(layer, mode, { simplify: false })
      const roots =
        dump === 'ir'
          ? [
              ...g.forward.outputs,
              ...g.forward.updates.map((u) => ({ name: u.name + ' <-', node: u.node })),
            ]
          : g.backward.program.outputs
      await writeStdout(dumpGraph(roots) + '\n')
      return EXIT_OK
    }
    const g = compileLayerGraphs(layer, mode)
    if (values.explain || values.latex) {
      const d = explain(g)
      await writeStdout(values.latex ? renderLatex(d) : renderText(d))
      return EXIT_OK
    }
    if (dump === 'simplified') {
      await writeStdout(dumpGraph(g.backward.program.outputs) + '\n')
      return EXIT_OK
    }
    // A layer with no inputs and no params has no gradient: its derived layer would have no
    // outputs (`-> {`), which is not a layer.
    if (g.backward.program.outputs.length === 0) {
      const e = new NormcError(
        'nothing to differentiate: the layer has no inputs or params',
        layer.decl.nameSpan,
        layer.file,
      )
      writeStderr(`normc grad: ${e.line()}`)
      return EXIT_FAIL
    }
    await writeStdout(printLayer(backwardLayer(g)) + '\n')
    return EXIT_OK
  },
}
