// IPVS programming benchmark, run in the lab guest inside director namespace dir-a (bench/ipvs-program.sh):
// a full table of N services x 4 DR real servers through the wrapper against one raw `ipvsadm -R` of the same
// rules, alternating, in one node process; then one incremental change on the 50,000-rule table against one
// raw `ipvsadm -a`, with one `ipvsadm -Sn` of that table for contrast. Prints a markdown table and a JSON line.
// Each full-programming run gets a fresh namespace (see freshNamespace) and runs from a node process inside it
// (runInNamespace); bench/README.md has the method and figures.
//
//   npm run -s bench:ipvs                       (host: boots the lab and runs this)
//   npm run -s lab -- --script bench/ipvs-incremental.sh   (the one-change part alone: --sizes 10000 --only incremental)
//   node dist/bench/ipvs-program.js [--sizes 1000,10000] [--repeats 3] [--changes 5] [--reuse-namespace] [--only incremental]
//                                   [--change-services N] [--skip-contrast]   (guest, dir-a; the change on N services' table, no -Sn/apply contrast)
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { cpus, release } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { stringify } from 'yaml'
import { restoreLine } from '../src/ipvs/commands.js'
import { parseTable, serviceKey, type Service, type Table } from '../src/ipvs/model.js'
import { loadOwned } from '../src/ipvs/owned.js'
import { parseTableText } from '../src/table-file.js'
import { cpuAround, median, medianPhases, mustRun, now, runRaw, settle } from './ipvs-measure.js'
import { formatReport, type Report, type SizeResult } from './ipvs-report.js'
import { BENCH_VIP, benchPort, benchRules, DIRECTOR_IP, benchTableInput, EXTRA_SERVER, rawExtraArgs, rawRestoreText } from './ipvs-rules.js'
import { assertClean, BenchDirector, type Phases } from './ipvs-wrapper.js'

const IPVSADM = 'ipvsadm'
const log = (line: string) => process.stderr.write(`[bench ${(process.uptime()).toFixed(1)}s] ${line}\n`)
const sec = (ms: number) => ms / 1000

/** raw, wrapper, wrapper, raw, raw, wrapper, ...: each method as often first as second. */
function alternating(repeats: number): Array<'raw' | 'wrapper'> {
  const order: Array<'raw' | 'wrapper'> = []
  for (let i = 0; i < repeats; i++) order.push(...(i % 2 ? (['wrapper', 'raw'] as const) : (['raw', 'wrapper'] as const)))
  return order
}

/** ipvsadm `args` in namespace `ns`, through ip netns exec (untimed steps). */
const ipvsadmIn = (ns: string, args: string[]): [string, string[]] => ['ip', ['netns', 'exec', ns, IPVSADM, ...args]]

/**
 * A new network namespace whose IPVS table has never held anything, with 192.0.2.0/24 connected (on a dummy
 * link) so DR real servers there are accepted. Why not `ipvsadm -C` and reuse: the kernel keeps deleted real
 * servers in a per-namespace "dest trash" for 2-3 minutes and every later real-server add walks that list, so a
 * run right after clearing 40,000 real servers measures the trash walk (3-4x slower), not the programming.
 */
async function freshNamespace(name: string): Promise<string> {
  await mustRun('ip', ['netns', 'add', name])
  await mustRun('ip', ['-n', name, 'link', 'add', 'bench0', 'type', 'dummy'])
  await mustRun('ip', ['-n', name, 'addr', 'add', `${DIRECTOR_IP}/24`, 'dev', 'bench0'])
  await mustRun('ip', ['-n', name, 'link', 'set', 'bench0', 'up'])
  return name
}

/** The kernel table of `ns` as sorted -Sn lines (untimed check that both methods loaded the same rules). */
async function kernelLines(ns: string): Promise<string[]> {
  return (await mustRun(...ipvsadmIn(ns, ['-Sn']))).stdout.split('\n').filter(Boolean).sort()
}

/** What one programming run, in its own namespace, reports (stdout of `--run`). */
interface RunReport {
  ms: number
  phases?: Phases
  /** The wrapper's -R lines, as a set, equal the hand-written ones. */
  sameLines?: boolean
  /** CPU time of the run's ipvsadm process (see childrenCpuMs). */
  processCpuMs: number
  /** CPU time of the node process itself over the timed run (all its threads). */
  selfCpuMs: number
}

let runCount = 0

/**
 * One programming run of `n` services from a node process inside namespace `ns` (`ip netns exec`, untimed start):
 * the wrapper reads that namespace's table over netlink and runs ipvsadm directly, as a director there does; the
 * raw run spawns its ipvsadm -R from the same place. Only the run is timed, by the child.
 */
