// The director daemon benchmark, run in the lab guest inside director namespace dir-a (bench/director.sh), as ONE
// node process holding the daemon (startDaemon, the real HTTP API on loopback, real ipvsadm) and the raw
// reference (plain ipvsadm processes spawned by the same process), interleaved:
//   1. health transition to kernel: a check's listener closed -> the real server at weight 0 in the kernel,
//      against one raw `ipvsadm -e` of the same line;
//   2. API write to kernel: POST a real server -> in the kernel, against one raw `ipvsadm -a` of the same line
//      (on a 2-service table, and again on the 50,000-rule table);
//   3. a burst of 1,000 concurrent API writes into a 50,000-rule table -> all in the kernel, against one raw
//      `ipvsadm -R` of the same 1,000 lines.
// "In the kernel" = the `ipvsadm -R` process that carried the line exited 0: the daemon's exec is wrapped so the
// benchmark sees every restore's lines and its exit time (untimed checks with `ipvsadm -Sn` confirm).
// bench/README.md ("Director daemon") has the method and the figures.
//
//   npm run -s bench:director            (host: builds, boots the lab, runs this)
//   node dist/bench/director.bench.js [--transitions 20] [--writes 20] [--burst 1000] [--rounds 2] [--warmup 3] [--api-interval 0.1] (--services 0: parts 1-2 only) [--services 10000]
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { cpus, release } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { parseArgs } from 'node:util'
import { fastify } from 'fastify'
import { Pool, request } from 'undici'
import { buildApi } from '../src/api/app.js'
import { inputText, nodeExec, type Exec } from '../src/exec.js'
import { startDaemon, type Daemon } from '../src/main.js'
import { CHANGE_COMMANDS } from './director-fake-exec.js'
import { median, mustRun, now, percentile, runRaw } from './ipvs-measure.js'
import { BENCH_VIP, benchPort, rawRestoreText, REAL_SERVERS } from './ipvs-rules.js'

const log = (line: string) => process.stderr.write(`[director-bench ${process.uptime().toFixed(1)}s] ${line}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const { values: args } = parseArgs({
  options: {
    transitions: { type: 'string', default: '20' },
    writes: { type: 'string', default: '20' },
    burst: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '2' },
    services: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '50' },
    'big-writes': { type: 'string', default: '10' },
    gets: { type: 'string', default: '3' },
    /** Untimed rounds before parts 1 and 2 (the first requests run cold code: JIT warm-up, lazy compilation). */
    warmup: { type: 'string', default: '3' },
    /** Check interval (s) of service api, whose new real servers go to weight 1 at their first check. */
    'api-interval': { type: 'string', default: '0.1' },
  },
})
const N_TRANSITIONS = Number(args.transitions)
const N_WRITES = Number(args.writes)
const N_BIG_WRITES = Number(args['big-writes'])
const BURST = Number(args.burst)
const ROUNDS = Number(args.rounds)
const N_SERVICES = Number(args.services)
const CONCURRENCY = Number(args.concurrency)
const WARMUP = Number(args.warmup)
/** Drops each series' warm-up samples (the first WARMUP of every array). */
const dropWarmup = <T extends Record<string, number[]>>(r: T): T => {
  for (const v of Object.values(r)) v.splice(0, WARMUP)
  return r
}

const RS = REAL_SERVERS[0] // 192.0.2.11, on dir-a's connected /24 (DR needs it; it need not answer)
const H_PORT = 30000 // service "h": its one real server's check is a connect to a local listener we close
const API_PORT = 30001 // service "api": real servers are POSTed to it
const CHECK_PORT = 39000 // the listener service h's check connects to (127.0.0.1 in dir-a)
const BATCH_WINDOW = 20
const OUT = process.env.LAB_OUT ?? '/tmp'

// --- the daemon's ipvsadm, observed: every -R's lines with the time its process exited -----------------

interface Seen { line: string; at: number; start: number; ok: boolean }
const waiters: Array<{ match: (l: string) => boolean; resolve: (s: Seen) => void }> = []
const processes: Array<{ argv: string[]; ms: number; lines: number }> = []
const observedExec = (inner: Exec): Exec => async (file, argv, options) => {
  // The input once, as text: an input of chunks is made as the process reads it, and can be read only once.
  const input = inputText(options.input)
  const start = now()
  const result = await inner(file, argv, { ...options, input })
  const at = now()
  // A batch: `-R` with its lines on stdin, or one line run as the command itself (-A/-E/-D/-a/-e/-d).
  const lines = argv[0] === '-R' ? input.split('\n').filter(Boolean) : CHANGE_COMMANDS.has(argv[0] ?? '') ? [argv.join(' ')] : []
  processes.push({ argv, ms: at - start, lines: lines.length })
  const ok = result.code === 0 && !result.stderr.trim()
  for (const line of lines) {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!
      if (w.match(line)) {
        waiters.splice(i, 1)
        w.resolve({ line, at, start, ok })
      }
    }
  }
  return result
}
/** Resolves when a restore carrying a line that matches has exited (register BEFORE causing the change). */
function seeLine(match: (l: string) => boolean, timeoutMs = 120_000): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no -R line matched within ${timeoutMs} ms`)), timeoutMs)
    waiters.push({ match, resolve: (s) => (clearTimeout(t), resolve(s)) })
  })
}
const weightIs = (w: number) => (l: string) => new RegExp(` -w ${w}( |$)`).test(l)
const destOf = (port: number, addr: string) => `-t ${BENCH_VIP}:${port} -r ${addr}:${port} `

