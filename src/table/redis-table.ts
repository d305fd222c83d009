// The desired table of a director pair in Redis: the source of truth both directors write to and follow.
//
// Keys (one hash tag, so a Redis Cluster keeps them on one slot and several pairs share one Redis):
//   lvs:{NAME}:rev       the table's revision (the ETag writers send)
//   lvs:{NAME}:instance  a random id given when the table was seeded: another id means another stream
//   lvs:{NAME}:services  hash: service name -> DesiredService JSON
//   lvs:{NAME}:order     sorted set: service name by position (table order survives)
//   lvs:{NAME}:drains    hash: service name -> {realKey: since ms} JSON
//   lvs:{NAME}:base      the config the table was last merged with (JSON)
//   lvs:{NAME}:stream    the change stream: one entry per revision, fields rev, instance, and change (JSON) or
//                        snapshot (the whole table was replaced: followers reload it)
//
// Every write is one Lua script: it checks the revision, changes the keys, sets the revision and appends to the
// stream, atomically. A follower reads the stream from the last id it applied and reloads a snapshot when an
// entry does not follow on from what it holds (trimmed, another instance, a rollback after a failover, a
// replaced table). Nothing rests on pub/sub. Both connections have ioredis's offline queue off and a command
// timeout, so a command is never replayed late after a reconnect. See docs/redis.md.
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ConnectionOptions } from 'node:tls'
import { Redis, type RedisOptions } from 'ioredis'
import type { RedisSettings } from '../config/schema.js'
import type { DesiredService } from '../config/service.js'
import { ERR_INTERNAL, ERR_INVALID_VALUE, ERR_STORE_CONFLICT, ERR_STORE_NOT_REPLICATED, ERR_STORE_UNAVAILABLE } from '../errors.js'
import type { PersistedTable, TableChange } from './state-file.js'

/** Where Redis is: one server (host/port or a redis:// / rediss:// URL), or a Sentinel group. */
export interface RedisConnection {
  url?: string
  host?: string
  port?: number
  username?: string
  password?: string
  db?: number
  /** TLS to Redis (true: the system's CAs). */
  tls?: boolean | ConnectionOptions
  /** Sentinels to ask for the master called `name`. */
  sentinels?: Array<{ host: string; port: number }>
  name?: string
  sentinelUsername?: string
  sentinelPassword?: string
  /** TLS to the Sentinels too. */
  sentinelTls?: boolean | ConnectionOptions
}

export interface RedisTableOptions {
  connection: RedisConnection
  /** The pair's name in every key (`lvs:{NAME}:...`): letters, digits, `.`, `_`, `-`. */
  cluster: string
  /** Stream entries kept (MAXLEN ~). @default 10000 */
  streamMaxLen?: number
  /** Replicas that must confirm a write (WAIT) before it is acknowledged; 0: no WAIT. @default 0 */
  replicas?: number
  /** How long WAIT waits for them. @default 1000 */
  waitTimeoutMs?: number
  /** A command that has no answer by then fails (a WAIT gets waitTimeoutMs on top). @default 2000 */
  commandTimeoutMs?: number
  /** How long one XREAD blocks; the follower re-checks the stream's instance and revision after each. @default 5000 */
  blockMs?: number
  /** How long a writer refused because the other wrote first holds the next write (see WRITE). @default 1000 */
  turnMs?: number
}

/** Where a follower is: the stream instance, the revision it holds and the id of the entry that made it. */
export interface StreamPosition {
  instance: string
  revision: number
  id: string
}

/** The whole table as Redis holds it, and the stream position it corresponds to. */
export interface Snapshot {
  table: PersistedTable
  position: StreamPosition
}

/** What a follower tells its owner. Handlers run one at a time, in stream order; a throw is retried later. */
export interface FollowHandlers {
  /** The next change (revision = the last one + 1). */
  onChange(change: TableChange, id: string): void | Promise<void>
  /** Replace everything with this table (trimmed stream, another instance, rollback, replaced table). */
  onReset(snapshot: Snapshot): void | Promise<void>
  /** The table this director holds now: it refills a Redis that lost the table (restarted empty). */
  current(): PersistedTable
  /**
   * The follower stopped (Redis lost: LVS_ERR_STORE_UNAVAILABLE; or a handler threw), or goes on again. Called
   * once per change of state, for one log line each.
   */
  onState?(up: boolean, err?: Error): void
}

