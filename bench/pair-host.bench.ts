// The director pair's failover gap on this host's own kernel (no emulation): the topology of
// test/pair-failover.test.ts (test/helpers/pair-net.ts: namespaces made here, a bridge, Redis, a client, a web server
// on each director standing in for what the VIP serves; ipvsadm is the stand-in fake-ipvsadm.mjs, this host has no
// IPVS, and the gap does not depend on it: the standby's kernel is programmed before a takeover). bench/README.md
// ("Director pair", "On this host's kernel") says what and why.
//
//   npm run -s bench:pair-host        (under `flock /tmp/lvs-lab.lock`: never beside a lab run)
//   node dist/bench/pair-host.bench.js [--only ours-default,ours-test,keepalived,keepalived-fast,sync-lag] [--trials 10]
//                                      [--rounds 1] [--interval 20] [--probe-timeout 300] [--part-budget 300] [--writes 100] [--out FILE]
//
// Parts (--only, default all):
//   ours-default     lvs-director with the config's defaults (heartbeat 0.05 s x 3, stallLimit 2 s, lease ttl 1 s,
//                    margin 0.25 s): no timer in its config
//   ours-test        the same with test/pair-failover.test.ts's heartbeat 0.1 s x 5
//   keepalived       keepalived as the pair (one vrrp_instance per director moving the VIP), VRRPv2, advert_int 1
//   keepalived-fast  the same with VRRPv3 and advert_int 0.05
//   sync-lag         lvs-director with the defaults, a active: --writes API writes on b, one after another (each adds a
//                    real server), each timed from its request to a's audit of it (its desired table) and to a's next
//                    "kernel table updated" (the stand-in ipvsadm's -R exited); reference, in the same run: one
//                    stand-in ipvsadm process, spawn to exit (a node process: a real ipvsadm costs a few ms)
// Each part: director a (priority 150) active, b (100) standby, no preemption; a client polls the VIP open-loop
// (a GET every --interval ms, each with a --probe-timeout). A trial, once the client answers steadily: kill -9 of the
// active (keepalived: its processes, stopped first) and its link down; gap = the longest time between the send
// times of two answered requests around the kill (which comes 0-1 s, at random, after the pair settled, so at
// a random phase of heartbeats and adverts); takeover = the kill to the survivor's "role active" line (its
// own ms time) / "Entering MASTER STATE" (when the line reached this process). The dead one comes back as after a
// reboot (VIP removed, link up, restarted, state folder kept) and is the next trial's standby. Flaps: takeovers
// beyond the first start and one per trial. --rounds R: each part's trials in R blocks, a fresh pair each, the parts'
// order reversed every other round (no pair always first or last). No new trial once a block has run --part-budget
// seconds; every wait is bounded; everything started is stopped and every namespace removed at the end, on failure
// and on SIGINT/SIGTERM.
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, release } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { fake, spawnNode, type DaemonProcess, type Line } from '../test/helpers/daemon-process.js'
import { ip, type Teardown } from '../test/helpers/netns.js'
import { PairNet, type PairNode, type ProbeLine } from '../test/helpers/pair-net.js'
import { gapAround, Keepalived, keepalivedConf, steady, trialStats, type Trial } from './failover.js'
import { median, percentile } from './ipvs-measure.js'

