// Keeps the kernel's IPVS table equal to the wanted one, service by service: changes gathered over a short
// window go out as one `ipvsadm -R` (diff of the touched services only, applied in place), failures are
// retried with backoff, and a periodic full read on its own ipvsadm queue repairs entries changed by hand.
import type { Clock, TimerHandle } from '../clock.js'
import type { ApplyDriver, ApplyError, FailedOp } from '../ipvs/apply.js'
import { applyRecorded, type OwnedRecorder } from '../ipvs/apply-recorded.js'
import { diffServices, type Plan } from '../ipvs/diff.js'
import { sameDestinationAttrs, sameServiceAttrs, serviceKey, destinationKey, type Service, type Table } from '../ipvs/model.js'
import { trimOwned } from '../ipvs/owned.js'
import { TableView } from '../ipvs/table-view.js'

/** The pino-style logger the reconciler writes to: one line per apply, failure, retry and repair. */
export interface ReconcileLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/** What happened in the kernel, for status, metrics and the audit trail. */
export type ReconcileEvent =
  | { type: 'applied'; lines: number; keys: string[] }
  | { type: 'failed'; failed: FailedOp[]; error?: { code: string; message: string }; retryInMs: number }
  | { type: 'drift'; keys: string[] }

/** Dependencies and settings of a reconciler. */
export interface ReconcilerOptions {
  /** The writer: every `ipvsadm -R` and the read-back after a failed batch. */
  writer: ApplyDriver
  /** The drift reader: a second ipvsadm queue, so a long full read never delays a health-driven write. */
  reader: { read(): Promise<Table> }
  owned: Set<string>
  store: OwnedRecorder
  clock: Clock
  log: ReconcileLog
  /** Milliseconds changes are gathered before one apply. @default 20 */
  batchWindowMs?: number
  /** First retry delay after a failure, doubling up to maxRetryMs. @default 250 */
  retryMs?: number
  /** @default 30000 */
  maxRetryMs?: number
  onEvent?: (e: ReconcileEvent) => void
}

/** The reconciler of one IPVS table. */
export class Reconciler {
  readonly #o: Required<Omit<ReconcilerOptions, 'onEvent'>> & Pick<ReconcilerOptions, 'onEvent'>
  readonly #view: TableView
  readonly #wanted = new Map<string, Service>()
  #dirty = new Set<string>()
  #timer: TimerHandle | undefined
  #running: Promise<void> | undefined
  #retryDelay = 0
  /** Callers of attempted(): the next apply attempt (one that starts after their call) ends it. */
  #waiting: { promise: Promise<void>; resolve: () => void } | undefined
  /** A run is queued for right after the current synchronous work. */
  #soon = false
  /** A change waiting now is an operator's: no batch window for it. */
  #urgent = false
  #failing = new Set<string>()
  /** Applies so far; a drift read that overlapped one compares only services untouched since it began. */
  #generation = 0
  readonly #touchedAt = new Map<string, number>()
  #closed = false