/** The result of seed: whether this table went in (false: Redis had one, which stays). */
export interface SeedResult {
  seeded: boolean
}

const CLUSTER = /^[A-Za-z0-9._-]{1,64}$/

// KEYS: rev instance services order drains stream turn. ARGV: expect, rev, maxlen, change JSON, writer id, turn ms,
// n, then n pairs (service name, JSON or '' to delete), then pairs (service name, drains JSON or '' for none).
// The turn: a writer refused because another wrote first holds the next write for `turn ms` (refreshed while it is
// refused again), and every other writer is told 'busy' meanwhile; its write ends the turn. So a writer slower to
// follow the stream than the other writes never loses every race (docs/redis.md).
const WRITE = `
if not redis.call('GET', KEYS[2]) then return {'empty'} end
local cur = redis.call('GET', KEYS[1])
local turn = redis.call('GET', KEYS[7])
if turn and turn ~= ARGV[5] then return {'busy', cur} end
if tonumber(cur) ~= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[7], ARGV[5], 'PX', ARGV[6])
  return {'conflict', cur}
end
if turn then redis.call('DEL', KEYS[7]) end
local n = tonumber(ARGV[7])
local last = redis.call('ZRANGE', KEYS[4], -1, -1, 'WITHSCORES')
local pos = (tonumber(last[2]) or 0) + 1
for i = 8, 7 + 2 * n, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[3], ARGV[i])
    redis.call('ZREM', KEYS[4], ARGV[i])
  else
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
    pos = pos + redis.call('ZADD', KEYS[4], 'NX', pos, ARGV[i])
  end
end
for i = 8 + 2 * n, #ARGV, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[5], ARGV[i]) else redis.call('HSET', KEYS[5], ARGV[i], ARGV[i + 1]) end
end
redis.call('SET', KEYS[1], ARGV[2])
local inst = redis.call('GET', KEYS[2])
return {'ok', redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[3], '*', 'rev', ARGV[2], 'instance', inst, 'change', ARGV[4])}
`

// KEYS: rev instance services order drains stream base. ARGV: mode (seed: only when Redis holds no table;
// replace: only at revision expect), expect, rev, maxlen, new instance id, base JSON, n, then n pairs (service
// name, JSON) in table order, then pairs (service name, drains JSON).
const PUT = `
local inst = redis.call('GET', KEYS[2])
if ARGV[1] == 'seed' then
  if inst then return {'exists', redis.call('GET', KEYS[1])} end
  inst = ARGV[5]
  redis.call('DEL', KEYS[6])
  redis.call('SET', KEYS[2], inst)
else
  if not inst then return {'empty'} end
  local cur = redis.call('GET', KEYS[1])
  if tonumber(cur) ~= tonumber(ARGV[2]) then return {'conflict', cur} end
end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
local n = tonumber(ARGV[7])
for i = 8, 7 + 2 * n, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[4], (i - 6) / 2, ARGV[i])
end
for i = 8 + 2 * n, #ARGV, 2 do redis.call('HSET', KEYS[5], ARGV[i], ARGV[i + 1]) end
redis.call('SET', KEYS[7], ARGV[6])
redis.call('SET', KEYS[1], ARGV[3])
return {'ok', redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[4], '*', 'rev', ARGV[3], 'instance', inst, 'snapshot', '1')}
`

type Reply = [status: 'ok' | 'conflict' | 'busy' | 'empty' | 'exists', value?: string | null]
type Scripted = Redis & {
  lvsWrite(...args: Array<string | number>): Promise<Reply>
  lvsPut(...args: Array<string | number>): Promise<Reply>
}

/**
 * The options of a RedisTable from the config's `redis:` settings; password files and TLS files are read with
 * `read` (a secret ends at its first line end).
 */
