// Emit JavaScript from a kernel plan: one function per step, plain loops over typed arrays,
// accumulating in float64 (JS numbers).
//
// Only identifiers this file makes (b3, v12, i1, o3_1, s0, …) and numbers it formats appear in
// the source: no name from the .norm file is ever written into generated code, so a hostile
// file cannot inject anything. Numbers are checked to be finite before they are written.
//
// A step function is `(B, S, H) => void`: B the buffers (typed arrays, in the order of the
// step's buffer table), S the sizes of the layer's leaf axes, H the hyper values.

import type { Node } from '../../ir/index.js'
import { leafAxes, viewed, type KernelPlan, type Stage } from '../../schedule/index.js'
import { leafAxisOrder, StepLayout, type BufferSpec, type Loop } from '../layout.js'

export { leafAxisOrder } from '../layout.js'
export type { BufferRole, BufferSpec } from '../layout.js'

export interface EmittedStep {
  /** The body of `function (B, S, H) { … }`. */
  body: string
  buffers: BufferSpec[]
}

export interface EmittedLayer {
  /** The layer's leaf axes, in the order of S. */
  axes: string[]
  hypers: string[]
  forward: EmittedStep
  backward: EmittedStep
}

/** A finite number as JS source. */
export function jsNumber(v: number): string {
  // Constant folding can make IEEE's non-finite values (rsqrt(0), log(0), 0 / 0): they are
  // written as arithmetic, so generated code names no global for them.
  if (Number.isNaN(v)) return '(0 / 0)'
  if (!Number.isFinite(v)) return v > 0 ? '(1 / 0)' : '(-1 / 0)'
  const s = Object.is(v, -0) ? '-0' : String(v)
  return v < 0 || Object.is(v, -0) ? `(${s})` : s
}

/** Partial accumulators per reduction in an innermost loop. */
const UNROLL = 4

/**
 * Iterations of the loop around the innermost one that run together (unroll-and-jam), when the
 * innermost loop reads values that do not depend on that loop (BatchNorm NHWC's per-channel
 * mean, LayerNorm's γ) or accumulates into a buffer indexed without it (per-channel sums in
 * NHWC, dγ in LayerNorm): each such load or update then serves JAM iterations instead of one.
 * Typed-array accesses cost V8 a bounds check each, more than the arithmetic around them.
 */
const JAM = 4

/** Declarations in a step beyond which each stage gets a function of its own (see run). */
const MAX_LOCALS = 20_000

class StepEmitter extends StepLayout {
  readonly lines: string[] = []
  private indent = 1

  emit(line: string): void {
    this.lines.push('  '.repeat(this.indent) + line)
  }

  size(a: string): string {
    return `s${this.leafOrder.indexOf(a)}`
  }

  sizeProduct(axes: readonly string[]): string {
    return axes.length ? axes.map((a) => this.size(a)).join(' * ') : '1'
  }

  run(): EmittedStep {
    const step = this.step
    const sizes = this.leafOrder.map((_, i) => `const s${i} = S[${i}]`)
    const buffers = this.buffers.map((_, i) => `const b${i} = B[${i}]`)
    const stages = step.stages.map((st) => {
      const start = this.lines.length
      this.stage(st, this.shiftOf)
      return this.lines.splice(start)
    })
    // V8 gives every local of a function a slot in its frame: a long program's step, written
    // as one function, overflowed the stack (600 statements: 145,000 locals). Past
    // MAX_LOCALS each stage runs in a function of its own, with its own copy of the prologue
    // (its loops then use registers, not a closure's context). Not below: a function called once
    // per step is slower to optimise, by 2-3× on the examples.
    const locals = stages.flat().filter((l) => /^\s*(const|let) /.test(l)).length
    if (locals <= MAX_LOCALS) {
      for (const l of [...sizes, ...buffers]) this.emit(l)
      for (const lines of stages) for (const l of lines) this.lines.push(l)
    } else
      for (const lines of stages) {
        const names = new Set(lines.join('\n').match(/\b[bs]\d+\b/g))
        const used = (decls: string[], p: string) => decls.filter((_, i) => names.has(`${p}${i}`))
        this.emit(';(() => {')
        for (const l of [...used(sizes, 's'), ...used(buffers, 'b')]) this.emit(`  ${l}`)
        for (const l of lines) this.lines.push(`  ${l}`)
        this.emit('})()')
      }
    return { body: this.lines.join('\n'), buffers: this.buffers }
  }