  /** `kernel` is the table as just read; the owned set is trimmed to it. */
  constructor(kernel: Table, options: ReconcilerOptions) {
    this.#o = { batchWindowMs: 20, retryMs: 250, maxRetryMs: 30_000, ...options }
    this.#view = new TableView(kernel)
    trimOwned(this.#o.owned, this.#view)
  }

  /** The kernel as the director believes it holds it. */
  get view(): TableView {
    return this.#view
  }

  /** Changes waiting to be applied (or retried). */
  get pending(): number {
    return this.#dirty.size + this.#failing.size
  }

  /**
   * Set the wanted form of one service (undefined = not wanted). Applied after the batch window, so health
   * transitions that arrive together go out as one `ipvsadm -R`; `now` (an operator's change) skips the window
   * when nothing is running (changes that arrive while an apply runs go out together after it either way).
   */
  want(key: string, service: Service | undefined, now = false): void {
    if (service) this.#wanted.set(key, service)
    else this.#wanted.delete(key)
    this.#dirty.add(key)
    if (now) this.#urgent = true
    this.#arm(this.#window())
  }

  /**
   * Resolves once an apply attempt that includes every change wanted so far has ended (applied, or failed and
   * queued for retry): a write is answered once the kernel has it, and its answer's work never competes with the
   * `ipvsadm -R` that carries it. Resolves at once when nothing is pending, applies are failing, or it is closed.
   */
  attempted(): Promise<void> {
    // While applies fail (retried with backoff, up to 30 s apart) nobody waits: status and metrics say it.
    if (this.#dirty.size === 0 || this.#closed || this.#failing.size > 0) return Promise.resolve()
    if (!this.#waiting) {
      let resolve!: () => void
      const promise = new Promise<void>((r) => (resolve = r))
      this.#waiting = { promise, resolve }
    }
    return this.#waiting.promise
  }

  /** Apply what is pending now (start-up, tests); resolves when the kernel has it or the attempt failed. */
  async flush(): Promise<void> {
    while (this.#running) await this.#running
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#run()
  }

  #window(): number {
    return this.#urgent ? 0 : this.#o.batchWindowMs
  }

  #arm(ms: number): void {
    if (this.#closed || this.#running || this.#soon) return
    if (this.#timer) {
      if (ms > 0 || this.#failing.size > 0) return // a retry keeps its backoff
      this.#o.clock.clearTimeout(this.#timer) // an urgent change cuts a pending batch window short
      this.#timer = undefined
    }
    if (ms === 0) {
      // Right after the caller's synchronous work (changes made together still go out as one batch).
      this.#soon = true
      queueMicrotask(() => {
        this.#soon = false
        void this.#run()
      })
      return
    }
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined
      void this.#run()
    }, ms)
  }

  #run(): Promise<void> {
    this.#running ??= this.#apply().finally(() => {
      this.#running = undefined
      if (this.#dirty.size > 0) this.#arm(this.#failing.size > 0 ? this.#retryDelay : this.#window())
    })
    return this.#running
  }

  async #apply(): Promise<void> {
    const ended = this.#waiting
    this.#waiting = undefined
    try {
      await this.#applyDirty()
    } finally {
      ended?.resolve()
    }
  }

  async #applyDirty(): Promise<void> {
    const keys = [...this.#dirty]
    this.#dirty = new Set()
    this.#urgent = false
    if (keys.length === 0) return
    if (this.#view.stale) {
      // A batch whose outcome is unknown (ipvsadm and the read after it failed): read before diffing again.
      try {
        this.#view.reset(await this.#o.writer.read())
        await this.#o.store.compact(this.#o.owned)
      } catch (err) {
        const e = err as { code?: string; message: string }
        return this.#retry(keys, { failed: [], error: { code: e.code ?? 'ERROR', message: e.message } })
      }
      trimOwned(this.#o.owned, this.#view)
    }
    const plan = this.#plan(keys)
    if (plan.ops.length === 0 && plan.adopted.length === 0) {
      this.#settled(keys)
      return
    }
    try {
      let outcome
      try {
        outcome = await applyRecorded(this.#o.writer, plan, this.#view, this.#o.owned, this.#o.store)
      } finally {
        // The kernel may have changed (even when the state file then failed): a drift read begun before is stale here.
        this.#generation++
        for (const k of keys) this.#touchedAt.set(k, this.#generation)
      }
      const failedKeys = new Set(outcome.failed.map((f) => serviceKey(f.op.service)))
      this.#settled(keys.filter((k) => !failedKeys.has(k)))
      if (outcome.applied.length > 0) {
        this.#o.log.info({ changes: outcome.applied.length, services: keys.length, batches: outcome.batches }, 'kernel table updated')
        this.#o.onEvent?.({ type: 'applied', lines: outcome.applied.length, keys })
      }
      this.#retry(keys.filter((k) => failedKeys.has(k)), { failed: outcome.failed })
    } catch (err) {
      // The whole attempt failed (ipvsadm missing or timed out, state file unwritable): retry it all. Adds that
      // may have taken are already in the owned set, and in the journal (applyRecorded).
      const e = err as ApplyError
      this.#retry(keys, { failed: [], error: { code: e.code ?? 'ERROR', message: e.message } })
    }
  }

  #plan(keys: string[]): Plan {
    // Entries the desired table names are taken over (adopt): the operator told this director to manage them.
    return diffServices(this.#wanted, this.#view, this.#o.owned, keys, { adopt: true })
  }

  #settled(keys: string[]): void {
    for (const k of keys) this.#failing.delete(k)
    if (this.#failing.size === 0) this.#retryDelay = 0
    for (const k of keys) if (!this.#wanted.has(k) && !this.#view.get(k)) this.#touchedAt.delete(k)
  }

  #retry(keys: string[], what: { failed: FailedOp[]; error?: { code: string; message: string } }): void {
    if (keys.length === 0) return
    this.#retryDelay = Math.min(this.#o.maxRetryMs, this.#retryDelay ? this.#retryDelay * 2 : this.#o.retryMs)
    for (const k of keys) {
      this.#failing.add(k)
      this.#dirty.add(k)
    }
    const lines = what.failed.map((f) => `${f.key}: ${f.error}`)
    this.#o.log.error({ services: keys, failed: lines, err: what.error, retryInMs: this.#retryDelay }, 'kernel update failed')
    this.#o.onEvent?.({ type: 'failed', ...what, retryInMs: this.#retryDelay })
  }

  /**
   * One drift check: read the whole kernel table (on the reader's queue), and repair every owned entry that
   * differs from what this director applied. Services applied to while the read ran are left for the next check.
   * Returns the keys repaired.
   */
  async checkDrift(): Promise<string[]> {
    const since = this.#generation
    const kernel = await this.#o.reader.read()
    while (this.#running) await this.#running
    const fresh = new TableView(kernel)
    const drifted: string[] = []
    const keys = new Set([...this.#view.services()].map(serviceKey).concat(kernel.services.map(serviceKey)))
    for (const key of keys) {
      if ((this.#touchedAt.get(key) ?? 0) > since) continue
      if (!sameService(this.#view.get(key), fresh.get(key))) drifted.push(key)
    }
    if (drifted.length === 0) return []
    // The view takes what the kernel holds for the drifted services; the diff then puts back what we want.
    const merged = this.#view.toTable().services.filter((s) => !drifted.includes(serviceKey(s)))
    for (const key of drifted) {
      const s = fresh.get(key)
      if (s) merged.push(s)
    }
    this.#view.reset({ services: merged })
    trimOwned(this.#o.owned, this.#view)
    await this.#o.store.compact(this.#o.owned)
    const mine = drifted.filter((k) => this.#wanted.has(k) || this.#o.owned.has(k))
    if (mine.length === 0) return []
    this.#o.log.warn({ services: mine }, 'kernel drift repaired')
    this.#o.onEvent?.({ type: 'drift', keys: mine })
    for (const k of mine) this.#dirty.add(k)
    await this.flush()
    return mine
  }

  /** Stop timers; a run in progress finishes. The kernel table is left as it is. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer)
    this.#timer = undefined
    while (this.#running) await this.#running
    this.#waiting?.resolve()
    this.#waiting = undefined
  }
}

function sameService(a: Service | undefined, b: Service | undefined): boolean {
  if (!a || !b) return a === b
  if (!sameServiceAttrs(a, b) || a.destinations.length !== b.destinations.length) return false
  const byKey = new Map(b.destinations.map((d) => [destinationKey(d), d]))
  return a.destinations.every((d) => {
    const o = byKey.get(destinationKey(d))
    return o !== undefined && sameDestinationAttrs(d, o)
  })
}