export function redisTableOptions(r: RedisSettings, read: (path: string) => Buffer): RedisTableOptions {
  const secret = (inline: string | undefined, file: string | undefined) => inline ?? (file ? read(file).toString('utf8').split(/\r?\n/)[0] : undefined)
  const tls = typeof r.tls === 'object'
    ? { ca: r.tls.ca ? read(r.tls.ca) : undefined, cert: r.tls.cert ? read(r.tls.cert) : undefined, key: r.tls.key ? read(r.tls.key) : undefined, servername: r.tls.servername }
    : r.tls
  const connection: RedisConnection = {
    url: r.url, host: r.host, port: r.port, username: r.username, password: secret(r.password, r.passwordFile), db: r.db, tls,
    sentinels: r.sentinels, name: r.name, sentinelPassword: secret(r.sentinelPassword, r.sentinelPasswordFile), sentinelTls: r.sentinels ? tls : undefined,
  }
  return {
    connection, cluster: r.cluster, replicas: r.replicas, streamMaxLen: r.streamMaxLen,
    waitTimeoutMs: r.waitTimeout * 1000, commandTimeoutMs: r.commandTimeout * 1000,
  }
}

/** Stream ids `ms-seq` compared as numbers. */
export function compareIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map(BigInt)
  const [bm = 0n, bs = 0n] = b.split('-').map(BigInt)
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1
}

/** The desired table of one director pair in Redis, and a follower of its changes. */
export class RedisTable {
  readonly #keys: { rev: string; instance: string; services: string; order: string; drains: string; stream: string; base: string; turn: string }
  /** This table's writes, as the turn names them. */
  readonly #writer = randomUUID()
  readonly #turnMs: number
  readonly #conn: Scripted
  /** XREAD BLOCK holds its connection: the follower has its own. */
  readonly #blocking: Redis
  readonly #where: string
  readonly #maxLen: number
  readonly #replicas: number
  readonly #waitMs: number
  readonly #blockMs: number
  readonly #closing = new AbortController()
  #following: Promise<void> | undefined

  constructor(options: RedisTableOptions) {
    if (!CLUSTER.test(options.cluster)) throw new ERR_INVALID_VALUE('redis cluster name', `${JSON.stringify(options.cluster)} is not 1-64 letters, digits, ".", "_" or "-"`)
    const k = (name: string) => `lvs:{${options.cluster}}:${name}`
    this.#keys = { rev: k('rev'), instance: k('instance'), services: k('services'), order: k('order'), drains: k('drains'), stream: k('stream'), base: k('base'), turn: k('turn') }
    this.#turnMs = options.turnMs ?? 1000
    this.#maxLen = options.streamMaxLen ?? 10000
    this.#replicas = options.replicas ?? 0
    this.#waitMs = options.waitTimeoutMs ?? 1000
    this.#blockMs = options.blockMs ?? 5000
    const timeout = options.commandTimeoutMs ?? 2000
    const c = options.connection
    this.#where = c.sentinels ? `sentinel master ${c.name}` : c.url ? redactUrl(c.url) : `${c.host ?? 'localhost'}:${c.port ?? 6379}`
    this.#conn = connect(c, timeout + this.#waitMs) as Scripted
    this.#conn.defineCommand('lvsWrite', { numberOfKeys: 7, lua: WRITE })
    this.#conn.defineCommand('lvsPut', { numberOfKeys: 7, lua: PUT })
    this.#blocking = connect(c, timeout + this.#blockMs)
  }

  /**
   * Resolves once both connections are up (a start-up may wait for it; nothing else needs to); with `timeoutMs`,
   * LVS_ERR_STORE_UNAVAILABLE when they are not up by then.
   */
  async ready(timeoutMs?: number): Promise<void> {
    const signal = timeoutMs === undefined ? this.#closing.signal : AbortSignal.any([this.#closing.signal, AbortSignal.timeout(timeoutMs)])
    await this.#run(async () => {
      await whenReady(this.#conn, signal)
      await whenReady(this.#blocking, signal)
    })
  }

