// `npm run bench [-- flags]`: runs the benchmark and writes bench/results/latest.{json,md}
// (quick runs write quick.{json,md}).
//
// Flags:
//   --layers a,b        layers to run (default all): bn-nchw, bn-nhwc, layernorm, groupnorm,
//                       rmsnorm, batchrenorm
//   --passes a,b        forward, backward, fwdbwd (default all)
//   --runs N            timed runs per implementation and pass (default 10; quick: 3)
//   --warmup N          warm-up runs (default 2; quick: 1)
//   --tfjs-cpu-runs N   timed runs of TF.js cpu, which takes seconds per run (default 3)
//   --impls a,b         only these implementations (by name; 'hand' is always kept)
//   --quick             small sizes, for a smoke run
//   --no-tfjs-cpu       skip TF.js cpu;   --no-tfjs-wasm  skip TF.js wasm
//   --no-floors         skip the floors;  --no-memory     skip memory measurement
//   --no-gc             do not run the garbage collector between timed runs
//   --out PATH          write PATH.json and PATH.md instead

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { floorImpls } from './floors.js'
import { runBenchmark, barChecks, toMarkdown } from './harness.js'
import type { Impl } from './impl.js'
import { handwrittenImpl } from './impls/handwritten.js'
import { normcImpls } from './impls/normc.js'
import { LAYER_IDS, PASSES, type LayerId, type Pass } from './layers.js'
import { tfjsImpl, tfjsInfo } from './peers/tfjs.js'

interface Flags {
  layers: LayerId[]
  passes: Pass[]
  runs?: number
  warmup?: number
  tfjsCpuRuns: number
  impls?: string[]
  quick: boolean
  tfjsCpu: boolean
  tfjsWasm: boolean
  floors: boolean
  memory: boolean
  gc: boolean
  out?: string
}

function usage(msg: string): never {
  console.error(`bench: ${msg}`)
  console.error('see the header of bench/main.ts for the flags')
  process.exit(2)
}

export function parseFlags(argv: string[]): Flags {
  const f: Flags = {
    layers: [...LAYER_IDS],
    passes: [...PASSES],
    tfjsCpuRuns: 3,
    quick: false,
    tfjsCpu: true,
    tfjsWasm: true,
    floors: true,
    memory: true,
    gc: true,
  }
  const int = (v: string | undefined, name: string) => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < 0) usage(`${name} wants a non-negative integer, got '${v}'`)
    return n
  }
  const list = <T extends string>(v: string | undefined, allowed: readonly T[], name: string) => {
    const xs = (v ?? '').split(',').filter(Boolean)
    for (const x of xs) {
      if (!allowed.includes(x as T)) usage(`unknown ${name} '${x}' (one of ${allowed.join(', ')})`)
    }
    if (!xs.length) usage(`${name} list is empty`)
    return xs as T[]
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const [key, inline] = a.includes('=')
      ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]
      : [a, undefined]
    const val = () => inline ?? argv[++i]
    switch (key) {
      case '--layers':
        f.layers = list(val(), LAYER_IDS, 'layer')
        break
      case '--passes':
        f.passes = list(val(), PASSES, 'pass')
        break
      case '--runs':
        f.runs = int(val(), '--runs')
        break
      case '--warmup':
        f.warmup = int(val(), '--warmup')
        break
      case '--tfjs-cpu-runs':
        f.tfjsCpuRuns = int(val(), '--tfjs-cpu-runs')
        break
      case '--impls':
        f.impls = (val() ?? '').split(',').filter(Boolean)
        break
      case '--quick':
        f.quick = true
        break
      case '--no-tfjs-cpu':
        f.tfjsCpu = false
        break
      case '--no-tfjs-wasm':
        f.tfjsWasm = false
        break
      case '--no-floors':
        f.floors = false
        break
      case '--no-memory':
        f.memory = false
        break
      case '--no-gc':
        f.gc = false
        break
      case '--out':
        f.out = val()
        break
      case '--help':
      case '-h':
        usage('usage: npm run bench -- [flags]')
        break
      default:
        usage(`unknown flag '${a}'`)
    }
  }
  return f
}

function tfjsVersion(): string | undefined {
  try {
    const req = createRequire(import.meta.url)
    const pkg = JSON.parse(readFileSync(req.resolve('@tensorflow/tfjs/package.json'), 'utf8'))
    return (pkg as { version?: string }).version
  } catch {
    return undefined
  }
}

async function main(): Promise<void> {
  const f = parseFlags(process.argv.slice(2))
  const runs = f.runs ?? (f.quick ? 3 : 10)
  const warmup = f.warmup ?? (f.quick ? 1 : 2)
  let impls: Impl[] = [handwrittenImpl, ...normcImpls]
  if (f.tfjsWasm) impls.push(tfjsImpl('wasm'))
  if (f.tfjsCpu) impls.push(tfjsImpl('cpu', Math.min(f.tfjsCpuRuns, runs)))
  if (f.floors) impls.push(...floorImpls)
  if (f.impls) impls = impls.filter((i) => i.name === 'hand' || f.impls!.includes(i.name))

  console.log(
    `normc bench: ${f.layers.length} layers × ${f.passes.length} passes; ${impls.map((i) => i.name).join(', ')}; ` +
      `${runs} runs after ${warmup} warm-up${f.quick ? ' (quick)' : ''}`,
  )
  const t0 = performance.now()
  const res = await runBenchmark({
    layers: f.layers,
    passes: f.passes,
    runs,
    warmup,
    quick: f.quick,
    impls,
    memory: f.memory,
    gcBetween: f.gc,
  })
  const tf = tfjsVersion()
  if (tf) res.meta.tfjs = tf
  if (f.tfjsWasm || f.tfjsCpu) res.meta.tfjsFlags = tfjsInfo()
  res.meta.wallSeconds = Math.round((performance.now() - t0) / 1000)

  const here = dirname(fileURLToPath(import.meta.url))
  const base = f.out ?? join(here, 'results', f.quick ? 'quick' : 'latest')
  mkdirSync(dirname(base), { recursive: true })
  writeFileSync(`${base}.json`, JSON.stringify(res, null, 2) + '\n')
  const md = toMarkdown(res)
  writeFileSync(`${base}.md`, md + '\n')
  console.log(`\n${md}`)
  for (const line of barChecks(res)) console.log(line)
  console.log(`\nwrote ${base}.json and ${base}.md (${res.meta.wallSeconds} s)`)
}

await main()
