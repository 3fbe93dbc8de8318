// Runs a GpuProgram (see core.ts) on a Node gpu.js backend.
//
//   const prog = await compileGpuProgram(program, 'headlessgl')   // throws BackendUnavailableError
//   const { outputs, backend } = await prog.run({ x: new Float32Array(...) })
//   await prog.destroy()
//
// Every run checks, after each step, which backend the step actually ran on; a step that ran
// anywhere else than the backend requested throws BackendMismatchError.
import type { GpuHandle, GpuBackend, RanBackend } from './backends.js'
import { BackendMismatchError, createGpu, kernelBackendOf } from './backends.js'
import type { ExecutorKernelRun, GpuProgram } from './core.js'
import { createExecutor } from './core.js'

export type { GpuKernelSpec, GpuProgram, GpuStep } from './core.js'

/** Host data for a run: one array per program input (converted to Float32Array if needed). */
export type GpuInputs = Record<string, Float32Array | ArrayLike<number>>

export interface GpuRunResult {
  /** Each program output, flat, x fastest. */
  outputs: Record<string, Float32Array>
  /** The backend that ran every step (always the one requested; otherwise run() throws). */
  backend: RanBackend
  /** The backend each step ran on, in step order. */
  stepBackends: RanBackend[]
  /** Wall time of the run: uploads, all kernels, readback (the first run also compiles), ms. */
  ms: number
}

export interface CompiledGpuProgram {
  readonly backend: GpuBackend
  /** What the backend runs on, in words. */
  readonly device: string
  run(inputs: GpuInputs): Promise<GpuRunResult>
  /** Frees the kernels; also destroys the GPU instance when the program created it. */
  destroy(): Promise<void>
}

export function toFloat32(name: string, data: Float32Array | ArrayLike<number>): Float32Array {
  if (data instanceof Float32Array) return data
  if (data == null || typeof data.length !== 'number') {
    throw new Error(`input "${name}" must be an array of numbers`)
  }
  return Float32Array.from(data)
}

/**
 * Builds `program` on a Node backend. Pass a backend name (a GPU instance is created for it and
 * destroyed with the program) or an existing GpuHandle from createGpu (shared; not destroyed).
 */
export async function compileGpuProgram(
  program: GpuProgram,
  backendOrGpu: GpuBackend | GpuHandle,
): Promise<CompiledGpuProgram> {
  const owned = typeof backendOrGpu === 'string'
  const handle = owned ? await createGpu(backendOrGpu) : backendOrGpu
  let executor
  try {
    executor = createExecutor(
      {
        gpu: handle.gpu as unknown as {
          createKernel(source: string, settings: Record<string, unknown>): ExecutorKernelRun
        },
        Input: handle.gpujs.Input,
        backendOf: (run) => kernelBackendOf(handle.gpujs, run),
      },
      program,
    )
  } catch (e) {
    if (owned) await handle.destroy()
    throw e
  }
  const exec = executor
  return {
    backend: handle.backend,
    device: handle.device,
    async run(inputs: GpuInputs): Promise<GpuRunResult> {
      const host: Record<string, Float32Array> = {}
      for (const name of Object.keys(program.inputs)) {
        if (!(name in inputs)) throw new Error(`missing input "${name}"`)
        host[name] = toFloat32(name, inputs[name]!)
      }
      const r = await exec.run(host)
      const stepBackends = r.stepBackends as RanBackend[]
      const bad = stepBackends.findIndex((b) => b !== handle.backend)
      if (bad >= 0) {
        const step = program.steps[bad]!
        throw new BackendMismatchError(
          handle.backend,
          stepBackends[bad]!,
          `step ${bad}, kernel ${step.kernel}${r.fallbackReasons[bad] ? `: ${r.fallbackReasons[bad]}` : ''}`,
        )
      }
      return { outputs: r.outputs, backend: handle.backend, stepBackends, ms: r.ms }
    },
    async destroy(): Promise<void> {
      exec.destroy()
      if (owned) await handle.destroy()
    },
  }
}

/** One-shot: compile, run once, destroy. */
export async function runGpuProgram(
  program: GpuProgram,
  inputs: GpuInputs,
  backend: GpuBackend,
): Promise<GpuRunResult> {
  const compiled = await compileGpuProgram(program, backend)
  try {
    return await compiled.run(inputs)
  } finally {
    await compiled.destroy()
  }
}