const PARTS = ['ours-default', 'ours-test', 'keepalived', 'keepalived-fast', 'sync-lag'] as const
type PartName = (typeof PARTS)[number]
const { values: args } = parseArgs({
  options: {
    only: { type: 'string', default: PARTS.join(',') },
    trials: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '1' },
    interval: { type: 'string', default: '20' },
    'probe-timeout': { type: 'string', default: '300' },
    'part-budget': { type: 'string', default: '300' },
    writes: { type: 'string', default: '100' },
    out: { type: 'string', default: '/tmp/pair-host-bench.json' },
  },
})
const ONLY = args.only.split(',').map((p) => p.trim())
for (const p of ONLY) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`--only: unknown part ${p} (parts: ${PARTS.join(', ')})`)
const TRIALS = Number(args.trials)
const ROUNDS = Math.max(1, Number(args.rounds))
const INTERVAL = Number(args.interval)
const PROBE_TIMEOUT = Number(args['probe-timeout'])
const BUDGET_MS = Number(args['part-budget']) * 1000
const WAIT_MS = 30_000 // the bound of any one wait (a start-up, a takeover, a steady client)
const PHASE_MS = 1000 // the longest period the kill's phase is drawn from (keepalived's default advert_int)
const PRIORITY: Record<PairNode, number> = { a: 150, b: 100 }
const other = (n: PairNode): PairNode => (n === 'a' ? 'b' : 'a')
const t0 = Date.now()
const progress = (line: string) => process.stderr.write(`pair-host +${((Date.now() - t0) / 1000).toFixed(1)} s: ${line}\n`)

/** `p`, or a rejection naming `what` after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_r, reject) => (timer = setTimeout(() => reject(new Error(`timed out (${ms} ms) waiting for ${what}`)), ms)))
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

/** Clean-ups, last in first out (as tap runs teardowns): run at the end, on failure, and on SIGINT/SIGTERM. */
class Cleanup implements Teardown {
  readonly #fns: Array<() => unknown> = []
  #running: Promise<void> | undefined
  teardown(fn: () => unknown): void {
    this.#fns.push(fn)
  }
  run(): Promise<void> {
    this.#running ??= (async () => {
      for (let fn = this.#fns.pop(); fn; fn = this.#fns.pop()) {
        try {
          await within(Promise.resolve(fn()), 20_000, 'a clean-up')
        } catch (err) {
          progress(`clean-up failed: ${(err as Error).message}`)
        }
      }
    })()
    return this.#running
  }
}

// --- one director of the pair under test, ours or keepalived's

interface Side {
  readonly node: PairNode
  readonly exited: Promise<unknown>
  alive(): boolean
  /** What its output last said: active (MASTER) or standby (BACKUP). */
  role(): string | undefined
  /** Lines so far (a mark for tookOver). */
  count(): number
  /** The time of its first takeover line from line `from` on. */
  tookOver(from: number): Promise<number>
  /** The times of all its takeover lines. */
  takeovers(): number[]
  kill(): void
  stop(): Promise<void>
}

interface PairKind {
  /** Starts director `node` (a restart when it ran before); resolves once it says it is active (`first`) or standby. */
  start(node: PairNode, first: boolean): Promise<Side>
  /** Resolves once the director started last and the survivor know of each other (the next kill may come). */
  settled(returned: Side, survivor: Side, mark: number): Promise<void>
  /** Times of the survivor's takeover steps after the kill (ms from it). */
  steps?(survivor: Side, from: number, killedAt: number): Record<string, number | string | undefined>
}

const lineTime = (l: Line) => l.time as number

class OursSide implements Side {
  readonly exited: Promise<unknown>
  constructor(readonly node: PairNode, readonly d: DaemonProcess) {
    this.exited = d.exited
  }
  alive = () => this.d.child.exitCode === null && this.d.child.signalCode === null
  role = () => this.d.lines.filter((l) => l.msg.startsWith('role ')).at(-1)?.msg.slice(5)
  count = () => this.d.lines.length
  tookOver = async (from: number) => lineTime(await this.d.waitFor((l) => l.msg === 'role active', from))
  takeovers = () => this.d.lines.filter((l) => l.msg === 'role active').map(lineTime)
  kill = () => void this.d.child.kill('SIGKILL')
  async stop(): Promise<void> {
    if (!this.alive()) return
    this.d.child.kill('SIGTERM')
    await within(this.d.exited, 10_000, `${this.node}'s director to stop`).catch(() => this.d.child.kill('SIGKILL'))
  }
}