async function runInNamespace(ns: string, method: 'raw' | 'wrapper', n: number, stateDir: string): Promise<RunReport> {
  const out = await mustRun('ip', ['netns', 'exec', ns, process.execPath, process.argv[1]!, '--run', method, '--sizes', String(n), '--state', join(stateDir, 'owned.json')])
  return JSON.parse(out.stdout.trim().split('\n').at(-1)!) as RunReport
}

/** The `--run` child: one run in this process's namespace, its report as the last line of stdout. */
async function runOne(method: 'raw' | 'wrapper', n: number, statePath: string): Promise<RunReport> {
  if (method === 'raw') {
    const text = rawRestoreText(n)
    await settle()
    const { value: run, processCpuMs, selfCpuMs } = await cpuAround(() => runRaw(IPVSADM, ['-R'], text))
    if (run.code !== 0 || run.stderr.trim()) throw new Error(`raw ipvsadm -R exited ${run.code}: ${run.stderr.slice(0, 500)}`)
    return { ms: run.ms, processCpuMs, selfCpuMs }
  }
  const table = parseTable(benchTableInput(n))
  const director = new BenchDirector(statePath)
  await director.warmUp(table)
  await settle()
  const { value: { phases, result }, processCpuMs, selfCpuMs } = await cpuAround(() => director.program(table))
  assertClean(result, benchRules(n), `wrapper, ${n} services`)
  const sameLines = result.applied.map(restoreLine).sort().join('\n') === rawRestoreText(n).trim().split('\n').sort().join('\n')
  return { ms: phases.total, phases, sameLines, processCpuMs, selfCpuMs }
}

async function programSize(n: number, repeats: number, stateDir: string, reuse: boolean): Promise<{ size: SizeResult; table: Table }> {
  const rawText = rawRestoreText(n)
  const tv = now()
  const table = parseTable(benchTableInput(n))
  const validateMs = now() - tv
  // What `lvs-director apply FILE` does before that: parse the YAML file (with line positions for errors).
  const yamlText = stringify(benchTableInput(n))
  const ty = now()
  parseTableText(yamlText, 'bench.yaml')
  const yamlMs = now() - ty
  log(`${n} services: parseTable ${sec(validateMs).toFixed(2)} s, YAML file + parseTable ${sec(yamlMs).toFixed(2)} s`)
  const rules = benchRules(n)
  const raw: number[] = []
  const wrapper: number[] = []
  const cpu = { raw: [] as number[], wrapper: [] as number[] }
  const self = { raw: [] as number[], wrapper: [] as number[] }
  const phases: Phases[] = []
  let rawRules: string[] | undefined
  let checked = false
  let sameLines = true
  for (const method of alternating(repeats)) {
    let run: RunReport
    if (reuse) {
      // dir-a cleared with -C, the runs from this process (see --reuse-namespace).
      await mustRun(IPVSADM, ['-C'])
      run = await runOne(method, n, join(stateDir, 'owned.json'))
    } else {
      // Untimed set-up: a fresh namespace per run.
      const ns = await freshNamespace(`lvsb-${++runCount}`)
      run = await runInNamespace(ns, method, n, stateDir)
      if (method === 'raw' && !rawRules) rawRules = await kernelLines(ns)
      if (method === 'wrapper' && !checked && rawRules) {
        const mine = await kernelLines(ns)
        if (mine.length !== rules) throw new Error(`wrapper left ${mine.length} rules in the kernel, not ${rules}`)
        if (mine.join('\n') !== rawRules.join('\n')) throw new Error(`the wrapper's kernel table differs from the raw one (${n} services)`)
        checked = true
      }
      // Empty the run's table so its estimators stop (the namespace is left for the end: deleting it would start
      // the kernel's namespace clean-up work in the background of the next run).
      await mustRun(...ipvsadmIn(ns, ['-C']))
    }
    cpu[method].push(run.processCpuMs)
    self[method].push(run.selfCpuMs)
    if (method === 'raw') raw.push(run.ms)
    else {
      wrapper.push(run.ms)
      phases.push(run.phases!)
      sameLines &&= run.sameLines === true
    }
    const processTime = run.phases ? `ipvsadm -R process ${sec(run.phases.process).toFixed(2)} s, ` : ''
    log(`${n} services: ${method === 'raw' ? 'raw ipvsadm -R' : 'wrapper'} ${sec(run.ms).toFixed(2)} s (${processTime}its CPU ${sec(run.processCpuMs).toFixed(2)} s; node's own ${sec(run.selfCpuMs).toFixed(2)} s)`)
  }
  const size: SizeResult = {
    services: n, rules, validateMs, yamlMs, sameLines, kernelChecked: checked,
    raw: { medianMs: median(raw), samplesMs: raw, processCpuMs: cpu.raw, selfCpuMs: self.raw },
    wrapper: { medianMs: median(wrapper), samplesMs: wrapper, processCpuMs: cpu.wrapper, selfCpuMs: self.wrapper, phasesMs: medianPhases(phases as unknown as Array<Record<string, number>>) },
    ratio: median(wrapper) / median(raw),
    ownMs: median(phases.map((p) => p.total - p.process)),
  }
  size.ownRatio = (size.raw.medianMs + size.ownMs) / size.raw.medianMs
  return { size, table }
}

