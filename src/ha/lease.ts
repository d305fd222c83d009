// The active director's lease in Redis, with its fencing epoch, and each director's last-seen mark.
//
// Keys (the hash tag of src/table/redis-table.ts, so the pair's keys share one Cluster slot):
//   lvs:{CLUSTER}:lease        the holder's node name, with a PX ttl: absent = free (never held, expired, released)
//   lvs:{CLUSTER}:renewed      Redis's own clock (TIME, ms) at the holder's last grant or renew, with the same PX
//                              ttl: how long the holder has not renewed is measured on one clock, Redis's
//   lvs:{CLUSTER}:epoch        the fencing epoch: goes up by at least one each time the lease is granted to a
//                              director that did not hold it; never reset by this code
//   lvs:{CLUSTER}:seen:<node>  the director's role when it last talked to Redis, with a PX ttl: an external
//                              watcher that finds neither director's key sees "both directors down from Redis" (src/ha/pair-watch.ts)
//
// Every operation is one Lua script, so a grant and its epoch are one step. A standby that hears the holder on no
// heartbeat path may take the lease over before its ttl (`acquire(minEpoch, role, stealIfStaleMs)`): the script
// grants it, bumping the epoch, only when Redis's clock says the holder has not renewed for stealIfStaleMs; a
// holder still renewing is never stolen from, and of two stealers at once one wins. The connection has ioredis's offline
// queue off, no resend and a command timeout (src/table/redis-table.ts `connect`): a renew is answered now or
// fails, and is never replayed late after a reconnect.
//
// Epochs and Redis losing its data: `acquire(minEpoch)` grants at least `minEpoch + 1`, so a director that
// remembers a higher epoch (its own, or the peer's heartbeat) is never handed a lower one by a Redis restarted
// empty. Limit: a Sentinel failover can roll the epoch back to a value neither director has seen; then an old
// epoch can be issued again. WAIT narrows that window, it does not close it (docs/ha.md).
import { Redis } from 'ioredis'
import { ERR_INVALID_VALUE, ERR_STORE_UNAVAILABLE } from '../errors.js'
import { connect, type RedisConnection } from '../table/redis-table.js'

/** Where the lease lives and who asks for it. */
export interface LeaseOptions {
  connection: RedisConnection
  /** The pair's name in every key (`lvs:{CLUSTER}:...`), as for the table. */
  cluster: string
  /** This director's name: the holder value and the `seen:<node>` key. Letters, digits, `.`, `_`, `-`. */
  node: string
  /** How long a grant or renew holds the lease. */
  ttlMs: number
  /** A command with no answer by then fails (LVS_ERR_STORE_UNAVAILABLE). Keep it under the lease margin. @default 200 */
  commandTimeoutMs?: number
  /** How long a `seen:<node>` mark lives after the director last talked to Redis. @default 2000 */
  seenTtlMs?: number
}

/** The lease as Redis holds it after an operation. */
export interface LeaseView {
  /** This director holds it now (it asked, and Redis says it is the holder at `epoch`). */
  held: boolean
  /** Who holds it; null when free. */
  holder: string | null
  /** Redis's current epoch (0 when Redis has none). */
  epoch: number
  /** The lease's remaining time to live in ms (0 when free). */
  ttlMs: number
  /**
   * How long ago, by Redis's clock, the holder was last granted or renewed the lease. Absent when the lease is
   * free or the holder did not record it (written by an older version: only its ttl counts).
   */
  sinceRenewMs?: number
}

