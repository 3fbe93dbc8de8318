// The GPU runtime's contract, on backends every machine has (cpu, webasm): program validation,
// backend detection (never gpu.mode), no silent fallback, and the backend probes.
import { describe, expect, test } from 'vitest'
import {
  availableBackends,
  BackendMismatchError,
  BackendUnavailableError,
  createGpu,
  detectBackend,
  type GpuBackend,
  type GpuHandle,
} from '../../runtime/gpu/backends.js'
import type { GpuProgram } from '../../runtime/gpu/core.js'
import { loadGpuJs } from '../../runtime/gpu/gpujs.js'
import { compileGpuProgram, runGpuProgram } from '../../runtime/gpu/runner.js'

const base = (): GpuProgram => ({
  inputs: { a: [4] },
  kernels: [
    {
      name: 'add',
      source: 'function (a, b) { return a[this.thread.x] + b[this.thread.x] }',
      output: [4],
      args: ['a', 'b'],
    },
  ],
  steps: [{ kernel: 'add', inputs: { a: 'a', b: 'a' }, out: 'c' }],
  outputs: ['c'],
})

describe('GpuProgram validation', () => {
  const invalid = async (edit: (p: GpuProgram) => void, message: RegExp): Promise<void> => {
    const p = base()
    edit(p)
    await expect(runGpuProgram(p, { a: [1, 2, 3, 4] }, 'cpu')).rejects.toThrow(message)
  }

  test('a valid program runs', async () => {
    const r = await runGpuProgram(base(), { a: [1, 2, 3, 4] }, 'cpu')
    expect(Array.from(r.outputs.c!)).toEqual([2, 4, 6, 8])
    expect(r.backend).toBe('cpu')
  })
  test('source parameters must equal args', () =>
    invalid((p) => (p.kernels[0]!.args = ['b', 'a']), /differ from args/))
  test('every argument must be bound', () =>
    invalid((p) => delete p.steps[0]!.inputs.b, /argument "b" is not bound/))
  test('no unknown arguments', () =>
    invalid((p) => (p.steps[0]!.inputs.z = 'a'), /no argument "z"/))
  test('buffers are read after they are produced', () =>
    invalid((p) => (p.steps[0]!.inputs.b = 'c'), /"c" is read before it is produced/))
  test('each buffer is produced once', () =>
    invalid((p) => p.steps.push({ ...p.steps[0]! }), /"c" is produced twice/))
  test('outputs must exist', () => invalid((p) => p.outputs.push('zz'), /"zz" is never produced/))
  test('output sizes are 1 to 3 positive integers', () =>
    invalid((p) => (p.kernels[0]!.output = [0]), /output must be 1 to 3 positive integers/))
  test('inputs must have their shape', async () => {
    await expect(runGpuProgram(base(), { a: [1, 2, 3] }, 'cpu')).rejects.toThrow(
      /has 3 elements; its shape \[4\] needs 4/,
    )
  })
})

describe('backends', () => {
  test('a browser backend is refused in Node, in one line', async () => {
    const e = await createGpu('webgl2').catch((x: unknown) => x)
    expect(e).toBeInstanceOf(BackendUnavailableError)
    expect((e as Error).message).toMatch(/^webgl2: .*runInChromium/)
    expect((e as Error).message).not.toContain('\n')
  })
  test('an unknown backend is refused', async () => {
    await expect(createGpu('metal' as GpuBackend)).rejects.toBeInstanceOf(BackendUnavailableError)
  })

  test("gpu.js's mode is not evidence: detectBackend reports the class that ran", async () => {
    const { GPU } = loadGpuJs()
    // mode 'gpu' quietly becomes WebAssembly where headless-gl has no X server
    const gpu = new GPU({ mode: 'gpu' })
    const k = gpu.createKernel('function (a) { return a[this.thread.x] }', {
      output: [1],
      precision: 'single',
    })
    k(new Float32Array([1]))
    expect(gpu.mode).toBe('gpu')
    expect(detectBackend(k)).toBe(GPU.isHeadlessGLSupported ? 'headlessgl' : 'webasm')
    await gpu.destroy()
  })

  test('a step that ran on another backend than requested fails the run', async () => {
    // a handle that claims webasm but holds a cpu instance: what a silent fallback looks like
    const cpu = await createGpu('cpu')
    const liar: GpuHandle = { ...cpu, backend: 'webasm' }
    const compiled = await compileGpuProgram(base(), liar)
    await expect(compiled.run({ a: [1, 2, 3, 4] })).rejects.toThrow(BackendMismatchError)
    await expect(compiled.run({ a: [1, 2, 3, 4] })).rejects.toThrow(
      /requested webasm but the kernels ran on cpu/,
    )
    await compiled.destroy()
    await cpu.destroy()
  })

  test('availableBackends probes each Node backend in a child process', async () => {
    const all = await availableBackends({ browser: false })
    expect(all.map((b) => b.backend)).toEqual(['headlessgl', 'webgpu', 'webasm', 'cpu'])
    for (const b of all) {
      expect(b.runtime).toBe('node')
      expect(b.reason).not.toBe('')
      expect(b.reason).not.toContain('\n')
    }
    expect(all.find((b) => b.backend === 'cpu')!.ok).toBe(true)
    expect(all.find((b) => b.backend === 'webasm')!.ok).toBe(true)
    // headless-gl works exactly when there is an X server (and it built)
    if (!process.env.DISPLAY) {
      expect(all[0]).toMatchObject({ ok: false, reason: expect.stringMatching(/no X server/) })
    }
    console.log(all.map((b) => `${b.backend}: ${b.ok ? 'ok' : 'NO'} (${b.reason})`).join('\n'))
  }, 120_000)
})
