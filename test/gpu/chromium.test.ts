// Chromium (headless, playwright-core): WebGL2 (required under CI=true) and WebGPU (reported),
// through gpu.js's browser bundle on a page served from 127.0.0.1. No X server needed.
import { afterAll, describe, expect, test } from 'vitest'
import type { BrowserGpuBackend } from '../../runtime/gpu/backends.js'
import { BackendUnavailableError } from '../../runtime/gpu/backends.js'
import { closeChromium, runInChromium } from '../../runtime/gpu/browser/index.js'
import type { GpuProgram } from '../../runtime/gpu/core.js'
import {
  checkFeatures,
  checkNormCase,
  NORM_CASES,
  reportUnavailable,
  SLOW,
  tryBackend,
} from './helpers.js'

afterAll(() => closeChromium())

const tiny: GpuProgram = {
  inputs: { a: [3] },
  kernels: [
    {
      name: 'twice',
      source: 'function (a) { return a[this.thread.x] * 2 }',
      output: [3],
      args: ['a'],
    },
  ],
  steps: [{ kernel: 'twice', inputs: { a: 'a' }, out: 'b' }],
  outputs: ['b'],
}

for (const backend of ['webgl2', 'webgpu'] as const satisfies readonly BrowserGpuBackend[]) {
  const label = `Chromium ${backend}`
  const probe = await tryBackend(() =>
    runInChromium(tiny, { a: new Float32Array([1, 2, 3]) }, backend),
  )
  if (!probe.ok) {
    reportUnavailable(label, probe.reason, backend === 'webgl2')
    continue
  }
  describe(`${label} (${probe.value.device})`, () => {
    test('the probe ran on the backend asked for', () => {
      expect(probe.value.backend).toBe(backend)
      expect(Array.from(probe.value.outputs.b!)).toEqual([2, 4, 6])
    })
    test('runner features: 2-D input, number argument, a kernel used twice, 3-D output', () =>
      checkFeatures(backend, (p, inputs) => runInChromium(p, inputs, backend)))
    for (const c of NORM_CASES) {
      test(
        c.name,
        () => checkNormCase(c, backend, (p, inputs) => runInChromium(p, inputs, backend)),
        SLOW,
      )
    }
  })
}

test('a Node-only backend is refused by runInChromium', async () => {
  await expect(
    runInChromium(tiny, { a: [1, 2, 3] }, 'headlessgl' as BrowserGpuBackend),
  ).rejects.toBeInstanceOf(BackendUnavailableError)
})