/** What the role driver needs of a lease; {@link Lease} is the Redis one, tests pass a fake. */
export interface LeaseStore {
  /** Resolves once connected (optional: the driver waits for it, bounded, before its first call). */
  ready?(): Promise<void>
  /** With `stealIfStaleMs`, also take it from a holder that has not renewed for that long by Redis's clock. */
  acquire(minEpoch: number, role: string, stealIfStaleMs?: number): Promise<LeaseView>
  renew(epoch: number, role: string): Promise<LeaseView>
  release(epoch: number, role: string): Promise<LeaseView>
  read(role: string): Promise<LeaseView>
  close(): Promise<void>
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/

// Every script: KEYS lease epoch seen renewed; ARGV node, ttl, epoch (min epoch for acquire), seen ttl, role,
// steal-if-stale ms (acquire; 0: never). Returns {holder or false, epoch, pttl, ms since the last renew or -1}.
// TIME before a write needs effects replication: the default since Redis 5, asked for on older ones.
const HEAD = `
if redis.replicate_commands then redis.replicate_commands() end
local cur = redis.call('GET', KEYS[1])
local epoch = tonumber(redis.call('GET', KEYS[2]) or '0')
local t = redis.call('TIME')
local clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[3], ARGV[5], 'PX', ARGV[4])
local function since()
  if not cur then return -1 end
  local at = tonumber(redis.call('GET', KEYS[4]) or '')
  if not at then return -1 end
  return math.max(clock - at, 0)
end
local function stamp() redis.call('SET', KEYS[4], clock, 'PX', ARGV[2]) end
local function now() return {cur or false, epoch, math.max(redis.call('PTTL', KEYS[1]), 0), since()} end
`
// Grant when free, already ours, or (stealing) its holder has not renewed for ARGV[6] ms by Redis's clock; a grant
// to a director that did not hold it raises the epoch above both Redis's and the caller's.
const ACQUIRE = `${HEAD}
if cur and cur ~= ARGV[1] then
  local steal = tonumber(ARGV[6]) or 0
  if not (steal > 0 and since() >= steal) then return now() end
end
if cur ~= ARGV[1] then
  epoch = math.max(epoch, tonumber(ARGV[3])) + 1
  redis.call('SET', KEYS[2], epoch)
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
cur = ARGV[1]
stamp()
return now()
`
// Extend only when we still hold it at the epoch we were granted.
const RENEW = `${HEAD}
if cur == ARGV[1] and epoch == tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  stamp()
end
return now()
`
// Compare-and-delete: free it for the peer (a planned switchover).
const RELEASE = `${HEAD}
if cur == ARGV[1] and epoch == tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1], KEYS[4])
  cur = nil
end
return now()
`
const READ = `${HEAD}
return now()
`

type Reply = [holder: string | null, epoch: number, pttl: number, sinceRenew: number]
type Scripted = Redis & Record<'lvsLeaseAcquire' | 'lvsLeaseRenew' | 'lvsLeaseRelease' | 'lvsLeaseRead', (...args: Array<string | number>) => Promise<Reply>>

/** The pair's lease in Redis, as seen by one director. */
export class Lease implements LeaseStore {
  readonly #conn: Scripted
  readonly #keys: { lease: string; epoch: string; seen: string; renewed: string }
  readonly #prefix: string
  readonly #node: string
  readonly #ttlMs: number
  readonly #seenTtlMs: number
  readonly #where: string
  #closing: Promise<void> | undefined

  constructor(options: LeaseOptions) {
    if (!NAME.test(options.cluster)) throw new ERR_INVALID_VALUE('redis cluster name', JSON.stringify(options.cluster))
    if (!NAME.test(options.node)) throw new ERR_INVALID_VALUE('ha node name', `${JSON.stringify(options.node)} is not 1-64 letters, digits, ".", "_" or "-"`)
    if (!(options.ttlMs > 0)) throw new ERR_INVALID_VALUE('lease ttlMs', String(options.ttlMs))
    this.#prefix = `lvs:{${options.cluster}}:`
    this.#keys = { lease: `${this.#prefix}lease`, epoch: `${this.#prefix}epoch`, seen: `${this.#prefix}seen:${options.node}`, renewed: `${this.#prefix}renewed` }
    this.#node = options.node
    this.#ttlMs = Math.round(options.ttlMs)
    this.#seenTtlMs = Math.round(options.seenTtlMs ?? 2000)
    const c = options.connection
    this.#where = c.sentinels ? `sentinel master ${c.name}` : `${c.host ?? 'localhost'}:${c.port ?? 6379}`
    this.#conn = connect(c, options.commandTimeoutMs ?? 200) as Scripted
    const scripts = { lvsLeaseAcquire: ACQUIRE, lvsLeaseRenew: RENEW, lvsLeaseRelease: RELEASE, lvsLeaseRead: READ }
    for (const [name, lua] of Object.entries(scripts)) this.#conn.defineCommand(name, { numberOfKeys: 4, lua })
  }