function ours(pn: PairNet, cluster: string, heartbeat?: { interval: number; deadCount: number }): PairKind {
  return {
    async start(node, first) {
      const side = new OursSide(node, await pn.director(node, PRIORITY[node], { cluster, heartbeat }))
      await within(side.d.waitFor((l) => l.msg === `role ${first ? 'active' : 'standby'}`), WAIT_MS, `${node} ${first ? 'active' : 'standby'}`)
      return side
    },
    // It is standby (it heard the active, or listened a dead interval and read the lease) and the active heard it.
    async settled(_returned, survivor, mark) {
      await within((survivor as OursSide).d.waitFor((l) => l.msg === 'peer up', mark), WAIT_MS, `${survivor.node} hearing its peer again`)
    },
    steps(survivor, from, killedAt) {
      const lines = (survivor as OursSide).d.lines.slice(from)
      const at = (msg: string) => {
        const l = lines.find((x) => x.msg === msg)
        return l ? lineTime(l) - killedAt : undefined
      }
      return {
        peerLost: at('peer lost'), roleActive: at('role active'), vipAdded: at('VIP added'),
        reason: lines.find((x) => x.msg === 'role active')?.reason as string | undefined,
      }
    },
  }
}

class KeepalivedSide implements Side {
  readonly exited: Promise<unknown>
  constructor(readonly node: PairNode, readonly k: Keepalived) {
    this.exited = k.exited
  }
  alive = () => this.k.alive()
  role = () => ({ MASTER: 'active', BACKUP: 'standby' } as Record<string, string>)[this.k.state() ?? ''] ?? this.k.state()
  count = () => this.k.lines.length
  tookOver = (from: number) => this.k.waitFor(/Entering MASTER STATE/, from, WAIT_MS)
  takeovers = () => this.k.lines.filter((l) => /Entering MASTER STATE/.test(l.text)).map((l) => l.at)
  kill = () => this.k.killHard()
  stop = () => this.k.stop()
}

function keepalived(pn: PairNet, cleanup: Cleanup, fast: boolean): PairKind {
  const advertMs = fast ? 50 : 1000
  return {
    async start(node, first) {
      const dir = join(pn.dir, `keepalived-${fast ? 'fast' : 'default'}-${node}-${Date.now()}`)
      mkdirSync(dir)
      writeFileSync(join(dir, 'keepalived.conf'), keepalivedConf({ routerId: node, priority: PRIORITY[node], fast, vip: pn.vip, from: 'bench/pair-host.bench.ts' }))
      const side = new KeepalivedSide(node, new Keepalived(pn.ns[node], dir))
      cleanup.teardown(() => side.stop())
      await side.k.waitFor(first ? /Entering MASTER STATE/ : /Entering BACKUP STATE/, 0, WAIT_MS)
      return side
    },
    // A BACKUP that has not heard the master takes over when its master-down timer (3 x advert_int + skew, under
    // 4 x advert_int) runs out: once that much time has passed since it entered BACKUP and it is still BACKUP, it has
    // heard the master. (A kill of the master before then would let a returned BACKUP that never heard it take over
    // on its start-up timer, sooner than after a kill: keepalived would look faster than it is.)
    async settled(returned, survivor) {
      const since = (returned as KeepalivedSide).k.lines.filter((l) => /Entering BACKUP STATE/.test(l.text)).at(-1)!.at
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, since + 4 * advertMs - Date.now())))
      if (returned.role() !== 'standby' || survivor.role() !== 'active') throw new Error(`not settled: ${returned.node} ${returned.role()}, ${survivor.node} ${survivor.role()}`)
    },
  }
}

// --- a part: start the pair, then trials

interface PartResult {
  part: PartName
  label: string
  trials: Array<Trial & { steps?: Record<string, number | string | undefined> }>
  flaps: number
  takeovers: Array<{ node: PairNode; at: number }>
  seconds: number
  stopped?: string
}

async function removeVip(pn: PairNet, node: PairNode): Promise<void> {
  if (await pn.holdsVip(node)) await ip('-n', pn.ns[node], 'addr', 'del', `${pn.vip}/32`, 'dev', 'eth0')
}

