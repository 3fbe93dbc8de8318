// normc plan FILE: the kernels of each layer and mode, the passes they make over the full-size
// tensors, the bytes moved, and the minimum any implementation must move.

import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { planLayer } from '../../compiler/schedule/index.js'
import { stepTraffic } from '../../compiler/schedule/traffic.js'
import {
  EXIT_FAIL,
  EXIT_OK,
  UsageError,
  parseFlags,
  writeStdout,
  type Command,
} from '../command.js'
import { loadFiles } from '../load.js'
import { bindHypers, bindSizes } from '../../runtime/sizes.js'
import { sizeOf } from '../../runtime/interp.js'
import { NormcError } from '../../compiler/diagnostics.js'

export const plan: Command = {
  name: 'plan',
  summary: 'show the kernel plan: passes over memory, bytes moved vs the minimum',
  usage: `Usage: normc plan FILE.norm [--layer NAME] [--mode train|eval|all] [--axes N=32,C=64,…]
                  [--precision f32|f64] [--json]

For each layer and mode, the kernels of the forward and the backward step: each pass over the
full-size tensors with what it reads and writes, and the minimum traffic any implementation
needs (train forward: read x twice, write y; eval forward: read x, write y; backward: read x
and dy twice, write dx). With --axes, also the bytes.
`,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      layer: { type: 'string' },
      mode: { type: 'string' },
      axes: { type: 'string' },
      precision: { type: 'string' },
      json: { type: 'boolean' },
    })
    const loaded = loadFiles(positionals, { quiet: true })
    if (!loaded) return EXIT_FAIL
    const modeFlag = (values.mode as string | undefined) ?? 'all'
    if (!['train', 'eval', 'all'].includes(modeFlag))
      throw new UsageError(`--mode must be train, eval or all`)
    const bytesPer = values.precision === 'f64' ? 8 : 4
    const axes: Record<string, number> = {}
    if (values.axes) {
      for (const kv of String(values.axes).split(',')) {
        const [k, v] = kv.split('=')
        if (!k || !v || !/^\d+$/.test(v))
          throw new UsageError(`--axes takes NAME=SIZE,…, got '${kv}'`)
        axes[k.trim()] = Number(v)
      }
    }
    const layers = values.layer
      ? loaded.layers.filter((l) => l.decl.name === values.layer)
      : loaded.layers
    if (layers.length === 0) throw new UsageError(`no layer '${String(values.layer)}'`)
    const report: unknown[] = []
    const lines: string[] = []
    for (const layer of layers) {
      const modes = layer.hasForward
        ? (['train'] as const)
        : modeFlag === 'all'
          ? (['train', 'eval'] as const)
          : ([modeFlag] as ('train' | 'eval')[])
      let elemBytes: number | undefined
      if (values.axes) {
        try {
          const sizes = bindSizes(layer, axes, bindHypers(layer))
          elemBytes = Math.max(...layer.inputs.map((t) => sizeOf(t.axes, sizes))) * bytesPer
        } catch (e) {
          if (e instanceof NormcError) throw new UsageError(e.message)
          throw e
        }
      }
      for (const mode of modes) {
        const p = planLayer(compileLayerGraphs(layer, mode))
        for (const step of [p.forward, p.backward]) {
          const t = stepTraffic(p, step)
          report.push({
            layer: layer.decl.name,
            mode: layer.hasForward ? 'forward' : mode,
            ...t,
            bytes: elemBytes ? t.tensorsMoved * elemBytes : undefined,
            minimumBytes: elemBytes ? t.minimumTensorsMoved * elemBytes : undefined,
          })
          const label = `${layer.decl.name} ${layer.hasForward ? '' : mode + ' '}${step.name}`
          const verdict =
            t.tensorsMoved === t.minimumTensorsMoved
              ? 'at the minimum'
              : `${(t.tensorsMoved / t.minimumTensorsMoved).toFixed(2)}× the minimum`
          const mb = (n: number) => (elemBytes ? ` (${((n * elemBytes) / 1e6).toFixed(1)} MB)` : '')
          lines.push(
            `${label}: ${t.passes.length} pass${t.passes.length === 1 ? '' : 'es'} over [${p.fullSpace.join(', ')}] + ${t.smallStages} per-channel stage${t.smallStages === 1 ? '' : 's'}`,
          )
          t.passes.forEach((ps, i) =>
            lines.push(
              `  pass ${i + 1}: reads ${ps.reads.join(', ') || '—'}; writes ${ps.writes.join(', ') || '—'}`,
            ),
          )
          lines.push(
            `  full-size tensors moved: ${t.tensorsMoved}${mb(t.tensorsMoved)}; minimum ${t.minimumTensorsMoved}${mb(t.minimumTensorsMoved)}: ${verdict}`,
          )
        }
      }
    }
    await writeStdout(
      values.json ? JSON.stringify(report, null, 2) + '\n' : lines.join('\n') + '\n',
    )
    return EXIT_OK
  },
}
