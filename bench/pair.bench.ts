// The director pair's failover and sync-lag benchmark, in the lab guest (real IPVS; bench/pair.sh runs it as ONE
// node process living in namespace dir-b, so it reaches dir-b's API on loopback; everything else it does through
// `ip netns exec` / `ip -n`). `npm run -s bench:pair`; bench/README.md "Director pair" says what and why.
//
// Parts (--only takes a comma list of their names; default all, in this order):
//   ours          lvs-director in dir-a (priority 150) and dir-b (100), table in Redis (namespace redis), with the
//                 lab's emulation-scaled timers (test/lab/pair.scenario.ts): first the sync lag (--writes API writes
//                 on dir-b, each timed to dir-a's kernel, interleaved with one raw `ipvsadm -a` process each), then
//                 --trials failovers: kill -9 of the active director and its link down while a client in namespace
//                 client polls the VIP every 20 ms (open loop: a request starts every 20 ms, each with a short
//                 timeout); gap = the longest time between the send times of two answered requests around the kill;
//                 takeover = the survivor's "role active" log line after the kill. The dead director comes back
//                 as after a reboot (VIP and IPVS table gone, link up, its state folder kept) and is the next
//                 trial's standby; the next trial kills the other one.
//   keepalived    keepalived (Debian's, the host's binary) as the pair: VRRP on the bridge, virtual_server for the
//                 VIP with DR to rs1-3, default timers (advert_int 1, VRRPv2); same client, same trials.
//   keepalived-fast  the same with VRRPv3 and advert_int 0.05.
//   ours-default  lvs-director with its default timers (heartbeat 50 ms x 3, stallLimit 2 s, lease ttl 1 s).
// Every part counts role changes that no kill caused (flaps). Every loop is bounded (--part-budget seconds per
// part: no new trial starts past it); everything started is stopped at the end.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { DirectorDaemon, note, weights, writeConfig, type LogLine } from '../test/lab/guest/director.js'
import { Lab, type LabProbe } from '../test/lab/guest/lab.js'
import { host, vip } from '../test/lab/topology.js'
import { gapAround, Keepalived, keepalivedConf, steady, trialStats, type Trial } from './failover.js'
import { median, runRaw } from './ipvs-measure.js'

const { values: args } = parseArgs({
  options: {
    trials: { type: 'string', default: '10' },
    writes: { type: 'string', default: '50' },
    only: { type: 'string', default: 'keepalived,keepalived-fast,ours,ours-default' },
    interval: { type: 'string', default: '20' },
    'probe-timeout': { type: 'string', default: '500' }, // under 1 s: a lost SYN is not retransmitted in time to count
    'part-budget': { type: 'string', default: '600' },
    'ours-budget': { type: 'string', default: '1500' }, // lvs-director with the lab timers: its trials restart a director (minutes on a busy host)
    out: { type: 'string', default: join(process.env.LAB_OUT ?? '/tmp', 'pair-bench.json') },
  },
})
const TRIALS = Number(args.trials)
const WRITES = Number(args.writes)
const PARTS = new Set(args.only.split(','))
const INTERVAL = Number(args.interval)
const PROBE_TIMEOUT = Number(args['probe-timeout'])
const BUDGET_MS = Number(args['part-budget']) * 1000
const OURS_BUDGET_MS = Number(args['ours-budget']) * 1000
const WARMUP = 2
/** A director's start-up (node, fastify, the first kernel update) took over 2 minutes on a host at load 8-10. */
const START_TIMEOUT = 600_000
/**
 * After a restart, before the next kill: the returned director must have heard its peer for a while. (A keepalived
 * restarted 3 s before the kill still ran its start-up master-down timer and took over 0.45 s after the kill.)
 */
const SETTLE_MS = 5000

const DIRS = ['dir-a', 'dir-b'] as const
type Ns = (typeof DIRS)[number]
const other = (ns: Ns): Ns => (ns === 'dir-a' ? 'dir-b' : 'dir-a')
const PRIORITY: Record<Ns, number> = { 'dir-a': 150, 'dir-b': 100 }
const [rs1, rs2, rs3] = [host('rs1'), host('rs2'), host('rs3')]
const SYNC_PORT = 8080
const SYNC_ADDR = '192.0.2.20' // on the directors' connected /24 (DR needs it); it need not answer: its check is `on`
const RAW_PORT = 9999 // a service of the benchmark's own in dir-b for the raw reference; no director owns it
const RAW_ADDR = '192.0.2.21'
const API = 'http://127.0.0.1:9410'
const t0 = Date.now()