async function runPart(pn: PairNet, part: PartName, label: string, kind: PairKind, trials: number): Promise<PartResult> {
  const res: PartResult = { part, label, trials: [], flaps: 0, takeovers: [], seconds: 0 }
  const started = Date.now()
  const all: Side[] = []
  const probe = pn.probe(['--open-loop', '--interval', String(INTERVAL), '--timeout', String(PROBE_TIMEOUT)])
  const replies = () => probe.lines as ProbeLine[]
  try {
    progress(`${part}: starting a, then b`)
    const sides = {} as Record<PairNode, Side>
    all.push((sides.a = await kind.start('a', true)))
    const mark = sides.a.count()
    all.push((sides.b = await kind.start('b', false)))
    await kind.settled(sides.b, sides.a, mark)
    for (let i = 0; i < trials; i++) {
      if (Date.now() - started > BUDGET_MS) {
        res.stopped = `part budget (${BUDGET_MS / 1000} s) spent after ${i} trials`
        break
      }
      const dead = (['a', 'b'] as const).find((n) => sides[n].alive() && sides[n].role() === 'active')
      if (!dead) throw new Error(`no active director before trial ${i + 1}: a ${sides.a.role()}, b ${sides.b.role()}`)
      const victim = sides[dead]
      const survivor = sides[other(dead)]
      if (survivor.role() !== 'standby') throw new Error(`${survivor.node} is ${survivor.role()}, not standby, before trial ${i + 1}`)
      // The kill at a random phase of the heartbeats and renews (50-100 ms), the adverts (50 ms, 1 s) and the client
      // (20 ms): right after the previous trial's last event it came at much the same phase each time (keepalived's
      // default part: 3.06 s after every kill of b, not spread over 2.4-3.4 s).
      await new Promise((resolve) => setTimeout(resolve, Math.random() * PHASE_MS))
      await within(probe.waitFor(() => steady(replies(), Date.now(), PROBE_TIMEOUT)), WAIT_MS, 'a steady client before the kill')
      const from = survivor.count()
      const killedAt = Date.now()
      victim.kill()
      await ip('-n', pn.ns[dead], 'link', 'set', 'eth0', 'down')
      const linkDownMs = Date.now() - killedAt
      const took = await within(survivor.tookOver(from), WAIT_MS, `${survivor.node} taking over`)
      // An answer sent over a second after the takeover and a timeout later: every request sent before it is done.
      const later = await within(probe.waitFor((l) => (l as ProbeLine).ok && (l as ProbeLine).at > took + 1000 + PROBE_TIMEOUT), WAIT_MS, 'answers after the takeover')
      const g = gapAround(replies(), killedAt, (later as ProbeLine).at - PROBE_TIMEOUT)
      const trial = { killed: dead, gapMs: g.gapMs, takeoverMs: took - killedAt, linkDownMs, failed: g.failed, sent: g.sent, lastBefore: g.lastBefore - killedAt, firstAfter: g.firstAfter - killedAt, steps: kind.steps?.(survivor, from, killedAt) }
      res.trials.push(trial)
      progress(`${part} trial ${i + 1}: ${dead} killed; gap ${trial.gapMs} ms, takeover ${trial.takeoverMs} ms, first answer +${trial.firstAfter} ms${trial.steps ? ` (${JSON.stringify(trial.steps)})` : ''}`)
      // The dead one comes back as after a reboot.
      await within(victim.exited, WAIT_MS, `${dead} to die`)
      await removeVip(pn, dead)
      await ip('-n', pn.ns[dead], 'link', 'set', 'eth0', 'up')
      const mark = survivor.count()
      all.push((sides[dead] = await kind.start(dead, false)))
      await kind.settled(sides[dead], survivor, mark)
    }
  } catch (err) {
    res.stopped = (err as Error).message
    progress(`${part}: stopped: ${res.stopped}`)
  } finally {
    res.takeovers = all.flatMap((s) => s.takeovers().map((at) => ({ node: s.node, at: at - started }))).sort((x, y) => x.at - y.at)
    res.flaps = Math.max(0, res.takeovers.length - 1 - res.trials.length)
    await Promise.all(all.map((s) => s.stop()))
    probe.child.kill('SIGTERM')
    await within(probe.exited, 10_000, 'the client to stop').catch(() => probe.child.kill('SIGKILL'))
    for (const n of ['a', 'b'] as const) {
      await removeVip(pn, n)
      await ip('-n', pn.ns[n], 'link', 'set', 'eth0', 'up')
    }
    res.seconds = Math.round((Date.now() - started) / 1000)
  }
  return res
}

