// The benchmark suite: one command runs the parts, each measured against its reference in the same run, and writes
// bench/report.md, bench/results.json and the charts (bench/charts/*.svg, drawn by Vega-Lite).
//
//   npm run bench                                   every part, full sizes (about an hour)
//   npm run bench -- --quick                        small sizes, one trial each (a few minutes)
//   npm run bench -- --only failover,healthchecks   some parts
//   node dist/bench/suite.js [--quick] [--only NAMES] [--out DIR]   (DIR: bench/, or bench/quick/ with --quick)
//
// Each part runs one of the project's benchmark programs as a child process (their own options, README and JSON
// output stay theirs) and turns its JSON into figures: a value, its reference measured in the same run, the ratio,
// and the target where the issue sets one. A progress line on stderr says what runs and how long is left.
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { PARTS, type Figure, type PartOutput } from './suite-parts.js'
import { renderCharts } from './suite-charts.js'
import { reportMarkdown, type SuiteResults } from './suite-report.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
  },
})
const names = PARTS.map((p) => p.name)
const only = args.only?.split(',').map((s) => s.trim()).filter(Boolean)
for (const n of only ?? []) if (!names.includes(n)) fail(`--only: no part ${JSON.stringify(n)} (parts: ${names.join(', ')})`)
const parts = PARTS.filter((p) => !only || only.includes(p.name))
const mode = args.quick ? 'quick' : 'full'

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`)
  process.exit(2)
}

const started = Date.now()
const fmt = (s: number) => (s >= 90 ? `${Math.round(s / 60)} min` : `${Math.round(s)} s`)
function progress(i: number, what: string, partStarted: number) {
  const spent = (Date.now() - partStarted) / 1000
  const thisLeft = Math.max(0, parts[i]!.estimateS[mode] - spent)
  const left = thisLeft + parts.slice(i + 1).reduce((s, p) => s + p.estimateS[mode], 0)
  process.stderr.write(`bench [${i + 1}/${parts.length}] ${parts[i]!.name}: ${what}; ${fmt(spent)} in, about ${fmt(left)} left (${fmt((Date.now() - started) / 1000)} so far)\n`)
}

/** Runs `argv` from the project's root; resolves with its stdout (its stderr passes through, prefixed). */
function run(argv: string[], onLine: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d))
    let pending = ''
    child.stderr.on('data', (d: Buffer) => {
      const lines = (pending + d.toString()).split('\n')
      pending = lines.pop()!
      for (const l of lines) onLine(l)
    })
    child.on('error', reject)
    child.on('close', (code, signal) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')}: exit ${code ?? signal}\n${out.slice(-2000)}`))))
  })
}

const git = (...a: string[]) => {
  try {
    return execFileSync('git', a, { cwd: ROOT, encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

const results: SuiteResults = {
  started: new Date(started).toISOString(),
  mode,
  command: ['npm run bench', ...(args.quick || only ? ['--'] : []), ...(args.quick ? ['--quick'] : []), ...(only ? [`--only ${only.join(',')}`] : [])].join(' '),
  commit: `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain') ? ' (with uncommitted changes)' : ''}`,
  machine: { cpu: cpus()[0]?.model ?? 'unknown', cpus: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version },
  parts: [],
}

// The full report is the project's (committed); a quick one goes beside it, into bench/quick/ (CI keeps it).
const outDir = args.out ?? join(ROOT, 'bench', mode === 'quick' ? 'quick' : '')
mkdirSync(join(outDir, 'charts'), { recursive: true })
let failed = 0
for (const [i, part] of parts.entries()) {
  const t0 = Date.now()
  progress(i, 'starting', t0)
  const ticker = setInterval(() => progress(i, 'running', t0), 30_000)
  const argv = part.argv(mode)
  let output: PartOutput
  if (part.outFile) rmSync(part.outFile, { force: true }) // never an earlier run's figures
  try {
    let last = 0
    const stdout = await run(argv, (line) => {
      // The part's own progress, one line in ten seconds at most: enough to see it move.
      if (Date.now() - last > 10_000 && line.trim()) {
        last = Date.now()
        process.stderr.write(`  ${part.name}: ${line.slice(0, 200)}\n`)
      }
    })
    output = part.parse(part.outFile ? readFileSync(part.outFile, 'utf8') : stdout)
  } catch (err) {
    failed++
    output = { figures: [], error: (err as Error).message }
    process.stderr.write(`bench: ${part.name} failed: ${(err as Error).message.split('\n')[0]}\n`)
  } finally {
    clearInterval(ticker)
  }
  const seconds = Math.round((Date.now() - t0) / 1000)
  results.parts.push({ name: part.name, title: part.title, where: part.where, command: part.command(mode), seconds, ...output })
  progress(i, `done in ${fmt(seconds)}${output.error ? ' (FAILED)' : ''}`, t0)
}
results.finished = new Date().toISOString()
const charts = await renderCharts(results, join(outDir, 'charts'))
writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`)
writeFileSync(join(outDir, 'report.md'), reportMarkdown(results, charts))
const missed = results.parts.flatMap((p) => p.figures).filter((f: Figure) => f.target && !f.target.met)
process.stderr.write(`bench: wrote ${join(outDir, 'report.md')}, results.json and ${charts.length} charts in ${fmt((Date.now() - started) / 1000)}; ${failed} part(s) failed, ${missed.length} target(s) missed\n`)
process.exit(failed ? 1 : 0)