  /** Resolves once connected (a start-up may wait for it; operations before then fail, they do not queue). */
  async ready(): Promise<void> {
    if (this.#conn.status === 'ready') return
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        this.#conn.off('ready', done)
        this.#conn.off('end', done)
        if (this.#conn.status === 'ready') resolve()
        else reject(new ERR_STORE_UNAVAILABLE(this.#where, 'the lease connection is closed'))
      }
      this.#conn.on('ready', done)
      this.#conn.on('end', done)
    })
  }

  /**
   * Take the lease if it is free or already ours, or (with `stealIfStaleMs` > 0) if its holder has not renewed it
   * for that long by Redis's clock; a new grant's epoch is above Redis's and `minEpoch`.
   */
  acquire(minEpoch: number, role = 'active', stealIfStaleMs = 0): Promise<LeaseView> {
    return this.#call('lvsLeaseAcquire', minEpoch, role, stealIfStaleMs)
  }

  /** Extend the lease by ttlMs if we hold it at `epoch`; `held: false` (and who holds it) otherwise. */
  renew(epoch: number, role = 'active'): Promise<LeaseView> {
    return this.#call('lvsLeaseRenew', epoch, role)
  }

  /** Free the lease if we hold it at `epoch` (a planned switchover); the epoch stays. */
  release(epoch: number, role = 'handing-over'): Promise<LeaseView> {
    return this.#call('lvsLeaseRelease', epoch, role)
  }

  /** The lease as it is now, with `sinceRenewMs` by Redis's clock (and mark this director seen). */
  read(role = 'standby'): Promise<LeaseView> {
    return this.#call('lvsLeaseRead', 0, role)
  }

  /** A director's last-seen mark: its role and the mark's remaining ms; undefined when it has not talked to Redis lately. */
  async seen(node: string): Promise<{ role: string; ttlMs: number } | undefined> {
    if (!NAME.test(node)) throw new ERR_INVALID_VALUE('ha node name', JSON.stringify(node))
    const key = `${this.#prefix}seen:${node}`
    const [role, ttl] = await this.#run(async () => {
      const replies = await this.#conn.multi().get(key).pttl(key).exec()
      return (replies ?? []).map(([err, v]) => {
        if (err) throw err
        return v
      })
    })
    return typeof role === 'string' ? { role, ttlMs: Math.max(Number(ttl), 0) } : undefined
  }

  /** Close the connection; operations still pending fail. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#conn.disconnect()
    })()
    return this.#closing
  }

  async #call(script: 'lvsLeaseAcquire' | 'lvsLeaseRenew' | 'lvsLeaseRelease' | 'lvsLeaseRead', epoch: number, role: string, stealIfStaleMs = 0): Promise<LeaseView> {
    const k = this.#keys
    const steal = Math.max(Math.round(stealIfStaleMs), 0)
    const [holder, current, pttl, since] = await this.#run(() => this.#conn[script](k.lease, k.epoch, k.seen, k.renewed, this.#node, this.#ttlMs, epoch, this.#seenTtlMs, role, steal))
    // A renew holds only at the epoch it named (the holder alone could be us at another grant).
    const held = holder === this.#node && (script !== 'lvsLeaseRenew' || Number(current) === epoch)
    const view: LeaseView = { held, holder: holder ?? null, epoch: Number(current), ttlMs: Number(pttl) }
    if (holder && Number(since) >= 0) view.sinceRenewMs = Number(since)
    return view
  }

  async #run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command()
    } catch (err) {
      throw new ERR_STORE_UNAVAILABLE(this.#where, (err as Error).message, { cause: err })
    }
  }
}