  /**
   * Make one change, if Redis is at `expectRevision` (and `change.revision` is the next). Resolves with the stream
   * id once Redis has it (and, with `replicas`, once WAIT says they have it). Throws LVS_ERR_STORE_CONFLICT (with
   * `revision`, Redis's) and changes nothing when another write came first (this table then holds the next write
   * for turnMs), or with `busy` too when another writer holds it; LVS_ERR_STORE_UNAVAILABLE when Redis
   * cannot be reached or holds no table; LVS_ERR_STORE_NOT_REPLICATED (with `revision`) when the change is in
   * Redis but too few replicas confirmed it.
   */
  async write(change: TableChange, expectRevision: number): Promise<string> {
    follows(change.revision, expectRevision)
    const services = Object.entries(change.services).flatMap(([name, s]) => [name, s ? JSON.stringify(s) : ''])
    const drains = Object.entries(change.drains).flatMap(([name, reals]) => [name, drainsJson(reals)])
    const reply = await this.#run(() =>
      this.#conn.lvsWrite(...this.#writeKeys(), this.#keys.turn, expectRevision, change.revision, this.#maxLen, JSON.stringify(change), this.#writer, this.#turnMs, services.length / 2, ...services, ...drains))
    return this.#acknowledge(reply, expectRevision, change.revision)
  }

  /** Replace the whole table (reload, restore) if Redis is at `expectRevision`; followers reload it. As `write`. */
  async replaceAll(whole: PersistedTable, expectRevision: number): Promise<string> {
    follows(whole.revision, expectRevision)
    return this.#acknowledge(await this.#put('replace', whole, expectRevision), expectRevision, whole.revision)
  }

  /**
   * Put `whole` into a Redis that holds no table (first start of a pair, or a Redis restarted empty): an empty
   * Redis is refilled, never taken as "delete everything". A Redis that has a table keeps it (`seeded: false`).
   */
  async seed(whole: PersistedTable): Promise<SeedResult> {
    const [status] = await this.#put('seed', whole, whole.revision)
    return { seeded: status === 'ok' }
  }

  /** The whole table, its revision and the stream position, read atomically; undefined when Redis holds none. */
  async snapshot(): Promise<Snapshot | undefined> {
    const k = this.#keys
    const [mget, last, base, order, services, drains] = await this.#run(async () =>
      results(await this.#conn.multi().mget(k.rev, k.instance).xrevrange(k.stream, '+', '-', 'COUNT', 1).get(k.base).zrange(k.order, '0', '-1').hgetall(k.services).hgetall(k.drains).exec()),
    )
    const position = toPosition([mget, last])
    if (!position) return undefined
    const byName = services as Record<string, string>
    const flat: Record<string, number> = {}
    for (const [name, json] of Object.entries(drains as Record<string, string>)) {
      for (const [real, since] of Object.entries(JSON.parse(json) as Record<string, number>)) flat[`${name}|${real}`] = since
    }
    const table: PersistedTable = {
      revision: position.revision,
      base: base ? (JSON.parse(base as string) as DesiredService[]) : [],
      services: (order as string[]).filter((n) => byName[n] !== undefined).map((n) => JSON.parse(byName[n]!) as DesiredService),
      drains: flat,
    }
    return { table, position }
  }

  /**
   * Follow the stream from `from` until close(): each change in order, or a reset when the stream does not
   * follow on from `from` (ids trimmed, another instance, a rollback) or a table was replaced. Redis down: the
   * follower waits for it and resumes from the last entry it applied; a Redis without a table is refilled with
   * `handlers.current()` first.
   */
  follow(from: StreamPosition, handlers: FollowHandlers): void {
    if (this.#following) throw new ERR_INTERNAL('this RedisTable already has a follower')
    this.#following = this.#followLoop(from, handlers)
  }

  /** Stop the follower and close both connections (pending commands fail). */
  async close(): Promise<void> {
    this.#closing.abort()
    this.#blocking.disconnect()
    this.#conn.disconnect()
    await this.#following
  }

  // --- internals

  #writeKeys(): string[] {
    const k = this.#keys
    return [k.rev, k.instance, k.services, k.order, k.drains, k.stream]
  }

