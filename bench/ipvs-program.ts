// IPVS programming benchmark, run in the lab guest inside director namespace dir-a (bench/ipvs-program.sh):
// a full table of N services x 4 DR real servers through the wrapper against one raw `ipvsadm -R` of the same
// rules, alternating, in one node process; then one incremental change on the 50,000-rule table against one
// raw `ipvsadm -a`, with one `ipvsadm -Sn` of that table for contrast. Prints a markdown table and a JSON line.
//
//   npm run -s bench:ipvs                       (host: boots the lab and runs this)
//   node dist/bench/ipvs-program.js [--sizes 1000,10000] [--repeats 3] [--changes 5]   (in the guest, in dir-a)
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { cpus, release } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { restoreLine } from '../src/ipvs/commands.js'
import { parseTable, type Table } from '../src/ipvs/model.js'
import { median, medianPhases, mustRun, now, runRaw } from './ipvs-measure.js'
import { formatReport, type Report, type SizeResult } from './ipvs-report.js'
import { BENCH_VIP, benchPort, benchTableInput, EXTRA_SERVER, rawExtraArgs, rawRestoreText } from './ipvs-rules.js'
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

async function clear(): Promise<void> {
  await mustRun(IPVSADM, ['-C'])
}

/** The kernel table as sorted -Sn lines (untimed check that both methods loaded the same rules). */
async function kernelLines(): Promise<string[]> {
  return (await mustRun(IPVSADM, ['-Sn'])).stdout.split('\n').filter(Boolean).sort()
}

async function programSize(n: number, repeats: number, director: BenchDirector): Promise<{ size: SizeResult; last: Awaited<ReturnType<BenchDirector['program']>>; table: Table }> {
  const rawText = rawRestoreText(n)
  const tv = now()
  const table = parseTable(benchTableInput(n))
  const validateMs = now() - tv
  const rules = n * 5
  const raw: number[] = []
  const wrapper: number[] = []
  const phases: Phases[] = []
  let last: Awaited<ReturnType<BenchDirector['program']>> | undefined
  let rawRules: string[] | undefined
  let checked = false
  for (const method of alternating(repeats)) {
    await clear()
    if (method === 'raw') {
      const run = await runRaw(IPVSADM, ['-R'], rawText)
      if (run.code !== 0 || run.stderr.trim()) throw new Error(`raw ipvsadm -R exited ${run.code}: ${run.stderr.slice(0, 500)}`)
      raw.push(run.ms)
      log(`${n} services: raw ipvsadm -R ${sec(run.ms).toFixed(2)} s`)
      if (!rawRules) rawRules = await kernelLines()
    } else {
      last = await director.program(table)
      assertClean(last.result, rules, `wrapper, ${n} services`)
      wrapper.push(last.phases.total)
      phases.push(last.phases)
      log(`${n} services: wrapper ${sec(last.phases.total).toFixed(2)} s (ipvsadm -R process ${sec(last.phases.process).toFixed(2)} s)`)
      if (!checked && rawRules) {
        const mine = await kernelLines()
        if (mine.length !== rules) throw new Error(`wrapper left ${mine.length} rules in the kernel, not ${rules}`)
        if (mine.join('\n') !== rawRules.join('\n')) throw new Error(`the wrapper's kernel table differs from the raw one (${n} services)`)
        checked = true
      }
    }
  }
  // The same rules: the wrapper's -R lines, as a set, equal the hand-written ones (order differs: the plan puts
  // every -A before the -a lines; the raw text is in -Sn order, each service followed by its real servers).
  const sameLines = last!.result.applied.map(restoreLine).sort().join('\n') === rawText.trim().split('\n').sort().join('\n')
  const size: SizeResult = {
    services: n, rules, validateMs, sameLines, kernelChecked: checked,
    raw: { medianMs: median(raw), samplesMs: raw },
    wrapper: { medianMs: median(wrapper), samplesMs: wrapper, phasesMs: medianPhases(phases as unknown as Array<Record<string, number>>) },
    ratio: median(wrapper) / median(raw),
  }
  return { size, last: last!, table }
}

/** True when service `i` lists the extra real server (one small -Ln of one service). */
async function hasExtra(i: number): Promise<boolean> {
  const out = (await mustRun(IPVSADM, ['-Ln', '-t', `${BENCH_VIP}:${benchPort(i)}`])).stdout
  return out.includes(`${EXTRA_SERVER}:${benchPort(i)}`)
}

/** Table `t` with the extra real server added to service `i` (what one API call would ask for). */
function withExtra(t: Table, i: number): Table {
  return {
    services: t.services.map((s, j) => {
      const first = s.destinations[0]
      return j === i && first ? { ...s, destinations: [...s.destinations, { ...first, address: EXTRA_SERVER }] } : s
    }),
  }
}

