// The director pair's role as a pure state machine: facts in (time, heartbeats, lease replies, requests), actions out.
//
// Roles: init -> standby <-> active -> handing-over -> standby; any -> stopped. Time is the caller's monotonic ms;
// the machine has no timers, no I/O and no logger: every input returns the actions to run, in order.
//
// Rules (design.md section 6, reference/api-ha-anchors.md 2.2):
// - The peer is alive while some heartbeat path heard it within deadIntervalMs (3 heartbeats).
// - Start: init listens for deadIntervalMs (and waits for its first lease reply), then is standby. A standby
//   takes over when no director is active and it is the one to: the peer is silent on every path, or alive but not
//   active and of lower priority (equal: the lower node name). With Redis it first takes the lease (acquire at an
//   epoch above every epoch it knows); only the director that gets the lease takes over.
// - Peer death vs partition: with Redis up, a silent peer's lease must have lapsed. Lapsed = its holder stopped
//   renewing: Redis records its own clock at every grant and renew, and a lease not renewed for staleMs by that
//   clock may be taken over at once (an acquire with stealIfStaleMs: Redis checks and bumps the epoch atomically,
//   so a holder still renewing is never stolen from and of two stealers one wins). A crash is so replaced about
//   max(deadIntervalMs, staleMs) + one round trip after the last heartbeat and renew. The ttl stays the outer
//   bound: a lease gone (expired, freed) is taken no sooner than driftMarginMs after the latest expiry seen. A
//   lease still renewed after the peer went silent is a partition: stay standby, log and alert once. After a
//   main-loop stall a standby steals nothing for a heartbeat interval (heartbeats heard meanwhile may be queued).
// - Redis unreachable: heartbeats alone decide (VRRP), still after the latest lease expiry seen + drift;
//   with requireWitness, no takeover (alert once).
// - The holder self-fences: at renewedAt + leaseTtlMs - leaseMarginMs (renewedAt = when the last granted
//   acquire/renew was sent) it drops the VIPs, unless the peer is heard and not active (it hears us, so it will not
//   take over: heartbeats decide). A main-loop stall of leaseMarginMs or more drops the VIPs at once; a renew that
//   then finds the lease still ours at our epoch takes them back. A renew refused (the lease stolen: a new epoch)
//   releases. Between a steal and that (or the fence deadline) both may hold the VIPs: docs/ha.md.
// - Epochs: the highest epoch seen anywhere is remembered. An active that sees an active peer at a higher epoch
//   (equal: higher priority, then lower node name) releases, and never takes the VIPs back at that epoch.
//   An active that holds a higher epoch keeps the VIPs and announces again once the peer stops being active.
// - Every takeover (first or regained) is a `takeover` action: add VIPs, announce, sync daemon master. An active
//   also announces again (`announce`) when the peer comes back or stops being active: it may have held the VIPs.
// - Planned switchover (or stop, or preemption): the active frees the lease and sets the handover flag in its
//   heartbeats; the standby takes over at once (no lease wait); the old active drops the VIPs when it hears the
//   peer active at a higher epoch. The VIPs are on both for up to a heartbeat interval, never on neither. No takeover within
//   handoverTimeoutMs: the active keeps the VIPs (re-takes the lease) and alerts. A standby asks for a handover
//   by setting the flag in its own heartbeats (a switchover requested on it, or preemption after preemptDelayMs).
import { resolveRoleConfig, type AlertKind, type LeaseOp, type LeaseReply, type PeerHeartbeat, type Role, type RoleAction, type RoleConfig, type RoleState } from './role-types.js'
import type { LeaseView } from './lease.js'
import { LeaseWatch } from './role-lease.js'

export type { AlertKind, LeaseOp, LeaseReply, PeerHeartbeat, Role, RoleAction, RoleConfig, RoleState } from './role-types.js'

type Out = RoleAction[]
const ACTIVE = new Set<Role>(['active', 'handing-over'])

