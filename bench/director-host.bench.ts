// The director benchmark's host parts (no IPVS needed: ipvsadm is an in-process fake, bench/director-fake-exec.ts):
//   4. API throughput on loopback (autocannon, programmatic, fixed duration): GET /v1/services/NAME and PATCH of a
//      real server's weight, against a bare fastify hello-world route in the same process, interleaved;
//   5. daemon memory at 10,000 services x 4 real servers with connect checks every 1 s running (a child process:
//      its RSS is the daemon's alone), against refused loopback ports (127.x.y.z:9, nothing listens).
// bench/README.md ("Director daemon") has the method and the figures.
//
//   npm run -s bench:director:host
//   node dist/bench/director-host.bench.js [--sizes 100,10000] [--seconds 5] [--rounds 2] [--connections 10]
//                                          [--mem-services 10000] [--mem-seconds 45] [--only throughput|memory]
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus, release, loadavg } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { fastify } from 'fastify'
import { buildApi } from '../src/api/app.js'
import { startDaemon } from '../src/main.js'
import { fakeIpvsadm } from './director-fake-exec.js'
import { median } from './ipvs-measure.js'
import { BENCH_VIP, benchPort, rawRestoreText, REAL_SERVERS } from './ipvs-rules.js'
import { unitNodeFlags } from './unit-flags.js'

interface CannonResult {
  requests: { average: number; total: number }
  latency: { p50: number; p99: number; average: number }
  non2xx: number
  errors: number
  timeouts: number
}
interface CannonRequest { method?: string; path?: string; headers?: Record<string, string>; body?: string; setupRequest?: (r: CannonRequest) => CannonRequest }
const autocannon = createRequire(import.meta.url)('autocannon') as (o: object) => Promise<CannonResult>

const log = (line: string) => process.stderr.write(`[director-host ${process.uptime().toFixed(1)}s] ${line}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const nullStream = () => new Writable({ write: (_c, _e, cb) => cb() })

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100,10000' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '10' },
    'mem-services': { type: 'string', default: '10000' },
    'mem-seconds': { type: 'string', default: '45' },
    only: { type: 'string' },
    'mem-child': { type: 'boolean', default: false },
    /** connect: every real server checked every 1 s (refused port); on: no probe work (kind on, every 60 s), the table alone. */
    'mem-check': { type: 'string', default: 'connect' },
  },
})

/** A config of `n` services x 4 real servers (the IPVS benchmark's rules), with the given check. */
function benchConfig(n: number, stateDir: string, check: (i: number) => object, address: (i: number, j: number) => string) {
  return {
    director: { api: { listen: '127.0.0.1:0' }, stateDir, logLevel: 'info', driftInterval: 86400, checks: { maxConcurrent: 1000 } },
    services: Array.from({ length: n }, (_, i) => ({
      name: `b-${i}`, protocol: 'tcp', address: BENCH_VIP, port: benchPort(i), scheduler: 'wlc', check: check(i),
      destinations: REAL_SERVERS.map((_a, j) => ({ address: address(i, j), port: benchPort(i), forwarding: 'dr', weight: 1 })),
    })),
  }
}

async function throughput(sizes: number[], seconds: number, rounds: number, connections: number) {
  const ref = fastify()
  ref.get('/hello', async () => ({ hello: 'world' }))
  await ref.listen({ host: '127.0.0.1', port: 0 })
  const refUrl = `http://127.0.0.1:${(ref.server.address() as { port: number }).port}`
  const out: Array<{ services: number; ref: CannonResult[]; read: CannonResult[]; write: CannonResult[]; startMs: number }> = []
  for (const n of sizes) {
    const dir = `/tmp/director-host-bench-${process.pid}-${n}`
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(join(dir, 'state'), { recursive: true })
    const file = join(dir, 'director.yaml')
    writeFileSync(file, JSON.stringify(benchConfig(n, join(dir, 'state'), () => ({ kind: 'on', interval: 60, rise: 1, fall: 1 }), (_i, j) => REAL_SERVERS[j]!)))
    const fake = fakeIpvsadm()
    // The fake kernel already serves the table, so the daemon starts with every real server up (no flap).
    await fake.exec('ipvsadm', ['-R'], { input: rawRestoreText(n) })
    const t0 = performance.now()
    const daemon = await startDaemon({ config: file, exec: fake.exec, buildApi, logStream: nullStream() })
    const startMs = performance.now() - t0
    log(`${n} services: daemon started in ${(startMs / 1000).toFixed(2)} s at ${daemon.url}`)
    const url = daemon.url!
    let k = 0
    const readReq: CannonRequest = { method: 'GET', setupRequest: (r) => ({ ...r, path: `/v1/services/b-${k++ % n}` }) }
    let w = 0
    const writeReq: CannonRequest = {
      method: 'PATCH', headers: { 'content-type': 'application/json' },
      setupRequest: (r) => {
        const i = w++
        const s = i % n
        return { ...r, path: `/v1/services/b-${s}/reals/${REAL_SERVERS[0]}:${benchPort(s)}`, body: JSON.stringify({ weight: 1 + (Math.floor(i / n) % 2 ? 1 : 2) + (i % 50) }) }
      },
    }
    const res = { services: n, ref: [] as CannonResult[], read: [] as CannonResult[], write: [] as CannonResult[], startMs }
    const run = (u: string, req: CannonRequest) => autocannon({ url: u, connections, duration: seconds, requests: [req] })
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 ? ['write', 'read', 'ref'] : ['ref', 'read', 'write']
      for (const m of order) {
        const result = m === 'ref' ? await run(refUrl, { method: 'GET', path: '/hello' }) : await run(url, m === 'read' ? readReq : writeReq)
        ;(res as unknown as Record<string, CannonResult[]>)[m]!.push(result)
        log(`${n} services, ${m}: ${result.requests.average.toFixed(0)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, non2xx ${result.non2xx}, errors ${result.errors}`)
        await sleep(500)
      }
    }
    while (daemon.director.status().kernel.pending > 0) await sleep(50)
    log(`${n} services: fake ipvsadm -R processes: ${fake.calls.get('-R') ?? 0}`)
    await daemon.close()
    rmSync(dir, { recursive: true, force: true })
    out.push(res)
  }
  await ref.close()
  return out
}