  #put(mode: 'seed' | 'replace', whole: PersistedTable, expect: number): Promise<Reply> {
    const services = whole.services.flatMap((s) => [s.name, JSON.stringify(s)])
    const byService = new Map<string, Record<string, number>>()
    for (const [id, since] of Object.entries(whole.drains)) {
      const bar = id.lastIndexOf('|') // a real server's key has no '|'; a service name might
      const name = id.slice(0, bar)
      byService.set(name, { ...byService.get(name), [id.slice(bar + 1)]: since })
    }
    const drains = [...byService].flatMap(([name, reals]) => [name, JSON.stringify(reals)])
    return this.#run(() =>
      this.#conn.lvsPut(...this.#writeKeys(), this.#keys.base, mode, expect, whole.revision, this.#maxLen, randomUUID(), JSON.stringify(whole.base), services.length / 2, ...services, ...drains))
  }

  async #acknowledge([status, value]: Reply, expect: number, revision: number): Promise<string> {
    if (status === 'conflict' || status === 'busy') throw Object.assign(new ERR_STORE_CONFLICT(Number(value ?? 0), expect), { revision: Number(value ?? 0), ...(status === 'busy' ? { busy: true } : {}) })
    if (status === 'empty') throw new ERR_STORE_UNAVAILABLE(this.#where, 'it holds no table (restarted empty?); the directors refill it')
    if (this.#replicas > 0) {
      let acked: number
      try {
        acked = await this.#conn.wait(this.#replicas, this.#waitMs)
      } catch (err) {
        throw notReplicated(revision, `WAIT failed: ${(err as Error).message}`)
      }
      if (acked < this.#replicas) throw notReplicated(revision, `${acked} of ${this.#replicas} replicas confirmed it within ${this.#waitMs} ms`)
    }
    return value!
  }

  /** A Redis command; any failure but ours is LVS_ERR_STORE_UNAVAILABLE. */
  async #run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command()
    } catch (err) {
      throw new ERR_STORE_UNAVAILABLE(this.#where, (err as Error).message, { cause: err })
    }
  }

  async #followLoop(from: StreamPosition, h: FollowHandlers): Promise<void> {
    const signal = this.#closing.signal
    let at = from
    let down = false
    while (!signal.aborted) {
      try {
        at = await this.#check(at, h)
        if (down) {
          down = false
          h.onState?.(true)
        }
        const read = () => this.#blocking.xread('COUNT', 1000, 'BLOCK', this.#blockMs, 'STREAMS', this.#keys.stream, at.id)
        const reply = (await this.#run(read)) as unknown as XreadReply | null
        for (const [id, fields] of reply?.[0]?.[1] ?? []) {
          const f = fieldsOf(fields)
          if (f.instance !== at.instance || Number(f.rev) !== at.revision + 1 || f.change === undefined) {
            at = await this.#reset(h) // a gap, another stream, or a replaced table
            break
          }
          await h.onChange(JSON.parse(f.change) as TableChange, id)
          at = { instance: at.instance, revision: at.revision + 1, id }
        }
      } catch (err) {
        if (signal.aborted) break
        if (!down) {
          down = true
          h.onState?.(false, err as Error)
        }
        // Disconnected: ioredis reconnects with backoff, resume once both connections are back. Up (a timeout,
        // a handler's throw): try again a little later.
        const up = this.#blocking.status === 'ready' && this.#conn.status === 'ready'
        await (up ? sleep(500, undefined, { signal }) : this.ready()).catch(() => {})
      }
    }
  }

  /** Where to read from: `at`, when Redis's stream still follows on from it; else after a reset. */
  async #check(at: StreamPosition, h: FollowHandlers): Promise<StreamPosition> {
    const k = this.#keys
    const now = toPosition(await this.#run(async () => results(await this.#blocking.multi().mget(k.rev, k.instance).xrevrange(k.stream, '+', '-', 'COUNT', 1).exec())))
    if (!now) await this.seed(h.current())
    const same = now?.instance === at.instance
    const ahead = same && now.revision > at.revision && compareIds(now.id, at.id) > 0
    const equal = same && now.revision === at.revision && now.id === at.id
    return ahead || equal ? at : this.#reset(h)
  }

  async #reset(h: FollowHandlers): Promise<StreamPosition> {
    let snap = await this.snapshot()
    if (!snap) {
      await this.seed(h.current())
      snap = await this.snapshot()
      if (!snap) throw new ERR_STORE_UNAVAILABLE(this.#where, 'the table vanished while it was read')
    }
    await h.onReset(snap)
    return snap.position
  }
}

