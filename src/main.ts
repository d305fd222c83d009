// The one place that builds and wires the daemon: config, logger, ipvsadm, owned set, reconciler, checks,
// director, API, signals. Everything else takes its side effects as arguments.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import { Agent } from 'undici'
import { createChecker } from '../healthchecks/registry.js'
import { createScheduler } from '../healthchecks/scheduler.js'
import { createIcmpTransport } from '../healthchecks/icmp.js'
import { openGuardRouter } from '../healthchecks/guard-router.js'
import type { FastifyInstance } from 'fastify'
import { systemClock } from './clock.js'
import { loadConfig, parseConfig, parseListen, type LoadedConfig } from './config/load.js'
import { Director } from './director.js'
import { loadLdirectord } from './config/ldirectord.js'
import { lockDir } from './fs-atomic.js'
import { ERR_STORE_UNAVAILABLE } from './errors.js'
import { nodeExec, type Exec } from './exec.js'
import { mergeListings } from './ipvs/format.js'
import { Ipvsadm } from './ipvs/ipvsadm.js'
import { OwnedStore } from './ipvs/owned.js'
import { Reconciler } from './reconcile/reconciler.js'
import { RedisTable, redisTableOptions, type StreamPosition } from './table/redis-table.js'
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
  /** How ipvsadm runs (the lab runs it in a namespace). @default nodeExec */
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
  const exec = o.exec ?? nodeExec
  const ipvs = (exists?: (p: string) => boolean) => new Ipvsadm({ exec, path: s.ipvsadm.path, timeoutMs: s.ipvsadm.timeout * 1000, exists })
  const writer = ipvs(existsSync)
  const reader = ipvs()
  await writer.preflight() // no ipvsadm or no IPVS: one coded error before anything is touched
  const lock = await lockDir(s.stateDir)
  const closers: Array<() => Promise<unknown>> = [() => lock.release()]
  const closeAll = async () => {
    for (const c of closers.reverse()) await c().catch((err) => log.error({ err }, 'close failed'))
  }
  try {
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
    const guardRouter = await openGuardRouter({ drGuard: s.drGuard })
    if (guardRouter) closers.push(() => guardRouter.close())
    const scheduler = createScheduler({ clock: systemClock, maxConcurrent: s.checks.maxConcurrent })
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
    director = new Director({
      config,
      loadConfig: () => configFrom(o, (w) => log.warn({ line: w.line, directive: w.directive }, w.message)),
      persisted,
      store: stateFile,
      shared,
      scheduler,
      createChecker: (spec) => createChecker(spec, { dispatcher: agent, icmp, guardRouter }),
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
    armDrift(director, s.driftInterval * 1000, log, closers)
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