/** Two blocks of one part's trials as one (the later block's times from its own start). */
function mergeParts(a: PartResult, b: PartResult): PartResult {
  const stopped = [a.stopped, b.stopped].filter(Boolean).join('; ')
  return { ...a, trials: [...a.trials, ...b.trials], flaps: a.flaps + b.flaps, takeovers: [...a.takeovers, ...b.takeovers], seconds: a.seconds + b.seconds, ...(stopped ? { stopped } : {}) }
}

// --- sync lag: API writes on b until a's table and kernel have them

interface SyncLagResult {
  part: 'sync-lag'
  writes: number
  acknowledged: number
  toTable: number[]
  toKernel: number[]
  answered: number[]
  ipvsadmProcess: number[]
  seconds: number
  stopped?: string
}

const apiWriterJs = fileURLToPath(new URL('../test/lab/guest/api-writer.js', import.meta.url))

async function syncLag(pn: PairNet, writes: number): Promise<SyncLagResult> {
  const res: SyncLagResult = { part: 'sync-lag', writes, acknowledged: 0, toTable: [], toKernel: [], answered: [], ipvsadmProcess: [], seconds: 0 }
  const started = Date.now()
  const dirs: DaemonProcess[] = []
  try {
    progress('sync-lag: starting a, then b')
    const a = await pn.director('a', PRIORITY.a, { cluster: 'bench-sync' })
    dirs.push(a)
    await within(a.waitFor((l) => l.msg === 'role active'), WAIT_MS, 'a active')
    const b = await pn.director('b', PRIORITY.b, { cluster: 'bench-sync' })
    dirs.push(b)
    await within(b.waitFor((l) => l.msg === 'role standby'), WAIT_MS, 'b standby')
    // The reference: the stand-in ipvsadm the directors run, as one process from spawn to exit.
    const state = join(pn.dir, 'sync-lag-reference.kernel')
    for (let i = 0; i < 20; i++) {
      const t = performance.now()
      spawnSync(process.execPath, [fake, '-Ln'], { env: { ...process.env, FAKE_IPVSADM_STATE: state } })
      res.ipvsadmProcess.push(performance.now() - t)
    }
    const from = a.lines.length
    progress(`sync-lag: ${writes} writes on b`)
    const writer = spawnNode([apiWriterJs, '--api', 'http://127.0.0.1:9410', '--service', 'web', '--count', String(writes), `${pn.net.split('.').slice(0, 2).join('.')}.1.`], {}, { netns: pn.ns.b })
    await within(writer.exited, WAIT_MS * 4, 'the writes')
    const done = writer.lines as unknown as Array<{ status?: number; sentAt: number; answeredAt: number }>
    const acked = done.filter((w) => w.status !== undefined && w.status >= 200 && w.status < 300)
    res.acknowledged = acked.length
    const synced = (l: Line) => l.audit?.actor === 'peer' && l.audit.action === 'sync'
    await within(a.waitFor(() => a.lines.slice(from).filter(synced).length >= acked.length, from), WAIT_MS, "a's audit of every write")
    const lines = a.lines.slice(from)
    await within(a.waitFor((l) => l.msg === 'kernel table updated' && lineTime(l) >= lineTime(lines.filter(synced).at(-1)!), from), WAIT_MS, "a's kernel update after the last write")
    const audits = a.lines.slice(from).filter(synced)
    const kernel = a.lines.slice(from).filter((l) => l.msg === 'kernel table updated')
    // b's writes go to Redis one after another, so a takes them in that order: the i-th audit is the i-th write.
    acked.forEach((w, i) => {
      const audit = audits[i]!
      res.toTable.push(lineTime(audit) - w.sentAt)
      res.toKernel.push(lineTime(kernel.find((l) => lineTime(l) >= lineTime(audit))!) - w.sentAt)
      res.answered.push(w.answeredAt - w.sentAt)
    })
  } catch (err) {
    res.stopped = (err as Error).message
    progress(`sync-lag: stopped: ${res.stopped}`)
  } finally {
    for (const d of dirs.reverse()) {
      d.child.kill('SIGTERM')
      await within(d.exited, 10_000, 'a director to stop').catch(() => d.child.kill('SIGKILL'))
    }
    for (const n of ['a', 'b'] as const) await removeVip(pn, n)
    res.seconds = Math.round((Date.now() - started) / 1000)
  }
  return res
}

