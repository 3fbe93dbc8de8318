// Known issues: bugs the fuzzers found that are reported (spec/reliability.md) but not fixed
// here, because the fix is structural or belongs to code others are changing. A finding that
// matches one is counted under its name instead of failing the run; each has a regression test
// in test/hardening/regressions.test.ts marked `fails`, which starts passing when it is fixed.
//
// None is open now: derived-factor-axes (the derived backward over factor axes) and
// f32-saved-output (js target, f32) are fixed, and a finding that looks like either is a bug.

import type { Finding } from './differential.js'

export interface KnownIssue {
  id: string
  summary: string
}

export const KNOWN: Record<string, KnownIssue> = {}

/** The known issue a crash-fuzzing bug message belongs to, if any. */
export function knownStageBug(_stage: string, _message: string): string | undefined {
  return undefined
}

/** What the differential run knows about the layer, for matching findings. */
export interface FindingContext {
  /** The first error of the derived backward layer, when it does not check. */
  derivedError?: string
}

/** The known issue a differential finding belongs to, if any. */
export function knownFinding(_f: Finding, _ctx: FindingContext): string | undefined {
  return undefined
}
