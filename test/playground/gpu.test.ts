// The playground's GPU tab under Node: the job the worker builds (playground/gpu-job.ts: gpu.js
// programs at small sizes, float64 reference) for every example and mode, run by the page's
// runner (playground/gpu-run.ts) on gpu.js's CPU backend, matches float64; a wrong kernel is
// caught, a backend that is not there is said so, and a silent gpu.js fallback is refused.
// (The browser backends, webgl2 and webgpu, run in test/playground/browser.test.ts.)

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { analyse } from '../../playground/analyse.js'
import type { GpuJob } from '../../playground/gpu-job.js'
import { GpuRunner, maxRelError, unavailableReason, type GpuJs } from '../../playground/gpu-run.js'
import { loadGpuJs } from '../../runtime/gpu/gpujs.js'
import { exampleFiles } from '../helpers/examples.js'
import { root } from '../helpers/oracle.js'

const read = (f: string) => readFileSync(join(root, 'examples', f), 'utf8')
const gpujs = loadGpuJs() as unknown as GpuJs

function jobOf(file: string, mode: 'train' | 'eval' = 'train', layer?: string): GpuJob {
  const a = analyse({ source: read(file), mode, ...(layer ? { layer } : {}) })
  expect(a.gpu?.failure).toBeUndefined()
  return a.gpu!.job!
}

describe('playground GPU tab', () => {
  const runner = new GpuRunner(gpujs)

  for (const f of exampleFiles) {
    it(`${f}: every layer and mode matches float64 on gpu.js (cpu)`, async () => {
      const a = analyse({ source: read(f) })
      for (const l of a.layers) {
        for (const mode of l.modes) {
          const job = jobOf(f, mode, l.name)
          expect(job.layer).toBe(l.name)
          expect(job.mode).toBe(mode)
          // The sizes are small (the first trial of normc check: odd sizes).
          for (const s of [job.forward, job.backward])
            for (const shape of Object.values(s.program.inputs))
              expect(shape[0]!).toBeLessThanOrEqual(1000)
          expect(job.forward.source).toContain(`// forward step of ${l.name}`)
          expect(job.backward.source).toContain(`// backward step of ${l.name}`)
          // Every kernel's source is shown, under the buffer it writes.
          for (const s of [job.forward, job.backward])
            for (const k of s.program.kernels)
              expect(s.source).toContain(`const ${k.name} = ${k.source}`)
          const r = await runner.run(job, 'cpu')
          expect(r.error).toBeUndefined()
          expect(r.ran).toBe('cpu')
          expect(r.ok, JSON.stringify(r.tensors)).toBe(true)
          const kinds = r.tensors.map((t) => t.kind)
          expect(kinds).toContain('output')
          expect(kinds).toContain('grad')
          if (mode === 'eval') expect(kinds).not.toContain('state')
          for (const t of r.tensors) expect(t.maxRelError, t.label).toBeLessThan(1e-4)
          expect(r.maxError).toBe(Math.max(...r.tensors.map((t) => t.maxRelError)))
          expect(r.firstMs).toBeGreaterThan(0)
          expect(r.ms).toBeGreaterThan(0)
        }
      }
    })
  }

  it('the same text gives the same job (seeded inputs)', () => {
    const a = jobOf('batchnorm2d.norm')
    const b = jobOf('batchnorm2d.norm')
    expect(a.sizes).toBe(b.sizes)
    expect(a.forward.inputs).toEqual(b.forward.inputs)
    expect(a.backward.results.map((r) => r.reference)).toEqual(
      b.backward.results.map((r) => r.reference),
    )
  })

  it('finds a wrong kernel: the tensor it feeds fails', async () => {
    const job = structuredClone(jobOf('batchnorm2d.norm'))
    // Perturb the kernel that writes y by 1e-3 (relative): y and only the forward fail.
    const y = job.forward.results.find((r) => r.label === 'y')!
    const launch = job.forward.program.steps.find((s) => s.out === y.buffer)!
    const k = job.forward.program.kernels.find((k) => k.name === launch.kernel)!
    k.source = k.source.replace(/return (\w+)\n\}$/, 'return $1 * 1.001\n}')
    expect(k.source).toContain('* 1.001')
    const r = await runner.run(job, 'cpu')
    expect(r.ok).toBe(false)
    const row = r.tensors.find((t) => t.label === 'y')!
    expect(row.ok).toBe(false)
    expect(row.maxRelError).toBeGreaterThan(1e-4)
    expect(r.tensors.filter((t) => !t.ok).map((t) => t.label)).toEqual(['y'])
  })

  it('says why a browser backend is not available here', async () => {
    const job = jobOf('batchnorm2d.norm')
    expect(await unavailableReason(gpujs, 'webgl2')).toMatch(/no WebGL2 context/)
    const gl = await runner.run(job, 'webgl2')
    expect(gl.ok).toBe(false)
    expect(gl.ran).toBeUndefined()
    expect(gl.tensors).toEqual([])
    expect(gl.unavailable).toMatch(/no WebGL2 context/)
    const wg = await runner.run(job, 'webgpu')
    expect(wg.ok).toBe(false)
    expect(wg.unavailable).toMatch(/no WebGPU|no adapter/)
  })

  it('refuses results from a backend gpu.js fell back to without a word', async () => {
    // A gpu.js whose webgl2 is "supported" but whose kernels quietly run on its CPU backend,
    // as gpu.js does when a backend cannot build a kernel.
    const Real = gpujs.GPU
    const fallingBack = {
      ...gpujs,
      GPU: Object.assign(
        function GPU() {
          return new Real({ mode: 'cpu' })
        } as unknown as GpuJs['GPU'],
        { isWebGL2Supported: true },
      ),
    } as GpuJs
    const r = await new GpuRunner(fallingBack).run(jobOf('batchnorm2d.norm'), 'webgl2')
    expect(r.ok).toBe(false)
    expect(r.ran).toBe('cpu')
    expect(r.tensors).toEqual([])
    expect(r.error).toMatch(
      /^requested webgl2, but gpu\.js ran kernel k0 \(t0\) on cpu.*: it fell back without an error/,
    )
  })

  it('measures errors relative to max(|f64|, 1)', () => {
    expect(maxRelError([1.5, 0.001], [1.5, 0])).toBeCloseTo(1e-3, 12)
    expect(maxRelError([2.002], [2])).toBeCloseTo(1e-3, 12)
    expect(maxRelError([NaN], [1])).toBe(Infinity)
    expect(maxRelError([1, 2], [1])).toBe(Infinity)
  })
})
