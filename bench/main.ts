// `npm run bench [-- flags]`: runs the benchmark and writes bench/results/latest.{json,md}
// (quick runs write quick.{json,md}).
//
// The GPU columns (normc's GPU target, bench/impls/gpu.ts) include headless-gl, which needs an X
// server: when DISPLAY is unset and xvfb-run works, the bench re-runs itself under `xvfb-run -a`
// (as scripts/test.sh does for the tests). A GPU backend that cannot run here is left out with
// its reason printed, unless --gpu asks for the GPU columns, which then fails instead.
// On a terminal a progress line shows the layer, pass, implementation and repetition.
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
//   --gpu               require the GPU columns (fail if a selected backend cannot run)
//   --no-gpu            skip the GPU columns (default: those that can run here)
//   --gpu-backends a,b  GPU target backends: headlessgl, webasm, cpu (default all three)
//   --gpu-runs N        timed runs of each GPU column (default 5; quick: --runs)
//   --no-progress       no progress line, even on a terminal
//   --out PATH          write PATH.json and PATH.md instead

import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { floorImpls } from './floors.js'
import { runBenchmark, barChecks, checkFailures, toMarkdown } from './harness.js'
import type { Impl } from './impl.js'
import { handwrittenImpl } from './impls/handwritten.js'
import { BENCH_GPU_BACKENDS, GPU_MAX_RUNS, type BenchGpuBackend } from './impls/gpu.js'
import { normcImpls } from './impls/normc.js'
import { LAYER_IDS, PASSES, type LayerId, type Pass } from './layers.js'

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
  /** 'auto': the GPU columns that can run here; 'require': all selected, or fail; 'off'. */
  gpu: 'auto' | 'require' | 'off'
  gpuBackends: BenchGpuBackend[]
  gpuRuns?: number
  progress: boolean
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
    gpu: 'auto',
    gpuBackends: [...BENCH_GPU_BACKENDS],
    progress: true,
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
      case '--gpu':
        f.gpu = 'require'
        break
      case '--no-gpu':
        f.gpu = 'off'
        break
      case '--gpu-backends':
        f.gpuBackends = list(val(), BENCH_GPU_BACKENDS, 'GPU backend')
        break
      case '--gpu-runs':
        f.gpuRuns = int(val(), '--gpu-runs')
        break
      case '--no-progress':
        f.progress = false
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

/**
 * headless-gl needs an X server. When there is none and xvfb-run works, run this same command
 * again under `xvfb-run -a` and return its exit status; undefined when it is not needed or not
 * possible (the headlessgl column then reports why it cannot run).
 */
function rerunUnderXvfb(): number | undefined {
  if (process.env.DISPLAY || process.env.NORMC_BENCH_XVFB) return undefined
  const probe = spawnSync('xvfb-run', ['-a', 'true'], { stdio: 'ignore' })
  if (probe.error || probe.status !== 0) return undefined
  console.log('bench: no DISPLAY; running under xvfb-run -a for the headless-gl GPU column')
  const r = spawnSync(
    'xvfb-run',
    ['-a', process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)],
    { stdio: 'inherit', env: { ...process.env, NORMC_BENCH_XVFB: '1' } },
  )
  if (r.error) {
    console.error(`bench: xvfb-run failed: ${r.error.message}`)
    return 1
  }
  return r.status ?? 1
}

async function main(): Promise<void> {
  const f = parseFlags(process.argv.slice(2))
  const headlessgl =
    f.gpu !== 'off' &&
    f.gpuBackends.includes('headlessgl') &&
    (!f.impls || f.impls.includes('gpu-headlessgl'))
  if (headlessgl) {
    const status = rerunUnderXvfb()
    if (status !== undefined) {
      process.exitCode = status
      return
    }
  }
  const runs = f.runs ?? (f.quick ? 3 : 10)
  const warmup = f.warmup ?? (f.quick ? 1 : 2)
  const tfjs = f.tfjsWasm || f.tfjsCpu ? await import('./peers/tfjs.js') : undefined
  let impls: Impl[] = [handwrittenImpl, ...normcImpls]
  if (f.tfjsWasm) impls.push(tfjs!.tfjsImpl('wasm'))
  if (f.tfjsCpu) impls.push(tfjs!.tfjsImpl('cpu', Math.min(f.tfjsCpuRuns, runs)))
  let gpuSkipped: Record<string, string> = {}
  if (f.gpu !== 'off') {
    const backends = f.gpuBackends.filter((b) => !f.impls || f.impls.includes(`gpu-${b}`))
    const { selectGpuImpls } = await import('./impls/gpu.js')
    try {
      const sel = await selectGpuImpls(backends, {
        required: f.gpu === 'require',
        maxRuns: Math.min(f.gpuRuns ?? GPU_MAX_RUNS, runs),
        warmup: Math.min(1, warmup),
      })
      impls.push(...sel.impls)
      gpuSkipped = sel.skipped
    } catch (e) {
      console.error(`bench: --gpu: ${e instanceof Error ? e.message : String(e)}`)
      process.exitCode = 1
      return
    }
    for (const [b, why] of Object.entries(gpuSkipped))
      console.log(`bench: GPU column gpu-${b} left out: ${why}`)
  }
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
    ...(f.progress ? {} : { progress: { enabled: false } }),
  })
  const tf = tfjsVersion()
  if (tf) res.meta.tfjs = tf
  if (tfjs) res.meta.tfjsFlags = tfjs.tfjsInfo()
  if (Object.keys(gpuSkipped).length) res.meta.gpuSkipped = gpuSkipped
  res.meta.wallSeconds = Math.round((performance.now() - t0) / 1000)

  const here = dirname(fileURLToPath(import.meta.url))
  const base = f.out ?? join(here, 'results', f.quick ? 'quick' : 'latest')
  mkdirSync(dirname(base), { recursive: true })
  writeFileSync(`${base}.json`, JSON.stringify(res, null, 2) + '\n')
  const md = toMarkdown(res)
  writeFileSync(`${base}.md`, md + '\n')
  console.log(`\n${md}`)
  for (const line of barChecks(res)) console.log(line)
  const failed = checkFailures(res)
  for (const line of failed) console.log(line)
  console.log(`\nwrote ${base}.json and ${base}.md (${res.meta.wallSeconds} s)`)
  // the outputs of some implementation disagree with the hand-written loops
  if (failed.length) process.exitCode = 1
}

await main()
