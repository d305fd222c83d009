// The director: joins the desired table, the health checks and the reconciler. Every change to the desired
// table (API, reload, drain end) goes through `change`/`reload`, is persisted before it is acknowledged, is
// written to the audit trail, and reaches the kernel through the reconciler for the touched services only.
import type { Checker } from '../healthchecks/checker.js'
import { checkKey } from '../healthchecks/check-key.js'
import type { ChangeEvent, Scheduler } from '../healthchecks/scheduler.js'
import type { CheckSpec } from '../healthchecks/spec.js'
import type { Health } from '../healthchecks/state.js'
import { resolveTarget } from '../healthchecks/target.js'
import type { AuditEntry, ChangeContext, DirectorControl, PairView, RealView, ServiceView, StatusView, ViewOptions } from './api/control.js'
import type { LoadedConfig } from './config/load.js'
import { normalizeServiceConfig, kernelKey, type DesiredService } from './config/service.js'
import type { RealConfig } from './config/schema.js'
import type { Clock } from './clock.js'
import { ERR_BAD_REQUEST, ERR_NOT_FOUND, ERR_SWITCHOVER_REFUSED } from './errors.js'
import type { ListedService } from './ipvs/parse.js'
import { destinationKey, type Service } from './ipvs/model.js'
import { effectiveWeight, expandService, type Expanded } from './reconcile/expand.js'
import type { Reconciler, ReconcileEvent } from './reconcile/reconciler.js'
import { DesiredTable, etag, realKey, type Applied, type Mutation } from './table/desired-table.js'
import { mergeConfig } from './table/reload-merge.js'
import { realView, serviceView, type RealLive } from './director-views.js'
import type { PersistedTable, TableChange, TableStore } from './table/state-file.js'

/** The pino-style logger of the director. */
export interface DirectorLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/** What the director is built from (src/main.ts wires the real ones; tests pass fakes). */
export interface DirectorDeps {
  config: LoadedConfig
  /** Reads the config file again (reload). */
  loadConfig: () => Promise<LoadedConfig>
  /** The desired table as persisted, when there is one (restart; the pair's table from Redis). */
  persisted?: PersistedTable
  /** Where this director keeps its table (the local state file; for a pair, its cache of the shared table). */
  store: TableStore
  /**
   * The pair's table (Redis): a change is written there first, at the revision this director holds, and is made
   * here only once it is in; the other director's changes come through `applyPeer`/`resetTo`.
   */
  shared?: SharedTable
  /** A director pair's role (src/ha): its view for status, and a planned switchover. */
  pair?: PairControl
  /**
   * Whether this director may end drains now (remove a drained real server). A pair's standby keeps tracking its
   * drains, and ends them once it is active: only one director writes each drain end. @default always
   */
  mayFinishDrains?: () => boolean
  scheduler: Scheduler
  createChecker: (spec: CheckSpec) => Checker
  reconciler: Reconciler
  /** The kernel's listing with activeConns, stats and rates (the director caches it for a second). */
  kernelStats: () => Promise<ListedService[]>
  /** The kernel's plain listing (weights, active connections) of these services only: drains poll it. */
  listServices: (services: Service[]) => Promise<ListedService[]>
  clock: Clock
  /** Wall-clock milliseconds (audit times, drain deadlines that survive a restart). @default Date.now */
  now?: () => number
  log: DirectorLog
  version: string
  /** Audit entries kept in memory. @default 1000 */
  auditSize?: number
}

/** The table both directors of a pair write to and follow (src/table/redis-table.ts). */
export interface SharedTable {
  /** Make `change` if the table is at `expectRevision`; throws LVS_ERR_STORE_* (with `revision`) otherwise. */
  write(change: TableChange, expectRevision: number): Promise<unknown>
  replaceAll(whole: PersistedTable, expectRevision: number): Promise<unknown>
  snapshot(): Promise<{ table: PersistedTable } | undefined>
}

/** This director's side of a pair, as the director shows and asks it. */
export interface PairControl {
  role(): StatusView['role']
  view(): PairView
  /** Start handing over; false when there is nothing to hand over to (or from). */
  switchover(): boolean
}

/** A real server's check as subscribed: probe key and thresholds (a change of either re-subscribes it). */
interface Subscription { key: string; rise: number; fall: number }

const AUDIT_DEFAULT = 1000
const STATS_TTL_MS = 1000
const DRAIN_POLL_MS = 1000
/** How long a write refused by Redis for a newer revision waits for this director to catch up before it retries. */
const CATCH_UP_MS = 2000
const CONFLICT_RETRIES = 8
/** Shared checkers kept (see #checkers). */
const CHECKERS_KEPT = 1024