/** True when service `i` lists the extra real server (one small -Ln of one service). */
async function hasExtra(i: number): Promise<boolean> {
  const out = (await mustRun(IPVSADM, ['-Ln', '-t', `${BENCH_VIP}:${benchPort(i)}`])).stdout
  return out.includes(`${EXTRA_SERVER}:${benchPort(i)}`)
}

/** Service `s` with the extra real server added (what one API call would ask for). */
function serviceWithExtra(s: Service): Service {
  const first = s.destinations[0]
  return first ? { ...s, destinations: [...s.destinations, { ...first, address: EXTRA_SERVER }] } : s
}

/** Table `t` with the extra real server added to service `i`. */
function withExtra(t: Table, i: number): Table {
  return { services: t.services.map((s, j) => (j === i ? serviceWithExtra(s) : s)) }
}

/** The wanted form of one service, as a running director looks it up (by key). */
function wanted(s: Service): Map<string, Service> {
  return new Map([[serviceKey(s), s]])
}

async function incremental(table: Table, director: BenchDirector, changes: number, contrast: boolean): Promise<Report['incremental']> {
  const n = table.services.length
  // The director programs the table into its own namespace (dir-a, which never held a big table: empty trash).
  const base = await director.program(table)
  assertClean(base.result, benchRules(n), 'wrapper, the table for the change')
  log(`${n} services into dir-a: wrapper ${sec(base.phases.total).toFixed(2)} s`)
  // From here on it is a running director: it keeps its kernel view, owned set and state file (untimed set-up).
  await director.keep(base.result.kernel)
  const running = director.running!
  if (running.owned.size !== base.result.owned.size) throw new Error(`owned set reloaded with ${running.owned.size} keys, not ${base.result.owned.size}`)
  // A director that has run for a while has its change path compiled by V8; a fresh process does not (its first
  // two changes took 90-99 ms against 72-78 after). Three changes and their undo, untimed, on a service not timed.
  const spare = table.services[n - 1]!
  for (let k = 0; k < 3; k++) {
    assertClean((await director.changeServices(wanted(serviceWithExtra(spare)), [serviceKey(spare)])).result, 1, 'wrapper, warm-up change')
    assertClean((await director.changeServices(wanted(spare), [serviceKey(spare)])).result, 1, 'wrapper, warm-up undo')
  }
  const raw: number[] = []
  const wrapper: number[] = []
  const phases: Phases[] = []
  for (const [k, method] of alternating(changes).entries()) {
    const i = (k * 997 + 13) % n // a different service each time, spread over the table
    if (method === 'raw') {
      const run = await runRaw(IPVSADM, rawExtraArgs('-a', i))
      if (run.code !== 0 || run.stderr.trim()) throw new Error(`raw ipvsadm -a exited ${run.code}: ${run.stderr}`)
      raw.push(run.ms)
    } else {
      // The running director knows its kernel view and owned set, and which service the change touches: diff of
      // that service, a plan of one line, apply, one journal line.
      const svc = table.services[i]!
      const { phases: p, result } = await director.changeServices(wanted(serviceWithExtra(svc)), [serviceKey(svc)])
      assertClean(result, 1, 'wrapper, one change')
      wrapper.push(p.total)
      phases.push(p)
    }
    if (!(await hasExtra(i))) throw new Error(`${method}: service ${i} does not list ${EXTRA_SERVER} after the change`)
    // Back to the 50,000-rule table (untimed): raw by hand; the director by its own next change, as an API
    // removal would, so its view and owned set follow.
    if (method === 'raw') await mustRun(IPVSADM, rawExtraArgs('-d', i))
    else {
      const svc = table.services[i]!
      assertClean((await director.changeServices(wanted(svc), [serviceKey(svc)])).result, 1, 'wrapper, undoing the change')
      if (await hasExtra(i)) throw new Error(`wrapper: service ${i} still lists ${EXTRA_SERVER} after the undo`)
    }
    log(`one change: ${method} ${(method === 'raw' ? raw : wrapper).at(-1)!.toFixed(0)} ms`)
  }
  // The state file (snapshot + journal) holds what the running director holds (untimed).
  const reloaded = await loadOwned(director.statePath)
  if (reloaded.size !== running.owned.size || [...running.owned].some((k) => !reloaded.has(k))) {
    throw new Error(`the owned-set state file (${reloaded.size} keys) differs from the director's set (${running.owned.size} keys)`)
  }
  const owned = running.owned
  await director.stop()
  const timings = {
    tableRules: benchRules(n),
    raw: { medianMs: median(raw), samplesMs: raw },
    wrapper: { medianMs: median(wrapper), samplesMs: wrapper, phasesMs: medianPhases(phases as unknown as Array<Record<string, number>>) },
    ratio: median(wrapper) / median(raw),
    ownMs: median(phases.map((p) => p.total - p.process)),
  }
  if (!contrast) {
    await mustRun(IPVSADM, ['-C'])
    return timings
  }
  const save: number[] = []
  for (let k = 0; k < 2; k++) save.push((await mustRun(IPVSADM, ['-Sn'])).ms)
  log(`ipvsadm -Sn of the table: ${save.map((ms) => sec(ms).toFixed(2)).join(', ')} s`)
  // What the one-shot command `lvs-director apply` pays for the same change: it knows nothing, so it reads first.
  const i = 4242 % n
  const oneShotStart = now()
  const before = director.processes.length
  const kernel = await director.ipvs.read()
  const readMs = now() - oneShotStart
  const readProcesses = director.processes.slice(before).map((p) => ({ argv: p.argv.join(' '), ms: p.ms }))
  const oneShot = await director.change(withExtra(table, i), kernel, owned)
  assertClean(oneShot.result, 1, 'one-shot apply, one change')
  const oneShotMs = now() - oneShotStart
  await mustRun(IPVSADM, rawExtraArgs('-d', i))
  log(`one-shot apply (read first): ${sec(oneShotMs).toFixed(2)} s, of which the read ${sec(readMs).toFixed(2)} s`)
  await mustRun(IPVSADM, ['-C'])
  return { ...timings, contrast: { saveTableMs: median(save), oneShotMs, oneShotReadMs: readMs, oneShotReadProcesses: readProcesses } }
}