async function incremental(table: Table, base: Awaited<ReturnType<BenchDirector['program']>>, director: BenchDirector, changes: number): Promise<Report['incremental']> {
  const n = table.services.length
  const raw: number[] = []
  const wrapper: number[] = []
  const phases: Phases[] = []
  const order = alternating(changes)
  for (const [k, method] of order.entries()) {
    const i = (k * 997 + 13) % n // a different service each time, spread over the table
    if (method === 'raw') {
      const run = await runRaw(IPVSADM, rawExtraArgs('-a', i))
      if (run.code !== 0 || run.stderr.trim()) throw new Error(`raw ipvsadm -a exited ${run.code}: ${run.stderr}`)
      raw.push(run.ms)
    } else {
      const desired = withExtra(table, i)
      const { phases: p, result } = await director.change(desired, base.result.kernel, base.result.owned)
      assertClean(result, 1, 'wrapper, one change')
      wrapper.push(p.total)
      phases.push(p)
    }
    if (!(await hasExtra(i))) throw new Error(`${method}: service ${i} does not list ${EXTRA_SERVER} after the change`)
    await mustRun(IPVSADM, rawExtraArgs('-d', i)) // back to the 50,000-rule table the director knows
    log(`one change: ${method} ${(method === 'raw' ? raw : wrapper).at(-1)!.toFixed(0)} ms`)
  }
  const save: number[] = []
  for (let k = 0; k < 2; k++) save.push((await mustRun(IPVSADM, ['-Sn'])).ms)
  log(`ipvsadm -Sn of the table: ${save.map((ms) => sec(ms).toFixed(2)).join(', ')} s`)
  // What the one-shot command `lvs-director apply` pays for the same change: it knows nothing, so it reads first.
  const i = 4242 % n
  const oneShotStart = now()
  const kernel = await director.ipvs.read()
  const readMs = now() - oneShotStart
  const oneShot = await director.change(withExtra(table, i), kernel, base.result.owned)
  assertClean(oneShot.result, 1, 'one-shot apply, one change')
  const oneShotMs = now() - oneShotStart
  await mustRun(IPVSADM, rawExtraArgs('-d', i))
  log(`one-shot apply (read first): ${sec(oneShotMs).toFixed(2)} s, of which the read ${sec(readMs).toFixed(2)} s`)
  return {
    tableRules: n * 5,
    raw: { medianMs: median(raw), samplesMs: raw },
    wrapper: { medianMs: median(wrapper), samplesMs: wrapper, phasesMs: medianPhases(phases as unknown as Array<Record<string, number>>) },
    ratio: median(wrapper) / median(raw),
    saveTableMs: median(save),
    oneShotMs, oneShotReadMs: readMs,
  }
}

function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sizes: { type: 'string', default: '1000,10000' }, repeats: { type: 'string', default: '3' }, changes: { type: 'string', default: '5' } } })
  const sizes = values.sizes.split(',').map(Number)
  const repeats = Number(values.repeats)
  const changes = Number(values.changes)
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 50_000) || !(repeats >= 1) || !(changes >= 1)) {
    throw new Error('usage: --sizes N[,N] (1..50000) --repeats R (>= 1) --changes C (>= 1)')
  }
  const stateDir = '/tmp/lvs-director-bench'
  await mkdir(stateDir, { recursive: true })
  const director = new BenchDirector(join(stateDir, 'owned.json'))
  const version = (await mustRun(IPVSADM, ['--version'])).stdout.trim()
  const started = now()
  const results: SizeResult[] = []
  let lastRun: { table: Table; last: Awaited<ReturnType<BenchDirector['program']>> } | undefined
  for (const n of sizes) {
    const r = await programSize(n, repeats, director)
    results.push(r.size)
    lastRun = { table: r.table, last: r.last }
  }
  // The order ends with a wrapper run for odd repeats; make sure the kernel holds the director's view.
  const lastN = sizes.at(-1)!
  if (alternating(repeats).at(-1) !== 'wrapper') {
    await clear()
    lastRun = { table: lastRun!.table, last: await director.program(lastRun!.table) }
    assertClean(lastRun.last.result, lastN * 5, 'wrapper, reprogram')
  }
  const inc = await incremental(lastRun!.table, lastRun!.last, director, changes)
  await clear()
  const report: Report = {
    bench: 'ipvs-program', kernel: release(), cpu: cpuModel(), vcpus: cpus().length, node: process.version, ipvsadm: version,
    namespace: 'dir-a', repeats, sizes: results, incremental: inc, seconds: sec(now() - started),
  }
  const text = formatReport(report)
  process.stdout.write(text)
  if (process.env.LAB_OUT) writeFileSync(join(process.env.LAB_OUT, 'ipvs-program.json'), `${JSON.stringify(report)}\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
