// The director: joins the desired table, the health checks and the reconciler. Every change to the desired
// table (API, reload, drain end) goes through `change`/`reload`, is persisted before it is acknowledged, is
// written to the audit trail, and reaches the kernel through the reconciler for the touched services only.
import type { Checker } from '../healthchecks/checker.js'
import { checkKey } from '../healthchecks/check-key.js'
import type { ChangeEvent, Scheduler } from '../healthchecks/scheduler.js'
import type { CheckSpec } from '../healthchecks/spec.js'
import type { Health } from '../healthchecks/state.js'
import { resolveTarget } from '../healthchecks/target.js'
import type { AuditEntry, ChangeContext, DirectorControl, RealView, ServiceView, StatusView, ViewOptions } from './api/control.js'
import type { LoadedConfig } from './config/load.js'
import { normalizeServiceConfig, kernelKey, type DesiredService } from './config/service.js'
import type { RealConfig } from './config/schema.js'
import type { Clock } from './clock.js'
import { ERR_BAD_REQUEST } from './errors.js'
import type { ListedService } from './ipvs/parse.js'
import { destinationKey, type Service } from './ipvs/model.js'
import { expandService, type Expanded } from './reconcile/expand.js'
import type { Reconciler, ReconcileEvent } from './reconcile/reconciler.js'
import { DesiredTable, etag, realKey, type Applied, type Mutation } from './table/desired-table.js'
import { mergeConfig } from './table/reload-merge.js'
import { realView, serviceView } from './director-views.js'
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
  /** The desired table as persisted, when there is one (restart). */
  persisted?: PersistedTable
  store: TableStore
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

/** A real server's check as subscribed: probe key and thresholds (a change of either re-subscribes it). */
interface Subscription { key: string; rise: number; fall: number }

const AUDIT_DEFAULT = 1000
const STATS_TTL_MS = 1000
const DRAIN_POLL_MS = 1000

/** The director core. `start()` once, `close()` at the end. */
export class Director implements DirectorControl {
  readonly #d: DirectorDeps
  readonly #now: () => number
  readonly #table: DesiredTable
  #config: LoadedConfig
  #base: DesiredService[]
  readonly #drains: Map<string, number>
  readonly #subs = new Map<string, Subscription>() // by `service|real`
  // A checker that keeps nothing of its own (no prepare, no close) serves every real server of its spec.
  readonly #checkers = new WeakMap<CheckSpec, Checker>()
  readonly #expanded = new Map<string, Expanded>() // by service name
  readonly #kernelKeys = new Map<string, string>() // service name -> kernel key
  readonly #audit: AuditEntry[] = []
  #seq = 0
  #startedAt: number
  #ready = false
  #stats: { at: number; value: Map<string, ListedService> } | undefined
  #refreshing: Promise<Map<string, ListedService>> | undefined
  #drainTimer: ReturnType<Clock['setTimeout']> | undefined
  #closed = false
  readonly #kernel: StatusView['kernel'] = { ok: true, pending: 0, driftRepairs: 0 }
  #reload: StatusView['reload'] = { ok: true }

  constructor(deps: DirectorDeps) {
    this.#d = deps
    this.#now = deps.now ?? Date.now
    this.#startedAt = this.#now()
    this.#config = deps.config
    const limits = { checks: checkDefaults(deps.config), maxDrainShare: deps.config.director.maxDrainShare }
    const p = deps.persisted
    // A restart with an edited config: apply what the file changed since the table last saw it.
    const services = p ? mergeConfig(p.base, deps.config.services, p.services) : [...deps.config.services]
    this.#table = new DesiredTable(services, p?.revision ?? 0, limits)
    this.#base = [...deps.config.services]
    this.#drains = new Map(Object.entries(p?.drains ?? {}))
    this.#d.scheduler.on('change', (e) => this.#onHealth(e))
  }