/** The pair role of one director. Feed it facts; run the actions it returns. */
export class RoleMachine {
  readonly #c: Required<RoleConfig>
  #role: Role = 'init'
  #reason = 'started'
  #since: number
  #startedAt: number
  #held = 0
  #known = 0
  #handover = false
  #handoverAt = 0
  #stopping = false
  // the peer
  readonly #paths = new Map<string, { lastHeard: number; alive: boolean }>()
  #peer: PeerHeartbeat | undefined
  #peerHeard: number | undefined
  #peerAlive = false
  /** The peer may have held the VIPs (it came back, or was active too): announce once it is not active. */
  #reannounce = false
  #preemptSince: number | undefined
  // the lease
  #redisUp: boolean | undefined
  #redisFailures = 0
  #inflight = false
  #lastOpAt = -Infinity
  readonly #lease: LeaseWatch
  #bound = false
  #renewedAt = 0
  #wantAcquire = false
  #wantSteal = false
  #wantRelease = false
  #revalidate = false
  #epochBehind = false
  /** No steal before this (after a main-loop stall: heartbeats heard during it may still be queued). */
  #settleUntil = -Infinity
  /** When the last main-loop stall long enough to matter was reported: a command in flight then says nothing of Redis. */
  #stalledAt = -Infinity
  #reasonWanted = ''
  /** Alerts sent for a condition still present (one per episode). */
  readonly #alerted = new Set<AlertKind | 'split'>()

  constructor(config: RoleConfig, now: number) {
    this.#c = resolveRoleConfig(config)
    this.#lease = new LeaseWatch(this.#c.node, this.#c.leaseTtlMs)
    this.#since = this.#startedAt = now
  }