/** The director core. `start()` once, `close()` at the end. */
export class Director implements DirectorControl {
  readonly #d: DirectorDeps
  readonly #now: () => number
  readonly #table: DesiredTable
  #config: LoadedConfig
  #base: DesiredService[]
  readonly #drains: Map<string, number>
  readonly #subs = new Map<string, Subscription>() // by `service|real`
  // A checker that keeps nothing of its own (no prepare, no close) serves every real server whose check spec reads
  // the same, in any service: one per distinct spec (by its JSON), not one per service (~400 bytes each, its
  // closures and their scope). Bounded: cleared when full (a checker in use stays with its probes).
  readonly #checkers = new Map<string, Checker>()
  // By service name: what the kernel is wanted to hold, and whether the fallback is in. Not the expansion's
  // weights: a view works out a real server's from its health (effectiveWeight, the same rule); a Map per
  // service kept 40,000 key strings (~4 MB at 10,000 services).
  readonly #expanded = new Map<string, Omit<Expanded, 'weights'>>()
  readonly #kernelKeys = new Map<string, string>() // service name -> kernel key
  readonly #audit: AuditEntry[] = []
  #seq = 0
  #startedAt: number
  #ready = false
  #stats: { at: number; value: Map<string, ListedService> } | undefined
  #refreshing: Promise<Map<string, ListedService>> | undefined
  #drainTimer: ReturnType<Clock['setTimeout']> | undefined
  /** Drains whose end was refused (logged once each); only ids still in `#drains`. */
  readonly #drainFailed = new Set<string>()
  #closed = false
  readonly #kernel: StatusView['kernel'] = { ok: true, pending: 0, driftRepairs: 0 }
  #reload: StatusView['reload'] = { ok: true }
  readonly #store: StatusView['store']
  // Pair: a change is applied, written to Redis and undone if refused, one at a time, and never beside a
  // peer's change (the tail of the queue; a writer waits for it, then takes its place).
  #turn: Promise<void> = Promise.resolve()
  readonly #caughtUp = new Set<{ revision: number; done: () => void }>()

  constructor(deps: DirectorDeps) {
    this.#d = deps
    this.#now = deps.now ?? Date.now
    this.#startedAt = this.#now()
    this.#config = deps.config
    const limits = { checks: checkDefaults(deps.config), maxDrainShare: deps.config.director.maxDrainShare }
    const p = deps.persisted
    const services = p?.services ?? []
    this.#table = new DesiredTable(deps.shared ? services.map((s) => this.#normalizePeer(s)) : services, p?.revision ?? 0, limits)
    this.#base = p?.base ?? []
    this.#drains = new Map(Object.entries(p?.drains ?? {}))
    this.#store = { kind: deps.shared ? 'redis' : 'file', up: true }
    this.#d.scheduler.on('change', (e) => this.#onHealth(e))
  }

