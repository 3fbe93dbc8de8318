// The GPU program format and its executor, shared by the Node runner and the Chromium page.
//
// `createExecutor` is SELF-CONTAINED on purpose: the browser runner ships it to the page as
// `createExecutor.toString()`. It may use only its parameters, globals that exist in both Node
// and browsers (performance, Map, Float32Array, Promise), and nested functions; no imports, no
// module-level values, no TypeScript features that emit runtime helpers (enums, decorators,
// parameter properties). Type-only declarations are fine: they are erased.

/**
 * One gpu.js kernel, as the emitter produces it.
 *
 * `source` is a kernel function in gpu.js's JavaScript subset, e.g.
 * `function (x, mean) { return x[this.thread.y][this.thread.x] - mean[this.thread.x] }`.
 * Its parameter names must equal `args`, in order (checked). Read sizes and other compile-time
 * numbers from `this.constants.NAME`.
 */
export interface GpuKernelSpec {
  name: string
  source: string
  /** gpu.js output size, x (fastest) first: [x], [x, y] or [x, y, z]; `this.thread.x` < output[0]. */
  output: number[]
  /** Parameter names, in order. */
  args: string[]
  /** Compile-time numbers, read as `this.constants.NAME`. */
  constants?: Record<string, number>
  /**
   * Bound for loops whose limit is not a compile-time constant (gpu.js's default is 1000, and it
   * stops such loops there without any error). Set it to the largest trip count the kernel can
   * need. Independently, software GL (llvmpipe) stops a shader after 65,535 loop iterations in
   * total: keep every thread's total loop work at or below a few thousand iterations.
   */
  loopMaxIterations?: number
  /**
   * Keep the result on the device (a texture / GPU buffer) instead of reading it back. Default:
   * decided per step; a step's result stays on the device exactly when a later step reads it.
   */
  pipeline?: boolean
  /** gpu.js argument types by name (e.g. `{ n: 'Integer' }`), where inference is not wanted. */
  argumentTypes?: Record<string, string>
  /** Let arguments change size between runs without rebuilding (gpu.js `dynamicArguments`). */
  dynamicArguments?: boolean
}

/** One kernel launch: bind each kernel argument to a buffer name or to a number. */
export interface GpuStep {
  kernel: string
  /** Kernel argument name → buffer name (a program input or an earlier step's `out`) or a number. */
  inputs: Record<string, string | number>
  /** Name of the buffer this step produces (each name is produced once). */
  out: string
}

/** A whole computation: host inputs, kernels, launches in order, and what to read back. */
export interface GpuProgram {
  /**
   * Host inputs: buffer name → shape in gpu.js order (x fastest). The data is a flat
   * Float32Array of prod(shape) elements; a 2-D input `[w, h]` is indexed `a[y][x]` in kernels,
   * a 1-D one `a[i]`.
   */
  inputs: Record<string, number[]>
  kernels: GpuKernelSpec[]
  steps: GpuStep[]
  /** Buffers read back to the host, each as a flat Float32Array (x fastest). */
  outputs: string[]
}

/** What the executor needs from its environment (Node's gpu.js module or the browser bundle). */
export interface ExecutorEnv {
  /** A gpu.js GPU instance (its backend is fixed by the caller). */
  gpu: {
    createKernel(source: string, settings: Record<string, unknown>): ExecutorKernelRun
  }
  /** gpu.js's Input class, for host inputs of two or more dimensions. */
  Input: new (value: Float32Array, size: number[]) => unknown
  /** Which backend a kernel actually ran on (see detectBackend). */
  backendOf: (run: ExecutorKernelRun) => string
}

export interface ExecutorKernelRun {
  (...args: unknown[]): unknown
  kernel: { fallbackReason?: string | null }
  destroy?: (removeCanvasReferences?: boolean) => void
}

export interface ExecutorRunResult {
  outputs: Record<string, Float32Array>
  /** The backend each step actually ran on, in step order (checked after the step ran). */
  stepBackends: string[]
  /** gpu.js's fallback reason per step, where it recorded one. */
  fallbackReasons: (string | null)[]
  /** Wall time of this run (uploads, kernels, readback), ms. */
  ms: number
}

export interface Executor {
  run(inputs: Record<string, Float32Array>): Promise<ExecutorRunResult>
  destroy(): void
}

/**
 * Validates `program` and creates its kernels on `env.gpu` (gpu.js compiles them on first run).
 * Each step gets its own kernel instance, so a kernel used by several steps never overwrites a
 * result that a later step still reads (gpu.js reuses a pipelined kernel's output texture).
 * Settings: `precision: 'single'`, `tactic: 'precision'` (highp), `pipeline` per step.
 */