// --- the daemon's log, observed: the health transition's moment ------------------------------------------

const logWaiters: Array<{ match: (msg: string) => boolean; resolve: (at: number) => void }> = []
const logTap = new Writable({
  write(chunk: Buffer, _enc, cb) {
    const at = now()
    for (const text of chunk.toString('utf8').split('\n')) {
      if (!text) continue
      let msg = ''
      try {
        const o = JSON.parse(text) as { msg?: string; level?: number }
        msg = o.msg ?? ''
        if ((o.level ?? 0) >= 50) log(`daemon: ${text.slice(0, 400)}`)
      } catch { continue }
      for (let i = logWaiters.length - 1; i >= 0; i--) {
        if (logWaiters[i]!.match(msg)) logWaiters.splice(i, 1)[0]!.resolve(at)
      }
    }
    cb()
  },
})
function seeLog(match: (msg: string) => boolean, timeoutMs = 30_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no log line matched within ${timeoutMs} ms`)), timeoutMs)
    logWaiters.push({ match, resolve: (at) => (clearTimeout(t), resolve(at)) })
  })
}

// --- helpers ----------------------------------------------------------------------------------------------

async function raw(args: string[], input?: string): Promise<number> {
  const r = await runRaw('ipvsadm', args, input)
  if (r.code !== 0 || r.stderr.trim()) throw new Error(`ipvsadm ${args.join(' ')}: ${r.code} ${r.stderr}`)
  return r.ms
}
const med = (v: number[]) => (v.length ? median(v) : NaN)
const stats = (v: number[]) => (v.length ? { n: v.length, p50: median(v), p99: percentile(v, 99), min: Math.min(...v), max: Math.max(...v) } : { n: 0, p50: NaN, p99: NaN, min: NaN, max: NaN })
const r1 = (x: number) => Math.round(x * 10) / 10

function listen(port: number): Promise<{ server: Server; close(): void }> {
  const sockets = new Set<Socket>()
  const server = createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    s.end()
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve({
      server,
      close() {
        server.close()
        for (const s of sockets) s.destroy()
      },
    }))
  })
}

async function kernelHas(pattern: RegExp): Promise<number> {
  const out = (await mustRun('ipvsadm', ['-Sn'])).stdout
  return out.split('\n').filter((l) => pattern.test(l)).length
}

// --- the run ----------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = new Date().toISOString()
  const dir = '/tmp/director-bench'
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(join(dir, 'state'), { recursive: true })
  await mustRun('ip', ['link', 'set', 'lo', 'up'])
  await mustRun('ipvsadm', ['-C'])
  const config = {
    director: { api: { listen: '127.0.0.1:0' }, stateDir: join(dir, 'state'), logLevel: 'info', batchWindow: BATCH_WINDOW, driftInterval: 86400 },
    services: [
      {
        name: 'h', protocol: 'tcp', address: BENCH_VIP, port: H_PORT, scheduler: 'wlc',
        check: { kind: 'connect', address: '127.0.0.1', port: CHECK_PORT, interval: 0.2, timeout: 0.5, fall: 1, rise: 1 },
        destinations: [{ address: RS, port: H_PORT, forwarding: 'dr', weight: 1 }],
      },
      {
        name: 'api', protocol: 'tcp', address: BENCH_VIP, port: API_PORT, scheduler: 'wlc',
        check: { kind: 'on', interval: Number(args['api-interval']), fall: 1, rise: 1 },
        destinations: [{ address: RS, port: API_PORT, forwarding: 'dr', weight: 1 }],
      },
    ],
  }
  const configFile = join(dir, 'director.yaml')
  writeFileSync(configFile, JSON.stringify(config, null, 1)) // JSON is YAML
  let listener = await listen(CHECK_PORT)
  const hUp = seeLine((l) => l.includes(destOf(H_PORT, RS)) && weightIs(1)(l))
  const daemon: Daemon = await startDaemon({ config: configFile, exec: observedExec(nodeExec), buildApi, logStream: logTap })
  const url = daemon.url!
  log(`daemon up at ${url}`)
  await hUp
  log('service h serving (weight 1)')

  // 1. health transition -> kernel
  const t1 = { raw: [] as number[], transition: [] as number[], killToKernel: [] as number[], detect: [] as number[], toSpawn: [] as number[], process: [] as number[] }
  const eLine = (w: number) => ['-e', '-t', `${BENCH_VIP}:${H_PORT}`, '-r', `${RS}:${H_PORT}`, '-g', '-w', String(w)]
  for (let i = 0; i < N_TRANSITIONS + WARMUP; i++) {
    const order = i % 2 ? ['dir', 'raw'] : ['raw', 'dir']
    for (const m of order) {
      if (m === 'raw') {
        t1.raw.push(await raw(eLine(0)))
        await raw(eLine(1)) // untimed: back as the director believes it is
        continue
      }
      const down = seeLog((msg) => msg.startsWith('real down service h '))
      const inKernel = seeLine((l) => l.includes(destOf(H_PORT, RS)) && weightIs(0)(l))
      listener.close()
      const t0 = now()
      const tTransition = await down
      const seen = await inKernel
      if (!seen.ok) throw new Error(`restore failed: ${seen.line}`)
      t1.transition.push(seen.at - tTransition)
      t1.killToKernel.push(seen.at - t0)
      t1.detect.push(tTransition - t0)
      t1.toSpawn.push(seen.start - tTransition)
      t1.process.push(seen.at - seen.start)
      const up = seeLine((l) => l.includes(destOf(H_PORT, RS)) && weightIs(1)(l))
      listener = await listen(CHECK_PORT)
      await up
    }
  }
  dropWarmup(t1)
  if ((await kernelHas(new RegExp(`${RS}:${H_PORT} -g -w 1`))) !== 1) throw new Error('service h not back at weight 1')
  log(`part 1 samples ${JSON.stringify(t1)}`)
  log(`1. transitions: raw p50 ${r1(med(t1.raw))} ms, transition->kernel p50 ${r1(med(t1.transition))} ms`)

  // 2. API write -> kernel (a real server POSTed, then deleted untimed)
  async function apiWrites(n: number, port: number, name: string, addr: string) {
    const res = { raw: [] as number[], present: [] as number[], serving: [] as number[], response: [] as number[], toSpawn: [] as number[], process: [] as number[] }
    const aLine = ['-a', '-t', `${BENCH_VIP}:${port}`, '-r', `${addr}:${port}`, '-g', '-w', '1']
    const dLine = ['-d', '-t', `${BENCH_VIP}:${port}`, '-r', `${addr}:${port}`]
    for (let i = 0; i < n + WARMUP; i++) {
      const order = i % 2 ? ['dir', 'raw'] : ['raw', 'dir']
      for (const m of order) {
        if (m === 'raw') {
          res.raw.push(await raw(aLine))
          await raw(dLine)
          continue
        }
        const present = seeLine((l) => l.startsWith(`-a ${destOf(port, addr)}`))
        const serving = seeLine((l) => l.includes(destOf(port, addr)) && weightIs(1)(l))
        const t0 = now()
        const r = await request(`${url}/v1/services/${name}/reals`, {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ address: addr, port, forwarding: 'dr', weight: 1 }),
        })
        const tResp = now()
        const body = await r.body.text()
        if (r.statusCode !== 201) throw new Error(`POST real: ${r.statusCode} ${body}`)
        const p = await present
        if (!p.ok) throw new Error(`restore failed: ${p.line}`)
        const s = await serving
        res.response.push(tResp - t0)
        res.present.push(p.at - t0)
        res.toSpawn.push(p.start - t0)
        res.process.push(p.at - p.start)
        res.serving.push(s.at - t0)
        const gone = seeLine((l) => l.startsWith(`-d ${destOf(port, addr)}`.trim()))
        const d = await request(`${url}/v1/services/${name}/reals/${addr}:${port}`, { method: 'DELETE' })
        await d.body.text()
        if (d.statusCode !== 204) throw new Error(`DELETE real: ${d.statusCode}`)
        await gone
      }
    }
    return dropWarmup(res)
  }
  const t2 = await apiWrites(N_WRITES, API_PORT, 'api', '192.0.2.15')
  log(`part 2 samples ${JSON.stringify(t2)}`)
  log(`2. API writes: raw p50 ${r1(med(t2.raw))} ms, POST->kernel p50 ${r1(med(t2.present))} ms`)
  if (N_SERVICES === 0) {
    process.stdout.write(`${JSON.stringify({ transitions: stats(t1.transition), transitionsRaw: stats(t1.raw), apiWrite: stats(t2.present), apiWriteRaw: stats(t2.raw), toSpawn: stats(t2.toSpawn), process: stats(t2.process) })}\n`)
    await Promise.race([daemon.close(), sleep(5000)])
    return // --services 0: parts 1 and 2 only
  }

  // 3. the 50,000-rule table: programmed by one raw -R (untimed here; the IPVS benchmark times it), then the
  // director takes the same services over (restoreTable; adopt: the kernel already holds them at their weights)
  log(`programming ${N_SERVICES} services x ${REAL_SERVERS.length} (raw -R, untimed)`)
  const programMs = await raw(['-R'], rawRestoreText(N_SERVICES))
  log(`raw -R of ${N_SERVICES * 5} rules: ${(programMs / 1000).toFixed(1)} s`)
  const benchServices = Array.from({ length: N_SERVICES }, (_, i) => ({
    name: `b-${i}`, protocol: 'tcp', address: BENCH_VIP, port: benchPort(i), scheduler: 'wlc',
    check: { kind: 'on', interval: 60, fall: 1, rise: 1 },
    destinations: REAL_SERVERS.map((address) => ({ address, port: benchPort(i), forwarding: 'dr', weight: 1 })),
  }))
  // The director learns what the kernel now holds (its view was read at start-up): one drift read, which leaves
  // services it does not want alone. Then it takes them over without writing anything.
  const td = now()
  await daemon.director.checkDrift()
  const driftReadMs = now() - td
  log(`drift read of the table: ${(driftReadMs / 1000).toFixed(1)} s`)
  const procBefore = processes.length
  const tr = now()
  await daemon.director.restoreTable([...daemon.director.exportTable().services, ...benchServices], { actor: 'bench' })
  const restoreCallMs = now() - tr
  while (daemon.director.status().kernel.pending > 0) await sleep(100)
  const adoptMs = now() - tr
  const adoptRestores = processes.slice(procBefore).filter((p) => p.lines > 0)
  log(`director took the table over: restoreTable ${r1(restoreCallMs)} ms, settled ${r1(adoptMs)} ms, ${adoptRestores.length} restores of ${adoptRestores.reduce((n, p) => n + p.lines, 0)} lines`)
  await sleep(2000)

  // 2b. one API write on the 50,000-rule table
  const t2b = await apiWrites(N_BIG_WRITES, benchPort(N_SERVICES - 1), `b-${N_SERVICES - 1}`, '192.0.2.15')
  log(`2b. API writes on the big table: raw p50 ${r1(med(t2b.raw))} ms, POST->kernel p50 ${r1(med(t2b.present))} ms`)

  // contrast: one GET of one service on the big table with the counters cache cold, against one raw -Ln --exact
  const gets = { raw: [] as number[], dir: [] as number[] }
  for (let i = 0; i < Number(args.gets); i++) {
    gets.raw.push(await raw(['-Ln', '--exact']))
    await sleep(1200)
    const tg = now()
    const g = await request(`${url}/v1/services/b-${i}`)
    await g.body.text()
    gets.dir.push(now() - tg)
    if (g.statusCode !== 200) throw new Error(`GET: ${g.statusCode}`)
  }
  log(`GET one service on the big table (cold): ${gets.dir.map(r1).join(', ')} ms; raw -Ln --exact ${gets.raw.map(r1).join(', ')} ms`)

  // 3. bursts: raw, dir, dir, raw, ... each round a new real server address on services 0..BURST-1
  const burst = { raw: [] as number[], floor: [] as number[], dir: [] as Array<{ present: number; responses: number; reqP50: number; reqP99: number; answered: number; restores: number; restoreMs: number; own: number }> }
  // At most 50 connections (a listen backlog is 511; 1,000 connects at once were reset), pipelined up to the bound.
  const poolOf = (u: string) => new Pool(u, { connections: Math.min(CONCURRENCY, 50), pipelining: Math.ceil(CONCURRENCY / 50) })
  const pool = poolOf(url)
  const floorApp = fastify()
  floorApp.post('/v1/services/:name/reals', async (_req, reply) => reply.code(201).send({}))
  const floorPool = poolOf(await floorApp.listen({ host: '127.0.0.1', port: 0 }))
  /** BURST POSTs of one new real server each, CONCURRENCY in flight; `answered` resolves with the ms to the last answer. */
  const postBurst = (p: Pool, addr: string) => {
    const latencies: number[] = []
    let next = 0
    const t0 = now()
    const worker = async () => {
      while (next < BURST) {
        const i = next++
        const s = now()
        const r = await p.request({
          path: `/v1/services/b-${i}/reals`, method: 'POST', idempotent: true, blocking: false, headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ address: addr, port: benchPort(i), forwarding: 'dr', weight: 1 }),
        })
        const body = await r.body.text()
        if (r.statusCode !== 201) throw new Error(`POST b-${i}: ${r.statusCode} ${body}`)
        latencies.push(now() - s)
      }
    }
    return { t0, latencies, answered: Promise.all(Array.from({ length: CONCURRENCY }, worker)).then(() => now() - t0) }
  }
  for (let round = 0; round < ROUNDS * 2; round++) {
    const addr = `192.0.2.${20 + round}`
    const m = round % 4 === 0 || round % 4 === 3 ? 'raw' : 'dir'
    if (m === 'raw') {
      const text = Array.from({ length: BURST }, (_, i) => `-a -t ${BENCH_VIP}:${benchPort(i)} -r ${addr}:${benchPort(i)} -g -w 1\n`).join('')
      const ms = await raw(['-R'], text)
      burst.raw.push(ms)
      log(`3. burst round ${round} raw -R of ${BURST} lines: ${r1(ms)} ms`)
    } else {
      const pending = new Set(Array.from({ length: BURST }, (_, i) => destOf(benchPort(i), addr)))
      let lastAt = 0
      const all = new Promise<void>((resolve) => {
        const watch = (l: string) => {
          if (!l.startsWith('-a ')) return false
          const key = l.slice(3, l.indexOf(' -', l.indexOf(' -r ') + 4) + 1)
          return pending.has(key)
        }
        const arm = () => {
          waiters.push({
            match: watch,
            resolve: (s) => {
              pending.delete(s.line.slice(3, s.line.indexOf(' -', s.line.indexOf(' -r ') + 4) + 1))
              lastAt = s.at
              if (pending.size === 0) resolve()
              else arm()
            },
          })
        }
        arm()
      })
      // The HTTP floor: the same requests, same pool shape, to a route that only parses and answers.
      const floor = await postBurst(floorPool, addr).answered
      burst.floor.push(floor)
      log(`3. burst round ${round} HTTP floor: ${BURST} POSTs to a bare fastify route answered in ${r1(floor)} ms`)
      const procStart = processes.length
      const { t0, latencies, answered } = postBurst(pool, addr)
      let tResp = 0
      void answered.then((ms) => (tResp = ms))
      await Promise.race([all, answered.then(() => all)])
      await Promise.race([answered, sleep(1000)])
      const present = lastAt - t0
      const restores = processes.slice(procStart).filter((p) => p.lines > 0)
      const restoreMs = restores.reduce((n, p) => n + p.ms, 0)
      burst.dir.push({ present, responses: tResp, reqP50: med(latencies), reqP99: latencies.length ? percentile(latencies, 99) : NaN, answered: latencies.length, restores: restores.length, restoreMs, own: present - restoreMs })
      log(`burst sample ${JSON.stringify(burst.dir.at(-1))}`)
      log(`3. burst round ${round} director: all ${BURST} in kernel after ${r1(present)} ms (responses ${r1(tResp)} ms, ${restores.length} restores, ${r1(restoreMs)} ms in ipvsadm)`)
    }
    const n = await kernelHas(new RegExp(` -r ${addr.replace(/\./g, '\\.')}:`))
    if (n !== BURST) throw new Error(`round ${round}: kernel holds ${n} real servers ${addr}, expected ${BURST}`)
  }
  void pool.close().catch(() => {})
  void floorPool.close().catch(() => {})
  await floorApp.close()
  await Promise.race([daemon.close(), sleep(5000)])

  const report = {
    started, finished: new Date().toISOString(),
    env: { kernel: release(), cpu: cpus()[0]?.model, cpus: cpus().length, node: process.version, ipvsadm: (await runRaw('ipvsadm', ['--version'])).stdout.trim() },
    batchWindowMs: BATCH_WINDOW,
    transitions: { raw: stats(t1.raw), transitionToKernel: stats(t1.transition), killToKernel: stats(t1.killToKernel), detect: stats(t1.detect), toSpawn: stats(t1.toSpawn), process: stats(t1.process), samples: t1 },
    apiWrite: { raw: stats(t2.raw), present: stats(t2.present), serving: stats(t2.serving), response: stats(t2.response), toSpawn: stats(t2.toSpawn), process: stats(t2.process), samples: t2 },
    apiWriteBig: { raw: stats(t2b.raw), present: stats(t2b.present), serving: stats(t2b.serving), response: stats(t2b.response), toSpawn: stats(t2b.toSpawn), process: stats(t2b.process), samples: t2b },
    getBig: { raw: gets.raw, dir: gets.dir },
    table: { services: N_SERVICES, rules: N_SERVICES * 5, rawProgramMs: programMs, driftReadMs, restoreCallMs, adoptMs, adoptRestores: adoptRestores.length },
    burst: { n: BURST, concurrency: CONCURRENCY, raw: burst.raw, floor: burst.floor, dir: burst.dir, rawMedian: med(burst.raw), floorMedian: med(burst.floor), dirMedian: med(burst.dir.map((d) => d.present)) },
  }
  writeFileSync(join(OUT, 'director-bench.json'), JSON.stringify(report))
  const ratio = (a: number, b: number) => (a / b).toFixed(2)
  const T = report.transitions, A = report.apiWrite, B = report.apiWriteBig, U = report.burst
  const rows = [
    `| health transition -> kernel (weight 0), p50 / p99 | ${r1(T.raw.p50)} / ${r1(T.raw.p99)} ms (one \`-e\`) | ${r1(T.transitionToKernel.p50)} / ${r1(T.transitionToKernel.p99)} ms | ${ratio(T.transitionToKernel.p50, T.raw.p50)} / ${ratio(T.transitionToKernel.p99, T.raw.p99)}; p50 vs 1.3 x raw + ${BATCH_WINDOW} ms = ${r1(1.3 * T.raw.p50 + BATCH_WINDOW)} ms | <= 1.3x + window |`,
    `| listener closed -> kernel (detection included; interval 0.2 s, fall 1), p50 / p99 | | ${r1(T.killToKernel.p50)} / ${r1(T.killToKernel.p99)} ms | | |`,
    `| API POST real -> in kernel, 2-service table, p50 / p99 | ${r1(A.raw.p50)} / ${r1(A.raw.p99)} ms (one \`-a\`) | ${r1(A.present.p50)} / ${r1(A.present.p99)} ms | ${ratio(A.present.p50, A.raw.p50)} / ${ratio(A.present.p99, A.raw.p99)}; p50 vs 1.3 x raw + ${BATCH_WINDOW} ms = ${r1(1.3 * A.raw.p50 + BATCH_WINDOW)} ms | <= 1.3x + window |`,
    `| API POST real -> in kernel, ${N_SERVICES * 5}-rule table, p50 / p99 | ${r1(B.raw.p50)} / ${r1(B.raw.p99)} ms (one \`-a\`) | ${r1(B.present.p50)} / ${r1(B.present.p99)} ms | ${ratio(B.present.p50, B.raw.p50)} / ${ratio(B.present.p99, B.raw.p99)}; p50 vs 1.3 x raw + ${BATCH_WINDOW} ms = ${r1(1.3 * B.raw.p50 + BATCH_WINDOW)} ms | <= 1.3x + window |`,
    `| of which (p50): transition -> ipvsadm spawned / the -R process / API: POST -> spawned / the -R process | | ${r1(T.toSpawn.p50)} / ${r1(T.process.p50)} ms; ${r1(A.toSpawn.p50)} / ${r1(A.process.p50)} ms; big table ${r1(B.toSpawn.p50)} / ${r1(B.process.p50)} ms | | |`,
    `| POST answered (p50) | | ${r1(A.response.p50)} ms; big table ${r1(B.response.p50)} ms | | |`,
    `| contrast: GET one service, ${N_SERVICES * 5}-rule table, counters cache cold (median of 3) | ${r1(med(gets.raw))} ms (one \`-Ln --exact\`) | ${r1(med(gets.dir))} ms | ${ratio(med(gets.dir), med(gets.raw))} | |`,
    `| burst of ${BURST} API POSTs (${CONCURRENCY} at a time) -> all in kernel, ${N_SERVICES * 5}-rule table | ${r1(U.rawMedian)} ms (one \`-R\`) | ${r1(U.dirMedian)} ms | ${ratio(U.dirMedian, U.rawMedian)} | <= 2 |`,
    `| of which: the same ${BURST} POSTs to a bare fastify route in the same process (the HTTP floor, all answered) | | ${r1(U.floorMedian)} ms | ${ratio(U.floorMedian, U.rawMedian)} | |`,
  ]
  process.stdout.write(['| what | raw ipvsadm | lvs-director | ratio | target |', '| --- | ---: | ---: | --- | --- |', ...rows].join('\n') + '\n')
  process.stdout.write(`${JSON.stringify(report)}\n`)
}

main().then(() => process.exit(0), (err) => {
  log(`FAILED: ${(err as Error).stack ?? err}`)
  process.exit(1)
})