  /** Subscribe every check, starting from what the kernel holds, and bring the kernel in line. */
  async start(): Promise<void> {
    // A first start, or a restart with an edited config: apply what the file changed since the table last saw it.
    const before = this.#table.list()
    const revision = this.#table.revision
    const applied = this.#table.replaceAll(mergeConfig(this.#base, this.#config.services, before))
    this.#base = [...this.#config.services]
    if (applied.touched.length > 0 && this.#d.shared) {
      try {
        await this.#d.shared.replaceAll(this.#whole(), revision)
      } catch (err) {
        // The other director wrote first: its table wins (the follower loads it); a reload applies the file later.
        // Redis away: this director serves its file's table meanwhile; once Redis is back its table wins (or,
        // Redis empty, is refilled with this one).
        const conflict = (err as { code?: string }).code === 'LVS_ERR_STORE_CONFLICT'
        this.#d.log.warn({ err }, conflict ? 'config changes not written to Redis at start: the pair keeps its table' : 'config changes applied here, not yet in Redis')
        if (conflict) this.#table.reset(before, revision)
      }
    }
    for (const s of this.#table.list()) this.#sync(undefined, s, false, undefined, this.#drainsOf(s.name))
    await this.#d.store.compact(this.#whole)
    await this.#d.reconciler.flush()
    this.#ready = true
    this.#armDrains()
  }

  // --- DirectorControl: reads

  ready(): boolean {
    return this.#ready && !this.#closed
  }

  async services(): Promise<ServiceView[]> {
    const stats = await this.#kernelStats()
    return this.#table.list().map((s) => this.#view(s, stats))
  }

  async service(name: string, options?: ViewOptions): Promise<ServiceView> {
    const s = options?.written?.service ?? this.#table.service(name)
    return this.#view(s, await this.#kernelStats(options))
  }

  async real(name: string, real: string, options?: ViewOptions): Promise<RealView> {
    const w = options?.written
    const r = w?.real ?? this.#table.real(name, real)
    const s = w?.service ?? this.#table.service(name)
    const stats = await this.#kernelStats(options)
    return this.#realView(s, r, stats.get(kernelKey(s)))
  }

  status(): StatusView {
    const reals = { up: 0, down: 0, unknown: 0, draining: 0, disabled: 0 }
    for (const s of this.#table.list()) {
      for (const r of s.destinations) {
        reals[this.#health(s, r)]++
        if (r.admin !== 'enabled') reals[r.admin]++
      }
    }
    return {
      role: this.#d.pair?.role() ?? 'single',
      version: this.#d.version,
      startedAt: new Date(this.#startedAt).toISOString(),
      revision: this.#table.revision,
      services: this.#table.list().length,
      reals,
      kernel: { ...this.#kernel, pending: this.#d.reconciler.pending },
      reload: this.#reload,
      ...(this.#d.pair ? { pair: this.#d.pair.view() } : {}),
      store: this.#store,
    }
  }

  async switchover(actor: string): Promise<{ role: StatusView['role'] }> {
    if (!this.#d.pair) throw new ERR_SWITCHOVER_REFUSED('this director is not part of a pair (director.pair)')
    if (!this.#d.pair.switchover()) throw new ERR_SWITCHOVER_REFUSED(`this director is ${this.#d.pair.role()} and no peer is heard to take over (or hand over)`)
    this.#record(actor, 'switchover', 'pair', { from: this.#d.pair.role() })
    return { role: this.#d.pair.role() }
  }

  audit({ after = 0, limit = 100 }: { after?: number; limit?: number }): AuditEntry[] {
    return this.#audit.filter((e) => e.seq > after).slice(0, Math.max(1, Math.min(limit, AUDIT_DEFAULT)))
  }

  exportTable(): { revision: number; etag: string; services: DesiredService[] } {
    return { revision: this.#table.revision, etag: this.#table.tableTag(), services: this.#table.list() }
  }

  // --- DirectorControl: writes

  async change(m: Mutation, ctx: ChangeContext): Promise<Applied> {
    return this.#writing(ctx, async (published) => {
      const applied = this.#table.apply(m, ctx.ifMatch)
      // An added real server is named by its key too (the mutation carries only its body).
      const real = 'real' in m ? m.real : m.op === 'add-real' && applied.real ? realKey(applied.real) : undefined
      await this.#commit(applied, ctx.actor, m.op, 'name' in m ? m.name : (applied.service?.name ?? ''), real, false, published)
      return applied
    })
  }

  async reload(actor: string): Promise<{ revision: number; changed: number }> {
    let next: LoadedConfig
    try {
      next = await this.#d.loadConfig()
    } catch (err) {
      const e = err as { code?: string; message: string }
      this.#reload = { at: this.#iso(), ok: false, error: { code: e.code ?? 'ERROR', message: e.message } }
      this.#d.log.error({ err: this.#reload.error }, 'reload refused: the last good table keeps serving')
      throw err
    }
    this.#config = next
    this.#table.setLimits({ checks: checkDefaults(next), maxDrainShare: next.director.maxDrainShare })
    const applied = await this.#writing({}, async (published): Promise<Applied> => {
      const base = this.#base
      const merged = mergeConfig(base, next.services, this.#table.list())
      this.#base = [...next.services]
      const applied = this.#table.replaceAll(merged)
      try {
        await this.#commit(applied, actor, 'reload', 'table', undefined, true, published)
      } catch (err) {
        if (this.#table.revision < applied.revision) this.#base = base // refused by Redis: undone
        throw err
      }
      return applied
    })
    this.#reload = { at: this.#iso(), ok: true }
    return { revision: applied.revision, changed: applied.touched.length }
  }

  async restoreTable(services: unknown, ctx: ChangeContext): Promise<Applied> {
    if (!Array.isArray(services)) throw new ERR_BAD_REQUEST('services must be a list')
    const list = services.map((s, i) => {
      try {
        return normalizeServiceConfig(s, `/services/${i}`, checkDefaults(this.#config))
      } catch (err) {
        const e = err as { path?: string; detail?: string }
        throw e.path === undefined ? err : new ERR_BAD_REQUEST(`${e.path}: ${e.detail}`)
      }
    })
    return this.#writing(ctx, async (published) => {
      const applied = this.#table.replaceAll(list, ctx.ifMatch)
      await this.#commit(applied, ctx.actor, 'restore', 'table', undefined, true, published)
      return applied
    })
  }

  // --- the pair: the other director's changes, as the follower of the shared table reads them

  /** Make the other director's change (the next revision); one this director holds already is skipped. */
  async applyPeer(change: TableChange, id?: string): Promise<void> {
    await this.#inTurn(async () => {
      if (id) this.#store.position = { id, revision: change.revision }
      if (this.#closed || change.revision <= this.#table.revision) return // this director's own write, or held
      if (change.revision !== this.#table.revision + 1) {
        const snap = await this.#d.shared?.snapshot() // a gap: take the whole table
        if (snap) await this.#reset(snap.table, 'gap')
        return
      }
      const services = new Map(Object.entries(change.services).map(([name, s]) => [name, s && this.#normalizePeer(s)] as const))
      const applied = this.#table.applyChange(services, change.revision)
      for (const t of applied.touched) {
        const name = (t.after ?? t.before)!.name
        this.#sync(t.before, t.after, true, undefined, change.drains[name])
      }
      await this.#d.store.record(change, this.#whole)
      // A stream id starts with Redis's clock in ms when it took the change.
      const lagMs = id ? Math.max(0, this.#now() - Number(id.split('-')[0])) : 0
      this.#store.lastPeerChange = { at: this.#iso(), revision: change.revision, lagMs }
      const names = Object.keys(change.services)
      this.#record('peer', 'sync', names.length === 1 ? `service ${names[0]}` : 'table', { revision: change.revision, services: applied.touched.length })
      this.#reached()
    })
  }

  /**
   * Become the pair's table (a trimmed stream, Redis restarted or failed over, a replaced table). The table is read
   * again once it is this change's turn: the one the follower read may predate a write of this director made
   * meanwhile (a later entry brings that write again, and is skipped as held).
   */
  async resetTo(table: PersistedTable): Promise<void> {
    await this.#inTurn(async () => this.#reset((await this.#d.shared?.snapshot())?.table ?? table, 'reset'))
  }

  /** The follower of the shared table stopped (Redis lost) or goes on again (main passes its onState here). */
  onStoreState(up: boolean, err?: Error): void {
    this.#store.up = up
    if (err) {
      const e = err as { code?: string; message: string }
      this.#store.lastError = { at: this.#iso(), code: e.code ?? 'ERROR', message: e.message }
    }
    if (up) this.#d.log.info({}, 'following the shared table again')
    else this.#d.log.error({ err }, 'the shared table cannot be followed: serving the last table, writes refused until it is back')
  }

  /** The table as this director holds it (it refills a Redis that lost the table). */
  persistedTable(): PersistedTable {
    return this.#whole()
  }


  /** Stop checks and timers; the kernel table is left as it is so traffic keeps flowing. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const w of this.#caughtUp) w.done()
    if (this.#drainTimer) this.#d.clock.clearTimeout(this.#drainTimer)
    await this.#d.scheduler.close()
    await this.#d.reconciler.close()
  }

  /** Record a reconciler event in status (main passes the reconciler's onEvent here). */
  onReconcile(e: ReconcileEvent): void {
    if (e.type === 'applied') {
      this.#kernel.lastApplyAt = this.#iso()
      if (this.#d.reconciler.pending === 0) {
        this.#kernel.ok = true
        delete this.#kernel.lastError
      }
    } else if (e.type === 'failed') {
      this.#kernel.ok = false
      const first = e.failed[0]
      this.#kernel.lastError = e.error
        ? { at: this.#iso(), ...e.error }
        : { at: this.#iso(), code: 'LVS_ERR_IPVSADM_FAILED', message: first ? `${first.key}: ${first.error}` : 'apply failed' }
    } else {
      this.#kernel.driftRepairs += e.keys.length
      this.#kernel.lastDriftCheckAt = this.#iso()
      for (const key of e.keys) this.#record('drift', 'repair', `kernel ${key}`)
    }
  }

  /** One drift check (main runs it on the drift interval). */
  async checkDrift(): Promise<void> {
    await this.#d.reconciler.checkDrift()
    this.#kernel.lastDriftCheckAt = this.#iso()
  }

  // --- internals

  /** Sync checks, drains and the kernel with a change, keep it (a journal line, or the whole table), audit it. */
  async #commit(applied: Applied, actor: string, action: string, name: string, real?: string, whole = false, published?: () => void): Promise<void> {
    if (applied.touched.length === 0) return published?.()
    const change = this.#change(applied)
    // A pair's change goes to Redis first, at the revision this director held: refused (the other director
    // wrote first, Redis away), it is undone here and nothing else happened. In Redis but not confirmed by its
    // replicas, it stands and the caller hears so.
    let unconfirmed: unknown
    if (this.#d.shared) {
      try {
        await (whole ? this.#d.shared.replaceAll(this.#whole(), applied.revision - 1) : this.#d.shared.write(change, applied.revision - 1))
      } catch (err) {
        if ((err as { code?: string }).code !== 'LVS_ERR_STORE_NOT_REPLICATED') {
          this.#table.applyChange(new Map(applied.touched.map((t) => [(t.after ?? t.before)!.name, t.before ?? null])), applied.revision - 1)
          throw err
        }
        unconfirmed = err
      } finally {
        published?.()
      }
    }
    // Checks, drains and the reconciler first (so the kernel write and the file write overlap, and a drain's
    // start is kept), then the store: the caller is answered once the change is durable and the kernel has it
    // (or its apply failed and is retried: status shows it), so the answer's work never slows the write.
    // A new real server's check starts once the kernel has it: a probe beside its `-R` only slows the `-R`, and
    // its result could not reach the kernel before that `-R` ends anyway.
    const checks: string[] = []
    for (const t of applied.touched) this.#sync(t.before, t.after, true, checks, change.drains[(t.after ?? t.before)!.name])
    const inKernel = this.#d.reconciler.attempted()
    try {
      await new Promise((resolve) => setImmediate(resolve)) // the kernel write (queued above) spawns first
      await (whole ? this.#d.store.compact(this.#whole) : this.#d.store.record(change, this.#whole))
      await inKernel
    } finally {
      for (const id of checks) this.#subscribeCurrent(id)
    }
    const target = real ? `service ${name} real ${real}` : name === 'table' ? 'table' : `service ${name}`
    this.#record(actor, action, target, { revision: applied.revision, services: applied.touched.length })
    if (unconfirmed) throw unconfirmed
  }

  /** The touched services as they are now, and their drains (a drain that starts now starts at this moment). */
  #change(applied: Applied): TableChange {
    const change: TableChange = { revision: applied.revision, services: {}, drains: {} }
    for (const t of applied.touched) {
      const name = (t.after ?? t.before)!.name
      change.services[name] = t.after ?? null
      change.drains[name] = this.#drainsOf(name, t.after)
    }
    return change
  }

  /** The drain start of each draining real server of a service (kept, or now for one that starts draining). */
  #drainsOf(name: string, s = this.#table.get(name)): Record<string, number> {
    const out: Record<string, number> = {}
    for (const r of s?.destinations ?? []) {
      if (r.admin === 'draining') out[realKey(r)] = this.#drains.get(`${name}|${realKey(r)}`) ?? this.#now()
    }
    return out
  }

  /**
   * Run a write. A pair's writes take turns (apply, Redis, undo when refused) and one refused because the other
   * director wrote first is made again once this director holds that revision, unless the caller sent If-Match.
   * Refused as `busy` (the other director holds the next write in Redis: it lost a race and makes its write again),
   * it is made again once that write came through, If-Match or not (which is then checked against it).
   */
  async #writing<T>(ctx: { ifMatch?: string }, write: (published: () => void) => Promise<T>): Promise<T> {
    if (!this.#d.shared) return write(() => {})
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#inTurn(write)
      } catch (err) {
        const e = err as { code?: string; revision?: number; busy?: boolean }
        if (e.code !== 'LVS_ERR_STORE_CONFLICT' || attempt >= CONFLICT_RETRIES || (ctx.ifMatch !== undefined && !e.busy)) throw err
        await this.#reach((e.revision ?? 0) + (e.busy ? 1 : 0))
      }
    }
  }

  /** Run `fn` when the turns before it are over; it ends its turn by calling `done` (or by ending). */
  async #inTurn<T>(fn: (done: () => void) => Promise<T>): Promise<T> {
    let done!: () => void
    const mine = new Promise<void>((resolve) => (done = resolve))
    const before = this.#turn
    this.#turn = before.then(() => mine)
    await before
    try {
      return await fn(done)
    } finally {
      done()
    }
  }

  /** Resolves once this director holds `revision` (a peer's change came through), or after CATCH_UP_MS. */
  #reach(revision: number): Promise<void> {
    if (this.#table.revision >= revision || this.#closed) return Promise.resolve()
    return new Promise((resolve) => {
      const w = { revision, done: () => {
        this.#caughtUp.delete(w)
        this.#d.clock.clearTimeout(timer)
        resolve()
      } }
      const timer = this.#d.clock.setTimeout(w.done, CATCH_UP_MS)
      this.#caughtUp.add(w)
    })
  }

  #reached(): void {
    for (const w of this.#caughtUp) if (this.#table.revision >= w.revision) w.done()
  }

  async #reset(table: PersistedTable, why: string): Promise<void> {
    if (this.#closed) return
    const services = table.services.map((s) => this.#normalizePeer(s))
    const revision = this.#table.revision
    const applied = this.#table.reset(services, table.revision)
    if (applied.touched.length === 0 && revision === table.revision) return // this director's own reload or restore
    this.#base = table.base
    this.#drains.clear()
    for (const [id, since] of Object.entries(table.drains)) this.#drains.set(id, since)
    for (const t of applied.touched) this.#sync(t.before, t.after, true, undefined, this.#drainsOf((t.after ?? t.before)!.name, t.after))
    await this.#d.store.compact(this.#whole)
    this.#record('peer', why, 'table', { revision: table.revision, services: applied.touched.length })
    this.#armDrains()
    this.#reached()
  }

  /** A service as the other director (through Redis) wrote it: checked like any input, with this director's defaults. */
  #normalizePeer(s: DesiredService): DesiredService {
    return normalizeServiceConfig(s, `/services/${s.name}`, checkDefaults(this.#config))
  }

  readonly #whole = (): PersistedTable =>
    ({ revision: this.#table.revision, base: this.#base, services: this.#table.list(), drains: Object.fromEntries(this.#drains) })

  #record(actor: string, action: string, target: string, detail?: Record<string, unknown>): void {
    const entry: AuditEntry = { seq: ++this.#seq, at: this.#iso(), actor, action, target, ...(detail ? { detail } : {}) }
    this.#audit.push(entry)
    if (this.#audit.length > (this.#d.auditSize ?? AUDIT_DEFAULT)) this.#audit.shift()
    this.#d.log.info({ audit: entry }, `${action} ${target}`)
  }

  /**
   * Bring checks, drains and the wanted kernel service in line with one service's change (`now`: skip the batch
   * window). New checks that start from nothing go to `later` when given (the caller subscribes them once the
   * kernel has the change), others start at once.
   */
  #sync(before: DesiredService | undefined, after: DesiredService | undefined, now = false, later?: string[], drains: Record<string, number> = {}): void {
    const name = (after ?? before)!.name
    const keep = new Set<string>()
    // A real server whose object and service are as before (a change of another real server) keeps its check.
    const unchanged = before && after && sameTarget(before, after) ? new Set(before.destinations) : undefined
    for (const r of after?.destinations ?? []) {
      const id = `${name}|${realKey(r)}`
      keep.add(id)
      if (!unchanged?.has(r)) {
        // Only a check that starts from nothing waits (a real server the kernel serves starts up: no flap).
        if (later && !this.#subs.has(id) && this.#initialHealth(after!, r) === 'unknown') later.push(id)
        else this.#subscribe(id, after!, r)
      }
      if (r.admin === 'draining') {
        if (!this.#drains.has(id)) {
          this.#drains.set(id, drains[realKey(r)] ?? this.#now())
          this.#armDrains()
        }
      } else this.#drains.delete(id)
    }
    for (const id of (before?.destinations ?? []).map((r) => `${name}|${realKey(r)}`)) {
      if (this.#subs.has(id) && !keep.has(id)) {
        this.#d.scheduler.remove(id)
        this.#subs.delete(id)
        this.#drains.delete(id)
      }
    }
    const oldKey = this.#kernelKeys.get(name)
    if (!after) {
      this.#expanded.delete(name)
      this.#kernelKeys.delete(name)
      if (oldKey) this.#d.reconciler.want(oldKey, undefined, now)
      return
    }
    const key = kernelKey(after)
    if (oldKey && oldKey !== key) this.#d.reconciler.want(oldKey, undefined, now)
    this.#kernelKeys.set(name, key)
    this.#expand(after, now)
  }

  #expand(s: DesiredService, now = false): void {
    const e = expandService(s, (rk) => this.#healthOf(`${s.name}|${rk}`))
    const prev = this.#expanded.get(s.name)
    this.#expanded.set(s.name, { service: e.service, fallbackActive: e.fallbackActive })
    if (prev && prev.fallbackActive !== e.fallbackActive) {
      this.#record('health', e.fallbackActive ? 'fallback-in' : 'fallback-out', `service ${s.name}`)
    }
    this.#d.reconciler.want(kernelKey(s), e.service, now)
  }

  /** Subscribe `service|real` as the table holds it now (nothing when it is gone, or the director closed). */
  #subscribeCurrent(id: string): void {
    const bar = id.indexOf('|')
    const s = this.#table.get(id.slice(0, bar))
    const r = s?.destinations.find((x) => realKey(x) === id.slice(bar + 1))
    if (s && r && !this.#closed) this.#subscribe(id, s, r)
  }

  #subscribe(id: string, s: DesiredService, r: RealConfig): void {
    const spec = s.check
    const target = resolveTarget(spec, { address: r.address, port: r.port ?? 0 }, {
      address: s.address ?? (s.fwmark !== undefined ? String(s.fwmark) : undefined),
      port: s.port,
      protocol: s.protocol === 'udp' ? 'udp' : 'tcp',
    })
    const timing = { interval: spec.interval * 1000, timeout: spec.timeout * 1000 }
    const key = checkKey(spec, target, timing)
    const cur = this.#subs.get(id)
    if (cur && cur.key === key && cur.rise === spec.rise && cur.fall === spec.fall) return
    const initial = cur ? this.#healthOf(id) : this.#initialHealth(s, r)
    if (cur) this.#d.scheduler.remove(id)
    this.#d.scheduler.add(id, { checker: this.#checkerFor(spec), target, ...timing, rise: spec.rise, fall: spec.fall, initial, key })
    this.#subs.set(id, { key, rise: spec.rise, fall: spec.fall })
  }

  #checkerFor(spec: CheckSpec): Checker {
    const text = JSON.stringify(spec) // a spec is plain JSON data (its schema's): equal text, equal checker
    const shared = this.#checkers.get(text)
    if (shared) return shared
    const checker = this.#d.createChecker(spec)
    if (!checker.prepare && !checker.close) {
      if (this.#checkers.size >= CHECKERS_KEPT) this.#checkers.clear()
      this.#checkers.set(text, checker)
    }
    return checker
  }

  // A restart neither flaps nor drops traffic: a real server the kernel serves with weight > 0 starts up.
  #initialHealth(s: DesiredService, r: RealConfig): Health {
    const d = this.#d.reconciler.view.get(kernelKey(s))?.destinations.find((x) => destinationKey(x) === realKey(r))
    if (!d) return 'unknown'
    return d.weight > 0 ? 'up' : 'unknown'
  }

  #healthOf(id: string): Health {
    return this.#d.scheduler.get(id)?.health ?? 'unknown'
  }

  #health(s: DesiredService, r: RealConfig): Health {
    return this.#healthOf(`${s.name}|${realKey(r)}`)
  }

  #onHealth(e: ChangeEvent): void {
    const bar = e.id.indexOf('|')
    const name = e.id.slice(0, bar)
    const s = this.#table.get(name)
    if (!s || this.#closed) return
    this.#record('health', `real ${e.to}`, `service ${name} real ${e.id.slice(bar + 1)}`, { from: e.from, reason: e.reason, ...(e.code ? { code: e.code } : {}) })
    this.#expand(s)
  }

  // --- drains: weight 0 until the real server's active connections reach zero or its timeout passes

  #armDrains(): void {
    if (this.#closed || this.#drainTimer || this.#drains.size === 0 || !this.#ready) return
    this.#drainTimer = this.#d.clock.setTimeout(() => {
      this.#drainTimer = undefined
      this.#checkDrains().catch((err) => this.#d.log.error({ err }, 'drain check failed')).finally(() => this.#armDrains())
    }, DRAIN_POLL_MS)
  }

  async #checkDrains(): Promise<void> {
    if (!(this.#d.mayFinishDrains?.() ?? true)) {
      // The other director ends them; the starts stay here (from the shared table), so a takeover keeps the deadlines.
      for (const id of this.#drains.keys()) if (!this.#isDraining(id)) this.#drains.delete(id)
      return
    }
    const draining = new Set([...this.#drains.keys()].map((id) => id.slice(0, id.indexOf('|'))))
    const services = [...draining].flatMap((name) => this.#expanded.get(name)?.service ?? [])
    const stats = new Map((await this.#d.listServices(services)).map((s) => [s.key, s]))
    for (const [id, since] of [...this.#drains]) {
      const { name, key, s, r } = this.#drainOf(id)
      if (!s || !r || r.admin !== 'draining') {
        this.#drains.delete(id)
        continue
      }
      const listed = stats.get(kernelKey(s))?.destinations.find((d) => d.address === r.address && d.port === r.port)
      const timedOut = this.#now() >= since + s.drainTimeout * 1000
      if (!timedOut && listed && (listed.activeConns ?? 0) > 0) continue
      this.#drains.delete(id)
      const why = timedOut ? 'timeout' : 'connections ended'
      try {
        await this.change({ op: 'delete-real', name, real: key }, { actor: 'drain' })
        this.#d.log.info({ service: name, real: key, why }, 'drain finished: real server removed')
      } catch (err) {
        if (err instanceof ERR_NOT_FOUND) continue // the other director of the pair ended it first (a role change)
        // Tried again at the next poll (Redis away, say); one line until it is done.
        if (this.#isDraining(id) && !this.#drains.has(id)) this.#drains.set(id, since)
        if (!this.#drainFailed.has(id)) this.#d.log.error({ service: name, real: key, err }, 'drain could not remove the real server')
        this.#drainFailed.add(id)
        continue
      }
      this.#drainFailed.delete(id)
    }
    for (const id of this.#drainFailed) if (!this.#drains.has(id)) this.#drainFailed.delete(id)
  }

  #drainOf(id: string): { name: string; key: string; s?: DesiredService; r?: RealConfig } {
    const bar = id.indexOf('|')
    const name = id.slice(0, bar)
    const key = id.slice(bar + 1)
    const s = this.#table.get(name)
    return { name, key, s, r: s?.destinations.find((x) => realKey(x) === key) }
  }

  #isDraining(id: string): boolean {
    return this.#drainOf(id).r?.admin === 'draining'
  }

  // --- views

  // Counters come from one kernel read at a time, at most one a second; while a read runs, answers use the
  // previous one (a full listing of a big table takes seconds: reads must never pile up behind each other).
  // A write's answer (`cached`) never starts one: the kernel is busy with the write's own `ipvsadm -R`.
  #kernelStats(options?: ViewOptions): Promise<Map<string, ListedService>> {
    if (options?.counters === 'cached') return Promise.resolve(this.#stats?.value ?? new Map<string, ListedService>())
    const fresh = this.#stats && this.#d.clock.now() - this.#stats.at < STATS_TTL_MS
    if (!fresh && !this.#refreshing) {
      this.#refreshing = this.#d.kernelStats().then(
        (list) => {
          const value = new Map(list.map((s) => [s.key, s]))
          this.#stats = { at: this.#d.clock.now(), value }
          return value
        },
        (err) => {
          this.#d.log.warn({ err }, 'kernel read for counters failed')
          return this.#stats?.value ?? new Map<string, ListedService>()
        },
      ).finally(() => { this.#refreshing = undefined })
    }
    return this.#stats ? Promise.resolve(this.#stats.value) : this.#refreshing!
  }

  #view(s: DesiredService, stats: Map<string, ListedService>): ServiceView {
    const e = this.#expanded.get(s.name)
    return serviceView(s, stats.get(kernelKey(s)), e?.fallbackActive ?? false, (r) => this.#live(s, r), this.#wallOf)
  }

  #realView(s: DesiredService, r: RealConfig, listed: ListedService | undefined): RealView {
    return realView(s, r, listed, this.#live(s, r), this.#wallOf)
  }

  /** A real server's check, effective weight (as its service was expanded: null before that) and drain. */
  #live(s: DesiredService, r: RealConfig): RealLive {
    const id = `${s.name}|${realKey(r)}`
    const check = this.#d.scheduler.get(id)
    const weight = this.#expanded.has(s.name) ? effectiveWeight(r, check?.health ?? 'unknown', s.quiescent) : null
    return { check, weight, drainSince: this.#drains.get(id) }
  }

  /** Wall-clock ms of a monotonic clock time (scheduler times are monotonic). */
  readonly #wallOf = (monotonic: number): number => this.#now() - (this.#d.clock.now() - monotonic)

  #iso(): string {
    return new Date(this.#now()).toISOString()
  }
}

function checkDefaults(c: LoadedConfig) {
  const { maxConcurrent: _m, ...checks } = c.director.checks
  return checks
}

/** The same check and check target for every real server (the service's check spec and address unchanged). */
function sameTarget(a: DesiredService, b: DesiredService): boolean {
  return a.check === b.check && a.protocol === b.protocol && a.address === b.address && a.port === b.port && a.fwmark === b.fwmark
}
