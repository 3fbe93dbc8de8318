// Charts: curves over training steps, drawn with Vega-Lite and rendered to SVG by Vega in
// Node (a headless View with renderer 'none'; no browser, no canvas).

import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import type { Point } from './harness.js'

export interface Panel {
  /** The `panel` field of the points it shows. */
  panel: string
  /** The panel's title. */
  title: string
  yTitle: string
  /** A logarithmic y axis (for losses and norms spanning decades). */
  log?: boolean
  /** A fixed y domain, e.g. [0, 1] for accuracy. */
  yDomain?: [number, number]
  /** Whether a linear y axis includes 0 (default false: fitted to the data). */
  zero?: boolean
}

export interface ChartOptions {
  title: string
  subtitle?: string
  panels: Panel[]
  /** Panels per row (default: all in one row). */
  columns?: number
  xTitle?: string
  /** The legend's title (the `run` field). */
  legendTitle: string
  /** The order of the runs in the legend. */
  runs?: string[]
  width?: number
  height?: number
}

/** The Vega-Lite spec of a grid of line charts, one per panel, sharing the run colours. */
export function curvesSpec(points: Point[], o: ChartOptions): TopLevelSpec {
  const values = points.filter((p) => Number.isFinite(p.value))
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: o.subtitle ? { text: o.title, subtitle: o.subtitle } : o.title,
    data: { values },
    columns: o.columns ?? o.panels.length,
    config: {
      font: 'Helvetica, Arial, sans-serif',
      view: { stroke: '#ccc' },
      legend: { labelLimit: 0, orient: 'bottom', direction: 'vertical', symbolStrokeWidth: 2 },
    },
    concat: o.panels.map((p) => ({
      title: p.title,
      width: o.width ?? 260,
      height: o.height ?? 180,
      transform: [{ filter: { field: 'panel', equal: p.panel } }],
      mark: { type: 'line', interpolate: 'linear', point: false, strokeWidth: 1.6 },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: o.xTitle ?? 'training step' },
        y: {
          field: 'value',
          type: 'quantitative',
          title: p.yTitle,
          scale: {
            ...(p.log ? { type: 'log' } : { zero: p.zero ?? false }),
            ...(p.yDomain ? { domain: p.yDomain } : {}),
          },
        },
        // Colour and dash both tell the runs apart, so that curves lying on top of each other
        // (the point of some panels) stay visible.
        color: {
          field: 'run',
          type: 'nominal',
          title: o.legendTitle,
          ...(o.runs ? { sort: o.runs, scale: { domain: o.runs } } : {}),
        },
        strokeDash: {
          field: 'run',
          type: 'nominal',
          title: o.legendTitle,
          ...(o.runs ? { sort: o.runs, scale: { domain: o.runs } } : {}),
        },
      },
    })),
  } as TopLevelSpec
}

/** Renders a Vega-Lite spec to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}