export function createExecutor(env: ExecutorEnv, program: GpuProgram): Executor {
  function fail(message: string): never {
    throw new Error(`invalid GpuProgram: ${message}`)
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
  const checkShape = (shape: unknown, what: string): number[] => {
    if (
      !Array.isArray(shape) ||
      shape.length < 1 ||
      shape.length > 3 ||
      !shape.every((d) => Number.isInteger(d) && d > 0)
    ) {
      fail(`${what} must be 1 to 3 positive integers, got ${JSON.stringify(shape)}`)
    }
    return shape as number[]
  }
  const sizeOf = (shape: number[]): number => shape.reduce((a, b) => a * b, 1)

  if (!isObject(program)) fail('not an object')
  if (!isObject(program.inputs)) fail('`inputs` must map buffer names to shapes')
  if (!Array.isArray(program.kernels) || !Array.isArray(program.steps)) {
    fail('`kernels` and `steps` must be arrays')
  }
  if (!Array.isArray(program.outputs)) fail('`outputs` must be an array of buffer names')

  const specs = new Map<string, GpuKernelSpec>()
  for (const spec of program.kernels) {
    if (!isObject(spec) || typeof spec.name !== 'string') fail('a kernel has no name')
    if (specs.has(spec.name)) fail(`kernel "${spec.name}" is defined twice`)
    if (typeof spec.source !== 'string') fail(`kernel "${spec.name}": source must be a string`)
    checkShape(spec.output, `kernel "${spec.name}": output`)
    if (!Array.isArray(spec.args)) fail(`kernel "${spec.name}": args must be an array`)
    const m = /^\s*function\s*[\w$]*\s*\(([^)]*)\)/.exec(spec.source)
    if (!m) fail(`kernel "${spec.name}": source must start with \`function (...)\``)
    const params = m[1]!
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '')
    if (params.join(',') !== spec.args.join(',')) {
      fail(
        `kernel "${spec.name}": source parameters (${params.join(', ')}) differ from args (${spec.args.join(', ')})`,
      )
    }
    if (
      spec.loopMaxIterations !== undefined &&
      !(Number.isInteger(spec.loopMaxIterations) && spec.loopMaxIterations > 0)
    ) {
      fail(`kernel "${spec.name}": loopMaxIterations must be a positive integer`)
    }
    specs.set(spec.name, spec)
  }

  const inputShapes = new Map<string, number[]>()
  for (const [name, shape] of Object.entries(program.inputs)) {
    inputShapes.set(name, checkShape(shape, `input "${name}" shape`))
  }
  const producedAt = new Map<string, number>()
  const lastRead = new Map<string, number>()
  program.steps.forEach((step, i) => {
    if (!isObject(step)) fail(`step ${i} is not an object`)
    const spec = specs.get(step.kernel)
    if (!spec) fail(`step ${i}: no kernel "${step.kernel}"`)
    if (!isObject(step.inputs)) fail(`step ${i}: inputs must be an object`)
    const bound = Object.keys(step.inputs)
    for (const arg of spec!.args) {
      if (!(arg in step.inputs)) fail(`step ${i} (${step.kernel}): argument "${arg}" is not bound`)
    }
    for (const arg of bound) {
      if (!spec!.args.includes(arg)) fail(`step ${i} (${step.kernel}): no argument "${arg}"`)
      const ref = step.inputs[arg]
      if (typeof ref === 'number') continue
      if (typeof ref !== 'string') fail(`step ${i}: argument "${arg}" must be a name or a number`)
      if (!inputShapes.has(ref as string) && !producedAt.has(ref as string)) {
        fail(`step ${i} (${step.kernel}): buffer "${ref}" is read before it is produced`)
      }
      lastRead.set(ref as string, i)
    }
    if (typeof step.out !== 'string' || step.out === '') fail(`step ${i}: out must be a name`)
    if (inputShapes.has(step.out) || producedAt.has(step.out)) {
      fail(`step ${i}: buffer "${step.out}" is produced twice`)
    }
    producedAt.set(step.out, i)
  })
  for (const name of program.outputs) {
    if (!inputShapes.has(name) && !producedAt.has(name)) fail(`output "${name}" is never produced`)
  }

  // one kernel instance per step
  const runs: ExecutorKernelRun[] = program.steps.map((step, i) => {
    const spec = specs.get(step.kernel)!
    const readLater = (lastRead.get(step.out) ?? -1) > i
    const settings: Record<string, unknown> = {
      output: spec.output.slice(),
      precision: 'single',
      tactic: 'precision',
      pipeline: spec.pipeline ?? readLater,
      immutable: false,
    }
    if (spec.constants) settings.constants = { ...spec.constants }
    if (spec.loopMaxIterations !== undefined) settings.loopMaxIterations = spec.loopMaxIterations
    if (spec.argumentTypes) settings.argumentTypes = { ...spec.argumentTypes }
    if (spec.dynamicArguments) settings.dynamicArguments = true
    return env.gpu.createKernel(spec.source, settings)
  })

  // flattens a kernel result (Float32Array, or nested arrays of them for 2-D/3-D) in x-fastest order
  const flatten = (value: unknown, size: number, what: string): Float32Array => {
    const out = new Float32Array(size)
    let k = 0
    const walk = (v: unknown): void => {
      if (v instanceof Float32Array || (ArrayBuffer.isView(v) && !(v instanceof DataView))) {
        const a = v as Float32Array
        if (k + a.length > size) throw new Error(`${what}: result larger than its shape`)
        out.set(a, k)
        k += a.length
      } else if (Array.isArray(v)) {
        if (v.length > 0 && typeof v[0] === 'number') {
          for (const x of v as number[]) out[k++] = x
        } else {
          for (const row of v) walk(row)
        }
      } else {
        throw new Error(`${what}: unexpected kernel result (${Object.prototype.toString.call(v)})`)
      }
    }
    walk(value)
    if (k !== size) throw new Error(`${what}: result has ${k} elements, expected ${size}`)
    return out
  }
  const isThenable = (v: unknown): v is PromiseLike<unknown> =>
    typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function'
  const hasToArray = (v: unknown): v is { toArray(): unknown } =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { toArray?: unknown }).toArray === 'function'
  const outputSize = (name: string): number => {
    const shape = inputShapes.get(name)
    if (shape) return sizeOf(shape)
    return sizeOf(specs.get(program.steps[producedAt.get(name)!]!.kernel)!.output)
  }

  let destroyed = false
  // one run at a time: a run awaits between steps (WebGPU), and the kernels' output buffers are
  // reused by the next run
  let queue: Promise<unknown> = Promise.resolve()
  const runOnce = async (inputs: Record<string, Float32Array>): Promise<ExecutorRunResult> => {
    if (destroyed) throw new Error('GpuProgram executor has been destroyed')
    const t0 = performance.now()
    const values = new Map<string, unknown>()
    for (const [name, shape] of inputShapes) {
      const data = inputs[name]
      if (!(data instanceof Float32Array)) throw new Error(`input "${name}" must be a Float32Array`)
      if (data.length !== sizeOf(shape)) {
        throw new Error(
          `input "${name}" has ${data.length} elements; its shape [${shape.join(', ')}] needs ${sizeOf(shape)}`,
        )
      }
      values.set(name, shape.length > 1 ? new env.Input(data, shape.slice()) : data)
    }
    const stepBackends: string[] = []
    const fallbackReasons: (string | null)[] = []
    const handles: unknown[] = []
    try {
      for (let i = 0; i < program.steps.length; i++) {
        const step = program.steps[i]!
        const spec = specs.get(step.kernel)!
        const run = runs[i]!
        const args = spec.args.map((arg) => {
          const ref = step.inputs[arg]!
          return typeof ref === 'number' ? ref : values.get(ref)
        })
        let result = run(...args)
        if (isThenable(result)) result = await result
        stepBackends.push(env.backendOf(run))
        fallbackReasons.push(run.kernel.fallbackReason ?? null)
        if (typeof result === 'object' && result !== null && 'type' in result) handles.push(result)
        values.set(step.out, result)
      }
      const outputs: Record<string, Float32Array> = {}
      for (const name of program.outputs) {
        let v = values.get(name)
        if (hasToArray(v)) v = v.toArray()
        if (isThenable(v)) v = await v
        outputs[name] = flatten(v, outputSize(name), `output "${name}"`)
      }
      return { outputs, stepBackends, fallbackReasons, ms: performance.now() - t0 }
    } finally {
      // WebGPU pipeline handles are refcounted views of the kernel's output buffer: release ours.
      // GL textures from non-immutable kernels belong to their kernel and are reused; keep them.
      for (const h of handles) {
        const handle = h as { type?: unknown; delete?: () => void }
        if (handle.type === 'WebGPUBuffer' && typeof handle.delete === 'function') handle.delete()
      }
    }
  }
  return {
    run(inputs: Record<string, Float32Array>): Promise<ExecutorRunResult> {
      const result = queue.then(() => runOnce(inputs))
      queue = result.catch(() => undefined)
      return result
    },
    destroy(): void {
      if (destroyed) return
      destroyed = true
      for (const run of runs) {
        try {
          run.destroy?.()
        } catch {
          // a kernel that never built has nothing to free
        }
      }
    },
  }
}
