// normc check FILE…: the derived gradients against finite differences, the spec's closed forms
// and the properties the graph implies. Exit 0 only when every check passes.

import { NormcError } from '../../compiler/diagnostics.js'
import { checkLayer, type Row } from '../../runtime/check/index.js'
import { createProgress } from '../progress.js'
import { findSpec, specCandidates } from '../../runtime/check/lookup.js'
import { formatReport, reportJson } from '../../runtime/check/report.js'
import {
  EXIT_FAIL,
  EXIT_OK,
  UsageError,
  parseFlags,
  writeStderr,
  writeStdout,
  type Command,
} from '../command.js'
import { loadFiles, parseMode } from '../load.js'

export const check: Command = {
  name: 'check',
  summary: 'check derived gradients: finite differences, the spec, normalization properties',
  usage: `Usage: normc check FILE.norm... [--spec SPEC.norm]... [--layer NAME] [--mode train|eval|all]
                   [--hyper k=v]... [--trials K] [--seed S] [--order 1|2] [--json]

Checks the backward pass normc derives for every layer of the files (or --layer NAME), in
every mode (or --mode), against three independent things, on seeded random trials:

  finite differences   of the loss sum(y * u), u random in [0.5, 1.5), in float64
                       (Richardson-extrapolated central differences); stop_gradient values
                       are frozen (the surrogate); the state is an input, never differentiated
  the spec             the closed-form dNAME and 'state <-' of a spec, compared tightly
  properties           read off the forward graph: the input gradient sums to zero over each
                       normalization group (centered layers), is orthogonal to x-hat with eps
                       set to 0, the output is invariant to shifting / scaling a group, and
                       the gradient is linear in dy; each is skipped, with the reason, where it
                       does not hold

Trials use random axis sizes (odd sizes, a first axis of 1, never only powers of two) and
adversarial data: a constant group, a group of variance ~1e-7, an offset of 1e4.

Specs: those given with --spec, and those in the files themselves. Without --spec, for each
DIR/NAME.norm the first of DIR/NAME.spec.norm, DIR/spec/NAME.spec.norm and
DIR/../spec/NAME.spec.norm that exists is used too.

Options:
  --spec FILE       a spec file (repeatable); turns off the lookup
  --layer NAME      check only this layer
  --mode MODE       train, eval or all (default); a forward layer is checked once
  --hyper k=v       override a hyper (repeatable)
  --trials K        random trials (sizes) per mode (default 3)
  --seed S          the seed of the trials (default 1)
  --order 1|2       2: also check second derivatives (the printed backward, differentiated)
  --json            print the report as JSON

Exit: 0 every check passed, 1 a check failed or the input was wrong, 2 usage error.
`,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      spec: { type: 'string', multiple: true },
      layer: { type: 'string' },
      mode: { type: 'string' },
      hyper: { type: 'string', multiple: true },
      trials: { type: 'string' },
      seed: { type: 'string' },
      order: { type: 'string' },
      json: { type: 'boolean' },
    })
    if (positionals.length === 0) throw new UsageError('no input file')
    const mode = parseMode((values.mode as string | undefined) ?? 'all', true)
    const int = (flag: string, lo: number) => {
      const v = values[flag] as string | undefined
      if (v === undefined) return undefined
      const n = Number(v)
      if (!Number.isInteger(n) || n < lo)
        throw new UsageError(`--${flag} must be an integer >= ${lo}, got '${v}'`)
      return n
    }
    const trials = int('trials', 1)
    const seed = int('seed', 0)
    const order = int('order', 1)
    if (order !== undefined && order > 2)
      throw new UsageError(`--order must be 1 or 2, got '${order}'`)
    const hypers: Record<string, number> = {}
    for (const h of (values.hyper as string[] | undefined) ?? []) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.+)$/.exec(h)
      const v = m ? Number(m[2]) : NaN
      if (!m || !Number.isFinite(v)) throw new UsageError(`--hyper expects NAME=NUMBER, got '${h}'`)
      hypers[m[1]!] = v
    }

    // The spec files: given, or found next to each layer file.
    const given = (values.spec as string[] | undefined) ?? []
    const specFiles = given.length ? given : positionals.flatMap((f) => findSpec(f) ?? [])
    const files = [...new Set([...positionals, ...specFiles])]
    const loaded = loadFiles(files, { quiet: true })
    if (!loaded) return EXIT_FAIL
    const inFiles = new Set(positionals)
    let layers = loaded.layers.filter((l) => inFiles.has(l.file))
    const layerName = values.layer as string | undefined
    if (layerName !== undefined) {
      layers = layers.filter((l) => l.decl.name === layerName)
      if (layers.length === 0) {
        writeStderr(
          `normc check: no layer '${layerName}' (layers: ${loaded.layers.map((l) => l.decl.name).join(', ') || 'none'})`,
        )
        return EXIT_FAIL
      }
    }
    if (layers.length === 0) {
      writeStderr('normc check: no layer in the input')
      return EXIT_FAIL
    }
    for (const k of Object.keys(hypers))
      if (!layers.some((l) => l.hypers.some((h) => h.name === k)))
        throw new UsageError(
          `unknown hyper '${k}' (hypers: ${[...new Set(layers.flatMap((l) => l.hypers.map((h) => h.name)))].join(', ') || 'none'})`,
        )

    const t0 = performance.now()
    const rows: Row[] = []
    // Progress on a terminal (stderr; nothing on a pipe): one tick per layer and mode.
    const progress = createProgress('normc check', {
      total: layers.reduce((n, l) => n + (mode === 'all' && !l.hasForward ? 2 : 1), 0),
    })
    try {
      for (const layer of layers) {
        const modes: ('train' | 'eval')[] =
          mode === 'all' ? (layer.hasForward ? ['train'] : ['train', 'eval']) : [mode]
        const search = given.length
          ? `--spec ${given.join(', ')}`
          : `looked in ${layer.file} and ${specCandidates(layer.file).join(', ')}`
        for (const m of modes) {
          progress.tick(1, `${layer.decl.name} ${m}`)
          rows.push(
            ...checkLayer(layer, m, {
              specs: loaded.fe.specs,
              sources: loaded.fe.sources,
              hypers,
              specSearch: search,
              ...(trials !== undefined ? { trials } : {}),
              ...(seed !== undefined ? { seed } : {}),
              ...(order !== undefined ? { order: order as 1 | 2 } : {}),
            }),
          )
        }
      }
    } catch (e) {
      if (e instanceof NormcError) {
        writeStderr(`normc check: ${e.line()}`)
        return EXIT_FAIL
      }
      throw e
    }
    progress.done()
    const ms = performance.now() - t0
    const specsUsed = [
      ...new Set(loaded.fe.specs.filter((s) => layers.includes(s.layer)).map((s) => s.file)),
    ]
    if (values.json) {
      await writeStdout(
        reportJson(rows, {
          specs: specsUsed,
          hypers,
          trials: trials ?? 3,
          seed: seed ?? 1,
          order: order ?? 1,
          elapsed_ms: Math.round(ms),
        }),
      )
    } else {
      const head = `normc check: ${layers.map((l) => l.decl.name).join(', ')}; specs: ${specsUsed.join(', ') || 'none'}; ${trials ?? 3} trials, seed ${seed ?? 1}${order === 2 ? ', order 2' : ''}\n\n`
      await writeStdout(head + formatReport(rows, { elapsedMs: ms }))
    }
    return rows.some((r) => r.status === 'FAIL') ? EXIT_FAIL : EXIT_OK
  },
}
