// normc graph FILE: the forward (and, with --backward, the derived backward) graph of a layer as
// the plan runs it, fused kernels as clusters, as Graphviz DOT or SVG.

import { writeFileSync } from 'node:fs'
import { layerDot } from '../../compiler/graph/index.js'
import { dotToSvg } from '../../compiler/graph/svg.js'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { planLayer } from '../../compiler/schedule/index.js'
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

export const graph: Command = {
  name: 'graph',
  summary: 'draw the forward and backward graphs and their fused kernels (DOT or SVG)',
  usage: `Usage: normc graph FILE.norm [--layer NAME] [--mode train|eval] [--backward]
                   [--format dot|svg] [-o FILE]

Draws the forward step of a layer in one mode and, with --backward, the backward step normc
derives, as the kernel plan runs them: each fused kernel is a dashed box holding the values it
stores, the reductions it accumulates and what it computes inline. stop_gradient is an octagon
entered by a red dashed edge ending in a bar; a state update is an orange NAME <- box with a
dashed edge back to the state; values the forward saves for the backward are blue and
double-bordered. SVG is rendered by Graphviz compiled to WebAssembly (no system binary).

Options:
  --layer NAME      the layer (default: the only layer in the file)
  --mode MODE       train (default) or eval; a forward layer is the same in both
  --backward        draw the backward step too
  --format FORMAT   dot (default; svg when -o names a .svg file) or svg
  -o, --out FILE    write to FILE instead of stdout
`,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      layer: { type: 'string' },
      mode: { type: 'string' },
      backward: { type: 'boolean' },
      format: { type: 'string' },
      out: { type: 'string', short: 'o' },
    })
    const out = values.out as string | undefined
    const format = (values.format as string | undefined) ?? (out?.endsWith('.svg') ? 'svg' : 'dot')
    if (format !== 'dot' && format !== 'svg')
      throw new UsageError(`--format must be dot or svg, got '${format}'`)
    const mode = parseMode(values.mode as string | undefined) as 'train' | 'eval'
    const loaded = loadFiles(positionals, { quiet: true })
    if (!loaded) return EXIT_FAIL
    const layer = pickLayer(loaded, values.layer as string | undefined)
    if (typeof layer === 'string') {
      writeStderr(`normc graph: ${layer}`)
      return EXIT_FAIL
    }
    const graphs = compileLayerGraphs(layer, mode)
    const dot = layerDot(graphs, planLayer(graphs), { backward: Boolean(values.backward) })
    const text = format === 'svg' ? await dotToSvg(dot) : dot
    if (out === undefined) {
      await writeStdout(text)
      return EXIT_OK
    }
    try {
      writeFileSync(out, text)
    } catch (e) {
      throw new UsageError(`cannot write ${out}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`)
    }
    return EXIT_OK
  },
}
