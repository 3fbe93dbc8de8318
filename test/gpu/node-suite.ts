// The suite each Node backend runs. headless-gl and Dawn cannot share a process, and vitest runs
// every test file in its own process, so each of those backends has its own file.
import { afterAll, describe, expect, test } from 'vitest'
import type { GpuHandle, NodeGpuBackend } from '../../runtime/gpu/backends.js'
import { createGpu } from '../../runtime/gpu/backends.js'
import { compileGpuProgram } from '../../runtime/gpu/runner.js'
import {
  checkFeatures,
  checkNormCase,
  NORM_CASES,
  reportUnavailable,
  SLOW,
  tryBackend,
} from './helpers.js'

/** Registers the suite for `backend`; resolves whether the backend started. */
export async function defineNodeBackendSuite(
  backend: NodeGpuBackend,
  options: { requiredInCi: boolean; cases?: typeof NORM_CASES },
): Promise<boolean> {
  const label = `Node ${backend}`
  const started = await tryBackend(() => createGpu(backend))
  if (!started.ok) {
    reportUnavailable(label, started.reason, options.requiredInCi)
    return false
  }
  const gpu: GpuHandle = started.value
  afterAll(() => gpu.destroy())

  describe(`${label} (${gpu.device})`, () => {
    for (const c of options.cases ?? NORM_CASES) {
      test(
        c.name,
        () =>
          checkNormCase(c, backend, async (program, inputs) => {
            const compiled = await compileGpuProgram(program, gpu)
            try {
              return await compiled.run(inputs)
            } finally {
              await compiled.destroy()
            }
          }),
        SLOW,
      )
    }

    test('runner features: 2-D input, number argument, a kernel used twice, 3-D output', () =>
      checkFeatures(backend, async (program, inputs) => {
        const compiled = await compileGpuProgram(program, gpu)
        try {
          return await compiled.run(inputs)
        } finally {
          await compiled.destroy()
        }
      }))

    test('a compiled program runs again, and concurrently, with the same answers', async () => {
      const c = NORM_CASES[1]!
      const { normProgram, normInput } = await import('./norm-program.js')
      const compiled = await compileGpuProgram(normProgram(c.N, c.C), gpu)
      try {
        const x = normInput(c.N, c.C, 7)
        const a = await compiled.run({ x })
        const b = await compiled.run({ x })
        expect(b.backend).toBe(backend)
        expect(b.outputs.y).toEqual(a.outputs.y)
        // and a different input gives a different answer (nothing stale is read back)
        const z = await compiled.run({ x: normInput(c.N, c.C, 8) })
        expect(z.outputs.mean).not.toEqual(a.outputs.mean)
        // concurrent runs are queued, not interleaved (WebGPU runs await between steps)
        const both = await Promise.all([
          compiled.run({ x }),
          compiled.run({ x: normInput(c.N, c.C, 8) }),
        ])
        expect(both[0].outputs.y).toEqual(a.outputs.y)
        expect(both[1].outputs.y).toEqual(z.outputs.y)
      } finally {
        await compiled.destroy()
      }
    })
  })
  return true
}