// --- the run

const LABELS: Record<Exclude<PartName, 'sync-lag'>, string> = {
  'ours-default': 'lvs-director, defaults (heartbeat 0.05 s x 3, stallLimit 2 s, lease ttl 1 s, margin 0.25 s)',
  'ours-test': 'lvs-director, heartbeat 0.1 s x 5 (the test\'s), lease defaults',
  keepalived: 'keepalived, VRRPv2 advert_int 1 (default)',
  'keepalived-fast': 'keepalived, VRRPv3 advert_int 0.05',
}

async function main(cleanup: Cleanup): Promise<void> {
  const kaVersion = spawnSync('keepalived', ['--version'], { encoding: 'utf8' })
  const results = {
    started: new Date(t0).toISOString(), kernel: release(), cpu: `${cpus().length} x ${cpus()[0]?.model ?? '?'}`, node: process.version,
    keepalived: `${kaVersion.stderr ?? ''}${kaVersion.stdout ?? ''}`.split('\n')[0] || 'not found', loadStart: loadavg().map((l) => l.toFixed(2)).join(' '),
    loadEnd: '', trials: TRIALS, intervalMs: INTERVAL, probeTimeoutMs: PROBE_TIMEOUT, seconds: 0, parts: [] as PartResult[],
    syncLag: undefined as SyncLagResult | undefined,
  }
  try {
    const pn = await PairNet.create(cleanup)
    await pn.redis()
    for (const n of ['a', 'b'] as const) await pn.web(n)
    const kinds: Record<Exclude<PartName, 'sync-lag'>, () => PairKind> = {
      'ours-default': () => ours(pn, 'bench-default'),
      'ours-test': () => ours(pn, 'bench-test', { interval: 0.1, deadCount: 5 }),
      keepalived: () => keepalived(pn, cleanup, false),
      'keepalived-fast': () => keepalived(pn, cleanup, true),
    }
    // The trials of each part in --rounds blocks, the parts' order reversed every other round: no pair always runs
    // first (after whatever ran before this benchmark) or last.
    const failover = PARTS.filter((p): p is Exclude<PartName, 'sync-lag'> => p !== 'sync-lag' && ONLY.includes(p))
    for (let round = 0; round < ROUNDS; round++) {
      for (const part of round % 2 ? [...failover].reverse() : failover) {
        const trials = Math.floor(TRIALS / ROUNDS) + (round < TRIALS % ROUNDS ? 1 : 0)
        const r = await runPart(pn, part, LABELS[part], kinds[part](), trials)
        const seen = results.parts.find((p) => p.part === part)
        if (!seen) results.parts.push(r)
        else Object.assign(seen, mergeParts(seen, r))
      }
    }
    if (ONLY.includes('sync-lag')) results.syncLag = await syncLag(pn, Number(args.writes))
  } finally {
    await cleanup.run()
    results.loadEnd = loadavg().map((l) => l.toFixed(2)).join(' ')
    results.seconds = Math.round((Date.now() - t0) / 1000)
    writeFileSync(args.out, JSON.stringify(results, null, 2) + '\n')
  }
  const out = [
    `## Director pair failover on this host (kernel ${results.kernel}, ${results.cpu}, node ${results.node}, ${results.keepalived})`, '',
    `Client: one GET to the VIP every ${INTERVAL} ms (open loop), timeout ${PROBE_TIMEOUT} ms. Gap = the longest time between the send times of two answered requests around the kill (-9 of the active + its link down); takeover = kill to the survivor's "role active" / "Entering MASTER STATE". Times in ms.`, '',
    '| pair | trials | gap median | gap worst | takeover median | takeover worst | failed requests / trial | flaps | gaps | takeovers |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  ]
  for (const p of results.parts) {
    const s = trialStats(p.trials)
    const cells = s ? [s.n, s.gapMedian, s.gapWorst, s.takeoverMedian, s.takeoverWorst, s.failedMedian].map((v) => String(Math.round(v))) : ['0', '', '', '', '', '']
    out.push(`| ${p.label}${p.stopped ? ` (stopped: ${p.stopped.slice(0, 100)})` : ''} | ${cells.join(' | ')} | ${p.flaps} | ${p.trials.map((t) => t.gapMs).join(', ')} | ${p.trials.map((t) => t.takeoverMs).join(', ')} |`)
  }
  const stepped = results.parts.filter((p) => p.trials.some((t) => t.steps))
  if (stepped.length) {
    out.push('', 'lvs-director\'s takeover by step (medians, ms after the kill; its own log times): the survivor\'s `peer lost`, `role active` (the lease steal answered), `VIP added` (over rtnetlink; the gratuitous ARP goes then, from the same process), and the client\'s first answer.', '')
    out.push('| pair | peer lost | role active | VIP added | first answer |', '| --- | ---: | ---: | ---: | ---: |')
    for (const p of stepped) {
      const m = (k: string) => {
        const v = p.trials.map((t) => t.steps?.[k]).filter((x): x is number => typeof x === 'number')
        return v.length ? String(Math.round(median(v))) : ''
      }
      out.push(`| ${p.label} | ${m('peerLost')} | ${m('roleActive')} | ${m('vipAdded')} | ${Math.round(median(p.trials.map((t) => t.firstAfter)))} |`)
    }
  }
  const sl = results.syncLag
  if (sl) {
    const row = (what: string, v: number[]) => `| ${what} | ${v.length} | ${v.length ? Math.round(median(v)) : ''} | ${v.length ? Math.round(percentile(v, 99)) : ''} | ${v.length ? Math.round(Math.max(...v)) : ''} |`
    out.push('', `Sync lag (defaults, a active): ${sl.writes} API writes on b one after another, ${sl.acknowledged} acknowledged${sl.stopped ? ` (stopped: ${sl.stopped})` : ''}. Times in ms from each request.`, '')
    out.push('| what | n | median | p99 | max |', '| --- | ---: | ---: | ---: | ---: |')
    out.push(row("in a's desired table (its audit of the peer's change)", sl.toTable), row("in a's kernel (its next `kernel table updated`: the stand-in ipvsadm's -R exited)", sl.toKernel), row("b's answer", sl.answered), row('reference: one stand-in ipvsadm process (node), spawn to exit', sl.ipvsadmProcess))
  }
  out.push('', `Load average ${results.loadStart} at the start, ${results.loadEnd} at the end; ${results.seconds} s; JSON in ${args.out}.`)
  process.stdout.write(out.join('\n') + '\n')
}

const cleanup = new Cleanup()
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    progress(`${signal}: cleaning up`)
    void cleanup.run().then(() => process.exit(130))
  })
}
if (process.getuid?.() !== 0) throw new Error('pair-host: needs root (network namespaces)')
await main(cleanup)