const lab = new Lab()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
function progress(line: string): void {
  const text = `pair-bench +${((Date.now() - t0) / 1000).toFixed(0)} s: ${line}`
  process.stderr.write(text + '\n')
  note(text)
}
/** A part that stopped early: its error (and the tail of its details) kept in the results and said. */
function stoppedEarly(part: { error?: string; errorDetails?: unknown }, label: string, err: unknown): void {
  part.error = (err as Error).message
  const details = (err as { details?: unknown }).details
  part.errorDetails = typeof details === 'string' ? details.slice(-6000) : details
  progress(`${label}: stopped early: ${part.error}`)
  process.stderr.write(`${typeof details === 'string' ? details.slice(-3000) : JSON.stringify(details ?? '')}\n`)
}
async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out (${timeoutMs} ms) waiting for ${what}`)
    await sleep(stepMs)
  }
}
/** Nearest-rank percentile. */
function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!
}
const r0 = (n: number) => Math.round(n)
const r1 = (n: number) => Math.round(n * 10) / 10

// --- the client's view of one failover

async function startProbe(): Promise<LabProbe> {
  return lab.probe('client', lab.url(vip.ip4), { intervalMs: INTERVAL, timeoutMs: PROBE_TIMEOUT, openLoop: true })
}

/**
 * One failover: wait for a steady client, kill (`kill` runs the kill -9), take the link of `victim` down, wait for
 * `tookOver` (resolves the takeover's time), give the client 1.5 s of answers after it, measure the gap.
 */
async function failover(victim: Ns, kill: () => void, tookOver: () => Promise<number>): Promise<Trial> {
  const probe = await startProbe()
  try {
    await until('a steady client before the kill', () => steady(probe.replies(), Date.now(), PROBE_TIMEOUT), 60_000).catch((err: Error) => {
      const last = probe.replies().slice(-200)
      const errors = [...new Set(last.filter((r) => !r.ok).map((r) => r.error ?? `status ${r.status}`))].slice(0, 5)
      throw new Error(`${err.message}: of the last ${last.length} requests ${last.filter((r) => r.ok).length} answered; errors: ${errors.join('; ')}`)
    })
    const killedAt = Date.now()
    kill()
    await lab.run(null, ['ip', '-n', victim, 'link', 'set', 'eth0', 'down'])
    const linkDownMs = Date.now() - killedAt
    const took = await tookOver()
    await until('answers after the takeover', () => probe.replies().filter((r) => r.ok && r.at > took).length >= 1500 / INTERVAL / 2, 60_000)
    await sleep(1500)
    const g = gapAround(await probe.stop(), killedAt, Date.now() - PROBE_TIMEOUT)
    return { killed: victim, gapMs: g.gapMs, takeoverMs: took - killedAt, linkDownMs, failed: g.failed, sent: g.sent, lastBefore: g.lastBefore - killedAt, firstAfter: g.firstAfter - killedAt }
  } finally {
    await probe.stop()
  }
}

/** The victim comes back as after a reboot: no VIP, empty IPVS table, no sync daemon, link up. */
async function rebooted(ns: Ns): Promise<void> {
  await lab.exec(null, ['ip', '-n', ns, 'addr', 'del', `${vip.ip4}/32`, 'dev', 'eth0'])
  await lab.exec(ns, ['ipvsadm', '-R'], { input: '-C\n--stop-daemon master\n--stop-daemon backup\n' })
  await lab.linkUp(ns)
}

/** Both directors as the lab leaves them: no VIP, empty tables, no sync daemons, links up. */
async function cleanDirectors(): Promise<void> {
  for (const ns of DIRS) await rebooted(ns)
}

const WEB_OK = { [rs1.ip4]: 1, [rs2.ip4]: 1, [rs3.ip4]: 1 }
const sameWeights = (a: Record<string, number>, b: Record<string, number>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v)
async function kernelServes(ns: Ns): Promise<boolean> {
  return sameWeights(await weights(lab, ns, `tcp/${vip.ip4}:80`), WEB_OK)
}

// --- lvs-director

type Timers = 'scaled' | 'default'

function pairConfigDir(ns: Ns, timers: Timers): string {
  return `/tmp/lab-director/bench-pair-${timers}-${ns}`
}

async function startDirector(ns: Ns, timers: Timers, redis: { host: string; port: number; password: string }, restart = false): Promise<DirectorDaemon> {
  const dir = pairConfigDir(ns, timers)
  if (restart) return DirectorDaemon.start(lab, ns, [`${dir}/director.yaml`], undefined, START_TIMEOUT)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const scaled = timers === 'scaled'
  const cfg = writeConfig(dir, {
    director: {
      redis: { host: redis.host, port: redis.port, password: redis.password, cluster: `bench-${timers}` },
      pair: {
        node: ns, priority: PRIORITY[ns],
        heartbeat: {
          key: 'lab-heartbeat-key-0123456789', paths: [{ local: host(ns).ip4, peer: host(other(ns)).ip4 }],
          // The lab's emulation-scaled timers (test/lab/pair.scenario.ts); 'default' leaves the product's.
          ...(scaled ? { interval: 0.1, deadCount: 10, stallLimit: 6 } : {}),
        },
        ...(scaled ? { lease: { ttl: 4, margin: 1.5 } } : {}),
        vips: [{ address: vip.ip4, interface: 'eth0' }],
        syncDaemon: { interface: 'eth0', syncid: 7 },
      },
    },
    services: [
      { name: 'web', profile: 'web', address: vip.ip4, check: { kind: 'http', path: '/', interval: 2, timeout: 2, fall: 2, rise: 1 }, destinations: [rs1, rs2, rs3].map((h) => ({ address: h.ip4 })) },
      { name: 'sync', profile: 'web', address: vip.ip4, port: SYNC_PORT, check: { kind: 'on', interval: 0.2, fall: 1, rise: 1 }, destinations: [{ address: rs3.ip4 }] },
    ],
  })
  return DirectorDaemon.start(lab, ns, [cfg], undefined, START_TIMEOUT)
}

// A director's log lines, parsed once each (DirectorDaemon.lines() parses the whole output on every call: polled every
// 50 ms over a run's long logs that cost the emulated guest more CPU than the directors under test).
const parsed = new WeakMap<DirectorDaemon, { offset: number; lines: LogLine[] }>()
function linesOf(d: DirectorDaemon): LogLine[] {
  const c = parsed.get(d) ?? { offset: 0, lines: [] }
  parsed.set(d, c)
  const out = d.proc.output()
  const end = out.lastIndexOf('\n') + 1
  if (end > c.offset) {
    for (const l of out.slice(c.offset, end).split('\n')) {
      if (!l.startsWith('{')) continue
      try {
        c.lines.push(JSON.parse(l) as LogLine)
      } catch {
        // not a log line
      }
    }
    c.offset = end
  }
  return c.lines
}
async function waitLine(d: DirectorDaemon, match: (l: LogLine) => boolean, what: string, opts: { from?: number; timeoutMs: number }): Promise<LogLine> {
  let found: LogLine | undefined
  await until(what, () => {
    found = linesOf(d).slice(opts.from ?? 0).find(match)
    if (!found && !alive(d)) throw new Error(`${d.ns}'s director exited before ${what}: ${d.proc.output().slice(-2000)}`)
    return found !== undefined
  }, opts.timeoutMs, 50)
  return found!
}
const roleOf = (d: DirectorDaemon): string | undefined => linesOf(d).filter((l) => l.msg.startsWith('role ')).at(-1)?.msg.slice(5)
const alive = (d: DirectorDaemon) => d.proc.child.exitCode === null && d.proc.child.signalCode === null

