// Alerts of the director pair (HA-OSCAR's external heartbeat): the pair lost its standby, a partition is seen,
// Redis is lost, both directors are down as seen from Redis. Each is one log line, and a POST of a small JSON
// document to the configured webhook. Delivery is best effort with a deadline: an alert never blocks a takeover,
// and at most a few wait while a webhook is slow (the oldest waiting one is dropped, and counted).
import { request, type Dispatcher } from 'undici'
import type { AlertKind as RoleAlertKind } from './role-types.js'
import type { WatchAlertKind } from './pair-watch.js'

/** What happened: the role's alerts (src/ha/role-types.ts), and a watcher's of the pair (src/ha/pair-watch.ts). */
export type AlertKind = RoleAlertKind | WatchAlertKind

/** One alert as the webhook receives it. */
export interface Alert {
  kind: AlertKind
  /** The director (or the watcher) that raised it. */
  node: string
  cluster: string
  at: string
  message: string
  detail?: Record<string, unknown>
}

export interface AlertLog {
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export interface AlertsOptions {
  node: string
  cluster: string
  /** http(s) URL to POST alerts to; absent: log lines only. */
  webhook?: string
  /** Headers sent with each POST (e.g. an Authorization token). */
  headers?: Record<string, string>
  /** Milliseconds one POST may take. @default 5000 */
  timeoutMs?: number
  /** Alerts waiting behind a slow webhook before the oldest is dropped. @default 16 */
  maxQueued?: number
  log: AlertLog
  now?: () => number
  dispatcher?: Dispatcher
}

/** Raises alerts; `close()` waits for the one being sent (up to its deadline) and drops the rest. */
export class Alerts {
  readonly #o: AlertsOptions
  readonly #queue: Alert[] = []
  #sending: Promise<void> | undefined
  #closed = false
  /** Alerts delivered, failed (webhook error or status), dropped (queue full or closed). */
  readonly counts = { sent: 0, failed: 0, dropped: 0 }

  constructor(o: AlertsOptions) {
    if (o.webhook !== undefined && !/^https?:\/\//.test(o.webhook)) throw new TypeError('alerts: webhook must be an http(s) URL')
    this.#o = o
  }

  /** One log line now; the webhook POST in the background. */
  raise(kind: AlertKind, message: string, detail?: Record<string, unknown>): void {
    const alert: Alert = { kind, node: this.#o.node, cluster: this.#o.cluster, at: new Date((this.#o.now ?? Date.now)()).toISOString(), message, ...(detail ? { detail } : {}) }
    this.#o.log.warn({ alert: { kind, ...detail } }, `alert: ${message}`)
    if (!this.#o.webhook || this.#closed) return
    this.#queue.push(alert)
    if (this.#queue.length > (this.#o.maxQueued ?? 16)) {
      this.#queue.shift()
      this.counts.dropped++
    }
    this.#sending ??= this.#drain()
  }

  async close(): Promise<void> {
    this.#closed = true
    this.counts.dropped += this.#queue.length
    this.#queue.length = 0
    await this.#sending
  }

  async #drain(): Promise<void> {
    for (let alert = this.#queue.shift(); alert; alert = this.#queue.shift()) {
      try {
        const res = await request(this.#o.webhook!, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...this.#o.headers },
          body: JSON.stringify(alert),
          signal: AbortSignal.timeout(this.#o.timeoutMs ?? 5000),
          dispatcher: this.#o.dispatcher,
        })
        await res.body.dump()
        if (res.statusCode >= 300) throw new Error(`HTTP ${res.statusCode}`)
        this.counts.sent++
      } catch (err) {
        this.counts.failed++
        this.#o.log.error({ err: (err as Error).message, alert: alert.kind }, 'alert webhook failed')
      }
    }
    this.#sending = undefined
  }
}
