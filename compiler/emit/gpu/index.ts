// Emit gpu.js kernels from the kernel plan of compiler/schedule — the same plan the JS target
// runs, lowered for the GPU: every materialized node of a step becomes one kernel (a store) or
// a tree of kernels (a reduction), in the plan's order. A target may split a reduction its own
// way: shaders compute in float32 and software GL stops a shader after 65,535 loop iterations
// without an error, so every reduction is a multi-pass tree in which a thread sums at most
// CHUNK elements (and gpu.js's loopMaxIterations is set to exactly that). The one-pass shifted
// moment of the JS target becomes two reductions here (sum, then squared deviations from the
// mean), which is the stable two-pass variance.
//
// Sizes and hypers are compile-time numbers in the kernels (a program is built per layer
// instance). Kernel sources contain only identifiers made here (a0, v12, i, q, …) and numbers
// checked to be finite, never a name from the .norm file.

import type { AxisTable } from '../../check/axes.js'
import type { CheckedLayer } from '../../check/index.js'
import type { Node } from '../../ir/index.js'
import {
  leafAxes,
  rootTarget,
  viewed,
  type KernelPlan,
  type StepPlan,
} from '../../schedule/index.js'
import type { GpuKernelSpec, GpuProgram, GpuStep } from '../../../runtime/gpu/core.js'

/** The most elements one thread reduces in one pass. */
export const CHUNK = 1024

/** A float literal for shader code (always with a decimal point or exponent). */
export function glNumber(v: number): string {
  if (!Number.isFinite(v)) {
    // Shaders have no infinity literal: the largest float32 stands in (identities of max/min).
    if (v === Infinity) return '3.4e38'
    if (v === -Infinity) return '(-3.4e38)'
    throw new Error('internal: NaN constant in a kernel')
  }
  let s = String(Math.abs(v))
  if (!/[.e]/.test(s)) s += '.0'
  return v < 0 || Object.is(v, -0) ? `(-${s})` : s
}

export interface GpuStepProgram {
  program: GpuProgram
  /** Program input name of each leaf node (inputs, params, state, dy, saved values). */
  inputOf: Map<number, string>
  /** Program buffer name of each materialized node. */
  bufferOf: Map<number, string>
  outputs: { name: string; buffer: string }[]
  updates: { name: string; buffer: string }[]
  saved: { node: Node; buffer: string }[]
  /** The lo part of each mean kept as hi + lo (program buffer or input, by node). */
  lo: Map<number, string>
}

class GpuStepEmitter {
  readonly kernels: GpuKernelSpec[] = []
  readonly steps: GpuStep[] = []
  readonly inputs: Record<string, number[]> = {}
  readonly inputOf = new Map<number, string>()
  readonly bufferOf = new Map<number, string>()
  /** Means kept as hi + lo (buffers by node): float32 alone loses x − μ at large offsets. */
  readonly lo = new Map<number, string>()
  private counter = 0

  constructor(
    readonly step: StepPlan,
    readonly layer: CheckedLayer,
    readonly sizes: ReadonlyMap<string, number>,
    readonly hypers: ReadonlyMap<string, number>,
    /** Leaves (saved means) whose lo part the step is given as an input. */
    readonly loLeaves: ReadonlySet<number> = new Set(),
  ) {}

  get axes(): AxisTable {
    return this.layer.axes
  }

  private count(axes: readonly string[]): number {
    return axes.reduce((p, a) => p * this.sizes.get(a)!, 1)
  }

