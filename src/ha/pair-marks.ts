// Reads the pair's marks in Redis for a watcher outside the pair: each director's `seen:<node>` (its role, PX ttl,
// written by src/ha/lease.ts), the lease holder and the epoch. Read only: it writes nothing, takes nothing.
import type { Redis } from 'ioredis'
import { ERR_INVALID_VALUE, ERR_STORE_UNAVAILABLE } from '../errors.js'
import { connect, type RedisConnection } from '../table/redis-table.js'
import type { PairSample } from './pair-watch.js'

export interface PairMarksOptions {
  connection: RedisConnection
  /** The pair's name in every key (`lvs:{CLUSTER}:...`). */
  cluster: string
  /** The directors' names; absent: found each read by SCAN of `lvs:{CLUSTER}:seen:*` (fine for a Redis of a few pairs). */
  nodes?: readonly string[]
  /** A command with no answer by then fails (LVS_ERR_STORE_UNAVAILABLE). @default 1000 */
  commandTimeoutMs?: number
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/
const SCAN_COUNT = 1000

/** The pair's marks in Redis, read on demand. */
export class PairMarks {
  readonly #conn: Redis
  readonly #prefix: string
  readonly #nodes: readonly string[] | undefined
  readonly #where: string
  #closing: Promise<void> | undefined

  constructor(o: PairMarksOptions) {
    if (!NAME.test(o.cluster)) throw new ERR_INVALID_VALUE('redis cluster name', JSON.stringify(o.cluster))
    for (const node of o.nodes ?? []) if (!NAME.test(node)) throw new ERR_INVALID_VALUE('director name', JSON.stringify(node))
    this.#prefix = `lvs:{${o.cluster}}:`
    this.#nodes = o.nodes?.length ? [...o.nodes] : undefined
    const c = o.connection
    this.#where = c.url ? c.url.replace(/\/\/[^@/]*@/, '//***@') : c.sentinels ? `sentinel master ${c.name}` : `${c.host ?? 'localhost'}:${c.port ?? 6379}`
    this.#conn = connect(c, o.commandTimeoutMs ?? 1000)
  }

  /** Where Redis is, for log lines (no password). */
  get where(): string {
    return this.#where
  }

  /** Resolves once connected, or after `timeoutMs` (reads meanwhile fail, they do not queue). */
  async ready(timeoutMs: number): Promise<boolean> {
    if (this.#conn.status === 'ready') return true
    const signal = AbortSignal.timeout(timeoutMs)
    await new Promise<void>((resolve) => {
      const done = () => {
        this.#conn.off('ready', done)
        this.#conn.off('end', done)
        signal.removeEventListener('abort', done)
        resolve()
      }
      this.#conn.on('ready', done)
      this.#conn.on('end', done)
      signal.addEventListener('abort', done)
    })
    return (this.#conn.status as string) === 'ready'
  }

  /** The marks now; LVS_ERR_STORE_UNAVAILABLE when Redis does not answer. */
  async read(): Promise<PairSample> {
    try {
      const seenKeys = this.#nodes ? this.#nodes.map((n) => `${this.#prefix}seen:${n}`) : await this.#scan()
      const [holder, epoch, ...roles] = await this.#conn.mget(`${this.#prefix}lease`, `${this.#prefix}epoch`, ...seenKeys)
      const seen: Record<string, string> = {}
      seenKeys.forEach((key, i) => {
        const role = roles[i]
        if (typeof role === 'string') seen[key.slice(this.#prefix.length + 'seen:'.length)] = role
      })
      return { seen, holder: holder ?? null, epoch: Number(epoch ?? 0) }
    } catch (err) {
      throw new ERR_STORE_UNAVAILABLE(this.#where, (err as Error).message, { cause: err })
    }
  }

  /** Close the connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#conn.disconnect()
    })()
    return this.#closing
  }

  async #scan(): Promise<string[]> {
    const keys = new Set<string>() // SCAN may return a key twice
    let cursor = '0'
    do {
      const [next, batch] = await this.#conn.scan(cursor, 'MATCH', `${this.#prefix.replace(/[{}[\]*?\\]/g, '\\$&')}seen:*`, 'COUNT', SCAN_COUNT)
      for (const key of batch) keys.add(key)
      cursor = next
    } while (cursor !== '0')
    return [...keys].sort()
  }
}
