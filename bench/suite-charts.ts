// The suite's charts: Vega-Lite specs compiled and rendered to SVG by Vega in this process (no browser, no canvas).
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import type { SuiteResults } from './suite-report.js'

/** A chart written: its file (in the charts folder) and what it shows. */
export interface Chart { part: string; file: string; title: string }

type Rows = Array<Record<string, string | number>>

const SPECS: Record<string, (rows: Rows) => { title: string; spec: TopLevelSpec }> = {
  program: (rows) => ({
    title: 'IPVS programming time against table size (log-log): lvs-director against one raw ipvsadm -R',
    spec: {
      width: 480, height: 280, data: { values: rows }, mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'rules', type: 'quantitative', scale: { type: 'log' }, title: 'rules (services + real servers)' },
        y: { field: 'seconds', type: 'quantitative', scale: { type: 'log' }, title: 'seconds (emulated guest)' },
        color: { field: 'method', type: 'nominal', title: null },
      },
    },
  }),
  gaps: (rows) => ({
    title: 'Failover gap of each trial (ms), kill -9 of the active',
    spec: {
      width: 480, height: { step: 40 }, data: { values: rows }, mark: { type: 'boxplot', extent: 'min-max' },
      encoding: {
        x: { field: 'gapMs', type: 'quantitative', scale: { type: 'log' }, title: 'gap (ms, log): min, quartiles, median, max' },
        y: { field: 'pair', type: 'nominal', title: null, axis: { labelLimit: 360 } },
      },
    },
  }),
  http: (rows) => ({
    title: 'HTTP requests per second from the client namespace (wrk), by path to the servers',
    spec: {
      width: 420, height: { step: 22 }, data: { values: rows }, mark: 'bar',
      encoding: {
        y: { field: 'config', type: 'nominal', sort: null, title: null, axis: { labelLimit: 300 } },
        x: { field: 'rps', type: 'quantitative', title: 'requests/s (emulated guest)' },
      },
    },
  }),
  probesPerCore: (rows) => ({
    title: 'Health-check probes per CPU core',
    spec: {
      width: 320, height: 200, data: { values: rows }, mark: 'bar',
      encoding: {
        x: { field: 'realServers', type: 'nominal', title: 'real servers' },
        xOffset: { field: 'who' },
        y: { field: 'probesPerCore', type: 'quantitative', title: 'probes/s per core' },
        color: { field: 'who', type: 'nominal', title: null },
      },
    },
  }),
}

/** One bar per figure with a reference: value / reference, against 1. */
function ratios(results: SuiteResults): Rows {
  return results.parts.flatMap((p) => p.figures.filter((f) => f.ratio !== undefined).map((f) => ({ figure: `${p.name}: ${f.name}`, ratio: f.ratio!, better: f.better ?? 'lower' })))
}

async function svg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

/** Renders every chart the results have data for into `dir`; returns what it wrote. */
export async function renderCharts(results: SuiteResults, dir: string): Promise<Chart[]> {
  const out: Chart[] = []
  for (const p of results.parts) {
    for (const [name, rows] of Object.entries(p.series ?? {})) {
      const make = SPECS[name]
      if (!make || rows.length === 0) continue
      const { title, spec } = make(rows)
      const file = `${p.name}-${name}.svg`
      writeFileSync(join(dir, file), await svg({ ...spec, title }))
      out.push({ part: p.name, file, title })
    }
  }
  const r = ratios(results)
  if (r.length) {
    const title = 'Every figure against its reference in the same run (ratio; 1 = level)'
    const spec: TopLevelSpec = {
      title, width: 420, height: { step: 16 }, data: { values: r },
      layer: [
        {
          mark: 'bar',
          encoding: {
            y: { field: 'figure', type: 'nominal', sort: null, title: null, axis: { labelLimit: 420 } },
            x: { field: 'ratio', type: 'quantitative', scale: { type: 'log' }, title: 'value / reference (log), bars from 1' },
            x2: { datum: 1 },
            color: { field: 'better', type: 'nominal', title: 'better when', legend: { orient: 'bottom' } },
          },
        },
        { mark: { type: 'rule', strokeDash: [4, 3] }, encoding: { x: { datum: 1 } } },
      ],
    }
    writeFileSync(join(dir, 'ratios.svg'), await svg(spec))
    out.unshift({ part: '', file: 'ratios.svg', title })
  }
  return out
}