  run(): GpuStepProgram {
    for (const n of this.step.leaves) {
      const name = `in${this.inputOf.size}`
      this.inputOf.set(n.id, name)
      this.inputs[name] = [Math.max(1, this.count(leafAxes(n, this.axes)))]
      if (this.loLeaves.has(n.id)) {
        this.lo.set(n.id, `${name}lo`)
        this.inputs[`${name}lo`] = this.inputs[name]!
      }
    }
    // Materialized nodes in dependency order (the plan's stages, moments split in two).
    const mat = new Set(this.step.materialized.map((n) => n.id))
    const done = new Set<number>([...this.inputOf.keys()])
    const pending = [...this.step.materialized]
    const depsOf = (n: Node): Node[] => {
      const out: Node[] = []
      const stack = [...n.args]
      const seen = new Set<number>()
      while (stack.length) {
        const a = stack.pop()!
        if (seen.has(a.id)) continue
        seen.add(a.id)
        if (mat.has(a.id) || this.inputOf.has(a.id)) out.push(a)
        else stack.push(...a.args)
      }
      return out
    }
    while (pending.length) {
      const k = pending.findIndex((n) => depsOf(n).every((d) => done.has(d.id)))
      if (k < 0) throw new Error('internal: cyclic kernel plan')
      const n = pending.splice(k, 1)[0]!
      if (n.op === 'sum' || n.op === 'rmax' || n.op === 'rmin') this.reduction(n)
      else this.store(n)
      done.add(n.id)
    }
    const buf = (n: Node) => this.bufferOf.get(n.id) ?? this.inputOf.get(n.id)!
    return {
      program: {
        inputs: this.inputs,
        kernels: this.kernels,
        steps: this.steps,
        outputs: [
          ...new Set(
            [...this.step.outputs, ...this.step.updates]
              .map((o) => buf(rootTarget(o.node)))
              .concat(this.step.saved.map(buf))
              .concat(
                this.step.saved.flatMap((n) =>
                  this.lo.has(n.id) && this.bufferOf.has(n.id) ? [this.lo.get(n.id)!] : [],
                ),
              ),
          ),
        ],
      },
      lo: this.lo,
      inputOf: this.inputOf,
      bufferOf: this.bufferOf,
      outputs: this.step.outputs.map((o) => ({ name: o.name, buffer: buf(rootTarget(o.node)) })),
      updates: this.step.updates.map((u) => ({ name: u.name, buffer: buf(rootTarget(u.node)) })),
      saved: this.step.saved.map((n) => ({ node: n, buffer: buf(n) })),
    }
  }

  /** Statements that set `c<k>` (the coordinate along each leaf axis) from the flat index `i`. */
  private coordinates(axes: readonly string[], index: string, prefix: string): string[] {
    const lines = [`let ${prefix}r = ${index}`]
    for (let k = axes.length - 1; k >= 0; k--) {
      const n = this.sizes.get(axes[k]!)!
      if (k === 0) {
        lines.push(`const ${prefix}${k} = ${prefix}r`)
        break
      }
      // Exact integer division in float32 arithmetic (indices stay below 2^24).
      lines.push(
        `let ${prefix}q${k} = Math.floor(${prefix}r / ${glNumber(n)})`,
        `if (${prefix}q${k} * ${glNumber(n)} > ${prefix}r) { ${prefix}q${k} = ${prefix}q${k} - 1.0 }`,
        `if ((${prefix}q${k} + 1.0) * ${glNumber(n)} <= ${prefix}r) { ${prefix}q${k} = ${prefix}q${k} + 1.0 }`,
        `const ${prefix}${k} = ${prefix}r - ${prefix}q${k} * ${glNumber(n)}`,
        `${prefix}r = ${prefix}q${k}`,
      )
    }
    return lines
  }

