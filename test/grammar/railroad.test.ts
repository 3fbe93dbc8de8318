import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { railroadHtml, railroadPath } from '../../scripts/railroad.js'

describe('spec/railroad.html', () => {
  const html = railroadHtml()

  it('is what `npm run railroad` generates from the current grammar', () => {
    expect(readFileSync(railroadPath, 'utf8')).toBe(html)
  })

  it('is self-contained: no script, style or link fetched from elsewhere', () => {
    expect(html).not.toMatch(/<script[^>]*\ssrc=/i)
    expect(html).not.toMatch(/<link[^>]*\shref=/i)
    expect(html).not.toMatch(/unpkg|cdn/i)
    expect(html).toMatch(/window\.serializedGrammar = /)
    expect(html).toMatch(/drawDiagramsFromSerializedGrammar/)
  })

  it('draws every rule of the parser, with terminals as they are written', () => {
    for (const rule of ['file', 'layer', 'item', 'block', 'spec', 'stmt', 'expr', 'power', 'atom'])
      expect(html).toContain(`"name": "${rule}"`)
    expect(html).toContain('"label": "->"')
    expect(html).toContain('"label": "name"')
  })
})
