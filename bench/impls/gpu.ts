// normc's GPU target as benchmark implementations ('gpu-headlessgl', 'gpu-webasm', 'gpu-cpu'):
// each case compiles the matching example layer with compile(src, { target: 'gpu', backend })
// (runtime/gpu: gpu.js kernels) and runs it through GpuLayer, the way a user would. A pass is
// asynchronous: upload, kernels and readback, awaited by the harness inside the timed region.
//
// gpu.js falls back silently (no X server: mode 'gpu' quietly runs WebAssembly). Here nothing
// does: setup first proves the backend with createGpu (a test kernel whose kernel class is
// checked; BackendUnavailableError with a one-line reason otherwise), and every run of the
// layer's programs checks the class of every kernel that ran (BackendMismatchError). What ran,
// and on what GL driver, is recorded (Runner.ran) and shown in the report.
//
// Node's other backend, webgpu (Dawn), is not offered: it cannot share a process with
// headless-gl, and on this machine kind it did not finish a quick case.

import { readFileSync } from 'node:fs'
import { compile } from '../../runtime/index.js'
import { BackendUnavailableError, createGpu } from '../../runtime/gpu/backends.js'
import type { GpuSaved, GpuTensorMap } from '../../runtime/gpu/layer.js'
import type { Impl, Outputs, RanOn, Runner } from '../impl.js'
import type { LayerCase } from '../layers.js'
import { exampleFor, exampleOf, stateNames } from './normc.js'

/** The GPU target's backends the bench runs in Node. */
export type BenchGpuBackend = 'headlessgl' | 'webasm' | 'cpu'
export const BENCH_GPU_BACKENDS: readonly BenchGpuBackend[] = ['headlessgl', 'webasm', 'cpu']

/** Default cap on timed runs of a GPU column (a run takes 0.1–0.4 s on llvmpipe at full size). */
export const GPU_MAX_RUNS = 5

/**
 * The GL driver this process loaded (Linux, read from /proc/self/maps after a GL context exists):
 * Mesa's swrast_dri.so is its software rasterizer (llvmpipe, or softpipe when GALLIUM_DRIVER says
 * so); another Mesa DRI driver or NVIDIA's GLX library is hardware. undefined when unknown.
 */
export function glDriver(
  maps: string | undefined,
): { name: string; software: boolean } | undefined {
  if (maps === undefined) return undefined
  const libs = new Set(maps.split('\n').map((l) => l.trim().split(/\s+/)[5] ?? ''))
  const dri = [...libs].map((p) => /\/dri\/(\w+)_dri\.so$/.exec(p)?.[1]).filter(Boolean)
  if (dri.includes('swrast') || dri.includes('kms_swrast')) {
    const soft = process.env.GALLIUM_DRIVER === 'softpipe' ? 'softpipe' : 'llvmpipe'
    return { name: `Mesa ${soft}`, software: true }
  }
  if (dri.length) return { name: `Mesa ${dri[0]}`, software: false }
  if ([...libs].some((p) => /libGLX_nvidia|libnvidia-glcore/.test(p)))
    return { name: 'NVIDIA', software: false }
  return undefined
}

/** This process's memory map (Linux), or undefined. */
export function readMaps(): string | undefined {
  try {
    return readFileSync('/proc/self/maps', 'utf8')
  } catch {
    return undefined
  }
}

/**
 * Proves that `backend` runs here, by running a test kernel on it and checking which kernel class
 * ran it: resolves to what it runs on, or rejects with BackendUnavailableError ("<backend>:
 * <reason>", one line). Never falls back.
 */
export async function probeGpuBackend(backend: string): Promise<RanOn> {
  if (!(BENCH_GPU_BACKENDS as readonly string[]).includes(backend)) {
    throw new BackendUnavailableError(
      backend as BenchGpuBackend,
      `not a backend the bench runs (${BENCH_GPU_BACKENDS.join(', ')})`,
    )
  }
  const b = backend as BenchGpuBackend
  const handle = await createGpu(b)
  try {
    if (b === 'headlessgl') {
      const drv = glDriver(readMaps())
      return {
        requested: b,
        backend: handle.backend,
        device: `${handle.device}, GL driver ${drv?.name ?? 'unknown'}`,
        renderer: drv
          ? drv.software
            ? `software renderer: ${drv.name}`
            : drv.name
          : 'GL driver unknown',
        software: drv?.software ?? false,
      }
    }
    return {
      requested: b,
      backend: handle.backend,
      device: handle.device,
      renderer: b === 'webasm' ? 'CPU fallback: WebAssembly' : 'CPU fallback: JavaScript',
      software: true,
    }
  } finally {
    await handle.destroy()
  }
}

