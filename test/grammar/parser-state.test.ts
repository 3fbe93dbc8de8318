// A parse does not depend on what was parsed before it in the process: chevrotain's error
// recovery caches, per repetition, the token it resyncs to, and an entry computed while
// recovering from one file's syntax error made later, valid files report errors (the crash
// campaign found it: `normc lint bad.norm good.norm`, the playground after a typo).
// Run in a fresh worker (vitest isolates files), so the erroneous parse below is the first.

import { describe, expect, it } from 'vitest'
import { parse } from '../../grammar/index.js'

const bad =
  'layer L(__proto__: [M, x]H Function: [x, T], B: [M, L]) -> out {\n  hyper gamma = .5\n  axis x = D * ax_1 * ,\n  axis D = 2\n  train {\n    out = mean(__proto__ as [M, D, ax_1, H], [M, D, ax_1])\n  }\n}\n'
const good =
  'layer L_grad(\n  x: [N, W],\n  require: [W, D],\n  dy: [N, W]\n) -> dx, drequire {\n  forward {\n    dx = dy\n    drequire = broadcast(0, [W, D])\n  }\n}\n'

describe('the parser keeps no state between files', () => {
  it('a valid file after one with syntax errors parses clean', () => {
    const first = parse(bad).diagnostics.map((d) => d.message)
    expect(first.length).toBeGreaterThan(0)
    expect(parse(good).diagnostics.map((d) => d.message)).toEqual([])
    // And the erroneous file gets the same diagnostics every time.
    expect(parse(bad).diagnostics.map((d) => d.message)).toEqual(first)
  })
})
