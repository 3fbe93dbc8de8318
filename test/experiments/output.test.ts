// The command's plumbing: arguments, the table, the JSON, the chart and the progress lines.

import { Writable } from 'node:stream'
import { format, resolveConfig } from 'prettier'
import { describe, expect, it } from 'vitest'
import { curvesSpec, renderSvg } from '../../experiments/chart.js'
import { parseArgs, toJson } from '../../experiments/main.js'
import { ProgressBar } from '../../experiments/progress.js'
import { markdownTable, num, pct } from '../../experiments/table.js'

describe('experiments: output', () => {
  it('parses the command line', () => {
    expect(parseArgs(['renorm', '--steps', '50', '--seed=3'])).toMatchObject({
      experiment: 'renorm',
      steps: 50,
      seed: 3,
    })
    expect(parseArgs(['learning-rate'])).toMatchObject({
      experiment: 'learning-rate',
      steps: undefined,
    })
    expect(parseArgs([])).toMatch(/which experiment/)
    expect(parseArgs(['renorm', '--steps', '0'])).toMatch(/positive integer/)
    expect(parseArgs(['renorm', '--steps', 'x'])).toMatch(/positive integer/)
    expect(parseArgs(['renorm', '--frobnicate'])).toMatch(/unknown argument/)
  })

  it('formats tables and numbers', async () => {
    const t = markdownTable({
      columns: ['layer', 'acc.'],
      rows: [
        ['BatchNorm', pct(0.9312)],
        ['none', pct(NaN)],
      ],
    })
    expect(t.split('\n')).toEqual([
      '| layer     |  acc. |',
      '| --------- | ----: |',
      '| BatchNorm | 93.1% |',
      '| none      |     — |',
    ])
    // Prettier leaves it as it is, so the README can hold the printed table verbatim.
    expect(await format(t, { parser: 'markdown' })).toBe(`${t}\n`)
    expect(num(0)).toBe('0')
    expect(num(1234567)).toBe('1.23e+6')
    expect(num(0.5)).toBe('0.500')
  })

  it('writes JSON with rounded numbers, intact integers and non-finite values as strings', async () => {
    const text = await toJson({
      seed: 20150211,
      loss: [0.123456789, Infinity, NaN],
      nested: { x: 1 / 3 },
    })
    expect(text).toContain('"seed": 20150211')
    expect(text).toContain('"loss": [0.123457, "Infinity", "NaN"]')
    expect(JSON.parse(text).nested.x).toBe(0.333333)
    // Already in the layout `prettier --check` wants for experiments/results/*.json.
    const config = await resolveConfig('experiments/results/renorm.json')
    expect(await format(text, { ...config, parser: 'json' })).toBe(text)
  })

  it('renders an SVG chart with titles, axis labels and a legend, without a browser', async () => {
    const points = [1, 2, 3].flatMap((step) => [
      { run: 'BatchNorm', panel: 'p', step, value: step / 4 },
      { run: 'Batch Renorm', panel: 'p', step, value: step / 5 },
    ])
    const svg = await renderSvg(
      curvesSpec(points, {
        title: 'A title',
        panels: [{ panel: 'p', title: 'Panel', yTitle: 'accuracy' }],
        legendTitle: 'layer',
      }),
    )
    expect(svg.startsWith('<svg')).toBe(true)
    for (const text of [
      'A title',
      'Panel',
      'accuracy',
      'training step',
      'layer',
      'BatchNorm',
      'Batch Renorm',
    ])
      expect(svg).toContain(text)
  })

  it('prints plain progress lines when stderr is not a terminal', () => {
    let text = ''
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        text += chunk.toString()
        done()
      },
    }) as unknown as NodeJS.WriteStream
    const bar = new ProgressBar('demo', sink)
    bar.start(100)
    for (let i = 0; i < 100; i++) bar.tick('run A')
    bar.done()
    const lines = text.trim().split('\n')
    expect(lines.length).toBeGreaterThanOrEqual(10)
    expect(lines.length).toBeLessThanOrEqual(12)
    expect(text).not.toContain('\r')
    expect(lines.at(-1)).toMatch(/^demo: 100% run A/)
  })
})