  private stage(st: Stage, shiftOf: Map<number, number>): void {
    const { inline, loads, accessed, loops, level, flushLevel } = this.nest(st)
    this.emit(
      `// stage over [${st.space.join(', ')}]${st.full ? ' (a pass over the full-size tensors)' : ''}`,
    )
    // Prologue: reset accumulators; moments take their shift from each group's first element.
    for (const r of st.reductions) {
      const init = r.op === 'rmax' ? '-Infinity' : r.op === 'rmin' ? 'Infinity' : '0'
      this.emit(`b${this.acc(r)}.fill(${init})`)
    }
    for (const m of st.moments) {
      this.emit(`b${this.bufIndex.get(m.sum1.id)}.fill(0)`)
      this.emit(`b${this.bufIndex.get(m.sum2.id)}.fill(0)`)
      this.shiftLoop(m.sum1, viewed(m.src), shiftOf.get(m.sum1.id)!)
    }
    // Offsets: for each accessed buffer and loop level, the running offset.
    const bufs = accessed.map((n) => this.bufIndex.get(n.id)!)
    const nodeLevel = new Map<number, number>()
    for (const n of inline) nodeLevel.set(n.id, level(n))
    const emitted = new Set<number>()
    const value = (n: Node): string => this.valueName(n)
    const emitAt = (lv: number) => {
      for (const b of loads)
        if (level(b) === lv && !emitted.has(b.id)) {
          emitted.add(b.id)
          this.emit(`const v${b.id} = b${this.bufIndex.get(b.id)}[${this.offset(b, lv, loops)}]`)
        }
      for (const n of inline)
        if (nodeLevel.get(n.id) === lv && !emitted.has(n.id)) {
          emitted.add(n.id)
          this.emit(`const v${n.id} = ${this.expr(n, value)}`)
        }
    }
    const bound = (j: number) =>
      loops[j - 1]!.axes.length > 1 ? `n${j}` : this.sizeProduct(loops[j - 1]!.axes)
    const open = (j: number, resume = false) => {
      // Offsets for loop j (1-based) of every accessed buffer that has its axes.
      const lp = loops[j - 1]!
      if (lp.axes.length > 1 && !resume) this.emit(`const n${j} = ${this.sizeProduct(lp.axes)}`)
      const from = resume ? '' : `let i${j} = 0`
      this.emit(`for (${from}; i${j} < ${bound(j)}; i${j}++) {`)
      this.indent++
      // Buffers with the same axes have the same offsets: one variable serves them all.
      const layouts = new Map<number, number>()
      for (const bi of bufs) layouts.set(this.layout(bi), bi)
      for (const [lay, bi] of layouts) {
        const spec = this.buffers[bi]!
        if (!lp.axes.some((a) => spec.axes.includes(a))) continue
        const stride = this.stride(spec.axes, lp.axes)
        this.emit(
          `const o${lay}_${j} = ${this.prevOffset(bi, j - 1, loops)} + i${j}${stride === '1' ? '' : ` * (${stride})`}`,
        )
      }
    }
    // Unroll-and-jam of loop J = loops.length - 1 (see JAM): the loads, values and stores that
    // depend on loop J come in JAM copies (suffix _u for iteration iJ + u); the others, and the
    // accumulations into buffers indexed without loop J, are done once for all JAM copies.
    const J = loops.length - 1
    const inner = loops.length
    const jamAxes = J >= 1 ? loops[J - 1]!.axes : []
    const varies = (n: Node) => leafAxes(n, this.axes).some((a) => jamAxes.includes(a))
    const jamPays = () =>
      J >= 1 &&
      (loads.some((n) => level(n) === inner && !varies(n)) ||
        [...st.reductions, ...st.moments.map((m) => m.sum1)].some(
          (r) => flushLevel.get(r.id) === inner && !varies(r),
        ))
    /** The offset of buffer `bi` at loop level lv, in copy u of the jammed loop. */
    const offsetU = (n: Node, lv: number, u: number): string => {
      const bi = this.bufIndex.get(n.id)!
      const spec = this.buffers[bi]!
      for (let l = lv; l >= 1; l--)
        if (loops[l - 1]!.axes.some((a) => spec.axes.includes(a))) {
          const jammed = l >= J && spec.axes.some((a) => jamAxes.includes(a))
          return `o${this.layout(bi)}_${l}${jammed ? `_${u}` : ''}`
        }
      return '0'
    }
    const copies = Array.from({ length: JAM }, (_, u) => u)
    const jam = (j: number): void => {
      const reductionsAt = (p: number) => st.reductions.filter((r) => flushLevel.get(r.id) === p)
      const momentsAt = (p: number) => st.moments.filter((m) => flushLevel.get(m.sum1.id) === p)
      const name = (n: Node, u: number) =>
        ['const', 'hyper', 'count'].includes(viewed(n).op) || !varies(viewed(n))
          ? this.valueName(n)
          : `${this.valueName(n)}_${u}`
      // A value's own name where it is defined (a stored view has its own), `name` where used.
      const own = (n: Node, u: number) => (varies(n) ? `v${n.id}_${u}` : `v${n.id}`)
      const defineAt = (lv: number) => {
        for (const b of loads)
          if (level(b) === lv)
            for (const u of varies(b) ? copies : [0]) {
              const v = varies(b) ? `v${b.id}_${u}` : `v${b.id}`
              this.emit(`const ${v} = b${this.bufIndex.get(b.id)}[${offsetU(b, lv, u)}]`)
            }
        for (const n of inline)
          if (nodeLevel.get(n.id) === lv)
            for (const u of varies(n) ? copies : [0])
              this.emit(`const ${own(n, u)} = ${this.expr(n, (a) => name(a, u))}`)
      }
      const offsets = (lv: number, index: (u: number) => string) => {
        const layouts = new Map<number, number>()
        for (const bi of bufs) layouts.set(this.layout(bi), bi)
        for (const [lay, bi] of layouts) {
          const spec = this.buffers[bi]!
          if (!loops[lv - 1]!.axes.some((a) => spec.axes.includes(a))) continue
          const stride = this.stride(spec.axes, loops[lv - 1]!.axes)
          const jammed = spec.axes.some((a) => jamAxes.includes(a))
          for (const u of jammed ? copies : [0]) {
            let prev = this.prevOffset(bi, lv - 1, loops)
            if (jammed && lv > J && prev !== '0') prev += `_${u}`
            const i = index(jammed ? u : 0)
            this.emit(
              `const o${lay}_${lv}${jammed ? `_${u}` : ''} = ${prev} + ${i}${stride === '1' ? '' : ` * (${stride})`}`,
            )
          }
        }
      }
      if (loops[j - 1]!.axes.length > 1)
        this.emit(`const n${j} = ${this.sizeProduct(loops[j - 1]!.axes)}`)
      this.emit(`let i${j} = 0`)
      this.emit(`for (; i${j} + ${JAM - 1} < ${bound(j)}; i${j} += ${JAM}) {`)
      this.indent++
      offsets(j, (u) => (u ? `(i${j} + ${u})` : `i${j}`))
      defineAt(j)
      // Accumulators of reductions over the innermost loop alone: one set per copy.
      for (const r of reductionsAt(j)) {
        const init = r.op === 'rmax' ? '-Infinity' : r.op === 'rmin' ? 'Infinity' : '0'
        this.emit(`let ${copies.map((u) => `a${r.id}_${u} = ${init}`).join(', ')}`)
      }
      for (const m of momentsAt(j)) {
        this.emit(`let ${copies.map((u) => `a${m.sum1.id}_${u} = 0`).join(', ')}`)
        this.emit(`let ${copies.map((u) => `a${m.sum2.id}_${u} = 0`).join(', ')}`)
        for (const u of copies)
          this.emit(
            `const k${m.sum1.id}_${u} = b${shiftOf.get(m.sum1.id)}[${offsetU(m.sum1, j, u)}]`,
          )
      }
      if (loops[inner - 1]!.axes.length > 1)
        this.emit(`const n${inner} = ${this.sizeProduct(loops[inner - 1]!.axes)}`)
      this.emit(`for (let i${inner} = 0; i${inner} < ${bound(inner)}; i${inner}++) {`)
      this.indent++
      offsets(inner, () => `i${inner}`)
      defineAt(inner)
      for (const s of st.stores)
        for (const u of varies(s) ? copies : [0])
          this.emit(`b${this.bufIndex.get(s.id)}[${offsetU(s, inner, u)}] = ${own(s, u)}`)
      const fold = (op: string, ref: string, vs: string[]) =>
        op === 'rmax' || op === 'rmin'
          ? `${ref} = ${op === 'rmax' ? 'Math.max' : 'Math.min'}(${ref}, ${vs.join(', ')})`
          : `${ref} += ${vs.join(' + ')}`
      for (const r of st.reductions) {
        const p = flushLevel.get(r.id)!
        const v = (u: number) => name(r.args[0]!, u)
        if (p === inner) {
          for (const u of varies(r) ? copies : [0]) {
            const ref = `b${this.acc(r)}[${offsetU(r, inner, u)}]`
            this.emit(fold(r.op, ref, varies(r) ? [v(u)] : copies.map(v)))
          }
        } else if (p === j) for (const u of copies) this.emit(fold(r.op, `a${r.id}_${u}`, [v(u)]))
        else this.emit(fold(r.op, `a${r.id}`, copies.map(v)))
      }
      for (const m of st.moments) {
        const id = m.sum1.id
        const p = flushLevel.get(id)!
        const s1 = this.bufIndex.get(id)!
        const s2 = this.bufIndex.get(m.sum2.id)!
        const d = (u: number) => `d${id}_${u}`
        const sq = (u: number) => `${d(u)} * ${d(u)}`
        if (p === inner && varies(m.sum1))
          for (const u of copies) {
            const idx = offsetU(m.sum1, inner, u)
            this.emit(
              `{ const d = ${name(m.src, u)} - b${shiftOf.get(id)}[${idx}]; b${s1}[${idx}] += d; b${s2}[${idx}] += d * d }`,
            )
          }
        else {
          const k =
            p === inner
              ? `b${shiftOf.get(id)}[${offsetU(m.sum1, inner, 0)}]`
              : p === j
                ? ''
                : `k${id}`
          if (p === inner) this.emit(`const k${id} = ${k}`)
          for (const u of copies)
            this.emit(`const ${d(u)} = ${name(m.src, u)} - k${id}${p === j ? `_${u}` : ''}`)
          if (p === inner) {
            const idx = offsetU(m.sum1, inner, 0)
            this.emit(`b${s1}[${idx}] += ${copies.map(d).join(' + ')}`)
            this.emit(`b${s2}[${idx}] += ${copies.map(sq).join(' + ')}`)
          } else if (p === j)
            for (const u of copies)
              this.emit(`a${id}_${u} += ${d(u)}; a${m.sum2.id}_${u} += ${sq(u)}`)
          else {
            this.emit(`a${id} += ${copies.map(d).join(' + ')}`)
            this.emit(`a${m.sum2.id} += ${copies.map(sq).join(' + ')}`)
          }
        }
      }
      this.indent--
      this.emit('}')
      // Flush the per-copy accumulators.
      for (const r of reductionsAt(j))
        for (const u of copies) {
          const ref = `b${this.acc(r)}[${offsetU(r, j, u)}]`
          this.emit(fold(r.op, ref, [`a${r.id}_${u}`]))
        }
      for (const m of momentsAt(j))
        for (const u of copies) {
          const idx = offsetU(m.sum1, j, u)
          this.emit(`b${this.bufIndex.get(m.sum1.id)}[${idx}] += a${m.sum1.id}_${u}`)
          this.emit(`b${this.bufIndex.get(m.sum2.id)}[${idx}] += a${m.sum2.id}_${u}`)
        }
      this.indent--
      this.emit('}')
    }
    const body = (j: number): void => {
      emitAt(j)
      // Accumulators that flush after loop j + 1.
      const flushHere = [...flushLevel]
        .filter(([, p]) => p === j && j < loops.length)
        .map(([id]) => id)
      // Local accumulators of the innermost loop get UNROLL partial sums each, so the adds do
      // not wait on each other (the loop is latency-bound otherwise).
      const accIds = flushHere.flatMap((id) => {
        const m = st.moments.find((x) => x.sum1.id === id)
        return m ? [id, m.sum2.id] : [id]
      })
      // Elementwise innermost loops too: V8 does not unroll, and the loop's own compare,
      // increment and branch are a good part of a short body.
      const unroll =
        j + 1 === loops.length &&
        (flushHere.length > 0 || st.full) &&
        flushHere.every(
          (id) =>
            st.moments.some((m) => m.sum1.id === id) ||
            st.reductions.find((x) => x.id === id)!.op === 'sum',
        )
      const parts = unroll ? UNROLL : 1
      for (const id of flushHere) {
        const m = st.moments.find((x) => x.sum1.id === id)
        const r = st.reductions.find((x) => x.id === id)
        const init = r && r.op !== 'sum' ? (r.op === 'rmax' ? '-Infinity' : 'Infinity') : '0'
        const names = (a: number) =>
          unroll
            ? Array.from({ length: parts }, (_, u) => `a${a}_${u} = ${init}`).join(', ')
            : `a${a} = ${init}`
        this.emit(`let ${names(id)}`)
        if (m) {
          this.emit(`let ${names(m.sum2.id)}`)
          this.emit(`const k${id} = b${shiftOf.get(id)}[${this.offset(m.sum1, j, loops)}]`)
        }
      }
      const total = (a: number) =>
        unroll ? `(${Array.from({ length: parts }, (_, u) => `a${a}_${u}`).join(' + ')})` : `a${a}`
      if (j < loops.length) {
        const start = this.lines.length
        if (j + 2 === loops.length && jamPays()) {
          jam(j + 1)
          open(j + 1, true)
        } else open(j + 1)
        body(j + 1)
        this.indent--
        this.emit('}')
        if (unroll) this.unrollInnermost(start, j + 1, accIds)
        for (const id of flushHere) {
          const m = st.moments.find((x) => x.sum1.id === id)
          const r = m ? m.sum1 : st.reductions.find((x) => x.id === id)!
          const idx = this.offset(r, j, loops)
          const b = this.acc(r)
          if (r.op === 'rmax' || r.op === 'rmin') {
            const f = r.op === 'rmax' ? 'Math.max' : 'Math.min'
            this.emit(`b${b}[${idx}] = ${f}(b${b}[${idx}], ${total(id)})`)
          } else this.emit(`b${b}[${idx}] += ${total(id)}`)
          if (m) this.emit(`b${this.bufIndex.get(m.sum2.id)}[${idx}] += ${total(m.sum2.id)}`)
        }
        return
      }
      // Innermost: stores and accumulation.
      for (const s of st.stores)
        this.emit(`b${this.bufIndex.get(s.id)}[${this.offset(s, j, loops)}] = v${s.id}`)
      for (const r of st.reductions) {
        const v = value(r.args[0]!)
        const p = flushLevel.get(r.id)!
        const f = r.op === 'rmax' ? 'Math.max' : r.op === 'rmin' ? 'Math.min' : ''
        if (p === loops.length) {
          const ref = `b${this.acc(r)}[${this.offset(r, j, loops)}]`
          this.emit(f ? `${ref} = ${f}(${ref}, ${v})` : `${ref} += ${v}`)
        } else this.emit(f ? `a${r.id} = ${f}(a${r.id}, ${v})` : `a${r.id} += ${v}`)
      }
      for (const m of st.moments) {
        const id = m.sum1.id
        const p = flushLevel.get(id)!
        const src = value(m.src)
        if (p === loops.length) {
          const idx = this.offset(m.sum1, j, loops)
          this.emit(
            `{ const d = ${src} - b${shiftOf.get(id)}[${idx}]; b${this.bufIndex.get(id)}[${idx}] += d; b${this.bufIndex.get(m.sum2.id)}[${idx}] += d * d }`,
          )
        } else this.emit(`{ const d = ${src} - k${id}; a${id} += d; a${m.sum2.id} += d * d }`)
      }
    }
    this.emit('{')
    this.indent++
    body(0)
    this.indent--
    this.emit('}')
    // Epilogue: undo the shift: Σx = Σ(x − k) + m·k; Σ(x − μ)² = Σ(x − k)² − (Σ(x − k))² / m.
    for (const m of st.moments) {
      const b1 = this.bufIndex.get(m.sum1.id)!
      const b2 = this.bufIndex.get(m.sum2.id)!
      const sh = shiftOf.get(m.sum1.id)!
      const count = this.sizeProduct(this.reducedLeaves(m.sum1))
      this.emit(`for (let t = 0, m = ${count}; t < b${b1}.length; t++) {`)
      this.emit(`  const s = b${b1}[t]`)
      this.emit(`  b${b1}[t] = s + m * b${sh}[t]`)
      this.emit(`  b${b2}[t] = Math.max(0, b${b2}[t] - (s * s) / m)`)
      this.emit(`}`)
    }
    for (const n of [
      ...st.stores,
      ...st.reductions,
      ...st.moments.flatMap((m) => [m.sum1, m.sum2]),
    ])
      if (this.copyOf.has(n.id))
        this.emit(`b${this.copyOf.get(n.id)}.set(b${this.bufIndex.get(n.id)})`)
  }