  /** Subscribe every check, starting from what the kernel holds, and bring the kernel in line. */
  async start(): Promise<void> {
    for (const s of this.#table.list()) this.#sync(undefined, s)
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
    const s = this.#table.service(name)
    return this.#view(s, await this.#kernelStats(options))
  }

  async real(name: string, real: string, options?: ViewOptions): Promise<RealView> {
    const r = this.#table.real(name, real)
    const s = this.#table.service(name)
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
      role: 'single',
      version: this.#d.version,
      startedAt: new Date(this.#startedAt).toISOString(),
      revision: this.#table.revision,
      services: this.#table.list().length,
      reals,
      kernel: { ...this.#kernel, pending: this.#d.reconciler.pending },
      reload: this.#reload,
    }
  }

  audit({ after = 0, limit = 100 }: { after?: number; limit?: number }): AuditEntry[] {
    return this.#audit.filter((e) => e.seq > after).slice(0, Math.max(1, Math.min(limit, AUDIT_DEFAULT)))
  }

  exportTable(): { revision: number; etag: string; services: DesiredService[] } {
    return { revision: this.#table.revision, etag: this.#table.tableTag(), services: this.#table.list() }
  }

  // --- DirectorControl: writes

  async change(m: Mutation, ctx: ChangeContext): Promise<Applied> {
    const applied = this.#table.apply(m, ctx.ifMatch)
    // An added real server is named by its key too (the mutation carries only its body).
    const real = 'real' in m ? m.real : m.op === 'add-real' && applied.real ? realKey(applied.real) : undefined
    await this.#commit(applied, ctx.actor, m.op, 'name' in m ? m.name : (applied.service?.name ?? ''), real)
    return applied
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
    const merged = mergeConfig(this.#base, next.services, this.#table.list())
    const applied = this.#table.replaceAll(merged)
    this.#base = [...next.services]
    await this.#commit(applied, actor, 'reload', 'table', undefined, true)
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
    const applied = this.#table.replaceAll(list, ctx.ifMatch)
    await this.#commit(applied, ctx.actor, 'restore', 'table', undefined, true)
    return applied
  }

  /** Stop checks and timers; the kernel table is left as it is so traffic keeps flowing. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
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
  async #commit(applied: Applied, actor: string, action: string, name: string, real?: string, whole = false): Promise<void> {
    if (applied.touched.length === 0) return
    // Checks, drains and the reconciler first (so the kernel write and the file write overlap, and a drain's
    // start is kept), then the store: the caller is answered once the change is durable and the kernel has it
    // (or its apply failed and is retried: status shows it), so the answer's work never slows the write.
    // A new real server's check starts once the kernel has it: a probe beside its `-R` only slows the `-R`, and
    // its result could not reach the kernel before that `-R` ends anyway.
    const checks: string[] = []
    for (const t of applied.touched) this.#sync(t.before, t.after, true, checks)
    const inKernel = this.#d.reconciler.attempted()
    try {
      await new Promise((resolve) => setImmediate(resolve)) // the kernel write (queued above) spawns first
      await (whole ? this.#d.store.compact(this.#whole) : this.#d.store.record(this.#change(applied), this.#whole))
      await inKernel
    } finally {
      for (const id of checks) this.#subscribeCurrent(id)
    }
    const target = real ? `service ${name} real ${real}` : name === 'table' ? 'table' : `service ${name}`
    this.#record(actor, action, target, { revision: applied.revision, services: applied.touched.length })
  }

  /** The touched services as they are now, and their drains. */
  #change(applied: Applied): TableChange {
    const change: TableChange = { revision: applied.revision, services: {}, drains: {} }
    for (const t of applied.touched) {
      const name = (t.after ?? t.before)!.name
      change.services[name] = t.after ?? null
      change.drains[name] = {}
    }
    for (const [id, since] of this.#drains) {
      const bar = id.indexOf('|')
      const reals = change.drains[id.slice(0, bar)]
      if (reals) reals[id.slice(bar + 1)] = since
    }
    return change
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
  #sync(before: DesiredService | undefined, after: DesiredService | undefined, now = false, later?: string[]): void {
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
          this.#drains.set(id, this.#now())
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
    this.#expanded.set(s.name, e)
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
    const shared = this.#checkers.get(spec)
    if (shared) return shared
    const checker = this.#d.createChecker(spec)
    if (!checker.prepare && !checker.close) this.#checkers.set(spec, checker)
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
    const draining = new Set([...this.#drains.keys()].map((id) => id.slice(0, id.indexOf('|'))))
    const services = [...draining].flatMap((name) => this.#expanded.get(name)?.service ?? [])
    const stats = new Map((await this.#d.listServices(services)).map((s) => [s.key, s]))
    for (const [id, since] of [...this.#drains]) {
      const bar = id.indexOf('|')
      const name = id.slice(0, bar)
      const key = id.slice(bar + 1)
      const s = this.#table.get(name)
      const r = s?.destinations.find((x) => realKey(x) === key)
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
        this.#d.log.error({ service: name, real: key, err }, 'drain could not remove the real server')
      }
    }
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
    return serviceView(s, stats.get(kernelKey(s)), e?.fallbackActive ?? false, (r) => {
      const id = `${s.name}|${realKey(r)}`
      return { check: this.#d.scheduler.get(id), weight: e?.weights.get(realKey(r)) ?? null, drainSince: this.#drains.get(id) }
    }, this.#wallOf)
  }

  #realView(s: DesiredService, r: RealConfig, listed: ListedService | undefined): RealView {
    const id = `${s.name}|${realKey(r)}`
    const live = { check: this.#d.scheduler.get(id), weight: this.#expanded.get(s.name)?.weights.get(realKey(r)) ?? null, drainSince: this.#drains.get(id) }
    return realView(s, r, listed, live, this.#wallOf)
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
