// normc graph: the DOT text (clusters per kernel, stop_gradient edges, state updates, saved
// values) and the SVG rendered by Graphviz compiled to WebAssembly.

import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { frontend } from '../../compiler/frontend.js'
import { layerDot } from '../../compiler/graph/index.js'
import { dotToSvg } from '../../compiler/graph/svg.js'
import { compileLayerGraphs } from '../../compiler/pipeline.js'
import { planLayer } from '../../compiler/schedule/index.js'
import { exampleFiles } from '../utils/ast.js'
import { normc, repoRoot, scratch } from './helpers.js'

function dotOf(file: string, mode: 'train' | 'eval', backward: boolean, layer?: string): string {
  const fe = frontend([{ file, text: readFileSync(join(repoRoot, file), 'utf8') }])
  const l = layer ? fe.layers.find((x) => x.decl.name === layer)! : fe.layers[0]!
  const g = compileLayerGraphs(l, mode)
  return layerDot(g, planLayer(g), { backward })
}

/** The DOT statements (node or edge lines) whose label is `name` in bold. */
const nodeLine = (dot: string, hint: string) =>
  dot.split('\n').find((l) => l.includes(`<B>${hint}</B>`) && /^\s+[fb]\d+ \[/.test(l))

const idOf = (line: string) => /^\s+(\w+) \[/.exec(line)![1]!

describe('normc graph: the DOT text', () => {
  const br = dotOf('examples/batchrenorm.norm', 'train', true)

  it('is one digraph with the forward and backward kernels as clusters', () => {
    expect(br.startsWith('digraph "BatchRenorm train" {')).toBe(true)
    expect(br.trimEnd().endsWith('}')).toBe(true)
    const clusters = [...br.matchAll(/subgraph cluster_(\w+) \{/g)].map((m) => m[1])
    expect(clusters.some((c) => c!.startsWith('f'))).toBe(true)
    expect(clusters.some((c) => c!.startsWith('b'))).toBe(true)
    expect(br).toContain('forward kernel 1</B>')
    expect(br).toContain('backward kernel 1</B>')
    expect(br).toMatch(/one pass over \[N, C\]/)
    expect(br).toMatch(/per \[C\]/)
  })

  it('draws stop_gradient on r and d as octagons entered by red barred dashed edges', () => {
    for (const hint of ['r', 'd']) {
      const line = nodeLine(br, hint)
      expect(line, hint).toBeDefined()
      expect(line).toContain('stop_gradient')
      expect(line).toContain('shape=octagon')
      const id = idOf(line!)
      const into = br.split('\n').filter((l) => l.includes(`-> ${id} [`))
      expect(into).toHaveLength(1)
      expect(into[0]).toContain('arrowhead=tee')
      expect(into[0]).toContain('style=dashed')
      expect(into[0]).toContain('label="stop_gradient"')
    }
  })

  it('draws each state update as an orange box fed by a bold edge, looping back to the state', () => {
    for (const s of ['mu', 'sigma']) {
      expect(br).toMatch(new RegExp(`uf_${s} \\[.*<B>${s} &lt;-</B>`))
      expect(br).toMatch(new RegExp(`-> uf_${s} \\[.*penwidth=2.5`))
      expect(br).toMatch(new RegExp(`uf_${s} -> t\\d+ \\[.*label="next step"`))
    }
  })

  it('marks the values saved for the backward, and the backward reads them by dotted edges', () => {
    expect(br).toContain('saved for the backward')
    expect(br).toMatch(/f\d+ -> b\d+ \[style=dotted/)
    for (const out of ['y', 'dx', 'dgamma', 'dbeta']) expect(br).toContain(`<B>${out}</B>`)
    expect(br).toContain('<B>dy</B>')
  })

  it('without --backward draws the forward step only', () => {
    const fwd = dotOf('examples/batchrenorm.norm', 'train', false)
    expect(fwd).not.toMatch(/\bb\d+ \[/)
    expect(fwd).not.toContain('<B>dy</B>')
    expect(fwd).toContain('uf_mu')
    const ev = dotOf('examples/batchrenorm.norm', 'eval', false)
    expect(ev.startsWith('digraph "BatchRenorm eval" {')).toBe(true)
    expect(ev).not.toContain('stop_gradient')
    expect(ev).not.toContain('uf_')
  })

  it('every example, every mode, renders to SVG', { timeout: 60_000 }, async () => {
    for (const { file, text } of exampleFiles()) {
      const fe = frontend([{ file, text }])
      for (const layer of fe.layers) {
        for (const mode of layer.hasForward ? (['train'] as const) : (['train', 'eval'] as const)) {
          const g = compileLayerGraphs(layer, mode)
          const svg = await dotToSvg(layerDot(g, planLayer(g), { backward: true }))
          expect(svg, `${file} ${mode}`).toMatch(/<svg[\s\S]*<\/svg>\s*$/)
          expect(svg).toContain('class="cluster"')
        }
      }
    }
  })
})

describe('normc graph: the command', { timeout: 60_000 }, () => {
  it('prints DOT on stdout by default', () => {
    const r = normc(['graph', 'examples/batchrenorm.norm', '--backward'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(dotOf('examples/batchrenorm.norm', 'train', true))
  })

  it('writes SVG with --format svg -o FILE, and infers svg from the extension', () => {
    const dir = scratch('graph')
    const a = join(dir, 'a.svg')
    const r = normc([
      'graph',
      'examples/batchrenorm.norm',
      '--backward',
      '--format',
      'svg',
      '-o',
      a,
    ])
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' })
    const svg = readFileSync(a, 'utf8')
    expect(svg).toMatch(/^<\?xml[\s\S]*<svg[\s\S]*<\/svg>\s*$/)
    expect(svg).toContain('stop_gradient')
    expect(svg).toContain('forward kernel 1')
    expect(svg).toContain('backward kernel 1')
    const b = join(dir, 'b.svg')
    expect(normc(['graph', 'examples/layernorm.norm', '-o', b]).code).toBe(0)
    expect(readFileSync(b, 'utf8')).toContain('<svg')
    const c = join(dir, 'c.dot')
    expect(normc(['graph', 'examples/layernorm.norm', '-o', c]).code).toBe(0)
    expect(readFileSync(c, 'utf8')).toMatch(/^digraph /)
  })

  it('picks a layer and a mode', () => {
    const r = normc([
      'graph',
      'examples/batchnorm2d.norm',
      '--layer',
      'BatchNorm2d',
      '--mode',
      'eval',
    ])
    expect(r.code).toBe(0)
    expect(r.stdout.startsWith('digraph "BatchNorm2d eval" {')).toBe(true)
  })

  it('refuses bad flags with exit 2, and a file with errors or no such layer with exit 1', () => {
    expect(normc(['graph', 'examples/layernorm.norm', '--format', 'png'])).toMatchObject({
      code: 2,
      stderr: "normc graph: --format must be dot or svg, got 'png'\n",
    })
    expect(normc(['graph', 'examples/layernorm.norm', '--mode', 'x']).code).toBe(2)
    expect(normc(['graph']).code).toBe(2)
    const r = normc(['graph', 'examples/layernorm.norm', '--layer', 'Nope'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^normc graph: no layer 'Nope'/)
    const dir = scratch('graph-bad')
    const bad = join(dir, 'bad.norm')
    writeFileSync(bad, 'layer L(x: [N]) -> y {\n  forward {\n    y = zz\n  }\n}\n')
    const e = normc(['graph', bad])
    expect(e.code).toBe(1)
    expect(e.stderr).toContain(`${bad}:3:9: error:`)
  })
})

describe('the README graph', { timeout: 60_000 }, () => {
  const svgPath = join(repoRoot, 'docs', 'batchrenorm-backward.svg')

  it("is Batch Renorm's backward drawn by normc graph, with stop_gradient on r and d", () => {
    // NORMC_UPDATE_GRAPH=1 draws it again (after a change to the compiler or the drawing).
    if (process.env.NORMC_UPDATE_GRAPH) {
      const r = normc(['graph', 'examples/batchrenorm.norm', '--backward', '-o', svgPath])
      expect(r.code, r.stderr).toBe(0)
    }
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
    expect(readme).toContain('](docs/batchrenorm-backward.svg)')
    expect(readme).toContain(
      'normc graph examples/batchrenorm.norm --backward -o docs/batchrenorm-backward.svg',
    )
    const svg = readFileSync(svgPath, 'utf8')
    expect(svg).toContain('<title>BatchRenorm train</title>')
    for (const hint of ['r', 'd'])
      expect(svg).toMatch(
        new RegExp(`fill="#b91c1c">${hint}</text>\\s*<text[^>]*>stop_gradient</text>`),
      )
    expect(svg).toContain('backward kernel 1')
  })
})
