// The named axes a layer knows: input axes, factorisations (`axis C = G * K`), sized axes
// (`axis G = groups`) and free axes (`axis H`). Gives every axis a rank for the canonical
// order (input signature order; a factor stands where its parent stands), and answers the
// questions the checker asks: is this list a regrouping of that one, may these broadcast.

import type { Expr, Span } from '../../grammar/ast.js'

export interface AxisInfo {
  name: string
  kind: 'input' | 'factor' | 'free'
  span: Span
  /** Sort key: input axes [i]; factors [...parentRank, j]; free axes [1e6 + i]. */
  rank: number[]
  parent?: string
  factors?: string[]
  /** `axis G = groups`: the size, an expression over hypers and numbers. */
  size?: Expr
}

function compareRank(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

export class AxisTable {
  readonly axes = new Map<string, AxisInfo>()

  has(name: string): boolean {
    return this.axes.has(name)
  }

  get(name: string): AxisInfo | undefined {
    return this.axes.get(name)
  }

  /** Sorts axis names into the canonical order. */
  sort(names: Iterable<string>): string[] {
    return [...new Set(names)].sort((a, b) =>
      compareRank(this.axes.get(a)!.rank, this.axes.get(b)!.rank),
    )
  }

  /** The innermost factors an axis stands for, in order (an unfactorised axis is its own leaf). */
  leaves(name: string): string[] {
    const f = this.axes.get(name)?.factors
    return f ? f.flatMap((x) => this.leaves(x)) : [name]
  }

  /** Whether `a` is `b`, a factor of `b` (at any depth), or `b` a factor of `a`. */
  related(a: string, b: string): boolean {
    return a === b || this.isAncestor(a, b) || this.isAncestor(b, a)
  }

  isAncestor(anc: string, name: string): boolean {
    let p = this.axes.get(name)?.parent
    while (p !== undefined) {
      if (p === anc) return true
      p = this.axes.get(p)?.parent
    }
    return false
  }

  /** `from as to` is legal when both lists stand for the same leaves in the same order. */
  isRegrouping(from: string[], to: string[]): boolean {
    const a = from.flatMap((x) => this.leaves(x))
    const b = to.flatMap((x) => this.leaves(x))
    return a.length === b.length && a.every((x, i) => x === b[i])
  }

  /**
   * Broadcasting two axis sets by name: the union, unless an axis meets one of its own factors
   * (then the caller reports that `as` is needed). Returns the offending pair instead.
   */
  union(a: string[], b: string[]): { axes: string[] } | { clash: [string, string] } {
    for (const x of a)
      for (const y of b) if (x !== y && this.related(x, y)) return { clash: [x, y] }
    return { axes: this.sort([...a, ...b]) }
  }
}
