import { describe, expect, it } from 'vitest'
import { frontend } from '../../compiler/frontend.js'
import { parse } from '../../grammar/index.js'
import { exampleFiles } from '../utils/ast.js'

const examples = exampleFiles()

describe('examples', () => {
  it('are the seven layers of the design, and BatchNorm channels-last', () => {
    expect(examples.map((e) => e.file)).toEqual([
      'examples/batchnorm1d.norm',
      'examples/batchnorm2d.norm',
      'examples/batchnorm2d_nhwc.norm',
      'examples/batchrenorm.norm',
      'examples/groupnorm.norm',
      'examples/instancenorm.norm',
      'examples/layernorm.norm',
      'examples/rmsnorm.norm',
    ])
  })

  for (const { file, text } of examples) {
    it(`${file} parses, lints clean and cites its paper`, () => {
      const p = parse(text, file)
      expect(p.diagnostics).toEqual([])
      expect(p.ast!.decls.map((d) => d.kind)).toEqual(['layer'])
      expect(p.ast!.decls[0]!.comments.leading.join(' ')).toMatch(/\(.*\d{4}/)
      const r = frontend([{ file, text }])
      expect(r.diagnostics).toEqual([])
      expect(r.layers).toHaveLength(1)
    })
  }

  it('lint clean all together', () => {
    const r = frontend(examples)
    expect(r.diagnostics).toEqual([])
    expect(r.layers.map((l) => l.decl.name).sort()).toEqual([
      'BatchNorm1d',
      'BatchNorm2d',
      'BatchNorm2dNHWC',
      'BatchRenorm',
      'GroupNorm',
      'InstanceNorm2d',
      'LayerNorm',
      'RMSNorm',
    ])
  })
})