// --- memory: the child holds the daemon; the parent samples /proc/PID/status -------------------------------

const memAddress = (i: number, j: number) => `127.${1 + j}.${(i >> 8) & 255}.${i & 255}` // 40,000 distinct loopback targets

async function memChild(n: number): Promise<void> {
  const dir = `/tmp/director-host-mem-${process.pid}`
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(join(dir, 'state'), { recursive: true })
  const file = join(dir, 'director.yaml')
  // Connect checks every 1 s to port 9 of 127.x.y.z: nothing listens, so each probe is refused at once.
  writeFileSync(file, JSON.stringify(benchConfig(n, join(dir, 'state'), () => (args['mem-check'] === 'on' ? { kind: 'on', interval: 60 } : { kind: 'connect', port: 9, interval: 1, timeout: 1, fall: 3, rise: 2 }), memAddress)))
  const fake = fakeIpvsadm()
  const lines = []
  for (let i = 0; i < n; i++) {
    lines.push(`-A -t ${BENCH_VIP}:${benchPort(i)} -s wlc`)
    for (let j = 0; j < REAL_SERVERS.length; j++) lines.push(`-a -t ${BENCH_VIP}:${benchPort(i)} -r ${memAddress(i, j)}:${benchPort(i)} -g -w 1`)
  }
  await fake.exec('ipvsadm', ['-R'], { input: lines.join('\n') })
  const t0 = performance.now()
  const daemon = await startDaemon({ config: file, exec: fake.exec, buildApi, logStream: nullStream() })
  const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`)
  say({ event: 'started', ms: performance.now() - t0, rules: fake.rules(), ...process.memoryUsage() })
  const timer = setInterval(() => {
    const st = daemon.director.status()
    say({ event: 'sample', reals: st.reals, pending: st.kernel.pending, restores: fake.calls.get('-R') ?? 0, ...process.memoryUsage() })
  }, 1000)
  process.on('message', () => {})
  process.stdin.on('data', () => {})
  process.stdin.on('end', async () => {
    clearInterval(timer)
    // What is live: a full GC (the child runs with --expose-gc), then the same numbers once more.
    ;(globalThis as { gc?: () => void }).gc?.()
    say({ event: 'after-gc', ...process.memoryUsage() })
    await sleep(200)
    await daemon.close()
    rmSync(dir, { recursive: true, force: true })
    process.exit(0)
  })
}

const procStatus = (pid: number) => {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0)
  return { rssMB: kb('VmRSS') / 1024, hwmMB: kb('VmHWM') / 1024 }
}
const procCpu = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(f[11]) + Number(f[12])) / 100 // utime + stime, seconds (USER_HZ 100)
}

async function memory(n: number, seconds: number) {
  const self = fileURLToPath(import.meta.url)
  // The daemon's own heap limits, as the systemd unit starts it (bench/unit-flags.ts).
  const child = spawn(process.execPath, [...unitNodeFlags(), '--expose-gc', self, '--mem-child', '--mem-services', String(n), '--mem-check', args['mem-check']!], { stdio: ['pipe', 'pipe', 'inherit'] })
  const samples: Array<Record<string, unknown> & { at: number; rssMB: number; hwmMB: number; cpu: number }> = []
  let startedAt = 0
  let afterGc: { heapUsedMB: number; rssMB: number } | undefined
  let started: Record<string, unknown> | undefined
  let buf = ''
  const done = new Promise<void>((resolve) => child.on('close', () => resolve()))
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    buf += c
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const o = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>
      buf = buf.slice(nl + 1)
      const at = performance.now()
      if (o.event === 'after-gc') {
        afterGc = { heapUsedMB: (o.heapUsed as number) / 2 ** 20, rssMB: (o.rss as number) / 2 ** 20 }
        log(`memory: after a full GC: heap used ${afterGc.heapUsedMB.toFixed(0)} MB, RSS ${afterGc.rssMB.toFixed(0)} MB`)
      } else if (o.event === 'started') {
        startedAt = at
        started = { ...o, ...procStatus(child.pid!) }
        log(`memory: daemon started in ${((o.ms as number) / 1000).toFixed(1)} s, ${o.rules} rules, RSS ${(started.rssMB as number).toFixed(0)} MB`)
      } else if (startedAt) {
        const s = { ...o, at: (at - startedAt) / 1000, ...procStatus(child.pid!), cpu: procCpu(child.pid!) }
        samples.push(s)
        if (samples.length % 5 === 0) log(`memory: +${s.at.toFixed(0)} s RSS ${s.rssMB.toFixed(0)} MB (peak ${s.hwmMB.toFixed(0)}), heap ${((o.heapUsed as number) / 2 ** 20).toFixed(0)} MB, reals ${JSON.stringify(o.reals)}, pending ${o.pending}`)
      }
    }
  })
  while (!startedAt || (performance.now() - startedAt) / 1000 < seconds) {
    if (child.exitCode !== null) throw new Error('memory child died')
    await sleep(500)
  }
  child.stdin.end()
  await done
  await sleep(100)
  const last = samples.at(-1)!
  const tail = samples.filter((s) => s.at >= seconds - 15)
  const cpuPerSec = (last.cpu - samples[0]!.cpu) / (last.at - samples[0]!.at)
  return { services: n, reals: n * 4, started, last, afterGc, peakMB: last.hwmMB, rssTailMedianMB: median(tail.map((s) => s.rssMB)), cpuCores: cpuPerSec, samples: samples.map((s) => ({ at: s.at, rssMB: s.rssMB, heapUsedMB: (s.heapUsed as number) / 2 ** 20, reals: s.reals })) }
}

async function main(): Promise<void> {
  if (args['mem-child']) return memChild(Number(args['mem-services']))
  const startedAt = new Date().toISOString()
  const report: Record<string, unknown> = { started: startedAt, env: { kernel: release(), cpu: cpus()[0]?.model, cpus: cpus().length, node: process.version, loadavg: loadavg() } }
  if (args.only !== 'memory') {
    report.throughput = await throughput(args.sizes!.split(',').map(Number), Number(args.seconds), Number(args.rounds), Number(args.connections))
  }
  if (args.only !== 'throughput') report.memory = await memory(Number(args['mem-services']), Number(args['mem-seconds']))
  report.finished = new Date().toISOString()
  ;(report.env as Record<string, unknown>).loadavgEnd = loadavg()
  const rows: string[] = []
  for (const t of (report.throughput ?? []) as Awaited<ReturnType<typeof throughput>>) {
    const ref = median(t.ref.map((r) => r.requests.average))
    for (const m of ['read', 'write'] as const) {
      const v = median(t[m].map((r) => r.requests.average))
      const p99 = median(t[m].map((r) => r.latency.p99))
      const bad = t[m].reduce((n, r) => n + r.non2xx + r.errors, 0)
      rows.push(`| ${m === 'read' ? 'GET /v1/services/NAME' : 'PATCH /v1/services/NAME/reals/REAL {weight}'}, ${t.services} services x 4 | ${ref.toFixed(0)} req/s | ${v.toFixed(0)} req/s (p99 ${p99} ms${bad ? `, ${bad} non-2xx/errors` : ''}) | ${(v / ref).toFixed(3)} | |`)
    }
  }
  const m = report.memory as Awaited<ReturnType<typeof memory>> | undefined
  if (m) rows.push(`| daemon RSS, ${m.services} services x 4, ${args['mem-check'] === 'on' ? 'checks of kind on (no probes)' : 'connect checks every 1 s'} running ${args['mem-seconds']} s (host) | | ${m.rssTailMedianMB.toFixed(0)} MB (peak ${m.peakMB.toFixed(0)} MB; after a full GC: heap ${m.afterGc?.heapUsedMB.toFixed(0)} MB, RSS ${m.afterGc?.rssMB.toFixed(0)} MB; CPU ${m.cpuCores.toFixed(2)} cores) | | <= 250 MB |`)
  process.stdout.write(['| what | fastify hello-world | lvs-director | ratio | target |', '| --- | ---: | ---: | ---: | --- |', ...rows].join('\n') + '\n')
  process.stdout.write(`${JSON.stringify(report)}\n`)
}

main().then(() => { if (!args['mem-child']) process.exit(0) }, (err) => {
  log(`FAILED: ${(err as Error).stack ?? err}`)
  process.exit(1)
})