  /**
   * The body computing node `root` from coordinates: `coord(axis)` names the coordinate of a
   * leaf axis. Loads read program buffers (kernel arguments, collected in `args`).
   */
  private expression(
    root: Node,
    coord: (axis: string) => string,
    args: Map<string, string>,
    lines: string[],
    isRoot = true,
  ): string {
    const names = new Map<number, string>()
    const visit = (n: Node, top: boolean): string => {
      const v = top ? n : viewed(n)
      const hit = names.get(v.id)
      if (hit) return hit
      let e: string
      if (v.op === 'const') e = glNumber(v.value!)
      else if (v.op === 'hyper') e = glNumber(this.hypers.get(v.name!)!)
      else if (v.op === 'count')
        e = glNumber(this.count(v.over!.flatMap((a) => this.axes.leaves(a))))
      else if (!top && (this.bufferOf.has(v.id) || this.inputOf.has(v.id))) {
        const buffer = this.bufferOf.get(v.id) ?? this.inputOf.get(v.id)!
        let arg = args.get(buffer)
        if (!arg) {
          arg = `a${args.size}`
          args.set(buffer, arg)
        }
        const la = leafAxes(v, this.axes)
        let stride = 1
        const terms: string[] = []
        for (let k = la.length - 1; k >= 0; k--) {
          terms.push(stride === 1 ? coord(la[k]!) : `${coord(la[k]!)} * ${glNumber(stride)}`)
          stride *= this.sizes.get(la[k]!)!
        }
        e = `${arg}[${terms.reverse().join(' + ') || '0.0'}]`
      } else if (v.op === 'broadcast' || v.op === 'regroup' || v.op === 'stop_gradient') {
        e = visit(v.args[0]!, false)
      } else if (v.op === 'sub' && this.lo.has(viewed(v.args[1]!).id)) {
        // a − μ as (a − hi) − lo: the first difference is exact when a is near μ.
        const mu = viewed(v.args[1]!)
        const hi = visit(v.args[1]!, false)
        const loName = this.lo.get(mu.id)!
        let arg = args.get(loName)
        if (!arg) {
          arg = `a${args.size}`
          args.set(loName, arg)
        }
        const la = leafAxes(mu, this.axes)
        let stride = 1
        const terms: string[] = []
        for (let k = la.length - 1; k >= 0; k--) {
          terms.push(stride === 1 ? coord(la[k]!) : `${coord(la[k]!)} * ${glNumber(stride)}`)
          stride *= this.sizes.get(la[k]!)!
        }
        e = `(${visit(v.args[0]!, false)} - ${hi}) - ${arg}[${terms.reverse().join(' + ') || '0.0'}]`
      } else {
        const a = v.args.map((x) => visit(x, false))
        e = this.op(v, a)
      }
      const name = `v${this.counter++}`
      lines.push(`const ${name} = ${e}`)
      names.set(v.id, name)
      return name
    }
    return visit(root, isRoot)
  }

  private op(n: Node, a: string[]): string {
    switch (n.op) {
      case 'neg':
        return `-${a[0]}`
      case 'sqrt':
        return `Math.sqrt(${a[0]})`
      case 'rsqrt':
        return `1.0 / Math.sqrt(${a[0]})`
      case 'exp':
      case 'log':
      case 'abs':
        return `Math.${n.op}(${a[0]})`
      case 'tanh':
        return `(1.0 - 2.0 / (Math.exp(2.0 * Math.min(${a[0]}, 40.0)) + 1.0))`
      case 'recip':
        return `1.0 / ${a[0]}`
      case 'sigmoid':
        return `1.0 / (1.0 + Math.exp(-${a[0]}))`
      case 'sign':
        return `(${a[0]} > 0.0 ? 1.0 : (${a[0]} < 0.0 ? -1.0 : 0.0))`
      case 'add':
        return `${a[0]} + ${a[1]}`
      case 'sub':
        return `${a[0]} - ${a[1]}`
      case 'mul':
        return `${a[0]} * ${a[1]}`
      case 'div':
        return `${a[0]} / ${a[1]}`
      case 'pow':
        return gpuPow(a[0]!, a[1]!, viewed(n.args[1]!))
      case 'max':
        return `Math.max(${a[0]}, ${a[1]})`
      case 'min':
        return `Math.min(${a[0]}, ${a[1]})`
      case 'ge':
        return `(${a[0]} >= ${a[1]} ? 1.0 : 0.0)`
      case 'gt':
        return `(${a[0]} > ${a[1]} ? 1.0 : 0.0)`
      case 'le':
        return `(${a[0]} <= ${a[1]} ? 1.0 : 0.0)`
      case 'lt':
        return `(${a[0]} < ${a[1]} ? 1.0 : 0.0)`
      case 'eq':
        // Equal up to float32's rounding: the gradient of max(x, [R]) compares a recomputed
        // x with the saved maximum, and where a backend computes in float64 and only stores
        // float32 (gpu.js's cpu fallback) the two differ by that rounding; exact, no element
        // would match and the tie count would be 0 (NaN). In float32 shaders this is exact
        // equality but for neighbours within 2^-24 relative.
        return `(${a[0]} === ${a[1]} ? 1.0 : (Math.abs(${a[0]} - ${a[1]}) <= 5.960464477539063e-8 * Math.abs(${a[1]}) ? 1.0 : 0.0))`
      case 'clamp':
        return `Math.min(Math.max(${a[0]}, ${a[1]}), ${a[2]})`
      default:
        throw new Error(`internal: no gpu form for ${n.op}`)
    }
  }