function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '1000,10000' }, repeats: { type: 'string', default: '3' },
      changes: { type: 'string', default: '5' }, 'reuse-namespace': { type: 'boolean', default: false },
      only: { type: 'string' }, 'change-services': { type: 'string' }, 'skip-contrast': { type: 'boolean', default: false },
      run: { type: 'string' }, state: { type: 'string' },
    },
  })
  if (values.run !== undefined) {
    if ((values.run !== 'raw' && values.run !== 'wrapper') || !values.state) throw new Error('usage: --run raw|wrapper --sizes N --state FILE')
    process.stdout.write(`${JSON.stringify(await runOne(values.run, Number(values.sizes), values.state))}\n`)
    return
  }
  const onlyIncremental = values.only === 'incremental'
  if (values.only !== undefined && !onlyIncremental) throw new Error('usage: --only incremental (skip the full-programming runs)')
  const sizes = values.sizes.split(',').map(Number)
  const repeats = Number(values.repeats)
  const changes = Number(values.changes)
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 50_000) || !(repeats >= 1) || !(changes >= 1)) {
    throw new Error('usage: --sizes N[,N] (1..50000) --repeats R (>= 1) --changes C (>= 1) [--reuse-namespace]')
  }
  const reuse = values['reuse-namespace']
  const stateDir = '/tmp/lvs-director-bench' // the guest's own tmpfs (the project is read-only there)
  await mkdir(stateDir, { recursive: true })
  const version = (await mustRun(IPVSADM, ['--version'])).stdout.trim()
  const started = now()
  const results: SizeResult[] = []
  let largest: Table | undefined
  for (const n of onlyIncremental ? [] : sizes) {
    const r = await programSize(n, repeats, stateDir, reuse)
    results.push(r.size)
    largest = r.table
  }
  // The change's table: --change-services, else the largest size programmed.
  const changeServices = values['change-services'] === undefined ? Math.max(...sizes) : Number(values['change-services'])
  if (!Number.isInteger(changeServices) || changeServices < 1 || changeServices > 50_000) throw new Error('usage: --change-services N (1..50000)')
  if (!largest || largest.services.length !== changeServices) largest = parseTable(benchTableInput(changeServices))
  const inc = await incremental(largest, new BenchDirector(join(stateDir, 'owned.json')), changes, !values['skip-contrast'])
  const report: Report = {
    bench: 'ipvs-program', kernel: release(), cpu: cpuModel(), vcpus: cpus().length, node: process.version, ipvsadm: version,
    namespaces: reuse ? 'dir-a, cleared with ipvsadm -C between runs' : 'a fresh namespace per programming run, run by a node process inside it; the change in dir-a',
    repeats, sizes: results, incremental: inc, seconds: sec(now() - started),
  }
  process.stdout.write(formatReport(report))
  if (process.env.LAB_OUT) writeFileSync(join(process.env.LAB_OUT, 'ipvs-program.json'), `${JSON.stringify(report)}\n`)
  // The run namespaces are left to the guest's power-off: deleting them starts kernel clean-up work for nothing.
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
