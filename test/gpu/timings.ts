// Rough timings of every GPU backend on the hand-written normalization program
// (norm-program.ts), plus the one-pass reduction that the 65,535-iteration trap breaks on
// llvmpipe. Not a test file (vitest runs *.test.ts only); kept here, out of the build.
//
//   npx tsx test/gpu/timings.ts [N C]        (default 1000000 2)
//
// Node backends run one per child process (headless-gl and Dawn cannot share one; headless-gl
// under xvfb-run -a when there is no DISPLAY); Chromium's in this process. Times are medians
// over warm runs: upload + all kernels + readback. No GPU here: these are SOFTWARE renderers
// (llvmpipe, SwiftShader) and CPU fallbacks; they check correctness, not speed.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { NodeGpuBackend } from '../../runtime/gpu/backends.js'
import { NODE_GPU_BACKENDS } from '../../runtime/gpu/backends.js'
import { closeChromium, runInChromium } from '../../runtime/gpu/browser/index.js'
import type { GpuProgram } from '../../runtime/gpu/core.js'
import { compileGpuProgram } from '../../runtime/gpu/runner.js'
import { maxRelError, normInput, normProgram, normReference } from './norm-program.js'

interface Row {
  backend: string
  device: string
  firstMs: number
  medianMs: number
  error: number
  onePassError?: number
  note?: string
}

const RUNS = 7
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

function errorOf(
  outputs: Record<string, Float32Array>,
  ref: ReturnType<typeof normReference>,
): number {
  const spread = Math.min(...Array.from(ref.var, Math.sqrt))
  return Math.max(
    maxRelError(outputs.mean!, ref.mean, spread),
    maxRelError(outputs.var!, ref.var, 0),
    maxRelError(outputs.y!, ref.y, 1),
  )
}

async function measure(
  N: number,
  C: number,
  run: (p: GpuProgram, x: Float32Array) => Promise<{ outputs: Record<string, Float32Array> }>,
): Promise<Omit<Row, 'backend' | 'device'>> {
  const x = normInput(N, C, 3)
  const ref = normReference(x, N, C)
  const program = normProgram(N, C)
  let t = performance.now()
  const first = await run(program, x)
  const firstMs = performance.now() - t
  const times: number[] = []
  for (let i = 0; i < RUNS; i++) {
    t = performance.now()
    await run(program, x)
    times.push(performance.now() - t)
  }
  // the trap: one shader loop over all N rows (loopMaxIterations = N so gpu.js does not cut it)
  const onePass = await run(normProgram(N, C, { chunk: N }), x)
  return {
    firstMs,
    medianMs: median(times),
    error: errorOf(first.outputs, ref),
    onePassError: errorOf(onePass.outputs, ref),
  }
}

async function one(backend: NodeGpuBackend, N: number, C: number): Promise<Row> {
  let compiled: Awaited<ReturnType<typeof compileGpuProgram>> | undefined
  const cache = new Map<GpuProgram, Awaited<ReturnType<typeof compileGpuProgram>>>()
  try {
    const r = await measure(N, C, async (p, x) => {
      let c = cache.get(p)
      if (!c) {
        c = await compileGpuProgram(p, backend)
        cache.set(p, c)
      }
      compiled = c
      return c.run({ x })
    })
    return { backend: `node ${backend}`, device: compiled!.device, ...r }
  } finally {
    for (const c of cache.values()) await c.destroy()
  }
}

function fmt(rows: Row[]): string {
  const lines = [
    '| backend | runs on | first run (compile) ms | median ms | max rel. error | one-pass error |',
    '|---|---|---|---|---|---|',
  ]
  for (const r of rows) {
    if (r.note) {
      lines.push(`| ${r.backend} | ${r.note} | | | | |`)
      continue
    }
    lines.push(
      `| ${r.backend} | ${r.device} | ${r.firstMs.toFixed(0)} | ${r.medianMs.toFixed(1)} | ${r.error.toExponential(1)} | ${r.onePassError?.toExponential(1) ?? ''} |`,
    )
  }
  return lines.join('\n')
}

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  if (args[0] === '--one') {
    const row = await one(args[1] as NodeGpuBackend, Number(args[2]), Number(args[3]))
    process.stdout.write(`\nROW ${JSON.stringify(row)}\n`)
    return
  }
  const N = Number(args[0] ?? 1_000_000)
  const C = Number(args[1] ?? 2)
  const rows: Row[] = []

  // plain JS float64, for scale
  const x = normInput(N, C, 3)
  const times: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now()
    normReference(x, N, C)
    times.push(performance.now() - t)
  }
  rows.push({
    backend: 'plain JS (float64 oracle)',
    device: 'CPU',
    firstMs: times[0]!,
    medianMs: median(times),
    error: 0,
  })

  const self = fileURLToPath(import.meta.url)
  for (const backend of NODE_GPU_BACKENDS) {
    const cmd = [process.execPath, '--import', 'tsx', self, '--one', backend, String(N), String(C)]
    const wrap = backend === 'headlessgl' && !process.env.DISPLAY ? ['xvfb-run', '-a'] : []
    const full = [...wrap, ...cmd]
    const r = spawnSync(full[0]!, full.slice(1), { encoding: 'utf8', maxBuffer: 1 << 26 })
    const line = r.stdout.split('\n').find((l) => l.startsWith('ROW '))
    if (line) rows.push(JSON.parse(line.slice(4)) as Row)
    else {
      const why = `${r.stderr}`
        .split('\n')
        .find((l) => /Error|: /.test(l) && !l.startsWith('Warning'))
      rows.push({
        backend: `node ${backend}`,
        device: '',
        firstMs: 0,
        medianMs: 0,
        error: 0,
        note: `unavailable: ${why ?? r.status}`,
      })
    }
  }

  for (const backend of ['webgl2', 'webgpu'] as const) {
    let device = ''
    try {
      const r = await measure(N, C, async (p, xs) => {
        const out = await runInChromium(p, { x: xs }, backend)
        device = out.device
        return out
      })
      rows.push({ backend: `chromium ${backend}`, device, ...r })
    } catch (e) {
      rows.push({
        backend: `chromium ${backend}`,
        device: '',
        firstMs: 0,
        medianMs: 0,
        error: 0,
        note: `unavailable: ${(e as Error).message}`,
      })
    }
  }
  await closeChromium()

  console.log(
    `normalization of x [${N}, ${C}] (mean, var, y); ${RUNS} warm runs; software renderers, not GPUs`,
  )
  console.log('one-pass error: the same program with one shader loop over all rows (no tree)\n')
  console.log(fmt(rows))
}

await main()