export interface GpuRunner extends Runner {
  ran(): RanOn
  forward(): Promise<void>
  backward(): Promise<void>
  fwdbwd(): Promise<void>
  dispose(): Promise<void>
}

/** Sets up one layer case on `backend`: compiles, runs a forward and a backward once. */
export async function gpuRunner(layer: LayerCase, backend: BenchGpuBackend): Promise<GpuRunner> {
  const ran = await probeGpuBackend(backend)
  const { source, name, axes, hyper } = exampleFor(layer)
  const mod = await compile(source, { target: 'gpu', backend })
  const gl = mod.layer(name, { axes, hyper })
  const params = gl.initParams()
  params.gamma!.set(layer.gamma)
  if (params.beta && layer.beta) params.beta.set(layer.beta)
  const state = gl.initState()
  const reset = () => {
    for (const [k, v] of Object.entries(layer.state)) state[stateNames[k] ?? k]!.set(v)
  }
  let y: Float32Array | undefined
  let saved: GpuSaved | undefined
  let grads: GpuTensorMap = {}
  const forward = async () => {
    reset()
    const r = await gl.forward({ x: layer.x }, { mode: 'train', params, state })
    y = r.outputs.y
    saved = r.saved
  }
  const backward = async () => {
    grads = await gl.backward(saved!, layer.dy)
  }
  try {
    // builds the train-mode programs; a kernel that ran elsewhere throws BackendMismatchError
    await forward()
    await backward()
  } catch (e) {
    await gl.dispose()
    throw e
  }
  return {
    ran: () => ran,
    forward,
    backward,
    async fwdbwd() {
      await forward()
      await backward()
    },
    outputs(): Outputs {
      const st: Record<string, Float32Array> = {}
      for (const k of Object.keys(layer.state)) st[k] = state[stateNames[k] ?? k]!
      return {
        ...(y ? { y } : {}),
        ...(grads.x ? { dx: grads.x } : {}),
        ...(grads.gamma ? { dgamma: grads.gamma } : {}),
        ...(grads.beta ? { dbeta: grads.beta } : {}),
        state: st,
      }
    },
    dispose: () => gl.dispose(),
  }
}

/** normc's GPU target on `backend`, as a benchmark column. */
export function gpuImpl(
  backend: BenchGpuBackend,
  opts: { maxRuns?: number; warmup?: number } = {},
): Impl {
  return {
    name: `gpu-${backend}`,
    label: `normc GPU ${backend}`,
    maxRuns: opts.maxRuns ?? GPU_MAX_RUNS,
    ...(opts.warmup !== undefined ? { warmup: opts.warmup } : {}),
    // float32 on the GPU, reductions in float32 trees: the float32 tolerance
    tolerance: 1e-3,
    supports: (layer) => layer.id in exampleOf,
    setup: (layer) => gpuRunner(layer, backend),
  }
}

export interface GpuSelection {
  impls: Impl[]
  /** Backends left out, with the reason (auto mode only; required ones throw instead). */
  skipped: Record<string, string>
}

/**
 * The GPU columns for `backends`, each proven to run here first. `required` (the --gpu flag): a
 * backend that cannot run rejects with its BackendUnavailableError; otherwise it is left out and
 * its reason returned, so that a bench without an X server still runs the rest.
 */
export async function selectGpuImpls(
  backends: readonly string[],
  opts: { required: boolean; maxRuns?: number; warmup?: number },
): Promise<GpuSelection> {
  const impls: Impl[] = []
  const skipped: Record<string, string> = {}
  for (const b of backends) {
    try {
      await probeGpuBackend(b)
      impls.push(
        gpuImpl(b as BenchGpuBackend, {
          ...(opts.maxRuns !== undefined ? { maxRuns: opts.maxRuns } : {}),
          ...(opts.warmup !== undefined ? { warmup: opts.warmup } : {}),
        }),
      )
    } catch (e) {
      if (opts.required || !(e instanceof BackendUnavailableError)) throw e
      skipped[b] = e.message
    }
  }
  return { impls, skipped }
}
