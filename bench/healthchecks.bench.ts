// Health-check benchmark: N loopback TCP real servers (in a child process) checked by the scheduler at a 1 s
// interval with the connect check; reports probes/s against N/s, CPU as a fraction of one core, and the time from
// a server's death to its down event against interval x fall + timeout; then, for the same N, the scheduler's own
// CPU per probe with a checker that answers at once, and the same run with the check made by a Node net.Socket
// (the reference for the native engine, native/connect.c). Stops by itself.
//
//   npm run bench:healthchecks -- --n 1000,10000 --seconds 15 [--interval 1000 --timeout 1000 --fall 2
//                                  --concurrency 1000 --port-base 20000]
import { parseArgs } from 'node:util'
import { createScheduler } from '../healthchecks/scheduler.js'
import type { Checker } from '../healthchecks/checker.js'
import { createConnectChecker } from '../healthchecks/connect.js'
import { runProbe } from '../healthchecks/probe.js'
import { tcpExchange } from '../healthchecks/tcp-exchange.js'
import { createTcpEngine } from '../healthchecks/tcp-connect.js'
import { parseCheckSpec } from '../healthchecks/spec.js'
import { systemClock } from '../src/clock.js'
import { startListeners } from './tcp-listeners.js'

interface Options {
  n: number
  seconds: number
  interval: number
  timeout: number
  fall: number
  concurrency: number
  portBase: number
}

/** The project's connect checker, built from the same spec a table would carry. */
function connectFactory(o: Options): { name: string; create: () => Checker } {
  const spec = parseCheckSpec({ kind: 'connect', interval: o.interval / 1000, timeout: o.timeout / 1000, fall: o.fall, rise: 1 })
  if (spec.kind !== 'connect') throw new Error('unreachable')
  return { name: 'connect', create: () => createConnectChecker(spec) }
}

/** The reference: the same check made with a Node net.Socket (tcpExchange), as every connect check was before native/connect.c. */
function socketFactory(o: Options): { name: string; create: () => Checker } {
  return {
    name: 'connect (net.Socket)',
    create: () => ({ kind: 'connect', check: (t, signal) => runProbe((s) => tcpExchange({ address: t.address, port: t.port }, s), signal) }),
  }
}

