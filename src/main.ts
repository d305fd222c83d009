// The one place that builds and wires the daemon: config, logger, ipvsadm, owned set, reconciler, checks,
// director, API, signals. Everything else takes its side effects as arguments.
import { existsSync, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import { Agent } from 'undici'
import { createChecker } from '../healthchecks/registry.js'
import { createScheduler } from '../healthchecks/scheduler.js'
import { createTcpEngine } from '../healthchecks/tcp-connect.js'
import { netlinkReader } from './ipvs/netlink-read.js'
import { createIcmpTransport } from '../healthchecks/icmp.js'
import { commandRunner, openGuardRouter } from '../healthchecks/guard-router.js'
import type { FastifyInstance } from 'fastify'
import { systemClock } from './clock.js'
import { loadConfig, parseConfig, parseListen, type LoadedConfig } from './config/load.js'
import { Director } from './director.js'
import { loadLdirectord } from './config/ldirectord.js'
import { lockDir } from './fs-atomic.js'
import { keepSysctls } from './sysctl-keeper.js'
import { ERR_INVALID_VALUE, ERR_STORE_UNAVAILABLE, ERR_VIP_FAILED } from './errors.js'
import { nodeExec, type Exec } from './exec.js'
import { lvsPacket } from './native.js'
import { mergeListings } from './ipvs/format.js'
import { Ipvsadm } from './ipvs/ipvsadm.js'
import { OwnedStore } from './ipvs/owned.js'
import { Reconciler } from './reconcile/reconciler.js'
import { RedisTable, redisTableOptions, type StreamPosition } from './table/redis-table.js'
import { Alerts } from './ha/alerts.js'
import { createAnnouncer } from './ha/announce.js'
import { readHeartbeatKey, startHeartbeat } from './ha/heartbeat.js'
import { heartbeatPath } from './ha/heartbeat-config.js'
import { Lease } from './ha/lease.js'
import { Pair } from './ha/pair.js'
import { PairMarks } from './ha/pair-marks.js'
import { PairWatch } from './ha/pair-watch.js'
import { PairWatcher } from './ha/pair-watcher.js'
import type { PeerHeartbeat, Role } from './ha/role-types.js'
import { openSyncDaemonRole } from './ha/sync-daemon.js'
import { checkVip, openVips } from './ha/vips.js'
import { openHandoff } from './ha/handoff.js'
import type { PairControl } from './director.js'
import type { PairView } from './api/control.js'
import type { DirectorSettings } from './config/schema.js'
import { StateFile, type PersistedTable } from './table/state-file.js'
import type { DirectorControl } from './api/control.js'
import type { Token } from './config/schema.js'

/** Where the daemon's table comes from, and overrides from the command line. */
export interface DaemonOptions {
  /** A YAML config (or table) file. */
  config?: string
  /** An ldirectord.cf, run as it is. */
  ldirectord?: string
  /** `ADDRESS:PORT` for the API, overriding the config's. */
  api?: string
  /** The state directory, overriding the config's (an ldirectord.cf cannot name one). */
  stateDir?: string
  /** Where logs go. @default stdout */
  logStream?: NodeJS.WritableStream
  /** How commands (ipvsadm, ip, external checks) run. @default nodeExec (posix_spawn: no fork of the director) */
  exec?: Exec
  /** Builds the HTTP API (src/api); absent: no API. */
  buildApi?: (o: { control: DirectorControl; tokens: Token[]; logger: Logger; https?: { cert: Buffer; key: Buffer }; version: string }) => FastifyInstance
}

/** A running daemon. */
export interface Daemon {
  director: Director
  log: Logger
  /** `http(s)://host:port` of the API, when it listens. */
  url?: string
  /** Stops checks, timers, API and files; the kernel table is left as it is. Idempotent. */
  close(): Promise<void>
}

// package.json is one level up from src/ (run from source) or two from dist/src/ (compiled).
const VERSION = ((): string => {
  for (const up of ['../package.json', '../../package.json']) {
    const url = new URL(up, import.meta.url)
    if (existsSync(url)) return (JSON.parse(readFileSync(url, 'utf8')) as { name: string; version: string }).version
  }
  return 'unknown'
})()

/** How long a start waits for Redis before it serves the table in stateDir (it follows Redis once it is back). */
const REDIS_START_WAIT_MS = 10_000

/** The config named by the options (ldirectord.cf converted), with `--api` applied. */
async function configFrom(o: DaemonOptions, onWarning: (w: { line: number; directive: string; message: string }) => void): Promise<LoadedConfig> {
  let config: LoadedConfig
  if (o.ldirectord) {
    const r = await loadLdirectord(o.ldirectord)
    r.warnings.forEach(onWarning)
    config = r.config
  } else config = await loadConfig(o.config!)
  if (!o.api && !o.stateDir) return config
  // Re-validated so the loopback-without-tokens rule holds for the flag too.
  const d = structuredClone(config.director)
  const director = { ...d, api: o.api ? { ...d.api, listen: o.api } : d.api, stateDir: o.stateDir ?? d.stateDir }
  return parseConfig({ director, services: config.services })
}

/** Start the daemon; throws a coded error (bad config, locked state, no ipvsadm, no IPVS) before changing anything. */
export async function startDaemon(o: DaemonOptions): Promise<Daemon> {
  const warnings: Array<{ line: number; directive: string; message: string }> = []
  const config = await configFrom(o, (w) => warnings.push(w))
  const s = config.director
  const log = pino({ level: s.logLevel, redact: ['*.token', 'token', 'headers.authorization'] }, o.logStream ?? process.stdout)
  for (const w of warnings) log.warn({ file: o.ldirectord, line: w.line, directive: w.directive }, w.message)
  // Commands start with posix_spawn (src/exec.ts): a fork of this process would stop its main loop while the kernel
  // copied its page tables (up to seconds under emulation for a large table).
  const exec = o.exec ?? nodeExec
  // Whole-table reads go over netlink in-process when the module is built (not with an injected Exec: its table is a stand-in's).
  const netlink = o.exec ? undefined : netlinkReader()
  const ipvs = (exists?: (p: string) => boolean) => new Ipvsadm({ exec, path: s.ipvsadm.path, timeoutMs: s.ipvsadm.timeout * 1000, exists, netlink })
  const writer = ipvs(existsSync)
  const reader = ipvs()
  const closers: Array<() => Promise<unknown>> = []
  const closeAll = async () => {
    for (const c of closers.reverse()) await c().catch((err) => log.error({ err }, 'close failed'))
  }
  try {
    await writer.preflight() // no ipvsadm or no IPVS: one coded error before anything is touched
    const lock = await lockDir(s.stateDir)
    closers.push(() => lock.release())
    // Put back a crashed run's settings, or set this run's (put back on stop).
    const sysctls = keepSysctls(commandRunner(exec), join(s.stateDir, 'sysctls.json'))
    // A tuning, not a need: a kernel that refuses it (no such setting) is logged and served as it is.
    const missing = await sysctls.set({ ...(s.expireNodestConn ? { 'net.ipv4.vs.expire_nodest_conn': '1' } : {}), ...pairSysctls(s) })
      .catch((err: Error) => [{ name: 'all', err }])
    for (const m of missing) log.warn({ err: m.err, sysctl: m.name }, 'kernel setting not changed')
    closers.push(() => sysctls.restore())
    const { store, owned, warnings: ownedWarnings } = await OwnedStore.open(join(s.stateDir, 'owned.json'))
    for (const w of ownedWarnings) log.warn({ file: join(s.stateDir, 'owned.json') }, w)
    closers.push(() => store.close())
    const kernel = await reader.read()
    let director: Director | undefined
    const reconciler = new Reconciler(kernel, {
      writer, reader, owned, store, clock: systemClock, log: log.child({ component: 'reconcile' }),
      batchWindowMs: s.batchWindow, onEvent: (e) => director?.onReconcile(e),
    })
    closers.push(() => reconciler.close())
    const icmp = createIcmpTransport() // its raw sockets close with their last check
    // dr-guard checks change host routing: only when the config asks; closed after the checks (closers run in
    // reverse), which undoes every rule, route and sysctl it set.
    const guardRouter = await openGuardRouter({ drGuard: s.drGuard, run: commandRunner(exec) })
    if (guardRouter) closers.push(() => guardRouter.close())
    // Bare TCP connect checks run on the native engine (its own bound of maxConcurrent probes in flight).
    const tcpEngine = createTcpEngine(s.checks.maxConcurrent)
    const scheduler = createScheduler({ clock: systemClock, maxConcurrent: s.checks.maxConcurrent, tcpEngine })
    closers.push(() => scheduler.close())
    const agent = new Agent({ connections: 4, pipelining: 0, keepAliveTimeout: 1000 })
    closers.push(() => agent.close())
    const stateFile = new StateFile(s.stateDir)
    closers.push(() => stateFile.close()) // after the director's (closers run in reverse)
    let persisted = await stateFile.load({}, (w) => log.warn({ file: stateFile.path }, w))
    let shared: RedisTable | undefined
    let position: StreamPosition | undefined
    if (s.redis) {
      const redis = new RedisTable(redisTableOptions(s.redis, (path) => readFileSync(path)))
      shared = redis
      closers.push(() => redis.close())
      const start = await pairTable(redis, persisted, REDIS_START_WAIT_MS, (err) => log.warn({ err }, 'Redis unavailable at start: serving the table in stateDir until it is back'))
      if (start) ({ table: persisted, position } = start)
    }
    // A pair: the VIPs left by a crashed run go first; the role starts once this director's kernel is programmed.
    const pair = s.pair ? await preparePair(s, exec, writer, log, closers) : undefined
    director = new Director({
      config,
      loadConfig: () => configFrom(o, (w) => log.warn({ line: w.line, directive: w.directive }, w.message)),
      persisted,
      store: stateFile,
      shared,
      pair: pair?.control,
      // Only the active ends drains (the standby keeps their starts, from the shared table, for when it takes over).
      mayFinishDrains: pair ? () => pair.control.role() === 'active' : undefined,
      scheduler,
      createChecker: (spec) => createChecker(spec, { dispatcher: agent, icmp, guardRouter, exec }),
      reconciler,
      kernelStats: async () => {
        const plain = await reader.list()
        const stats = await reader.list({ stats: true })
        const rate = await reader.list({ rate: true })
        const withStats = mergeListings(plain, stats)
        return mergeListings({ ...plain, services: withStats }, rate)
      },
      listServices: async (services) => {
        const out = []
        for (const service of services) out.push(...(await reader.list({ service })).services)
        return out
      },
      clock: systemClock,
      log: log.child({ component: 'director' }),
      version: VERSION,
    })
    closers.push(() => director!.close())
    await director.start()
    if (shared) followPair(shared, director, position)
    if (pair) await pair.start()
    armDrift(director, s.driftInterval * 1000, log, closers)
    armMemoryTrim(closers)
    let url: string | undefined
    if (o.buildApi) {
      const https = s.api.tls ? { cert: readFileSync(s.api.tls.cert), key: readFileSync(s.api.tls.key) } : undefined
      const app = o.buildApi({ control: director, tokens: s.api.tokens, logger: log.child({ component: 'api' }), https, version: VERSION })
      const { host, port } = parseListen(s.api.listen)
      await app.listen({ host, port })
      closers.push(() => app.close())
      const addr = app.server.address()
      const bound = typeof addr === 'object' && addr ? addr.port : port
      url = `${https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${bound}`
    }
    log.info({ services: director.status().services, revision: director.status().revision, api: url }, 'director started')
    let closing: Promise<void> | undefined
    return {
      director, log, url,
      close: () => (closing ??= closeAll().then(() => log.info({}, 'director stopped'))),
    }
  } catch (err) {
    await closeAll()
    throw err
  }
}

/**
 * The pair's table at start: Redis's, or (Redis empty: the pair's first start, or Redis restarted empty) this
 * director's last table put in first, never an empty table taken as "delete everything". Undefined when Redis
 * cannot be reached within `timeoutMs` (`unavailable` hears why).
 */
export async function pairTable(redis: RedisTable, local: PersistedTable | undefined, timeoutMs: number, unavailable: (err: Error) => void): Promise<{ table: PersistedTable; position: StreamPosition } | undefined> {
  try {
    await redis.ready(timeoutMs)
    let snap = await redis.snapshot()
    if (!snap) {
      await redis.seed(local ?? { revision: 0, base: [], services: [], drains: {} }) // another director may come first: its table stays
      snap = await redis.snapshot()
    }
    if (!snap) throw new ERR_STORE_UNAVAILABLE('', 'the table vanished from Redis while it was read')
    return { table: snap.table, position: snap.position }
  } catch (err) {
    if ((err as { code?: string }).code !== 'LVS_ERR_STORE_UNAVAILABLE') throw err
    unavailable(err as Error)
    return undefined
  }
}

const HEARTBEAT_FEED_MS = 10

/**
 * A pair's IPv4 VIP interfaces answer and ask ARP only with their own addresses (arp_announce 2): an old active that
 * keeps the VIPs through a handover's window (HANDOFF_MS) would otherwise send ARP requests whose sender is a VIP
 * (the source of its replies) and turn a neighbour's entry back to its MAC, which loses the VIP when the window ends.
 */
function pairSysctls(s: DirectorSettings): Record<string, string> {
  const ifaces = new Set((s.pair?.vips ?? []).filter((v) => !v.address.includes(':')).map((v) => v.interface))
  // sysctl's names separate with dots: an interface's own dots (eth0.100, a VLAN) are written as slashes.
  return Object.fromEntries([...ifaces].map((i) => [`net.ipv4.conf.${i.replaceAll('.', '/')}.arp_announce`, '2']))
}
/**
 * A planned switchover's handoff window (ha/handoff.ts): longer than the kernel's sync flush (a buffer goes out once
 * 2 s old, checked each second), so the old active's last connections reach the new one within it.
 */
const HANDOFF_MS = 3500

/**
 * This director's side of a pair: its VIPs (a crashed run's removed now), announcements, the connection-sync
 * daemon (backup until it is active), alerts, the lease, the heartbeats and the role. `start()` runs the role;
 * the closers stop it first (a stop hands over), then give up the VIPs and the sync daemon.
 */
async function preparePair(s: DirectorSettings, exec: Exec, ipvsadm: Ipvsadm, log: Logger, closers: Array<() => Promise<unknown>>) {
  const p = s.pair!
  const redis = redisTableOptions(s.redis!, (path) => readFileSync(path))
  const child = (component: string) => log.child({ component })
  // The VIPs and their gratuitous ARP go through native/packet.c: without it a pair would take over in vain.
  try {
    lvsPacket()
  } catch (err) {
    throw new ERR_VIP_FAILED(p.vips.map((v) => v.address).join(', '), (err as Error).message)
  }
  const vips = await openVips({ stateDir: s.stateDir, log: child('vips') })
  closers.push(() => vips.close())
  const sync = p.syncDaemon
    ? await openSyncDaemonRole({ ipvsadm, daemon: { mcastInterface: p.syncDaemon.interface, syncid: p.syncDaemon.syncid }, stateDir: s.stateDir, masterLingerMs: HANDOFF_MS, log: child('sync-daemon') })
    : undefined
  if (sync) closers.push(() => sync.close())
  // After a planned switchover the old active serves what it opened for HANDOFF_MS more: the new one sends it there.
  // The window passes on what IPVS did not take: a kernel without IPVS here (a stand-in ipvsadm) has none to pass.
  const ipvsHere = existsSync('/proc/net/ip_vs')
  const checked = p.vips.map((v, i) => checkVip(v, `/director/pair/vips/${i}`))
  const handoff = await openHandoff({ exec, vips: ipvsHere ? checked : [], paths: p.heartbeat.paths.map(heartbeatPath), windowMs: HANDOFF_MS, log: child('handoff') })
  closers.push(() => handoff.close())
  const announcer = createAnnouncer({ count: p.announce.count, intervalMs: p.announce.interval * 1000, log: child('announce') })
  closers.push(() => announcer.close())
  // Our heartbeats say "active" only once the VIPs are added and their announcement has started: an old active
  // handing over keeps them until it hears that (and through the announcement burst: see onRelease).
  let announced = 0
  const alerts = new Alerts({ node: p.node, cluster: redis.cluster, webhook: p.alerts.webhook, headers: p.alerts.headers, timeoutMs: p.alerts.timeout * 1000, log: child('alerts') })
  closers.push(() => alerts.close())
  const key = p.heartbeat.key ?? (await readHeartbeatKey(p.heartbeat.keyFile!))
  // A lease command unanswered within most of the margin fails, so a renew fails before the fence deadline.
  const lease = new Lease({ connection: redis.connection, cluster: redis.cluster, node: p.node, ttlMs: p.lease.ttl * 1000, commandTimeoutMs: p.lease.margin * 800 })
  closers.push(() => lease.close())
  const pairLog = child('pair')
  const intervalMs = p.heartbeat.interval * 1000
  // Hands the role each new heartbeat (read from the heartbeat thread's shared counters); set once they run.
  let pullHeartbeats = () => {}
  const role = new Pair({
    config: {
      node: p.node, priority: p.priority, heartbeatIntervalMs: intervalMs, deadIntervalMs: intervalMs * p.heartbeat.deadCount,
      leaseTtlMs: p.lease.ttl * 1000, leaseMarginMs: p.lease.margin * 1000, preempt: p.preempt, preemptDelayMs: p.preemptDelay * 1000,
      requireWitness: p.requireWitness,
      // Heartbeats go on from their own thread through a shorter stall: the peer cannot take over meanwhile.
      stallFenceMs: p.heartbeat.stallLimit * 1000,
    },
    clock: systemClock,
    lease,
    async onTakeover(epoch, handover) {
      const r = await vips.add(p.vips)
      for (const f of r.failed) pairLog.error({ err: f.err, vip: f.vip.address }, 'a VIP could not be added')
      if (handover) await handoff.open() // before the announcement: the old active's connections keep their way
      void announcer.announce([...r.changed, ...r.unchanged, ...r.foreign]) // never rejects; errors are logged
      announced = epoch
      await sync?.setRole('master').catch((err: Error) => pairLog.error({ err }, 'sync daemon: could not become master'))
    },
    async onAnnounce() {
      void announcer.announce(vips.held())
    },
    async onRelease(handedOver) {
      announcer.abort()
      await handoff.close()
      // Handed over: the new active has announced the VIPs and sends here, for HANDOFF_MS, the packets of the
      // connections this director opened that it does not know yet; they still get answers here meanwhile (two
      // holders lose nothing; none would).
      if (handedOver) await new Promise((resolve) => setTimeout(resolve, Math.max(HANDOFF_MS, p.announce.count * p.announce.interval * 1000)))
      const r = await vips.removeAll()
      for (const f of r.failed) pairLog.error({ err: f.err, vip: f.vip.address }, 'a VIP could not be removed')
      await sync?.setRole('backup').catch((err: Error) => pairLog.error({ err }, 'sync daemon: could not become backup'))
    },
    alert: (kind, message) => alerts.raise(kind, message),
    log: (level, message, fields) => pairLog[level](fields, message),
    // Each tick starts with the heartbeats heard meanwhile: after a main-loop stall they are waiting there.
    pullHeartbeats: () => pullHeartbeats(),
  })
  let heartbeat: Awaited<ReturnType<typeof startHeartbeat>> | undefined
  const control: PairControl = {
    role: () => role.state.role,
    switchover: () => role.switchover(),
    view: (): PairView => {
      const st = role.state
      const hb = heartbeat?.stats()
      const now = performance.now()
      return {
        node: p.node, epoch: st.epoch, reason: st.reason, since: new Date(Date.now() - (now - st.since)).toISOString(),
        peer: { node: st.peer.node, alive: st.peer.alive, role: st.peer.role, epoch: st.peer.epoch },
        heartbeat: {
          stopped: hb?.stalled ?? false,
          paths: (hb?.paths ?? []).map((h) => ({
            name: h.name, local: h.local, peer: h.peer, alive: h.alive, ...(h.lastHeardMs !== undefined ? { lastHeardMsAgo: now - h.lastHeardMs } : {}),
            received: h.received, sent: h.sent, forged: h.forged, replayed: h.replayed, unconfirmed: h.unconfirmed,
          })),
        },
        lease: { up: st.redis.up, holder: st.redis.holder },
        vips: vips.held().map((v) => v.address),
      }
    },
  }
  return {
    control,
    /** The role, once this director's kernel is programmed: sync daemon backup, heartbeats, ticks. */
    async start() {
      await sync?.setRole('backup').catch((err: Error) => pairLog.error({ err }, 'sync daemon: could not become backup'))
      const hb = await startHeartbeat({
        paths: p.heartbeat.paths, key, cluster: redis.cluster, state: role.advert(),
        intervalMs, deadIntervalMs: intervalMs * p.heartbeat.deadCount, stallLimitMs: p.heartbeat.stallLimit * 1000,
      })
      heartbeat = hb
      closers.push(() => hb.close())
      hb.onStall((e) => (e.stalled ? pairLog.error(e, 'heartbeats stopped: the main loop was stuck') : pairLog.info(e, 'heartbeats resumed')))
      hb.onError((err) => pairLog.error({ err }, 'the heartbeat thread failed: the peer will take over'))
      // The role hears each new heartbeat (read from the thread's shared counters), and our heartbeats say its advert.
      const heard = new Map<string, number>()
      let said = JSON.stringify(role.advert())
      pullHeartbeats = () => {
        for (const h of hb.stats().paths) {
          if (h.lastHeardMs === undefined || !h.state || heard.get(h.name) === h.lastHeardMs) continue
          heard.set(h.name, h.lastHeardMs)
          role.heartbeat(h.name, { ...h.state, role: h.state.role as Role, handover: h.state.handover ?? false } satisfies PeerHeartbeat, h.lastHeardMs)
        }
      }
      const feed = setInterval(() => {
        pullHeartbeats()
        const advert = role.advert()
        if (advert.role === 'active' && advert.epoch !== announced) return // not yet: see `announced`
        const text = JSON.stringify(advert)
        if (text !== said) {
          said = text
          hb.setState(advert)
        }
      }, HEARTBEAT_FEED_MS)
      closers.push(async () => clearInterval(feed))
      closers.push(async () => {
        await role.stop() // an active hands over first, while heartbeats still go (closers run in reverse)
        await role.close()
      })
      await role.start()
    },
  }
}

/** Make the other director's changes here, from `position` (unknown when Redis was away at start). */
export function followPair(shared: RedisTable, director: Director, position?: StreamPosition): void {
  // An unknown position is no stream's: the follower loads the whole table.
  shared.follow(position ?? { instance: '', revision: -1, id: '0-0' }, {
    onChange: (change, id) => director.applyPeer(change, id),
    onReset: (snap) => director.resetTo(snap.table),
    current: () => director.persistedTable(),
    onState: (up, err) => director.onStoreState(up, err),
  })
}

function armDrift(director: Director, everyMs: number, log: Logger, closers: Array<() => Promise<unknown>>): void {
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const tick = () => {
    timer = setTimeout(() => {
      director.checkDrift().catch((err) => log.error({ err }, 'drift check failed')).finally(() => { if (!stopped) tick() })
    }, everyMs)
  }
  tick()
  closers.push(async () => {
    stopped = true
    clearTimeout(timer)
  })
}

/**
 * Hands the C allocator's free pages back to the system now (after the start-up's peak: the config, the first
 * table and read) and every minute after (a reload's peak, the probes' bursts): glibc keeps freed chunks between
 * live ones to itself. At 10,000 services x 4 real servers that is 8-13 MB of RSS (bench/README.md, memory).
 */
function armMemoryTrim(closers: Array<() => Promise<unknown>>): void {
  const trim = () => lvsPacket().mallocTrim()
  trim()
  const timer = setInterval(trim, MEMORY_TRIM_MS)
  timer.unref()
  closers.push(async () => clearInterval(timer))
}
const MEMORY_TRIM_MS = 60_000

/**
 * Run the daemon in the foreground until SIGTERM/SIGINT: SIGHUP reloads; the first SIGTERM stops cleanly
 * (checks and API closed, the kernel table left serving); a second one, or 10 s, forces the exit.
 */
export async function runForeground(o: DaemonOptions): Promise<number> {
  const daemon = await startDaemon(o)
  return new Promise((resolve) => {
    const onHup = () => {
      daemon.director.reload('signal').catch(() => {}) // refused reloads are logged and shown in status
    }
    let stopping = false
    const onStop = (signal: string) => {
      if (stopping) {
        daemon.log.warn({ signal }, 'second signal: exiting now')
        process.exit(1)
      }
      stopping = true
      daemon.log.info({ signal }, 'stopping')
      const force = setTimeout(() => {
        daemon.log.error({}, 'stop took over 10 s: exiting now')
        process.exit(1)
      }, 10_000)
      force.unref()
      daemon.close().then(() => {
        clearTimeout(force)
        process.off('SIGHUP', onHup)
        process.off('SIGTERM', onStop)
        process.off('SIGINT', onStop)
        resolve(0)
      })
    }
    process.on('SIGHUP', onHup)
    process.on('SIGTERM', onStop)
    process.on('SIGINT', onStop)
  })
}

/** What `lvs-director watch` reads: a director's config (its director.redis and director.pair.alerts), or flags. */
export interface WatchOptions {
  /** A director's config file: Redis, the cluster name, the alerts' webhook and headers. */
  config?: string
  /** `redis://` or `rediss://` URL, instead of the config's director.redis. */
  redis?: string
  /** The pair's name in the keys, overriding the config's. @default the config's, or 'lvs' */
  cluster?: string
  /** The directors' names; absent: found by SCAN. */
  nodes?: string[]
  /** Where alerts are POSTed, overriding the config's director.pair.alerts.webhook. */
  webhook?: string
  /** The watcher's name in its alerts. @default watch@HOSTNAME */
  name?: string
  /** Milliseconds between reads of Redis. @default 1000 */
  intervalMs?: number
  /** Milliseconds with no director (or no lease holder, no Redis) seen before the alert. @default 2000 */
  downAfterMs?: number
  logStream?: NodeJS.WritableStream
}

/** A running watcher of a pair. */
export interface Watch {
  watcher: PairWatcher
  log: Logger
  /** Stops the reads, sends the alert in flight, closes Redis. Idempotent. */
  close(): Promise<void>
}

/** Watch a pair from outside (HA-OSCAR's external heartbeat): both directors down cannot alert, this can. */
export async function startWatch(o: WatchOptions): Promise<Watch> {
  const d = o.config ? (await loadConfig(o.config)).director : undefined
  if (!o.redis && !d?.redis) throw new ERR_INVALID_VALUE('watch', o.config ? `${o.config} has no director.redis: give --redis` : 'give a director\'s config (with director.redis) or --redis')
  const r = d?.redis ? redisTableOptions(d.redis, (path) => readFileSync(path)) : undefined
  const cluster = o.cluster ?? r?.cluster ?? 'lvs'
  const intervalMs = o.intervalMs ?? 1000
  const downAfterMs = o.downAfterMs ?? 2000
  const a = d?.pair?.alerts
  const webhook = o.webhook ?? a?.webhook
  const log = pino({ level: d?.logLevel ?? 'info', redact: ['*.token', 'token', 'headers.authorization'] }, o.logStream ?? process.stdout).child({ component: 'watch' })
  const marks = new PairMarks({ connection: o.redis ? { url: o.redis } : r!.connection, cluster, nodes: o.nodes, commandTimeoutMs: Math.min(r?.commandTimeoutMs ?? 1000, intervalMs) })
  const agent = new Agent({ connections: 1, keepAliveTimeout: 1000 })
  const alerts = new Alerts({ node: o.name ?? `watch@${hostname()}`, cluster, webhook, headers: a?.headers, timeoutMs: (a?.timeout ?? 5) * 1000, log, dispatcher: agent })
  const watcher = new PairWatcher({ marks, watch: new PairWatch({ downAfterMs }), alerts, log, clock: systemClock, intervalMs })
  await marks.ready(Math.min(downAfterMs, 5000)) // not yet: the first reads fail and are counted, not alerted
  watcher.start()
  log.info({ redis: marks.where, cluster, nodes: o.nodes ?? 'scan', intervalMs, downAfterMs, webhook: webhook !== undefined }, 'watching the pair')
  let closing: Promise<void> | undefined
  return {
    watcher, log,
    close: () => (closing ??= (async () => {
      await watcher.close()
      await alerts.close()
      await agent.close()
      await marks.close()
      log.info({ reads: watcher.counts.reads, alerts: alerts.counts }, 'watcher stopped')
    })()),
  }
}

/** Run a watcher in the foreground until SIGTERM or SIGINT (a second one exits at once). */
export async function runWatch(o: WatchOptions): Promise<number> {
  const w = await startWatch(o)
  const signal = await new Promise<string>((resolve) => {
    const on = (name: string) => {
      process.off('SIGTERM', on).off('SIGINT', on)
      resolve(name)
    }
    process.on('SIGTERM', on).on('SIGINT', on)
  })
  w.log.info({ signal }, 'stopping')
  const again = () => process.exit(1)
  process.once('SIGTERM', again).once('SIGINT', again)
  await w.close()
  process.off('SIGTERM', again).off('SIGINT', again)
  return 0
}