  /** shift[g] = src at the first element of group g (every reduced index 0). */
  private shiftLoop(sum1: Node, src: Node, shiftBuf: number): void {
    const out = leafAxes(sum1, this.axes)
    const srcAxes = leafAxes(src, this.axes)
    const srcBuf = this.bufIndex.get(src.id)!
    this.emit('{')
    this.indent++
    out.forEach((a, j) => {
      this.emit(`for (let j${j} = 0; j${j} < ${this.size(a)}; j${j}++) {`)
      this.indent++
    })
    const dst = out.map((a, j) => `j${j} * (${this.stride(out, [a])})`).join(' + ') || '0'
    const from = out.map((a, j) => `j${j} * (${this.stride(srcAxes, [a])})`).join(' + ') || '0'
    // The shift is any value of the group; an infinite or NaN one would turn x − k into
    // Inf − Inf = NaN where IEEE gives the sum an infinity: those groups are not shifted.
    this.emit(`{ const k = b${srcBuf}[${from}]; b${shiftBuf}[${dst}] = k - k === 0 ? k : 0 }`)
    out.forEach(() => {
      this.indent--
      this.emit('}')
    })
    this.indent--
    this.emit('}')
  }

  /**
   * Rewrites the innermost loop emitted from line `start` on: UNROLL copies of its body per
   * iteration, each in its own block with its own partial accumulators, then a remainder loop.
   */
  private unrollInnermost(start: number, k: number, accIds: number[]): void {
    const loop = this.lines.splice(start)
    const pre = loop[0]!.trimStart().startsWith('const n') ? loop.shift()! : undefined
    if (pre) this.lines.push(pre)
    const head = loop[0]!
    const indent = head.slice(0, head.length - head.trimStart().length)
    const bound = /< (.*); i\d+\+\+\) \{$/.exec(head)![1]!
    const inner = loop.slice(1, -1)
    const acc = accIds.length ? new RegExp(`\\ba(${accIds.join('|')})\\b(?!_)`, 'g') : /(?!)/g
    const iv = new RegExp(`\\bi${k}\\b`, 'g')
    const copy = (u: number, shift: boolean) =>
      inner.map(
        (l) =>
          '  ' +
          l.replace(acc, `a$1_${u}`).replace(iv, shift && u > 0 ? `(i${k} + ${u})` : `i${k}`),
      )
    this.lines.push(`${indent}let i${k} = 0`)
    this.lines.push(`${indent}for (; i${k} + ${UNROLL - 1} < ${bound}; i${k} += ${UNROLL}) {`)
    for (let u = 0; u < UNROLL; u++)
      this.lines.push(`${indent}  {`, ...copy(u, true), `${indent}  }`)
    this.lines.push(`${indent}}`)
    this.lines.push(
      `${indent}for (; i${k} < ${bound}; i${k}++) {`,
      ...copy(0, false).map((l) => l.slice(2)),
      `${indent}}`,
    )
  }