interface PairPart {
  timers: Timers
  trials: Trial[]
  /** 'role active' lines that no kill explains (beyond the first start and one per trial). */
  flaps: number
  roleLines: Array<{ node: string; at: number; msg: string; reason?: unknown }>
  sync?: SyncResult
  error?: string
  errorDetails?: unknown
}

async function pairPart(timers: Timers, redis: { host: string; port: number; password: string }, withSync: boolean, withTrials: boolean): Promise<PairPart> {
  const part: PairPart = { timers, trials: [], flaps: 0, roleLines: [] }
  const started = Date.now()
  const all: DirectorDaemon[] = []
  const current: Partial<Record<Ns, DirectorDaemon>> = {}
  try {
    await cleanDirectors()
    progress(`lvs-director (${timers} timers): starting dir-a, then dir-b`)
    current['dir-a'] = await startDirector('dir-a', timers, redis)
    all.push(current['dir-a'])
    await waitLine(current['dir-a'], (l) => l.msg === 'role active', 'dir-a active', { timeoutMs: START_TIMEOUT })
    current['dir-b'] = await startDirector('dir-b', timers, redis)
    all.push(current['dir-b'])
    await waitLine(current['dir-b'], (l) => l.msg === 'role standby', 'dir-b standby', { timeoutMs: START_TIMEOUT })
    await until('both kernels serving rs1-3', async () => (await kernelServes('dir-a')) && (await kernelServes('dir-b')), 120_000, 500)
    if (withSync) part.sync = await syncLag(current['dir-a'], current['dir-b'])
    for (let i = 0; withTrials && i < TRIALS; i++) {
      if (Date.now() - started > (timers === 'scaled' ? OURS_BUDGET_MS : BUDGET_MS)) {
        progress(`lvs-director (${timers}): part budget spent after ${i} trials`)
        break
      }
      const activeNs = DIRS.find((ns) => alive(current[ns]!) && roleOf(current[ns]!) === 'active')
      if (!activeNs) throw new Error(`no active director before trial ${i + 1}: ${DIRS.map((ns) => `${ns} ${roleOf(current[ns]!)}`).join(', ')}`)
      const survivor = current[other(activeNs)]!
      await until(`${other(activeNs)} standby`, () => alive(survivor) && roleOf(survivor) === 'standby', 60_000)
      const mark = linesOf(survivor).length
      const victim = current[activeNs]!
      const trial = await failover(activeNs, () => victim.proc.child.kill('SIGKILL'), async () => (await waitLine(survivor, (l) => l.msg === 'role active', `${survivor.ns} takes over`, { from: mark, timeoutMs: 60_000 })).time)
      part.trials.push(trial)
      progress(`lvs-director (${timers}) trial ${i + 1}: ${activeNs} killed; gap ${trial.gapMs} ms, role active after ${trial.takeoverMs} ms, ${trial.failed}/${trial.sent} requests failed`)
      await rebooted(activeNs)
      current[activeNs] = await startDirector(activeNs, timers, redis, true)
      all.push(current[activeNs])
      await waitLine(current[activeNs], (l) => l.msg === 'role standby', `${activeNs} back as standby`, { timeoutMs: START_TIMEOUT })
      await until(`${activeNs}'s kernel serving again`, () => kernelServes(activeNs), 120_000, 1000)
      await sleep(SETTLE_MS)
    }
  } catch (err) {
    stoppedEarly(part, `lvs-director (${timers})`, err)
  } finally {
    for (const d of all) {
      part.roleLines.push(...linesOf(d).filter((l) => l.msg.startsWith('role ') || l.msg === 'peer lost' || l.msg === 'partition').map((l) => ({ node: d.ns, at: l.time - t0, msg: l.msg, reason: l.reason })))
    }
    part.roleLines.sort((a, b) => a.at - b.at)
    part.flaps = Math.max(0, part.roleLines.filter((l) => l.msg === 'role active').length - 1 - part.trials.length)
    await Promise.all(all.map((d) => d.proc.stop()))
    await cleanDirectors()
  }
  return part
}

