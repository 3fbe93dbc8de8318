// Known issues: bugs the fuzzers found that are reported (spec/reliability.md) but not fixed
// here, because the fix is structural or belongs to code others are changing. A finding that
// matches one is counted under its name instead of failing the run; each has a regression test
// in test/hardening/regressions.test.ts marked `fails`, which starts passing when it is fixed.

import type { Finding } from './differential.js'

export interface KnownIssue {
  id: string
  summary: string
}

export const KNOWN: Record<string, KnownIssue> = {
  'derived-factor-axes': {
    id: 'derived-factor-axes',
    summary:
      '`normc grad` prints a layer that does not check when a param, state or output of the layer uses a factor axis (axis C = G * K): it becomes an input axis of the derived layer, which then declares the factorisation again. (The same for a free axis, axis H, is fixed.)',
  },
}

/** The known issue a crash-fuzzing bug message belongs to, if any. */
export function knownStageBug(stage: string, message: string): string | undefined {
  if (
    stage === 'backward-program' &&
    /duplicate declaration of axis|is already an axis of the inputs/.test(message)
  )
    return 'derived-factor-axes'
  return undefined
}

/** What the differential run knows about the layer, for matching findings. */
export interface FindingContext {
  /** The first error of the derived backward layer, when it does not check. */
  derivedError?: string
}

/** The known issue a differential finding belongs to, if any. */
export function knownFinding(f: Finding, ctx: FindingContext): string | undefined {
  if (
    f.check === 'backward-program' &&
    f.tensor === 'does not check' &&
    ctx.derivedError &&
    /duplicate declaration of axis|is already an axis of the inputs/.test(ctx.derivedError)
  )
    return 'derived-factor-axes'
  return undefined
}
