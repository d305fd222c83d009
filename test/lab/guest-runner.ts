// The one node process of a guest run: imports the scenario files (all, or those named), runs their scenarios
// one after another with a reset between, and appends one JSON line per scenario to the results file.
import { appendFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { ScenarioFailure } from './guest/assert.js'
import { Lab } from './guest/lab.js'
import type { ScenarioResult } from './host/boot.js' // the line format the host reads back
import type { Scenario } from './scenario.js'

type Result = ScenarioResult & { seconds: number }

const distLab = dirname(fileURLToPath(import.meta.url)) // <project>/dist/test/lab
const project = join(distLab, '..', '..', '..')
const { values, positionals } = parseArgs({ allowPositionals: true, options: { out: { type: 'string' } } })
const out = values.out ?? '/dev/stdout'
const grep = process.env.LAB_GREP ? new RegExp(process.env.LAB_GREP) : null // from `npm run lab -- --grep`

function allScenarioFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name)
    if (e.isDirectory()) return allScenarioFiles(p)
    // tsc never deletes outputs: a compiled scenario whose source is gone is left over, not a test.
    const source = join(project, relative(join(project, 'dist'), p)).replace(/\.js$/, '.ts')
    return e.name.endsWith('.scenario.js') && existsSync(source) ? [p] : []
  }).sort()
}

// Progress on the serial console, so `npm run lab -- --console` shows where a run is.
function progress(line: string): void {
  const uptime = readFileSync('/proc/uptime', 'utf8').split(' ')[0] // the guest's clock, as stage2's lines
  try {
    appendFileSync('/dev/console', `[lab ${uptime}] ${line}\n`)
  } catch {
    process.stderr.write(`[lab] ${line}\n`)
  }
}

function record(r: Result): void {
  appendFileSync(out, JSON.stringify(r) + '\n')
  progress(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name} (${r.seconds.toFixed(1)} s)${r.ok ? '' : `: ${r.message}`}`)
}

function isScenario(s: unknown): s is Scenario {
  return typeof s === 'object' && s !== null && typeof (s as Scenario).name === 'string' && typeof (s as Scenario).run === 'function'
}

// Runs one scenario with its timeout; the outcome is a value, never a throw.
async function runOne(lab: Lab, file: string, s: Scenario): Promise<Result> {
  const started = Date.now()
  const timeoutMs = s.timeoutMs ?? 120_000
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ScenarioFailure(`timed out after ${timeoutMs / 1000} s`)), timeoutMs)
  })
  try {
    await Promise.race([s.run(lab), timeout])
    return { file, name: s.name, ok: true, message: 'passed', seconds: (Date.now() - started) / 1000 }
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err))
    const details = e instanceof ScenarioFailure ? e.details : e.stack
    return { file, name: s.name, ok: false, message: e.message, details, seconds: (Date.now() - started) / 1000 }
  } finally {
    clearTimeout(timer)
  }
}

const files = positionals.length > 0 ? positionals.map((p) => join(project, p)) : allScenarioFiles(distLab)
if (values.out) writeFileSync(out, '')
const lab = new Lab()
for (const path of files) {
  // Results name the source file a reader edits, not the compiled one.
  const file = relative(join(project, 'dist'), path).replace(/\.js$/, '.ts')
  let scenarios: unknown
  try {
    if (!existsSync(path)) throw new Error(`${path} does not exist`)
    scenarios = ((await import(pathToFileURL(path).href)) as { scenarios?: unknown }).scenarios
    if (!Array.isArray(scenarios) || !scenarios.every(isScenario)) {
      throw new Error('a scenario file must export `scenarios`: an array of { name: string, run(lab): Promise<void> }')
    }
  } catch (err) {
    record({ file, name: 'loads its scenarios', ok: false, message: (err as Error).message, details: (err as Error).stack, seconds: 0 })
    continue
  }
  for (const s of (scenarios as Scenario[]).filter((x) => !grep || grep.test(x.name))) {
    progress(`${file}: ${s.name}`)
    record(await runOne(lab, file, s))
    try {
      await lab.reset()
      progress('reset done')
    } catch (err) {
      // Later scenarios may then see leftovers: say so in the results rather than stop the run.
      record({ file, name: `the lab resets after "${s.name}"`, ok: false, message: (err as Error).message, seconds: 0 })
    }
  }
}
await lab.close()