// --- sync lag: an API write on dir-b until dir-a's kernel has it

interface SyncResult {
  /** API call on dir-b -> dir-a's 'kernel table updated' (the ipvsadm -R carrying it exited). */
  toPeerKernel: number[]
  /** API call on dir-b -> dir-a's audit of the peer's change (in its desired table). */
  toPeerTable: number[]
  /** API call -> dir-b's answer (it answers once Redis has the write and its own kernel is done). */
  answer: number[]
  /** One raw `ipvsadm -a` process in dir-b (spawn to exit), interleaved. */
  raw: number[]
  /** Writes whose presence (or absence) in dir-a's kernel was checked after the measure. */
  checked: number
}

async function syncLag(dirA: DirectorDaemon, dirB: DirectorDaemon): Promise<SyncResult> {
  progress(`sync lag: ${WRITES} API writes on dir-b (+${WARMUP} warm-up), each to dir-a's kernel, interleaved with raw ipvsadm -a`)
  const res: SyncResult = { toPeerKernel: [], toPeerTable: [], answer: [], raw: [], checked: 0 }
  const rawSvc = ['-t', `${vip.ip4}:${RAW_PORT}`]
  await runRaw('ipvsadm', ['-A', ...rawSvc, '-s', 'rr'])
  try {
    for (let i = 0; i < WRITES + WARMUP; i++) {
      // raw reference: one ipvsadm -a process (spawn to exit) in this namespace (dir-b); its -d untimed
      const raw = await runRaw('ipvsadm', ['-a', ...rawSvc, '-r', `${RAW_ADDR}:${RAW_PORT}`, '-g', '-w', '0'])
      if (raw.code !== 0) throw new Error(`raw ipvsadm -a failed: ${raw.stderr}`)
      await runRaw('ipvsadm', ['-d', ...rawSvc, '-r', `${RAW_ADDR}:${RAW_PORT}`])
      // the pair: add on even writes, delete on odd ones
      const add = i % 2 === 0
      const markA = linesOf(dirA).length
      const start = Date.now()
      const r = add
        ? await request(`${API}/v1/services/sync/reals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: SYNC_ADDR }) })
        : await request(`${API}/v1/services/sync/reals/${SYNC_ADDR}:${SYNC_PORT}`, { method: 'DELETE' })
      const answered = Date.now()
      const body = await r.body.text()
      if (r.statusCode !== (add ? 201 : 204)) throw new Error(`${add ? 'POST' : 'DELETE'} on dir-b: ${r.statusCode} ${body}`)
      const synced = await waitLine(dirA, (l) => l.audit?.actor === 'peer' && l.audit.action === 'sync', "dir-a's audit of the peer's change", { from: markA, timeoutMs: 120_000 })
      // The first kernel update after the write (the reconciler may log it before the audit line: store first).
      const applied = await waitLine(dirA, (l) => l.msg === 'kernel table updated', "dir-a's kernel update", { from: markA, timeoutMs: 120_000 })
      // untimed, before the next write: both kernels hold the new real server at weight 1 (it goes in at weight 0
      // and to 1 at its first check, kind `on`), or neither holds it any more
      const want = add ? { [rs3.ip4]: 1, [SYNC_ADDR]: 1 } : { [rs3.ip4]: 1 }
      for (const ns of DIRS) {
        await until(`write ${i} settled in ${ns}'s kernel`, async () => sameWeights(await weights(lab, ns, `tcp/${vip.ip4}:${SYNC_PORT}`), want), 120_000, 1000) // each look is an ipvsadm process: seconds of emulated CPU per second at 200 ms
      }
      if (i < WARMUP) continue
      res.checked++
      res.raw.push(raw.ms)
      res.answer.push(answered - start)
      res.toPeerTable.push(Date.parse(synced.audit!.at) - start)
      res.toPeerKernel.push(applied.time - start)
    }
  } finally {
    await runRaw('ipvsadm', ['-D', ...rawSvc])
  }
  progress(`sync lag: median ${r0(median(res.toPeerKernel))} ms, p99 ${r0(pct(res.toPeerKernel, 99))} ms; one raw ipvsadm -a median ${r0(median(res.raw))} ms`)
  return res
}