  private addKernel(
    out: string,
    output: number,
    lines: string[],
    args: Map<string, string>,
    result: string,
    loop?: number,
  ): void {
    const name = `k${this.kernels.length}`
    const params = [...args.values()]
    this.kernels.push({
      name,
      source: `function (${params.join(', ')}) {\n  ${lines.join('\n  ')}\n  return ${result}\n}`,
      output: [Math.max(1, output)],
      args: params,
      ...(loop ? { loopMaxIterations: loop } : {}),
    })
    const inputs: Record<string, string> = {}
    for (const [buffer, arg] of args) inputs[arg] = buffer
    this.steps.push({ kernel: name, inputs, out })
  }

  /** A kernel computing node n at every element of its own axes. */
  private store(n: Node): void {
    const axes = leafAxes(n, this.axes)
    const lines = this.coordinates(axes, 'this.thread.x', 'c')
    const args = new Map<string, string>()
    const coord = (a: string) => `c${axes.indexOf(a)}`
    const result = this.expression(n, coord, args, lines)
    const out = `t${this.bufferOf.size}`
    this.bufferOf.set(n.id, out)
    this.addKernel(out, this.count(axes), lines, args, result)
    const src = meanSource(n)
    if (src) this.meanLo(n, src)
  }

  /** lo = mean(src − hi, R): the part of a mean that float32 hi could not hold. */
  private meanLo(mean: Node, src: Node): void {
    const sum = mean.args[0]!
    const space = leafAxes(src, this.axes)
    const R = sum.over!.flatMap((a) => this.axes.leaves(a))
    const O = space.filter((a) => !R.includes(a))
    const hi = this.bufferOf.get(mean.id)!
    const srcBuf = this.inputOf.get(viewed(src).id)!
    const m = this.count(R)
    const loBuf = `${hi}lo`
    this.tree(
      loBuf,
      O,
      R,
      'sum',
      (coord, args, lines) => {
        const idx = (axes: readonly string[]) => {
          let stride = 1
          const terms: string[] = []
          for (let k = axes.length - 1; k >= 0; k--) {
            terms.push(stride === 1 ? coord(axes[k]!) : `${coord(axes[k]!)} * ${glNumber(stride)}`)
            stride *= this.sizes.get(axes[k]!)!
          }
          return terms.reverse().join(' + ') || '0.0'
        }
        if (!args.has(srcBuf)) args.set(srcBuf, `a${args.size}`)
        if (!args.has(hi)) args.set(hi, `a${args.size}`)
        lines.push(`const w = ${args.get(srcBuf)}[${idx(space)}] - ${args.get(hi)}[${idx(O)}]`)
        return 'w'
      },
      1 / m,
    )
    this.lo.set(mean.id, loBuf)
  }

  /** A tree of kernels reducing node r's operand over r's axes. */
  private reduction(r: Node): void {
    const operand = r.args[0]!
    const space = leafAxes(operand, this.axes)
    const R = r.over!.flatMap((a) => this.axes.leaves(a))
    const O = space.filter((a) => !R.includes(a))
    const final = `t${this.bufferOf.size}`
    this.bufferOf.set(r.id, final)
    this.tree(final, O, R, r.op as 'sum' | 'rmax' | 'rmin', (coord, args, lines) =>
      this.expression(operand, coord, args, lines, false),
    )
  }

