// Shared by the GPU test files: the skip policy, and the normalization cases every backend runs.
//
// Skip policy: outside CI (CI !== 'true') a backend that cannot run here is skipped, and the
// reason is printed. Under CI=true, headless-gl and Chromium WebGL2 are required: instead of a
// skip, the file gets a failing test that carries the reason. Node and Chromium WebGPU, WebAssembly
// and CPU are never required (they are reported when they run).
import { expect, test } from 'vitest'
import { BackendUnavailableError } from '../../runtime/gpu/backends.js'
import type { GpuProgram } from '../../runtime/gpu/core.js'
import { maxRelError, normInput, normProgram, normReference } from './norm-program.js'

export const IN_CI = process.env.CI === 'true'

/** 1e-4 relative, as the issue asks. */
export const TOLERANCE = 1e-4

/** Tests that take seconds on software renderers. */
export const SLOW = 180_000

export type Availability<T> = { ok: true; value: T } | { ok: false; reason: string }

/** Runs `start`; a BackendUnavailableError becomes `{ ok: false, reason }`. */
export async function tryBackend<T>(start: () => Promise<T>): Promise<Availability<T>> {
  try {
    return { ok: true, value: await start() }
  } catch (e) {
    if (e instanceof BackendUnavailableError) return { ok: false, reason: e.message }
    throw e
  }
}

/**
 * Call at the top level of a test file when a backend is unavailable: prints the reason and
 * registers a skipped test named after it, or, when `required` under CI, a failing test.
 */
export function reportUnavailable(label: string, reason: string, requiredInCi: boolean): void {
  if (IN_CI && requiredInCi) {
    test(`${label} runs (required under CI=true)`, () => {
      throw new Error(`${label} is required in CI but unavailable: ${reason}`)
    })
    return
  }
  console.warn(`[gpu tests] ${label} SKIPPED: ${reason}`)
  test.skip(`${label} skipped: ${reason}`, () => {})
}

export interface NormCase {
  name: string
  N: number
  C: number
  chunk?: number
}

/** The cases every backend runs. */
export const NORM_CASES: NormCase[] = [
  { name: 'one level: [1000, 3]', N: 1000, C: 3 },
  { name: 'two levels: [10000, 5]', N: 10_000, C: 5 },
  { name: 'four levels (chunk 16): [10000, 3]', N: 10_000, C: 3, chunk: 16 },
  // 1,000,000 elements per channel: one shader loop over them would stop at 65,535 iterations on
  // llvmpipe (silently); chunk 4096 keeps every thread at <= 4096
  { name: '1,000,000 per channel: [1000000, 2]', N: 1_000_000, C: 2 },
]

export interface NormRunOutcome {
  outputs: Record<string, Float32Array>
  backend: string
  stepBackends: string[]
}

/**
 * Builds `c`'s program, runs it with `run`, and checks: the backend that ran every step is
 * `expected`, and mean, var and y are within 1e-4 relative of the float64 oracle.
 */
export async function checkNormCase(
  c: NormCase,
  expected: string,
  run: (program: GpuProgram, inputs: { x: Float32Array }) => Promise<NormRunOutcome>,
): Promise<void> {
  const program = normProgram(c.N, c.C, c.chunk === undefined ? {} : { chunk: c.chunk })
  const x = normInput(c.N, c.C, 12345)
  const ref = normReference(x, c.N, c.C)
  const r = await run(program, { x })
  expect(r.backend).toBe(expected)
  expect(r.stepBackends).toEqual(program.steps.map(() => expected))
  const spread = Math.min(...Array.from(ref.var, Math.sqrt))
  expect(maxRelError(r.outputs.mean!, ref.mean, spread)).toBeLessThan(TOLERANCE)
  expect(maxRelError(r.outputs.var!, ref.var, 0)).toBeLessThan(TOLERANCE)
  expect(maxRelError(r.outputs.y!, ref.y, 1)).toBeLessThan(TOLERANCE)
}

/**
 * Runner features beyond the normalization program: a 2-D host input (gpu.js Input), a number
 * bound to an argument, one kernel used by two steps (each step needs its own kernel instance,
 * or the second launch overwrites the texture the first one returned), a buffer that is both
 * read by a later step and read back, and a 3-D output flattened x fastest.
 */
export const FEATURES_PROGRAM: GpuProgram = {
  inputs: { m: [4, 3] },
  kernels: [
    {
      name: 'scale',
      source: 'function (a, k) { return a[this.thread.y][this.thread.x] * k }',
      output: [4, 3],
      args: ['a', 'k'],
    },
    {
      name: 'addOne',
      source: 'function (a) { return a[this.thread.y][this.thread.x] + 1 }',
      output: [4, 3],
      args: ['a'],
    },
    {
      name: 'cube',
      source:
        'function (a) { return a[0][0] * 0 + this.thread.x + 10 * this.thread.y + 100 * this.thread.z }',
      output: [2, 3, 2],
      args: ['a'],
    },
  ],
  steps: [
    { kernel: 'scale', inputs: { a: 'm', k: 2.5 }, out: 's' },
    { kernel: 'addOne', inputs: { a: 's' }, out: 't' },
    { kernel: 'addOne', inputs: { a: 't' }, out: 'u' },
    { kernel: 'cube', inputs: { a: 'u' }, out: 'v' },
  ],
  outputs: ['s', 'u', 'v'],
}

export const FEATURES_INPUT = Float32Array.from({ length: 12 }, (_, i) => i - 3.5)

export async function checkFeatures(
  expected: string,
  run: (program: GpuProgram, inputs: { m: Float32Array }) => Promise<NormRunOutcome>,
): Promise<void> {
  const r = await run(FEATURES_PROGRAM, { m: FEATURES_INPUT })
  expect(r.backend).toBe(expected)
  expect(r.stepBackends).toEqual([expected, expected, expected, expected])
  expect(Array.from(r.outputs.s!)).toEqual(Array.from(FEATURES_INPUT, (v) => v * 2.5))
  expect(Array.from(r.outputs.u!)).toEqual(Array.from(FEATURES_INPUT, (v) => v * 2.5 + 2))
  const cube: number[] = []
  for (let z = 0; z < 2; z++)
    for (let y = 0; y < 3; y++) for (let x = 0; x < 2; x++) cube.push(x + 10 * y + 100 * z)
  expect(Array.from(r.outputs.v!)).toEqual(cube)
}