  /** The stride (as source) of the innermost axis of `group` inside a buffer with `axes`. */
  private stride(axes: readonly string[], group: readonly string[]): string {
    const last = group[group.length - 1]!
    const k = axes.indexOf(last)
    return this.sizeProduct(axes.slice(k + 1))
  }

  private prevOffset(bi: number, j: number, loops: Loop[]): string {
    const spec = this.buffers[bi]!
    for (let l = j; l >= 1; l--)
      if (loops[l - 1]!.axes.some((a) => spec.axes.includes(a))) return `o${this.layout(bi)}_${l}`
    return '0'
  }

  /** The offset of node n's buffer at loop level lv. */
  private offset(n: Node, lv: number, loops: Loop[]): string {
    return this.prevOffset(this.bufIndex.get(n.id)!, lv, loops)
  }

  private valueName(n: Node): string {
    const v = viewed(n)
    switch (v.op) {
      case 'const':
        return jsNumber(v.value!)
      case 'hyper':
        return `H[${this.layer.hypers.findIndex((h) => h.name === v.name)}]`
      case 'count':
        return `(${this.sizeProduct(v.over!.flatMap((a) => this.axes.leaves(a)))})`
      default:
        return `v${v.id}`
    }
  }

  private expr(n: Node, val: (n: Node) => string): string {
    const a = n.args.map(val)
    switch (n.op) {
      case 'broadcast':
      case 'regroup':
      case 'stop_gradient':
        return a[0]!
      case 'const':
      case 'hyper':
      case 'count':
        return val(n)
      case 'neg':
        return `-${a[0]}`
      case 'sqrt':
        return `Math.sqrt(${a[0]})`
      case 'rsqrt':
        return `1 / Math.sqrt(${a[0]})`
      case 'exp':
      case 'log':
      case 'abs':
      case 'tanh':
        return `Math.${n.op}(${a[0]})`
      case 'recip':
        return `1 / ${a[0]}`
      case 'sigmoid':
        return `1 / (1 + Math.exp(-${a[0]}))`
      case 'sign':
        return `(${a[0]} > 0 ? 1 : ${a[0]} < 0 ? -1 : ${a[0]} === 0 ? 0 : NaN)`
      case 'add':
        return `${a[0]} + ${a[1]}`
      case 'sub':
        return `${a[0]} - ${a[1]}`
      case 'mul':
        return `${a[0]} * ${a[1]}`
      case 'div':
        return `${a[0]} / ${a[1]}`
      case 'pow':
        return viewed(n.args[1]!).op === 'const' && viewed(n.args[1]!).value === 2
          ? `${a[0]} * ${a[0]}`
          : `${a[0]} ** ${a[1]}`
      case 'max':
        return `Math.max(${a[0]}, ${a[1]})`
      case 'min':
        return `Math.min(${a[0]}, ${a[1]})`
      case 'ge':
        return `(${a[0]} >= ${a[1]} ? 1 : 0)`
      case 'gt':
        return `(${a[0]} > ${a[1]} ? 1 : 0)`
      case 'le':
        return `(${a[0]} <= ${a[1]} ? 1 : 0)`
      case 'lt':
        return `(${a[0]} < ${a[1]} ? 1 : 0)`
      case 'eq':
        return `(${a[0]} === ${a[1]} ? 1 : 0)`
      case 'clamp':
        return `Math.min(Math.max(${a[0]}, ${a[1]}), ${a[2]})`
      default:
        throw new Error(`internal: cannot emit ${n.op} inline`)
    }
  }
}

export function emitLayer(plan: KernelPlan): EmittedLayer {
  const order = leafAxisOrder(plan.layer)
  const fwd = new StepEmitter(plan.forward, plan.layer, order).run()
  const bwd = new StepEmitter(plan.backward, plan.layer, order).run()
  return { axes: order, hypers: plan.layer.hypers.map((h) => h.name), forward: fwd, backward: bwd }
}
