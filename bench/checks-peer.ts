// Health checks against keepalived's: the same N loopback TCP real servers checked every second by our scheduler
// with the connect check, then by keepalived's checker (Debian's package, TCP_CHECK, `keepalived -C`), one after
// the other in one guest boot (keepalived needs IPVS: it runs in the lab, in director namespace dir-a). Probes are
// counted where they land (connections the servers accepted), so both sides are counted alike; CPU is each
// checker's own (ours: this process; keepalived: its parent and checker processes, from /proc). Prints a markdown
// table and a JSON line. Stops by itself; keepalived's services are removed with it (and `ipvsadm -C` after).
//
//   npm run -s lab -- --script bench/suite-checks-full.sh          (host: boots the lab and runs this; -quick: 1,000)
//   node dist/bench/checks-peer.js --n 1000,10000 --seconds 15      (guest, in dir-a; JSON also to $LAB_OUT/checks-peer.json)
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createConnectChecker } from '../healthchecks/connect.js'
import { createScheduler } from '../healthchecks/scheduler.js'
import { createTcpEngine } from '../healthchecks/tcp-connect.js'
import { parseCheckSpec } from '../healthchecks/spec.js'
import { systemClock } from '../src/clock.js'
import { mustRun, runRaw } from './ipvs-measure.js'
import { startListeners, type Listeners } from './tcp-listeners.js'

const DIR = '/tmp/bench-checks-peer'
const log = (line: string) => process.stderr.write(`[checks-peer ${process.uptime().toFixed(1)}s] ${line}\n`)

/** One checker's steady window. */
export interface PeerRun {
  who: 'lvs-director' | 'keepalived'
  n: number
  /** Connections the servers accepted per second in the window. */
  probesPerSec: number
  /** The checker's CPU in the window, in cores. */
  cpuCores: number
  probesPerCore: number
  usPerProbe: number
  /** Of the CPU, the part spent in the kernel (system calls, the loopback TCP handshakes). */
  systemShare: number
  windowS: number
  /** Seconds from the checker's start until its rate held steady. */
  rampS: number
}

/**
 * Wait until the servers' accept rate holds: N per second reached (within 3%), or three seconds in a row no more
 * than 5% above the best second before them (the checker is at its limit) once that best is 5% of N or more (a
 * checker still starting, a few early probes then none, is not at a limit). Bounded by `maxS`.
 */
async function steady(listeners: Listeners, n: number, maxS: number): Promise<number> {
  const t0 = performance.now()
  let last = await listeners.accepted()
  let best = 0
  let flat = 0
  for (let s = 0; s < maxS; s++) {
    await sleep(1000)
    const now = await listeners.accepted()
    const rate = now - last
    last = now
    if (rate >= n * 0.97) break
    flat = rate <= best * 1.05 && rate > 0 && best >= n * 0.05 ? flat + 1 : 0
    best = Math.max(best, rate)
    if (flat >= 3) break
  }
  return (performance.now() - t0) / 1000
}

/** CPU time so far, in µs: all of it, and the part spent in the kernel. */
interface Cpu {
  total: number
  system: number
}

/** Accepts per second and CPU (µs, from `cpu()`) over `seconds`. */
async function window(listeners: Listeners, seconds: number, cpu: () => Cpu): Promise<{ accepts: number; cpuMicros: number; systemMicros: number; ms: number }> {
  const a0 = await listeners.accepted()
  const c0 = cpu()
  const t0 = performance.now()
  await sleep(seconds * 1000)
  const c1 = cpu()
  const ms = performance.now() - t0
  return { accepts: (await listeners.accepted()) - a0, cpuMicros: c1.total - c0.total, systemMicros: c1.system - c0.system, ms }
}

function runOf(who: PeerRun['who'], n: number, w: { accepts: number; cpuMicros: number; systemMicros: number; ms: number }, rampS: number): PeerRun {
  const probesPerSec = (w.accepts / w.ms) * 1000
  const cpuCores = w.cpuMicros / 1000 / w.ms
  return {
    who, n, probesPerSec: Math.round(probesPerSec), cpuCores: +cpuCores.toFixed(3), probesPerCore: Math.round(probesPerSec / cpuCores),
    usPerProbe: +(w.cpuMicros / w.accepts).toFixed(1), systemShare: +(w.systemMicros / w.cpuMicros).toFixed(2), windowS: +(w.ms / 1000).toFixed(2), rampS: +rampS.toFixed(1),
  }
}

async function ours(listeners: Listeners, seconds: number): Promise<PeerRun> {
  const n = listeners.ports.length
  const spec = parseCheckSpec({ kind: 'connect', interval: 1, timeout: 1, fall: 2, rise: 1 })
  if (spec.kind !== 'connect') throw new Error('unreachable')
  const scheduler = createScheduler({ clock: systemClock, maxConcurrent: 1000, tcpEngine: createTcpEngine(1000) })
  const keepAlive = setInterval(() => {}, 1000) // the scheduler's timers are unref'd
  try {
    listeners.ports.forEach((port, i) => scheduler.add(String(i), {
      checker: createConnectChecker(spec), target: { address: '127.0.0.1', port, protocol: 'tcp' },
      interval: 1000, timeout: 1000, rise: 1, fall: 2, initial: 'unknown',
    }))
    const rampS = await steady(listeners, n, 30)
    const cpu = () => { const u = process.cpuUsage(); return { total: u.user + u.system, system: u.system } }
    return runOf('lvs-director', n, await window(listeners, seconds, cpu), rampS)
  } finally {
    clearInterval(keepAlive)
    await scheduler.close()
  }
}