  /**
   * Reduces `value` (emitted per element from coordinates) over axes R for each element of O,
   * into buffer `final`: level 0, thread t = p·|O| + o takes elements p·G … p·G + G − 1 of
   * group o; later levels reduce the partials the same way, until one is left per group.
   */
  private tree(
    final: string,
    O: string[],
    R: string[],
    op: 'sum' | 'rmax' | 'rmin',
    value: (coord: (a: string) => string, args: Map<string, string>, lines: string[]) => string,
    scale = 1,
  ): void {
    const nO = this.count(O)
    const nR = this.count(R)
    const identity = op === 'rmax' ? '(-3.4e38)' : op === 'rmin' ? '3.4e38' : '0.0'
    const combine = (acc: string, v: string) =>
      op === 'rmax'
        ? `Math.max(${acc}, ${v})`
        : op === 'rmin'
          ? `Math.min(${acc}, ${v})`
          : `${acc} + ${v}`
    const split = [
      `let p = Math.floor(this.thread.x / ${glNumber(nO)})`,
      `if (p * ${glNumber(nO)} > this.thread.x) { p = p - 1.0 }`,
      `if ((p + 1.0) * ${glNumber(nO)} <= this.thread.x) { p = p + 1.0 }`,
      `const o = this.thread.x - p * ${glNumber(nO)}`,
    ]
    let L = nR
    let G = Math.min(CHUNK, L)
    let P = Math.ceil(L / G)
    const result = (last: boolean) => (last && scale !== 1 ? `s * ${glNumber(scale)}` : 's')
    let out = P === 1 ? final : `p${this.counter++}`
    {
      const lines = [...split, ...this.coordinates(O, 'o', 'c')]
      const body = this.coordinates(R, 'j', 'd')
      const args = new Map<string, string>()
      const coord = (a: string) => (O.includes(a) ? `c${O.indexOf(a)}` : `d${R.indexOf(a)}`)
      const v = value(coord, args, body)
      lines.push(
        `let s = ${identity}`,
        `for (let i = 0; i < ${G}; i++) {`,
        `  const j = p * ${glNumber(G)} + i`,
        `  if (j < ${glNumber(L)}) {`,
        ...body.map((l) => '    ' + l),
        `    s = ${combine('s', v)}`,
        '  }',
        '}',
      )
      this.addKernel(out, nO * P, lines, args, result(P === 1), G)
    }
    while (P > 1) {
      const input = out
      L = P
      G = Math.min(CHUNK, L)
      P = Math.ceil(L / G)
      out = P === 1 ? final : `p${this.counter++}`
      const lines = [
        ...split,
        `let s = ${identity}`,
        `for (let i = 0; i < ${G}; i++) {`,
        `  const j = p * ${glNumber(G)} + i`,
        `  if (j < ${glNumber(L)}) {`,
        `    s = ${combine('s', `a0[j * ${glNumber(nO)} + o]`)}`,
        '  }',
        '}',
      ]
      this.addKernel(out, nO * P, lines, new Map([[input, 'a0']]), result(P === 1), G)
    }
  }
}

/** The input a mean node averages, when it is mean(input, R) as the simplifier writes it. */
function meanSource(n: Node): Node | undefined {
  if (n.op !== 'div' || n.args[0]!.op !== 'sum' || viewed(n.args[1]!).op !== 'count')
    return undefined
  const src = n.args[0]!.args[0]!
  return viewed(src).op === 'input' ? src : undefined
}

export interface EmittedGpuLayer {
  forward: GpuStepProgram
  backward: GpuStepProgram
}

/** The gpu.js programs of a layer's forward and backward, at bound sizes and hypers. */
export function emitGpuLayer(
  plan: KernelPlan,
  sizes: ReadonlyMap<string, number>,
  hypers: ReadonlyMap<string, number>,
): EmittedGpuLayer {
  const forward = new GpuStepEmitter(plan.forward, plan.layer, sizes, hypers).run()
  // The backward is given the lo part of every saved mean that has one.
  const loLeaves = new Set(plan.forward.saved.filter((n) => forward.lo.has(n.id)).map((n) => n.id))
  return {
    forward,
    backward: new GpuStepEmitter(plan.backward, plan.layer, sizes, hypers, loLeaves).run(),
  }
}

/**
 * x ^ y as JavaScript's `**` computes it, in the JS subset gpu.js compiles. GLSL's pow(x, y) is
 * undefined for x < 0 (NaN on Mesa) even where y is an integer (x ^ 3): integer constants are
 * written as products, and any other exponent takes |x| and puts the sign back for odd
 * integers (a negative x with a non-integer y is NaN, as in JavaScript).
 */
function gpuPow(x: string, y: string, exponent: Node): string {
  const k = exponent.op === 'const' ? exponent.value! : undefined
  if (k !== undefined && Number.isInteger(k) && Math.abs(k) <= 16) {
    if (k === 0) return '1.0'
    const product = Array.from({ length: Math.abs(k) }, () => x).join(' * ')
    return k > 0 ? `(${product})` : `(1.0 / (${product}))`
  }
  if (k !== undefined && !Number.isInteger(k)) return `Math.pow(${x}, ${y})`
  return `(${x} < 0.0 ? (Math.floor(${y}) === ${y} ? (Math.floor(${y} * 0.5) * 2.0 === ${y} ? 1.0 : -1.0) * Math.pow(-${x}, ${y}) : (0.0 / 0.0)) : Math.pow(${x}, ${y}))`
}