/** The scheduler's own cost: the same N checks with a checker that answers at once, for `seconds`. */
async function schedulerOverhead(o: Options, seconds: number): Promise<{ probesPerSec: number; usPerProbe: number }> {
  const scheduler = createScheduler({ clock: systemClock, maxConcurrent: o.concurrency })
  const noop: Checker = { kind: 'noop', check: async () => ({ ok: true, message: 'ok', durationMs: 0 }) }
  for (let i = 0; i < o.n; i++) {
    scheduler.add(String(i), { checker: noop, target: { address: '127.0.0.1', port: 1, protocol: 'tcp' }, interval: o.interval, timeout: o.timeout, rise: 1, fall: o.fall })
  }
  const keepAlive = setInterval(() => {}, 1000) // the scheduler's timers are unref'd
  await new Promise((r) => setTimeout(r, o.interval))
  const c0 = process.cpuUsage()
  const p0 = scheduler.stats().completed
  const w0 = performance.now()
  await new Promise((r) => setTimeout(r, seconds * 1000))
  const cpu = process.cpuUsage(c0)
  const probes = scheduler.stats().completed - p0
  const windowMs = performance.now() - w0
  clearInterval(keepAlive)
  await scheduler.close()
  return { probesPerSec: Math.round((probes / windowMs) * 1000), usPerProbe: +((cpu.user + cpu.system) / probes).toFixed(1) }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

async function runOne(o: Options, factory: { name: string; create: () => Checker }) {
  const listeners = await startListeners(o.n, o.portBase)
  try {
    const { ports } = listeners
    // The connect check's probes run on the native engine; the net.Socket reference's checker offers no bareTcp.
    const scheduler = createScheduler({ clock: systemClock, maxConcurrent: o.concurrency, tcpEngine: createTcpEngine(o.concurrency) })
    const downAt = new Map<number, number>()
    scheduler.on('change', (e) => {
      if (e.to === 'down') downAt.set(Number(e.id), performance.now())
    })
    const t0 = performance.now()
    ports.forEach((port, i) =>
      scheduler.add(String(i), {
        checker: factory.create(),
        target: { address: '127.0.0.1', port, protocol: 'tcp' },
        interval: o.interval,
        timeout: o.timeout,
        rise: 1,
        fall: o.fall,
        initial: 'unknown',
      }),
    )
    const sleepUntil = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, t0 + ms - performance.now())))
    // Steady-state window: after one interval of jittered first runs, until the kill.
    const killAtMs = Math.max(o.interval * 2, o.seconds * 1000 - (o.interval * o.fall + o.timeout) * 2)
    await sleepUntil(o.interval)
    const s0 = scheduler.stats()
    const cpu0 = process.cpuUsage()
    const w0 = performance.now()
    await sleepUntil(killAtMs)
    const s1 = scheduler.stats()
    const cpu = process.cpuUsage(cpu0)
    const windowMs = performance.now() - w0
    const falseDowns = downAt.size
    // Kill an evenly spread 1% (at least 10) of the servers and time their down events.
    const victims = Array.from({ length: Math.max(10, Math.floor(o.n / 100)) }, (_, k) => Math.floor((k * o.n) / Math.max(10, Math.floor(o.n / 100))))
    const killedAt = performance.now() // taken before the command is sent: a conservative (longer) latency
    await listeners.kill(victims)
    await sleepUntil(o.seconds * 1000)
    const latencies = victims.map((v) => (downAt.get(v) ?? NaN) - killedAt).filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
    await scheduler.close()
    const cpuMicros = await listeners.stop()
    const probes = s1.completed - s0.completed
    return {
      n: o.n,
      checker: factory.name,
      intervalMs: o.interval,
      timeoutMs: o.timeout,
      fall: o.fall,
      maxConcurrent: o.concurrency,
      windowS: +(windowMs / 1000).toFixed(2),
      probesPerSec: Math.round((probes / windowMs) * 1000),
      targetPerSec: Math.round((o.n * 1000) / o.interval),
      achieved: +((probes / windowMs) * 1000 / ((o.n * 1000) / o.interval)).toFixed(3),
      late: s1.late - s0.late,
      timeouts: s1.timeouts - s0.timeouts,
      cpuCores: +((cpu.user + cpu.system) / 1000 / windowMs).toFixed(3),
      listenerCpuCores: +(cpuMicros / 1000 / (performance.now() - t0)).toFixed(3),
      falseDowns,
      killed: victims.length,
      detected: latencies.length,
      detectP50Ms: Math.round(percentile(latencies, 50)),
      detectP95Ms: Math.round(percentile(latencies, 95)),
      detectMaxMs: Math.round(latencies[latencies.length - 1] ?? NaN),
      boundMs: o.interval * o.fall + o.timeout,
    }
  } finally {
    listeners.close()
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '1000,10000' },
      seconds: { type: 'string', default: '15' },
      interval: { type: 'string', default: '1000' },
      timeout: { type: 'string', default: '1000' },
      fall: { type: 'string', default: '2' },
      concurrency: { type: 'string', default: '1000' },
      'port-base': { type: 'string', default: '20000' },
    },
  })
  const rows = []
  const references = []
  for (const n of values.n.split(',').map(Number)) {
    const o: Options = {
      n,
      seconds: Number(values.seconds),
      interval: Number(values.interval),
      timeout: Number(values.timeout),
      fall: Number(values.fall),
      concurrency: Number(values.concurrency),
      portBase: Number(values['port-base']),
    }
    const run = await runOne(o, connectFactory(o))
    const overhead = await schedulerOverhead(o, 3)
    rows.push({ ...run, schedulerUsPerProbe: overhead.usPerProbe, schedulerOnlyPerSec: overhead.probesPerSec })
    references.push(await runOne(o, socketFactory(o)))
  }
  const cores = (await import('node:os')).availableParallelism()
  const load = (await import('node:os')).loadavg()[0]!.toFixed(2)
  console.log(`health-check bench, ${cores} cores, load average ${load} at the end (other work on the host slows it down)`)
  console.log('| N | probes/s (target) | achieved | checker CPU (cores) | CPU per probe (µs) | of which scheduler (µs) | listener CPU | death → down p50 / p95 / max (ms) | bound (ms) | detected | false downs |')
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  for (const r of rows) {
    console.log(
      `| ${r.n} | ${r.probesPerSec} (${r.targetPerSec}) | ${(r.achieved * 100).toFixed(1)}% | ${r.cpuCores} | ` +
        `${Math.round((r.cpuCores * 1e6) / r.probesPerSec)} | ${r.schedulerUsPerProbe} | ${r.listenerCpuCores} | ` +
        `${r.detectP50Ms} / ${r.detectP95Ms} / ${r.detectMaxMs} | ${r.boundMs} | ${r.detected}/${r.killed} | ${r.falseDowns} |`,
    )
  }
  for (const r of references) {
    console.log(`reference, ${r.checker}, N ${r.n}: ${r.probesPerSec} probes/s, ${r.cpuCores} cores, ${Math.round((r.cpuCores * 1e6) / r.probesPerSec)} µs per probe`)
  }
  console.log(JSON.stringify({ bench: 'healthchecks', checker: rows[0]?.checker, runs: rows, references }))
}

await main()