// --- keepalived

type KaMode = 'default' | 'fast'

function keepalivedConfOf(ns: Ns, mode: KaMode): string {
  return keepalivedConf({ routerId: ns, priority: PRIORITY[ns], fast: mode === 'fast', vip: vip.ip4, reals: [rs1, rs2, rs3].map((h) => h.ip4), from: 'bench/pair.bench.ts' })
}

interface KaPart {
  mode: KaMode
  trials: Trial[]
  flaps: number
  states: Array<{ node: string; at: number; state: string }>
  error?: string
  errorDetails?: unknown
  /** keepalived's own output, last lines of each process (for a part that stopped early). */
  output?: string[]
}

async function keepalivedPart(mode: KaMode): Promise<KaPart> {
  const part: KaPart = { mode, trials: [], flaps: 0, states: [] }
  const started = Date.now()
  const all: Keepalived[] = []
  const current: Partial<Record<Ns, Keepalived>> = {}
  const start = (ns: Ns) => {
    const dir = `/tmp/bench-keepalived/${mode}/${ns}`
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    writeFileSync(`${dir}/keepalived.conf`, keepalivedConfOf(ns, mode))
    const k = new Keepalived(ns, dir)
    all.push(k)
    current[ns] = k
    return k
  }
  try {
    await cleanDirectors()
    progress(`keepalived (${mode} timers): starting dir-a, then dir-b`)
    await start('dir-a').waitFor(/Entering MASTER STATE/, 0, 120_000)
    await start('dir-b').waitFor(/Entering BACKUP STATE/, 0, 120_000)
    await until('both kernels serving rs1-3', async () => (await kernelServes('dir-a')) && (await kernelServes('dir-b')), 120_000, 500)
    for (let i = 0; i < TRIALS; i++) {
      if (Date.now() - started > BUDGET_MS) {
        progress(`keepalived (${mode}): part budget spent after ${i} trials`)
        break
      }
      const masterNs = DIRS.find((ns) => current[ns]!.alive() && current[ns]!.state() === 'MASTER')
      if (!masterNs) throw new Error(`no MASTER before trial ${i + 1}: ${DIRS.map((ns) => `${ns} ${current[ns]!.state()}`).join(', ')}`)
      const survivor = current[other(masterNs)]!
      await until(`${survivor.ns} BACKUP`, () => survivor.alive() && survivor.state() === 'BACKUP', 60_000)
      const mark = survivor.lines.length
      const victim = current[masterNs]!
      const trial = await failover(masterNs, () => victim.killHard(), () => survivor.waitFor(/Entering MASTER STATE/, mark, 60_000))
      part.trials.push(trial)
      progress(`keepalived (${mode}) trial ${i + 1}: ${masterNs} killed; gap ${trial.gapMs} ms, MASTER after ${trial.takeoverMs} ms, ${trial.failed}/${trial.sent} requests failed`)
      await victim.exited
      await rebooted(masterNs)
      await start(masterNs).waitFor(/Entering BACKUP STATE/, 0, 120_000)
      await until(`${masterNs}'s kernel serving again`, () => kernelServes(masterNs), 120_000, 1000)
      await sleep(SETTLE_MS)
    }
  } catch (err) {
    stoppedEarly(part, `keepalived (${mode})`, err)
  } finally {
    for (const k of all) for (const l of k.lines) {
      const m = /Entering (\w+) STATE/.exec(l.text)
      if (m) part.states.push({ node: k.ns, at: l.at - t0, state: m[1]! })
    }
    part.states.sort((a, b) => a.at - b.at)
    part.flaps = Math.max(0, part.states.filter((s) => s.state === 'MASTER').length - 1 - part.trials.length)
    if (part.error) part.output = all.flatMap((k) => k.lines.slice(-40).map((l) => `${k.ns} +${l.at - t0} ${l.text}`))
    await Promise.all(all.map((k) => k.stop()))
    await cleanDirectors()
  }
  return part
}