/** keepalived's configuration: N real servers, four per virtual server (NAT, so each keeps its own port). */
export function keepalivedChecksConf(ports: number[]): string {
  const out = ['# written by bench/checks-peer.ts: TCP_CHECK of every real server each second', 'global_defs {', '  router_id checks_peer', '}']
  for (let i = 0; i * 4 < ports.length; i++) {
    out.push(`virtual_server 10.77.${i >> 8}.${i & 255} 80 {`, '  delay_loop 1', '  lb_algo wlc', '  lb_kind NAT', '  protocol TCP')
    for (const port of ports.slice(i * 4, i * 4 + 4)) out.push(`  real_server 127.0.0.1 ${port} {`, '    weight 1', '    TCP_CHECK {', '      connect_timeout 1', '    }', '  }')
    out.push('}')
  }
  return `${out.join('\n')}\n`
}

/** utime + stime, and stime, of a process in µs (0 when it is gone). */
function processCpu(pid: number, tick: number): Cpu {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    const [user, system] = [Number(fields[11]), Number(fields[12])].map((ticks) => (ticks * 1e6) / tick) as [number, number]
    return { total: user + system, system }
  } catch {
    return { total: 0, system: 0 }
  }
}

async function keepalived(listeners: Listeners, seconds: number, tick: number): Promise<PeerRun> {
  const n = listeners.ports.length
  mkdirSync(DIR, { recursive: true })
  writeFileSync(`${DIR}/keepalived.conf`, keepalivedChecksConf(listeners.ports))
  const child = spawn('keepalived', ['-n', '-l', '-D', '-C', '-f', `${DIR}/keepalived.conf`, '-p', `${DIR}/keepalived.pid`, '-c', `${DIR}/checkers.pid`],
    { stdio: ['ignore', 'ignore', 'pipe'] })
  let tail = ''
  child.stderr!.on('data', (b: Buffer) => { tail = (tail + b.toString()).slice(-4000) })
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()))
  try {
    const rampS = await steady(listeners, n, 60)
    if (child.exitCode !== null) throw new Error(`keepalived exited ${child.exitCode}: ${tail}`)
    const checker = existsSync(`${DIR}/checkers.pid`) ? Number(readFileSync(`${DIR}/checkers.pid`, 'utf8').trim()) : undefined
    if (!checker) throw new Error(`keepalived started no checker process: ${tail}`)
    const cpu = () => {
      const [a, b] = [processCpu(child.pid!, tick), processCpu(checker, tick)]
      return { total: a.total + b.total, system: a.system + b.system }
    }
    return runOf('keepalived', n, await window(listeners, seconds, cpu), rampS)
  } finally {
    child.kill('SIGTERM')
    await Promise.race([exited, sleep(20_000)])
    child.kill('SIGKILL')
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { n: { type: 'string', default: '1000,10000' }, seconds: { type: 'string', default: '15' } } })
  const sizes = values.n.split(',').map(Number)
  const seconds = Number(values.seconds)
  if (sizes.some((n) => !Number.isInteger(n) || n < 4 || n > 20_000) || !(seconds >= 1)) throw new Error('usage: --n N[,N] (4..20000) --seconds S')
  const tick = Number((await runRaw('getconf', ['CLK_TCK'])).stdout.trim()) || 100
  const ka = await runRaw('keepalived', ['--version'])
  const version = (ka.stderr + ka.stdout).split('\n')[0]!.trim()
  const runs: PeerRun[] = []
  for (const n of sizes) {
    const listeners = await startListeners(n, 20000)
    try {
      log(`${n} real servers: ours`)
      runs.push(await ours(listeners, seconds))
      log(`${n} real servers: keepalived`)
      runs.push(await keepalived(listeners, seconds, tick))
      await mustRun('ipvsadm', ['-C'])
      for (const r of runs.slice(-2)) log(`${r.who}: ${r.probesPerSec} probes/s, ${r.cpuCores} cores, ${r.probesPerCore} probes/s/core`)
    } finally {
      listeners.close()
    }
  }
  console.log(`| real servers | checker | probes/s (asked) | CPU (cores) | probes per core | CPU per probe (µs) | in the kernel |`)
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: |')
  for (const r of runs) console.log(`| ${r.n} | ${r.who} | ${r.probesPerSec} (${r.n}) | ${r.cpuCores} | ${r.probesPerCore} | ${r.usPerProbe} | ${Math.round(r.systemShare * 100)}% |`)
  const report = { bench: 'checks-peer', keepalived: version, seconds, runs }
  console.log(JSON.stringify(report))
  if (process.env.LAB_OUT) writeFileSync(join(process.env.LAB_OUT, 'checks-peer.json'), `${JSON.stringify(report)}\n`)
}

if (process.argv[1]?.endsWith('checks-peer.js')) await main()
