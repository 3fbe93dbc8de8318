// DOT → SVG with Graphviz compiled to WebAssembly (@hpcc-js/wasm-graphviz): no system binary.
// The module (about 2 MB) is loaded on the first call only.

import type { Graphviz } from '@hpcc-js/wasm-graphviz'

let loading: Promise<Graphviz> | undefined

/** Renders DOT text as a standalone SVG document. */
export async function dotToSvg(dot: string): Promise<string> {
  loading ??= import('@hpcc-js/wasm-graphviz').then((m) => m.Graphviz.load())
  const graphviz = await loading
  return graphviz.dot(dot, 'svg')
}
