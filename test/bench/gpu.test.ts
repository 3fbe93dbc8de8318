// The bench's GPU columns (bench/impls/gpu.ts): a backend that cannot run fails with its reason
// instead of falling back; what ran is recorded; the outputs match the hand-written loops. The CPU
// fallbacks (webasm, cpu) run everywhere; headless-gl needs an X server (scripts/test.sh runs
// vitest under xvfb-run -a) and is skipped with its reason without one, required under CI=true.

import { afterEach, describe, expect, it, test } from 'vitest'
import { runBenchmark, toMarkdown } from '../../bench/harness.js'
import { handRunner, handwrittenImpl } from '../../bench/impls/handwritten.js'
import {
  glDriver,
  gpuImpl,
  gpuRunner,
  probeGpuBackend,
  selectGpuImpls,
  type BenchGpuBackend,
} from '../../bench/impls/gpu.js'
import { makeLayerCase, type LayerId } from '../../bench/layers.js'
import { BackendUnavailableError } from '../../runtime/gpu/backends.js'
import { reportUnavailable, tryBackend } from '../gpu/helpers.js'
import { relErr } from './close.js'

describe('glDriver', () => {
  const maps = (...paths: string[]) =>
    paths.map((p) => `7f00-7f01 r-xp 00000000 08:01 123 ${p}`).join('\n')
  it('names the GL driver from the libraries loaded', () => {
    expect(
      glDriver(
        maps(
          '/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1',
          '/usr/lib/x86_64-linux-gnu/dri/swrast_dri.so',
        ),
      ),
    ).toEqual({ name: 'Mesa llvmpipe', software: true })
    expect(glDriver(maps('/usr/lib/x86_64-linux-gnu/dri/iris_dri.so'))).toEqual({
      name: 'Mesa iris',
      software: false,
    })
    expect(glDriver(maps('/usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0'))).toEqual({
      name: 'NVIDIA',
      software: false,
    })
    expect(glDriver(maps('/usr/lib/libc.so.6'))).toBeUndefined()
    expect(glDriver(undefined)).toBeUndefined()
  })
})

describe('a backend that cannot run fails with its reason, never falls back', () => {
  const display = process.env.DISPLAY
  afterEach(() => {
    if (display === undefined) delete process.env.DISPLAY
    else process.env.DISPLAY = display
  })

  it('headlessgl without an X server', async () => {
    // gpu.js would quietly run mode 'gpu' on WebAssembly here
    delete process.env.DISPLAY
    const layer = makeLayerCase('layernorm', { quick: true })
    const err = await gpuRunner(layer, 'headlessgl').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(BackendUnavailableError)
    expect((err as Error).message).toBe(
      'headlessgl: no X server (DISPLAY is unset; run under xvfb-run -a)',
    )
    // --gpu: required, so it throws; default: left out, with the reason
    await expect(selectGpuImpls(['headlessgl'], { required: true })).rejects.toThrow(
      /^headlessgl: no X server/,
    )
    const sel = await selectGpuImpls(['headlessgl', 'cpu'], { required: false })
    expect(sel.impls.map((i) => i.name)).toEqual(['gpu-cpu'])
    expect(sel.skipped).toEqual({
      headlessgl: 'headlessgl: no X server (DISPLAY is unset; run under xvfb-run -a)',
    })
  })

  it('a backend the bench does not run', async () => {
    await expect(probeGpuBackend('webgl2')).rejects.toThrow(
      /^webgl2: not a backend the bench runs \(headlessgl, webasm, cpu\)$/,
    )
  })
})

/** Sets up `backend` on quick cases and checks what ran and its outputs against the loops. */
async function checkBackend(backend: BenchGpuBackend, software: boolean) {
  for (const id of ['bn-nchw', 'groupnorm', 'batchrenorm'] as LayerId[]) {
    const layer = makeLayerCase(id, { quick: true })
    const r = await gpuRunner(layer, backend)
    try {
      expect(r.ran()).toMatchObject({ requested: backend, backend, software })
      // asynchronous passes
      const p = r.fwdbwd()
      expect(p).toBeInstanceOf(Promise)
      await p
      const hand = handRunner(layer)
      hand.fwdbwd()
      const want = hand.outputs!()
      const got = r.outputs!()
      for (const k of ['y', 'dx', 'dgamma', 'dbeta'] as const)
        expect(relErr(got[k]!, want[k]!), `${id} ${k}`).toBeLessThan(1e-3)
      for (const [k, v] of Object.entries(want.state ?? {}))
        expect(relErr(got.state![k]!, v), `${id} ${k}`).toBeLessThan(1e-3)
    } finally {
      await r.dispose()
    }
  }
}

describe('the GPU target as bench columns', () => {
  it('webasm and cpu (gpu.js CPU fallbacks) run, are recorded, and pass the cross-check', async () => {
    await checkBackend('webasm', true)
    await checkBackend('cpu', true)
    const res = await runBenchmark({
      layers: ['rmsnorm'],
      runs: 2,
      warmup: 0,
      quick: true,
      impls: [handwrittenImpl, gpuImpl('webasm'), gpuImpl('cpu', { maxRuns: 1 })],
      gcBetween: false,
      memory: false,
      log: () => {},
      progress: { enabled: false },
    })
    const byName = Object.fromEntries(res.layers[0]!.impls.map((i) => [i.name, i]))
    expect(byName['gpu-webasm']!.ran).toMatchObject({ backend: 'webasm', software: true })
    expect(byName['gpu-webasm']!.checkOk).toBe(true)
    expect(byName['gpu-cpu']!.checkOk).toBe(true)
    expect(byName['gpu-webasm']!.passes.fwdbwd!.runs).toBe(2)
    expect(byName['gpu-cpu']!.passes.fwdbwd!.runs).toBe(1)
    const md = toMarkdown(res)
    expect(md).toContain('normc GPU webasm † (CPU fallback: WebAssembly)')
    expect(md).toContain('| normc GPU cpu | cpu | cpu | gpu.js JavaScript (CPU) |')
  })
})

const gl = await tryBackend(() => probeGpuBackend('headlessgl'))
if (!gl.ok) {
  reportUnavailable('bench column gpu-headlessgl', gl.reason, true)
} else {
  test('headlessgl runs on a GL driver it names, and passes the cross-check', async () => {
    expect(gl.value.device).toMatch(/^headless-gl on DISPLAY=.*, GL driver /)
    await checkBackend('headlessgl', gl.value.software)
  })
}
