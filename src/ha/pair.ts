// The driver of the pair role: owns the clock's tick, the lease and the RoleMachine, and runs the machine's actions
// through injected functions (VIPs, announcements, sync daemon, alerts, log). The heartbeat transport feeds it.
import type { Clock, TimerHandle } from '../clock.js'
import type { LeaseStore, LeaseView } from './lease.js'
import { RoleMachine, type AlertKind, type LeaseOp, type PeerHeartbeat, type RoleAction, type RoleConfig, type RoleState } from './role.js'

/** What the pair does to the world; each effect runs after the previous one has finished. */
export interface PairEffects {
  /**
   * Add the VIPs, announce them (gratuitous ARP, unsolicited NA), sync daemon master. Every (re)gain calls it.
   * `handover`: the peer handed them over and serves what it opened a while longer (see ha/handoff.ts).
   */
  onTakeover(epoch: number, handover: boolean): Promise<void>
  /** Announce the VIPs again (the peer may have held them). */
  onAnnounce(epoch: number): Promise<void>
  /** Remove the VIPs, sync daemon backup. `handedOver`: the peer took them over and has started announcing them. */
  onRelease(handedOver: boolean): Promise<void>
  /** Page someone (webhook); also logged. */
  alert(kind: AlertKind, message: string): void
  log(level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>): void
}

/** The pair's settings and seams. */
export interface PairOptions extends PairEffects {
  /** The role machine's settings; `lease` is forced to whether a lease store is given. */
  config: RoleConfig
  clock: Clock
  /** The lease in Redis; absent: no Redis, heartbeats alone decide. */
  lease?: LeaseStore
  /** How often the machine looks at time. @default 10 */
  tickMs?: number
  /** How long start() waits for the lease's connection (a Redis down at start is then seen as down). @default 1000 */
  readyTimeoutMs?: number
  /**
   * Called first in every tick and before every lease reply, before the machine looks at time: hands the heartbeats
   * heard since the last call to heartbeat(). A transport that hears them off the main loop (a worker thread) has some waiting after a stall, and
   * a tick that judged the peer without them would find it silent for the length of the stall: an active past its
   * fence deadline would then drop the VIPs though the peer heard it throughout.
   */
  pullHeartbeats?: () => void
}

/** One director's side of the pair, running. */
export class Pair {
  readonly #o: PairOptions
  readonly #m: RoleMachine
  readonly #tickMs: number
  #timer: TimerHandle | undefined
  #started = false
  #due = 0
  #effects: Promise<void> = Promise.resolve()
  #leaseBusy: Promise<void> | undefined
  #closed = false
  #closing: Promise<void> | undefined
  #stopped: (() => void) | undefined

  constructor(options: PairOptions) {
    this.#o = options
    this.#tickMs = options.tickMs ?? 10
    this.#m = new RoleMachine({ ...options.config, lease: options.lease !== undefined }, options.clock.now())
  }

  /** The role, epoch, peer and Redis as the machine sees them. */
  get state(): RoleState {
    return this.#m.state
  }

  /** What our heartbeats must say now (the transport reads it for every heartbeat it sends). */
  advert(): PeerHeartbeat {
    return this.#m.advert()
  }