type XreadReply = Array<[stream: string, entries: Array<[id: string, fields: string[]]>]>

/** A connection with the options every Redis client of the director uses (no offline queue, no resend, a timeout). */
export function connect(c: RedisConnection, commandTimeout: number): Redis {
  const tls = (v: boolean | ConnectionOptions | undefined) => (v === true ? {} : v || undefined)
  const options: RedisOptions = {
    host: c.host,
    port: c.port,
    username: c.username,
    password: c.password,
    db: c.db,
    tls: tls(c.tls),
    sentinels: c.sentinels,
    name: c.name,
    sentinelUsername: c.sentinelUsername,
    sentinelPassword: c.sentinelPassword,
    sentinelTLS: tls(c.sentinelTls),
    enableTLSForSentinelMode: c.sentinels && c.tls ? true : undefined, // else ioredis ignores `tls` for the master Sentinel names
    // A command is answered now or fails: never queued while disconnected and sent late, never resent, and one
    // in flight when the connection drops fails at once (0 retries; else it would wait for its timeout).
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout,
    retryStrategy: (times) => Math.min(times * 100, 2000),
    protocol: 2, // RESP2 replies (and Redis before 6)
  }
  for (const key of Object.keys(options) as Array<keyof RedisOptions>) if (options[key] === undefined) delete options[key]
  const conn = c.url ? new Redis(c.url, options) : new Redis(options)
  conn.on('error', () => {}) // failures reach the caller of each command; ioredis reconnects by itself
  return conn
}

function whenReady(conn: Redis, signal: AbortSignal): Promise<void> {
  if (conn.status === 'ready') return Promise.resolve()
  return new Promise((resolve, reject) => {
    const done = () => {
      conn.off('ready', done)
      signal.removeEventListener('abort', done)
      if (signal.aborted) reject(new Error(signal.reason instanceof Error && signal.reason.name === 'TimeoutError' ? 'no connection in time' : 'the RedisTable is closed'))
      else resolve()
    }
    conn.on('ready', done)
    signal.addEventListener('abort', done)
  })
}

/** The replies of a MULTI, or the first error. */
function results(replies: Array<[Error | null, unknown]> | null): unknown[] {
  if (!replies) throw new Error('transaction aborted')
  return replies.map(([err, value]) => {
    if (err) throw err
    return value
  })
}

/** The position from [MGET rev instance, XREVRANGE COUNT 1]; undefined when Redis holds no table. */
function toPosition([mget, last]: unknown[]): StreamPosition | undefined {
  const [rev, instance] = mget as Array<string | null>
  if (rev == null || instance == null) return undefined
  return { instance, revision: Number(rev), id: (last as XreadReply[0][1])[0]?.[0] ?? '0-0' }
}

function fieldsOf(list: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i + 1 < list.length; i += 2) out[list[i]!] = list[i + 1]!
  return out
}

const drainsJson = (reals: Record<string, number>): string => (Object.keys(reals).length > 0 ? JSON.stringify(reals) : '')

function follows(revision: number, expect: number): void {
  if (revision !== expect + 1) throw new ERR_INTERNAL(`a change to revision ${revision} cannot follow revision ${expect}`)
}

function notReplicated(revision: number, detail: string): Error {
  return Object.assign(new ERR_STORE_NOT_REPLICATED(revision, detail), { revision })
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}`
  } catch {
    return 'redis'
  }
}