// --- the run

async function main(): Promise<void> {
  const results: Record<string, unknown> = {
    started: new Date(t0).toISOString(), kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(), node: process.version,
    trials: TRIALS, writes: WRITES, intervalMs: INTERVAL, probeTimeoutMs: PROBE_TIMEOUT, guestLoadStart: readFileSync('/proc/loadavg', 'utf8').trim(),
  }
  const keepalivedVersion = await lab.exec(null, ['keepalived', '--version'])
  results.keepalived = (keepalivedVersion.stderr + keepalivedVersion.stdout).split('\n')[0]
  const rows: string[] = []
  let sync: SyncResult | undefined
  try {
    await lab.echoServers([rs1.ns, rs2.ns, rs3.ns])
    const redis = await lab.redisServer()
    const label = { scaled: 'lvs-director, lab timers (heartbeat 0.1 s x 10, stallLimit 6 s, lease ttl 4 s / margin 1.5 s)', default: 'lvs-director, default timers (heartbeat 0.05 s x 3, stallLimit 2 s, lease ttl 1 s / margin 0.25 s)' }
    const kaLabel = { default: 'keepalived, VRRPv2 advert_int 1 (default)', fast: 'keepalived, VRRPv3 advert_int 0.05' }
    const row = (what: string, trials: Trial[], flaps: number, error?: string) => {
      const s = trialStats(trials)
      rows.push(s
        ? `| ${what} | ${s.n} | ${r0(s.gapMedian)} | ${r0(s.gapWorst)} | ${r0(s.takeoverMedian)} | ${r0(s.takeoverWorst)} | ${s.failedMedian} | ${flaps}${error ? ` (stopped: ${error.slice(0, 120)})` : ''} |`
        : `| ${what} | 0 | | | | | | ${flaps}${error ? ` (stopped: ${error.slice(0, 120)})` : ''} |`)
    }
    const parts: Array<[string, () => Promise<void>]> = [
      ['keepalived', async () => {
        const p = await keepalivedPart('default')
        results.keepalivedDefault = p
        row(kaLabel.default, p.trials, p.flaps, p.error)
      }],
      ['keepalived-fast', async () => {
        const p = await keepalivedPart('fast')
        results.keepalivedFast = p
        row(kaLabel.fast, p.trials, p.flaps, p.error)
      }],
      ['ours', async () => {
        const p = await pairPart('scaled', redis, true, true)
        results.ours = p
        sync = p.sync
        row(label.scaled, p.trials, p.flaps, p.error)
      }],
      ['ours-default', async () => {
        const p = await pairPart('default', redis, false, true)
        results.oursDefault = p
        row(label.default, p.trials, p.flaps, p.error)
      }],
    ]
    for (const [name, run] of parts) if (PARTS.has(name)) await run()
    if (PARTS.has('sync') && !PARTS.has('ours')) {
      const p = await pairPart('scaled', redis, true, false)
      results.ours = p
      sync = p.sync
    }
  } finally {
    await lab.close()
    results.guestLoadEnd = readFileSync('/proc/loadavg', 'utf8').trim()
    results.seconds = r0((Date.now() - t0) / 1000)
    writeFileSync(args.out, JSON.stringify(results, null, 2) + '\n')
  }

  // the report
  const out: string[] = []
  out.push(`## Director pair failover (lab guest: kernel ${results.kernel}, qemu TCG, ${results.keepalived}; times are emulated)`, '')
  out.push(`Client in namespace client: one GET every ${INTERVAL} ms (open loop), timeout ${PROBE_TIMEOUT} ms. Gap = longest time between two answered requests around the kill (-9 of the active + its link down). Takeover = the survivor's "role active" (ours) / "Entering MASTER STATE" (keepalived) after the kill.`, '')
  out.push('| pair | trials | gap median (ms) | gap worst (ms) | takeover median (ms) | takeover worst (ms) | failed requests per trial (median) | flaps |')
  out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |')
  out.push(...rows)
  if (sync && sync.toPeerKernel.length > 0) {
    const line = (what: string, v: number[]) => `| ${what} | ${v.length} | ${r1(median(v))} | ${r1(pct(v, 99))} | ${r1(Math.max(...v))} |`
    out.push('', `## Sync lag (lab timers pair; ${sync.checked} writes on dir-b, alternately add and delete a real server, each checked in dir-a's kernel)`, '')
    out.push('| what | n | median (ms) | p99 (ms) | max (ms) |', '| --- | ---: | ---: | ---: | ---: |')
    out.push(line("API write on dir-b -> in dir-a's kernel", sync.toPeerKernel))
    out.push(line("API write on dir-b -> in dir-a's desired table (its audit)", sync.toPeerTable))
    out.push(line("API write on dir-b -> dir-b's answer", sync.answer))
    out.push(line('one `ipvsadm -a` process in the guest (spawn to exit)', sync.raw))
  }
  out.push('', `Guest load average: ${results.guestLoadStart} at the start, ${results.guestLoadEnd} at the end; ${results.seconds} s in all.`)
  process.stdout.write(out.join('\n') + '\n')
  process.stdout.write(JSON.stringify({ pairBench: { ours: trialStats((results.ours as PairPart | undefined)?.trials ?? []), keepalivedDefault: trialStats((results.keepalivedDefault as KaPart | undefined)?.trials ?? []), keepalivedFast: trialStats((results.keepalivedFast as KaPart | undefined)?.trials ?? []), oursDefault: trialStats((results.oursDefault as PairPart | undefined)?.trials ?? []) } }) + '\n')
}

const hardStop = setTimeout(() => {
  process.stderr.write('pair-bench: overall time limit reached\n')
  process.exit(3)
}, 3 * BUDGET_MS + OURS_BUDGET_MS + 1_200_000)
hardStop.unref()
await main()
