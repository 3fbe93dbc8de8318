// normc compile FILE --target js -o DIR: an ES module and a .d.ts per layer (gpu: gpu.js
// programs; wasm: WebAssembly modules and their calling convention).

import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { layerModule } from '../../compiler/emit/js/module.js'
import { gpuModule } from '../../compiler/emit/gpu/module.js'
import { NormcError } from '../../compiler/diagnostics.js'
import {
  EXIT_FAIL,
  EXIT_OK,
  UsageError,
  parseFlags,
  writeStderr,
  type Command,
} from '../command.js'
import { loadFiles } from '../load.js'
import { WasmLayer } from '../../runtime/wasm/index.js'

export const compileCmd: Command = {
  name: 'compile',
  summary: 'write the kernels of each layer as an ES module (+ .d.ts)',
  usage: `Usage: normc compile FILE.norm --target js|wasm|gpu -o DIR [--layer NAME]
                      [--precision f32|f64] [--axes N=…,C=…]   (wasm, gpu: specialised to sizes)

Writes DIR/LAYER.js (the forward and backward step functions of every mode, formatted with
prettier, and their buffer tables in \`meta\`) and DIR/LAYER.d.ts for each layer. With --target
gpu: DIR/LAYER.gpu.js, the gpu.js programs (kernel sources, launches) of every mode's forward
and backward at the given sizes, for runtime/gpu's runner. With --target wasm: per mode,
DIR/LAYER.MODE.wasm (SIMD kernels at the given sizes), DIR/LAYER.MODE.wat (the same as text)
and DIR/LAYER.MODE.json (how to call forward and backward: each takes the address of a frame
in the imported memory env.memory holding a byte address per buffer, then the hypers; Math's
exp, log, tanh and pow are imported from math).
`,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      target: { type: 'string' },
      out: { type: 'string', short: 'o' },
      layer: { type: 'string' },
      precision: { type: 'string' },
      axes: { type: 'string' },
    })
    const target = (values.target as string | undefined) ?? 'js'
    if (target !== 'js' && target !== 'gpu' && target !== 'wasm')
      throw new UsageError(`--target must be js, wasm or gpu, got '${target}'`)
    if (target !== 'js' && !values.axes)
      throw new UsageError(
        `--target ${target} needs --axes N=…,C=…: ${target} kernels are specialised to sizes`,
      )
    if (!values.out) throw new UsageError('-o DIR is required')
    const precision = (values.precision as string | undefined) ?? 'f32'
    if (precision !== 'f32' && precision !== 'f64')
      throw new UsageError(`--precision must be f32 or f64`)
    const loaded = loadFiles(positionals, { quiet: true })
    if (!loaded) return EXIT_FAIL
    const layers = values.layer
      ? loaded.layers.filter((l) => l.decl.name === values.layer)
      : loaded.layers
    if (layers.length === 0) {
      writeStderr(`normc compile: no layer${values.layer ? ` '${String(values.layer)}'` : ''}`)
      return EXIT_FAIL
    }
    const dir = String(values.out)
    try {
      mkdirSync(dir, { recursive: true })
    } catch {
      throw new UsageError(`cannot create ${dir}`)
    }
    const axes: Record<string, number> = {}
    if (values.axes)
      for (const kv of String(values.axes).split(',')) {
        const [k, v] = kv.split('=')
        if (!k || !v || !/^\d+$/.test(v))
          throw new UsageError(`--axes takes NAME=SIZE,…, got '${kv}'`)
        axes[k.trim()] = Number(v)
      }
    for (const layer of layers) {
      if (target === 'wasm') {
        const base = join(dir, layer.decl.name)
        try {
          const L = new WasmLayer(layer, { axes, precision })
          for (const mode of layer.hasForward
            ? (['train'] as const)
            : (['train', 'eval'] as const)) {
            const a = L.artifact(mode)
            writeFileSync(`${base}.${mode}.wasm`, a.wasm)
            writeFileSync(`${base}.${mode}.wat`, a.wat)
            writeFileSync(`${base}.${mode}.json`, JSON.stringify(a.table, null, 2) + '\n')
            writeStderr(`wrote ${base}.${mode}.wasm, .wat and .json`)
          }
        } catch (e) {
          if (e instanceof NormcError) {
            writeStderr(e.line(layer.file))
            return EXIT_FAIL
          }
          throw e
        }
        continue
      }
      if (target === 'gpu') {
        let m
        try {
          m = await gpuModule(layer, axes)
        } catch (e) {
          if (e instanceof NormcError) {
            writeStderr(e.line(layer.file))
            return EXIT_FAIL
          }
          throw e
        }
        writeFileSync(join(dir, `${layer.decl.name}.gpu.js`), m.js)
        writeFileSync(join(dir, `${layer.decl.name}.gpu.d.ts`), m.dts)
        writeStderr(`wrote ${join(dir, layer.decl.name)}.gpu.js and .gpu.d.ts`)
        continue
      }
      const m = await layerModule(layer, precision)
      writeFileSync(join(dir, `${layer.decl.name}.js`), m.js)
      writeFileSync(join(dir, `${layer.decl.name}.d.ts`), m.dts)
      writeStderr(`wrote ${join(dir, layer.decl.name)}.js and .d.ts`)
    }
    return EXIT_OK
  },
}