  /**
   * Start looking at time and asking Redis, once the lease's connection is up or readyTimeoutMs has passed (a
   * call before the connection is up would fail at once and read as "Redis lost").
   */
  async start(): Promise<void> {
    if (this.#started || this.#closed) return
    this.#started = true
    this.#m.begin(this.#o.clock.now()) // the heartbeats run from here: the start-up listen too
    const ready = this.#o.lease?.ready?.()
    if (ready) {
      const clock = this.#o.clock
      let timer: TimerHandle | undefined
      const timeout = new Promise<void>((resolve) => (timer = clock.setTimeout(resolve, this.#o.readyTimeoutMs ?? 1000)))
      await Promise.race([ready.catch(() => {}), timeout])
      clock.clearTimeout(timer!)
    }
    if (this.#closed) return
    this.#due = this.#o.clock.now()
    this.#tick()
  }

  /** The transport heard the peer on `path` (at `heardAt` on the clock's scale, default now). */
  heartbeat(path: string, hb: PeerHeartbeat, heardAt?: number): void {
    if (!this.#closed) this.#run(this.#m.heartbeat(this.#o.clock.now(), path, hb, heardAt))
  }

  /** A planned switchover (API, CLI): true when it started (active hands over, or standby asked the active). */
  switchover(): boolean {
    if (this.#closed) return false
    const actions = this.#m.switchover(this.#o.clock.now())
    this.#run(actions)
    const s = this.#m.state
    return s.role === 'handing-over' || (s.role === 'standby' && s.handover)
  }

  /**
   * Graceful stop (SIGTERM): hand over to the standby if there is one, else drop the VIPs and free the lease.
   * Resolves once stopped and the effects (and a last lease release) have run.
   */
  async stop(): Promise<void> {
    if (this.#closed) return
    const stopped = new Promise<void>((resolve) => (this.#stopped = resolve))
    this.#run(this.#m.stop(this.#o.clock.now()))
    if (this.#m.state.role !== 'stopped') await stopped
    await this.#drain()
  }

  /** Stop the tick and close the lease; the VIPs stay as they are (call stop() first to hand over). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true
      if (this.#timer) this.#o.clock.clearTimeout(this.#timer)
      this.#timer = undefined
      this.#stopped?.()
      await this.#drain()
      await this.#o.lease?.close()
    })()
    return this.#closing
  }

  #tick(): void {
    const clock = this.#o.clock
    this.#pull()
    const now = clock.now()
    this.#stallCheck(now)
    this.#run(this.#m.tick(now))
    if (this.#closed) return
    this.#due = now + this.#tickMs
    this.#timer = clock.setTimeout(() => this.#tick(), this.#tickMs)
    this.#timer.unref?.()
  }

  /** A tick this late means the main loop was blocked: the machine decides whether that voids the lease. Said once. */
  #stallCheck(now: number): void {
    const late = now - this.#due
    if (late <= 2 * this.#tickMs) return
    this.#due = now
    this.#run(this.#m.stall(now, late))
  }

  #pull(): void {
    if (!this.#closed) this.#o.pullHeartbeats?.()
  }

  async #drain(): Promise<void> {
    while (this.#leaseBusy) await this.#leaseBusy
    await this.#effects
  }

  #run(actions: RoleAction[]): void {
    const o = this.#o
    for (const a of actions) {
      switch (a.type) {
        case 'takeover':
          this.#effect(`takeover at epoch ${a.epoch}`, () => o.onTakeover(a.epoch, a.handover))
          break
        case 'announce':
          this.#effect('announce', () => o.onAnnounce(a.epoch))
          break
        case 'release':
          this.#effect('release', () => o.onRelease(a.handedOver))
          break
        case 'alert':
          o.log('error', 'alert', { kind: a.kind, message: a.message })
          o.alert(a.kind, a.message)
          break
        case 'log':
          o.log(a.level, a.message, a.fields)
          break
        default:
          this.#leaseOp(a)
      }
    }
    if (this.#m.state.role === 'stopped') this.#stopped?.()
  }

  #effect(what: string, fn: () => Promise<void>): void {
    this.#effects = this.#effects.then(fn).catch((err: unknown) => {
      this.#o.log('error', `${what} failed`, { err })
    })
  }

  /** Run one lease action (the machine has at most one in flight) and feed its reply back. */
  #leaseOp(a: Extract<RoleAction, { type: `${string}-lease` }>): void {
    const lease = this.#o.lease
    if (!lease) return
    const role = this.#m.state.role
    const sentAt = this.#o.clock.now()
    const [op, call]: [LeaseOp, Promise<LeaseView>] =
      a.type === 'acquire-lease' ? ['acquire', lease.acquire(a.minEpoch, role, a.stealIfStaleMs)]
        : a.type === 'renew-lease' ? ['renew', lease.renew(a.epoch, role)]
          : a.type === 'release-lease' ? ['release', lease.release(a.epoch, role)]
            : ['read', lease.read(role)]
    const busy: Promise<void> = call
      .then(
        (view) => this.#reply({ op, sentAt, view }),
        (err: unknown) => this.#reply({ op, sentAt, error: err instanceof Error ? err.message : String(err) }),
      )
      .finally(() => {
        if (this.#leaseBusy === busy) this.#leaseBusy = undefined // the reply may have started the next one
      })
    this.#leaseBusy = busy
  }

  #reply(reply: Parameters<RoleMachine['leaseReply']>[1]): void {
    if (this.#closed && this.#m.state.role !== 'stopped') return
    // After a stall a reply may come before the first tick: the peer must not be judged on heartbeats older than it,
    // nor the reply (a timeout) without knowing of the stall.
    this.#pull()
    const now = this.#o.clock.now()
    if (!this.#closed) this.#stallCheck(now)
    this.#run(this.#m.leaseReply(now, reply))
  }
}