  /**
   * The heartbeats run from `now`: the start-up listen counts from here, not from construction (a director builds its
   * machine, then programs its kernel and starts the transport; a listen spent before that would end without a
   * chance to hear the peer). Only in init, before the first tick.
   */
  begin(now: number): void {
    if (this.#role === 'init') this.#since = this.#startedAt = now
  }

  /** The state now (a fresh object). */
  get state(): RoleState {
    const paths: RoleState['peer']['paths'] = {}
    for (const [name, p] of this.#paths) paths[name] = { ...p }
    const p = this.#peer
    const w = this.#lease
    return {
      role: this.#role,
      epoch: ACTIVE.has(this.#role) ? this.#held : this.#known,
      handover: this.#handover,
      reason: this.#reason,
      since: this.#since,
      peer: { node: p?.node, alive: this.#peerAlive, role: p?.role, epoch: p?.epoch ?? 0, priority: p?.priority, lastSeen: this.#peerHeard, paths },
      redis: { enabled: this.#c.lease, up: this.#redisUp, holder: w.holder, lastSeenHeld: w.seenHeldAt, heldUntil: w.heldUntil, holderRenewedAt: w.holderRenewedAt },
    }
  }

  /** What our heartbeats say now. */
  advert(): PeerHeartbeat {
    const s = this.state
    return { node: this.#c.node, role: s.role, epoch: s.epoch, priority: this.#c.priority, handover: s.handover }
  }

  /** Time passed (call it every few ms: timeouts are only seen here). */
  tick(now: number): Out {
    return this.#run(now, () => {})
  }

  /**
   * The peer was heard on `path` at `heardAt` (default `now`; a transport off the main thread passes when it
   * received the heartbeat, on this same monotonic scale), saying `hb`.
   */
  heartbeat(now: number, path: string, hb: PeerHeartbeat, heardAt = now): Out {
    if (hb.node === this.#c.node) return [] // our own, looped back
    return this.#run(now, () => {
      const at = Math.min(heardAt, now)
      const previous = this.#paths.get(path)
      if (previous && previous.lastHeard > at) return // an older heartbeat than one already seen on this path
      this.#paths.set(path, { lastHeard: at, alive: previous?.alive ?? false })
      if ((this.#peerHeard ?? -Infinity) > at) return
      this.#peer = hb
      this.#peerHeard = at
      this.#known = Math.max(this.#known, hb.epoch)
    })
  }

  /** The answer to the lease action sent last. */
  leaseReply(now: number, reply: LeaseReply): Out {
    if (this.#role === 'stopped') {
      this.#inflight = false
      return this.#leaseStep(now, []) // a release-lease may still be due
    }
    return this.#run(now, (out) => {
      this.#inflight = false
      if ('error' in reply) {
        this.#revalidate = false // the lease cannot be confirmed: the standby rules decide from here
        // A command in flight across a main-loop stall timed out behind it (its reply waited behind the timer): it
        // says nothing of Redis. Nor does one failure alone: the next command tells.
        if (reply.sentAt <= this.#stalledAt) return
        this.#redisFailures++
        if (this.#redisFailures >= 2 && this.#redisUp !== false) {
          this.#redisUp = false
          this.#log(out, 'warn', 'redis lost', { error: reply.error })
          this.#alert(out, 'redis-lost', `Redis is unreachable (${reply.error}): heartbeats alone decide${this.#c.requireWitness ? ', and requireWitness forbids a takeover' : ''}`)
        }
        return
      }
      this.#redisFailures = 0
      if (this.#redisUp === false) {
        this.#log(out, 'info', 'redis back', {})
        this.#alerted.delete('redis-lost')
      }
      this.#redisUp = true
      this.#observe(now, reply.sentAt, reply.view, out)
      this.#answer(now, reply.op, reply.sentAt, reply.view, out)
    })
  }

  /** A planned switchover was asked for (API, CLI). Active: hand over; standby: ask the active to. */
  switchover(now: number): Out {
    return this.#run(now, (out) => {
      if (this.#role === 'active') this.#startHandover(now, out, 'switchover requested')
      else if (this.#role === 'standby' && this.#peerAlive && ACTIVE.has(this.#peer!.role)) this.#claim(now, out, 'switchover requested')
      else this.#log(out, 'warn', 'switchover refused', { role: this.#role, peerAlive: this.#peerAlive })
    })
  }

  /** The director is stopping: hand over if a standby is there, else drop the VIPs; then `stopped`. */
  stop(now: number): Out {
    if (this.#role === 'stopped') return []
    return this.#run(now, (out) => {
      this.#stopping = true
      if (this.#role === 'active') this.#startHandover(now, out, 'stopping')
      else if (this.#role !== 'handing-over') this.#become(now, out, 'stopped', 'stopping')
    })
  }

  /**
   * The main loop was blocked for `ms` (measured by the caller): an active can no longer trust its lease, and a
   * standby may not have been told yet of heartbeats heard meanwhile.
   */
  stall(now: number, ms: number): Out {
    return this.#run(now, (out) => {
      this.#settleUntil = Math.max(this.#settleUntil, now + this.#c.heartbeatIntervalMs)
      // Long enough to matter to the pair (half a dead interval): said, so a later takeover or fence has its cause.
      if (ms >= this.#c.deadIntervalMs / 2) {
        this.#stalledAt = now
        this.#log(out, 'warn', 'main loop stalled', { ms: Math.round(ms), role: this.#role })
      }
      if (this.#role !== 'active' || ms < this.#c.stallFenceMs) return
      this.#revalidate = this.#bound
      this.#release(now, out, 'standby', `main loop stalled ${Math.round(ms)} ms`, false)
      this.#alert(out, 'self-fenced', `the main loop stalled ${Math.round(ms)} ms: the VIPs were dropped until the lease is confirmed`)
    })
  }

  // --- the steps

  /** Apply one input, then re-evaluate everything. */
  #run(now: number, input: (out: Out) => void): Out {
    const out: Out = []
    if (this.#role === 'stopped') return out
    input(out)
    if ((this.#role as Role) !== 'stopped') { // the input may have stopped it
      this.#observePeer(now, out)
      if (this.#role === 'init') this.#initStep(now, out)
      if (this.#role === 'standby') this.#standbyStep(now, out)
      else if (this.#role === 'active') this.#activeStep(now, out)
      else if (this.#role === 'handing-over') this.#handoverStep(now, out)
    }
    return this.#leaseStep(now, out)
  }

  #initStep(now: number, out: Out): void {
    if (this.#peerAlive && ACTIVE.has(this.#peer!.role)) return this.#become(now, out, 'standby', `${this.#peer!.node} is active`)
    const listened = now - this.#startedAt >= this.#c.deadIntervalMs
    if (listened && (!this.#c.lease || this.#redisUp !== undefined)) this.#become(now, out, 'standby', 'start-up listen done')
  }

  #standbyStep(now: number, out: Out): void {
    const c = this.#c
    const peer = this.#peer
    const peerActive = this.#peerAlive && ACTIVE.has(peer!.role)
    if (!peerActive || now - this.#handoverAt > c.handoverTimeoutMs) this.#handover = false
    if (peerActive && peer!.handover) return this.#contend(now, out, `${peer!.node} hands over`, 'handover')
    if (peerActive) {
      this.#clear('partition', 'no-witness')
      if (!c.preempt || c.priority <= peer!.priority) return void (this.#preemptSince = undefined)
      this.#preemptSince ??= now
      if (!this.#handover && now - this.#preemptSince >= c.preemptDelayMs) this.#claim(now, out, 'preemption')
      return
    }
    this.#preemptSince = undefined
    // A peer that says it stopped has dropped its VIPs and freed its lease: as a handover, no wait for its silence.
    if (this.#peerAlive && peer!.role === 'stopped') return this.#contend(now, out, `${peer!.node} stopped`, 'handover')
    if (this.#peerAlive) {
      this.#clear('partition', 'no-witness')
      if (this.#preferred(peer!)) this.#contend(now, out, `${peer!.node} is ${peer!.role}, and this director is preferred`, 'lapsed')
      return
    }
    // The peer is silent on every path.
    const w = this.#lease
    if (c.lease && this.#redisUp && w.holder !== null && w.holder !== c.node) {
      const staleAt = w.staleAt(c.staleMs)
      if (staleAt !== undefined && now >= staleAt && now >= this.#settleUntil) {
        return this.#contend(now, out, `${w.holder} is silent on every path and has not renewed its lease for ${c.staleMs} ms`, 'steal')
      }
      if (w.renewedAfter() > (this.#peerHeard ?? this.#startedAt) + c.deadIntervalMs && !this.#alerted.has('partition')) {
        this.#log(out, 'warn', 'partition', { holder: w.holder, lastHeard: this.#peerHeard })
        this.#alert(out, 'partition', `${w.holder} is silent on every heartbeat path but still renews its lease: a partition, not a death; staying standby`)
      }
      return
    }
    this.#clear('partition')
    this.#contend(now, out, 'the peer is silent on every path', 'lapsed')
  }

  #activeStep(now: number, out: Out): void {
    const c = this.#c
    const peer = this.#peer
    const peerActive = this.#peerAlive && ACTIVE.has(peer!.role)
    if (peerActive && (peer!.epoch > this.#held || (peer!.epoch === this.#held && !this.#preferred(peer!)))) {
      return this.#release(now, out, 'standby', `${peer!.node} is active at epoch ${peer!.epoch}`, this.#bound)
    }
    if (peerActive && peer!.role === 'active') {
      if (!this.#alerted.has('split')) this.#log(out, 'warn', 'split: the peer is active too', { peer: peer!.node, peerEpoch: peer!.epoch, epoch: this.#held })
      this.#alerted.add('split')
      this.#reannounce = true
    } else if (this.#reannounce && this.#peerAlive && !peerActive) {
      this.#reannounce = false
      this.#alerted.delete('split')
      out.push({ type: 'announce', epoch: this.#held }) // it may have held the VIPs: claim them again in ARP caches
    }
    if (c.lease && this.#bound && now >= this.#renewedAt + c.leaseTtlMs - c.leaseMarginMs) {
      this.#bound = false
      if (this.#peerAlive && !peerActive) {
        this.#log(out, 'warn', 'lease not renewed; the peer hears this director: heartbeats decide', { epoch: this.#held })
      } else {
        this.#release(now, out, 'standby', 'self-fenced: the lease was not renewed in time', false)
        this.#alert(out, 'self-fenced', `the lease could not be renewed within leaseTtlMs - leaseMarginMs: the VIPs were dropped`)
        return
      }
    }
    const heard = this.#peerAlive && !peerActive // the peer hears us: it will not take over
    if (c.lease && c.requireWitness && !this.#bound && this.#redisUp === false && !heard) return this.#release(now, out, 'standby', 'no lease, Redis unreachable and requireWitness set', false)
    if (!this.#peerAlive && !this.#alerted.has('standby-lost')) this.#alert(out, 'standby-lost', 'the standby director is silent on every heartbeat path: the pair has no standby')
    if (this.#peerAlive && peer!.role === 'standby' && peer!.handover) this.#startHandover(now, out, `${peer!.node} asks for it`)
  }

  #handoverStep(now: number, out: Out): void {
    const peer = this.#peer
    if (this.#peerAlive && ACTIVE.has(peer!.role) && peer!.epoch > this.#held) {
      return this.#release(now, out, this.#stopping ? 'stopped' : 'standby', `handed over to ${peer!.node} at epoch ${peer!.epoch}`, false, true)
    }
    if (now - this.#handoverAt < this.#c.handoverTimeoutMs) return
    this.#alert(out, 'handover-failed', `the standby did not take over within ${this.#c.handoverTimeoutMs} ms`)
    this.#alerted.delete('handover-failed')
    this.#handover = false
    if (this.#stopping) return this.#release(now, out, 'stopped', 'stopping: no takeover by the peer', false)
    this.#become(now, out, 'active', 'handover timed out; keeping the VIPs') // not bound: the lease step re-acquires
  }

  // --- transitions

  /**
   * Take the lease (and then the VIPs) or, without Redis, the VIPs. `handover`: the holder freed it; `steal`: its
   * holder is stale (Redis checks); `lapsed`: not before the latest expiry seen + drift.
   */
  #contend(now: number, out: Out, why: string, how: 'handover' | 'steal' | 'lapsed'): void {
    const c = this.#c
    const heldUntil = this.#lease.heldUntil
    const settled = how !== 'lapsed' || heldUntil === undefined || now >= heldUntil + c.driftMarginMs
    if (!settled) return
    if (c.lease && this.#redisUp) {
      this.#wantAcquire = true
      this.#wantSteal = how === 'steal'
      this.#reasonWanted = why
      return
    }
    if (c.lease && c.requireWitness) {
      if (!this.#alerted.has('no-witness')) this.#alert(out, 'no-witness', `${why}, but Redis is unreachable and requireWitness is set: no takeover`)
      return
    }
    this.#takeover(now, out, this.#known + 1, `${why}${c.lease ? ' (Redis unreachable: heartbeats alone)' : ''}`)
  }

  #takeover(now: number, out: Out, epoch: number, why: string): void {
    this.#held = epoch
    this.#known = Math.max(this.#known, epoch)
    this.#handover = false
    this.#preemptSince = undefined
    this.#reannounce = false
    this.#clear('partition', 'no-witness', 'standby-lost', 'split')
    const peer = this.#peer
    out.push({ type: 'takeover', epoch, handover: this.#peerAlive && peer!.handover && ACTIVE.has(peer!.role) })
    this.#become(now, out, 'active', why)
  }

  #release(now: number, out: Out, to: Role, why: string, freeLease: boolean, handedOver = false): void {
    out.push({ type: 'release', handedOver })
    this.#handover = false
    if (freeLease && this.#bound) this.#wantRelease = true
    this.#bound = false
    this.#clear('standby-lost', 'split')
    this.#become(now, out, to, why)
  }

  #startHandover(now: number, out: Out, why: string): void {
    const peer = this.#peer
    // A peer still in start-up takes over once it is standby (it then sees the handover flag): a switchover asked
    // right after the peer (re)started waits for it rather than failing, bounded by handoverTimeoutMs.
    const ready = this.#peerAlive && (peer!.role === 'standby' || peer!.role === 'init')
    if (!ready || (this.#c.lease && this.#c.requireWitness && !this.#redisUp)) {
      if (this.#stopping) return this.#release(now, out, 'stopped', `${why}: no standby to hand over to`, true)
      return this.#log(out, 'warn', 'switchover refused: no standby ready', { why, peerAlive: this.#peerAlive, peerRole: peer?.role })
    }
    this.#handover = true
    this.#handoverAt = now
    if (this.#bound) this.#wantRelease = true
    this.#become(now, out, 'handing-over', why)
  }

  #claim(now: number, out: Out, why: string): void {
    this.#handover = true
    this.#handoverAt = now
    this.#log(out, 'info', 'asking the active to hand over', { why })
  }

  #become(now: number, out: Out, role: Role, why: string): void {
    const from = this.#role
    this.#role = role
    this.#reason = why
    this.#since = now
    const epoch = ACTIVE.has(role) ? this.#held : this.#known
    this.#log(out, role === 'stopped' || role === 'active' || from === 'init' ? 'info' : 'warn', `role ${role}`, { from, to: role, reason: why, epoch })
  }

  // --- facts

  /** Per-path and peer liveness, one log line per change. */
  #observePeer(now: number, out: Out): void {
    const dead = this.#c.deadIntervalMs
    let any = false
    for (const [name, p] of this.#paths) {
      const alive = now - p.lastHeard < dead
      if (alive !== p.alive) this.#log(out, alive ? 'info' : 'warn', alive ? 'heartbeat path up' : 'heartbeat path down', { path: name })
      p.alive = alive
      any ||= alive
    }
    if (any !== this.#peerAlive) {
      this.#log(out, any ? 'info' : 'warn', any ? 'peer up' : 'peer lost', { peer: this.#peer?.node, role: this.#peer?.role, epoch: this.#peer?.epoch })
      if (any) this.#alerted.delete('standby-lost')
      if (any && this.#role === 'active') this.#reannounce = true
    }
    this.#peerAlive = any
  }

  #observe(now: number, sentAt: number, view: LeaseView, out: Out): void {
    this.#lease.observe(now, sentAt, view)
    if (view.epoch < this.#known && !this.#epochBehind) this.#log(out, 'warn', 'redis epoch is behind', { redis: view.epoch, known: this.#known })
    this.#epochBehind = view.epoch < this.#known
  }

  #answer(now: number, op: LeaseOp, sentAt: number, view: LeaseView, out: Out): void {
    const before = this.#known
    this.#known = Math.max(this.#known, view.epoch)
    if (op === 'release') return void (this.#bound = false)
    if (op === 'read') return
    const ours = view.held
    if (ours) {
      this.#bound = true
      this.#renewedAt = sentAt
    }
    if (op === 'acquire') {
      if (ours && (this.#role === 'standby' || this.#role === 'init')) {
        if (view.epoch >= before) return this.#takeover(now, out, view.epoch, this.#reasonWanted || 'lease granted')
        this.#wantRelease = true // an old epoch (Redis rolled back): give it back, the next grant is higher
        return
      }
      if (ours && this.#role === 'active' && view.epoch !== this.#held) {
        this.#log(out, 'info', 'lease taken at a new epoch', { from: this.#held, epoch: view.epoch })
        this.#held = view.epoch
        this.#known = Math.max(this.#known, view.epoch)
        // A regain at the new epoch: the VIPs (already held: unchanged) announced under it, and the transport told
        // that they are (the daemon's heartbeats say "active at N" only once the takeover at N has run).
        out.push({ type: 'takeover', epoch: view.epoch, handover: false })
        return
      }
      if (ours && this.#role === 'stopped') return void (this.#wantRelease = true)
      if (!ours && ACTIVE.has(this.#role)) {
        const peer = this.#peer
        const yields = this.#peerAlive && peer?.node === view.holder && ACTIVE.has(peer.role) && peer.epoch < this.#held
        if (!yields) this.#release(now, out, this.#stopping ? 'stopped' : 'standby', `the lease is held by ${view.holder}`, false)
      }
      return
    }
    // renew
    if (ours) {
      if (this.#revalidate && this.#role === 'standby') this.#takeover(now, out, this.#held, 'the lease is still ours after the stall')
      this.#revalidate = false
      return
    }
    this.#revalidate = false
    if (this.#role !== 'active') return
    if (view.holder === null && view.epoch <= this.#held) this.#wantAcquire = true // lapsed, or Redis lost it: nobody else took it
    else this.#release(now, out, 'standby', `the lease is ${view.holder ? `held by ${view.holder}` : 'gone'} at epoch ${view.epoch}`, false)
  }

  /** At most one lease operation in flight; pick the next one. */
  #leaseStep(now: number, out: Out): Out {
    const c = this.#c
    const want = { acquire: this.#wantAcquire, steal: this.#wantSteal, release: this.#wantRelease }
    this.#wantAcquire = this.#wantSteal = false
    if (!c.lease || this.#inflight) return out
    let action: RoleAction | undefined
    const due = (ms: number) => now - this.#lastOpAt >= ms
    if (want.release) {
      this.#wantRelease = false
      action = { type: 'release-lease', epoch: this.#held }
    } else if (this.#role === 'stopped') {
      return out
    } else if (want.acquire || (this.#role === 'active' && !this.#bound && due(c.renewIntervalMs))) {
      action = want.steal && want.acquire ? { type: 'acquire-lease', minEpoch: this.#known, stealIfStaleMs: c.staleMs } : { type: 'acquire-lease', minEpoch: this.#known }
    } else if (this.#revalidate) {
      action = { type: 'renew-lease', epoch: this.#held }
    } else if (this.#role === 'active') {
      if (due(c.renewIntervalMs)) action = { type: 'renew-lease', epoch: this.#held }
    } else if (this.#role !== 'handing-over' && due(c.heartbeatIntervalMs)) {
      action = { type: 'read-lease' }
    }
    if (action) {
      this.#inflight = true
      this.#lastOpAt = now
      out.push(action)
    }
    return out
  }

  /** This director wins against `peer`: higher priority, then the lower node name. */
  #preferred(peer: PeerHeartbeat): boolean {
    return this.#c.priority > peer.priority || (this.#c.priority === peer.priority && this.#c.node < peer.node)
  }

  #alert(out: Out, kind: AlertKind, message: string): void {
    this.#alerted.add(kind)
    out.push({ type: 'alert', kind, message })
  }

  #clear(...kinds: Array<AlertKind | 'split'>): void {
    for (const k of kinds) this.#alerted.delete(k)
  }

  #log(out: Out, level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>): void {
    out.push({ type: 'log', level, message, fields: { node: this.#c.node, ...fields } })
  }
}
