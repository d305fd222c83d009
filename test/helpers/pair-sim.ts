// A simulated director pair for the role machine's tests: two RoleMachines on a fake clock, heartbeats over named
// paths that can be cut, and an in-memory lease with the Redis scripts' rules that can be made unreachable.
import { createFakeClock, type FakeClock } from './fake-clock.js'
import { RoleMachine, type AlertKind, type LeaseReply, type RoleAction, type RoleConfig } from '../../src/ha/role.js'
import type { LeaseView } from '../../src/ha/lease.js'

/** The lease as src/ha/lease.ts's scripts keep it, with a clock (the fake clock stands for Redis's TIME too). */
export class FakeRedis {
  holder: string | null = null
  epoch = 0
  expiresAt = 0
  /** Redis's clock at the holder's last grant or renew. */
  renewedAt = 0
  up = true
  constructor(readonly clock: FakeClock) {}

  #now(node: string): LeaseView {
    const now = this.clock.now()
    if (this.holder !== null && now >= this.expiresAt) this.holder = null
    if (this.holder === null) return { held: false, holder: null, epoch: this.epoch, ttlMs: 0 }
    return { held: this.holder === node, holder: this.holder, epoch: this.epoch, ttlMs: this.expiresAt - now, sinceRenewMs: now - this.renewedAt }
  }

  run(node: string, ttl: number, a: RoleAction): LeaseView {
    const v = this.#now(node)
    const now = this.clock.now()
    if (a.type === 'acquire-lease') {
      const stale = a.stealIfStaleMs !== undefined && a.stealIfStaleMs > 0 && v.sinceRenewMs! >= a.stealIfStaleMs
      if (v.holder !== null && v.holder !== node && !stale) return v
      if (v.holder !== node) this.epoch = Math.max(this.epoch, a.minEpoch) + 1
      this.holder = node
      this.expiresAt = now + ttl
      this.renewedAt = now
    } else if (a.type === 'renew-lease') {
      if (v.holder !== node || this.epoch !== a.epoch) return { ...v, held: false }
      this.expiresAt = now + ttl
      this.renewedAt = now
    } else if (a.type === 'release-lease') {
      if (v.holder === node && this.epoch === a.epoch) this.holder = null
    }
    return this.#now(node)
  }

  /** Redis restarted without its data. */
  wipe(): void {
    this.holder = null
    this.epoch = 0
  }
}

/** One simulated director: its machine, what it did, and switches to kill it or cut its Redis. */
export class SimDirector {
  readonly m: RoleMachine
  vips = false
  takeovers: number[] = []
  /** Each takeover's handover flag (the peer handed the VIPs over), in order. */
  handovers: boolean[] = []
  releases = 0
  /** Each release's `handedOver`. */
  released: boolean[] = []
  announces = 0
  alerts: AlertKind[] = []
  logs: string[] = []
  /** Its process runs (false: crashed, silent, no ticks). */
  running = true
  /** It can reach Redis. */
  redisLink = true
  readonly ttl: number

  constructor(readonly sim: PairSim, readonly config: RoleConfig) {
    this.m = new RoleMachine(config, sim.clock.now())
    this.ttl = config.leaseTtlMs ?? 1000
  }

  get role() {
    return this.m.state.role
  }

  /** Run the actions (and those that lease replies cause), in order. */
  run(actions: RoleAction[]): void {
    const queue = [...actions]
    for (let a = queue.shift(); a; a = queue.shift()) {
      const now = this.sim.clock.now()
      switch (a.type) {
        case 'takeover':
          this.vips = true
          this.takeovers.push(a.epoch)
          this.handovers.push(a.handover)
          break
        case 'release':
          this.vips = false
          this.releases++
          this.released.push(a.handedOver)
          break
        case 'announce':
          this.announces++
          break
        case 'alert':
          this.alerts.push(a.kind)
          break
        case 'log':
          this.logs.push(a.message)
          break
        default: {
          const op = a.type === 'read-lease' ? 'read' : (a.type.replace('-lease', '') as LeaseReply['op'])
          const reply: LeaseReply = this.sim.redis.up && this.redisLink
            ? { op, sentAt: now, view: this.sim.redis.run(this.config.node, this.ttl, a) }
            : { op, sentAt: now, error: 'connect ECONNREFUSED' }
          queue.push(...this.m.leaseReply(now, reply))
        }
      }
    }
  }
}

/** Two directors, `a` and `b`, with heartbeat paths `p1` and `p2`. */
export class PairSim {
  readonly clock = createFakeClock(1000)
  readonly redis = new FakeRedis(this.clock)
  readonly paths = new Map([['p1', true], ['p2', true]])
  readonly a: SimDirector
  readonly b: SimDirector
  /** ms with the VIPs on both directors / on neither (counted from `measureFrom`). */
  dualMs = 0
  noneMs = 0
  measureFrom = Infinity
  readonly #step = 5

  constructor(a: Partial<RoleConfig> = {}, b: Partial<RoleConfig> = {}, common: Partial<RoleConfig> = {}) {
    this.a = new SimDirector(this, { node: 'a', priority: 200, ...common, ...a })
    this.b = new SimDirector(this, { node: 'b', priority: 100, ...common, ...b })
    const loop = () => {
      for (const d of [this.a, this.b]) if (d.running) d.run(d.m.tick(this.clock.now()))
      if (this.clock.now() >= this.measureFrom) {
        if (this.a.vips && this.b.vips) this.dualMs += this.#step
        if (!this.a.vips && !this.b.vips) this.noneMs += this.#step
      }
      this.clock.setTimeout(loop, this.#step)
    }
    const beat = (from: SimDirector, to: SimDirector) => () => {
      if (from.running && to.running) {
        for (const [path, up] of this.paths) if (up) to.run(to.m.heartbeat(this.clock.now(), path, from.m.advert()))
      }
      this.clock.setTimeout(beat(from, to), from.config.heartbeatIntervalMs ?? 50)
    }
    this.clock.setTimeout(loop, this.#step)
    this.clock.setTimeout(beat(this.a, this.b), 50)
    this.clock.setTimeout(beat(this.b, this.a), 50)
  }

  advance(ms: number): Promise<void> {
    return this.clock.advance(ms)
  }

  /** Cut (or heal) every heartbeat path. */
  heartbeats(up: boolean): void {
    for (const p of this.paths.keys()) this.paths.set(p, up)
  }

  /** Start counting dual and none time now. */
  measure(): void {
    this.measureFrom = this.clock.now()
    this.dualMs = this.noneMs = 0
  }
}
