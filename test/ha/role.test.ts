// The pair's role machine on a fake clock: start-up, peer death, partition, Redis lost, epochs after a split,
// preemption, planned switchover and stop, self-fencing, stalls, and announcing on every regain of mastership.
import t from 'tap'
import { RoleMachine, type RoleAction, type RoleConfig } from '../../src/ha/role.js'
import { PairSim } from '../helpers/pair-sim.js'

const TTL = 1000 // leaseTtlMs; margin 250, drift 100 by default
const DEAD = 150 // deadIntervalMs: 3 heartbeats of 50 ms
const STALE = 150 // staleMs: max(3 x renewIntervalMs 50, DEAD)

t.test('start-up: the higher priority director becomes active, the other standby, never both', async (t) => {
  const sim = new PairSim()
  sim.measure()
  await sim.advance(1000)
  t.equal(sim.a.role, 'active')
  t.equal(sim.b.role, 'standby')
  t.same(sim.a.takeovers, [1], 'one takeover, at epoch 1')
  t.same(sim.b.takeovers, [])
  t.equal(sim.dualMs, 0, 'never both')
  t.equal(sim.redis.holder, 'a')
  t.match(sim.b.m.state, { peer: { alive: true, role: 'active', epoch: 1, paths: { p1: { alive: true }, p2: { alive: true } } }, redis: { up: true, holder: 'a' } })
  t.equal(sim.a.logs.filter((l) => l.startsWith('role ')).length, 2, 'one log line per state change (init->standby->active)')
})

t.test('start-up with equal priorities: the lower node name wins', async (t) => {
  const sim = new PairSim({ priority: 100 }, { priority: 100 })
  await sim.advance(1000)
  t.equal(sim.a.role, 'active')
  t.equal(sim.b.role, 'standby')
})

t.test('start-up with Redis down: heartbeats alone elect the higher priority, never both', async (t) => {
  const sim = new PairSim()
  sim.redis.up = false
  sim.measure()
  await sim.advance(1000)
  t.equal(sim.a.role, 'active')
  t.equal(sim.b.role, 'standby')
  t.equal(sim.dualMs, 0)
  t.same(sim.a.takeovers, [1])
})

t.test('start-up without heartbeats between them: the one that gets the lease is active, the other standby', async (t) => {
  const sim = new PairSim()
  sim.heartbeats(false)
  sim.measure()
  await sim.advance(2000)
  t.equal([sim.a, sim.b].filter((d) => d.vips).length, 1, 'exactly one holds the VIPs')
  t.equal(sim.dualMs, 0)
  const [active, standby] = sim.a.vips ? [sim.a, sim.b] : [sim.b, sim.a]
  t.equal(sim.redis.holder, active.config.node)
  t.ok(standby.alerts.includes('partition'), 'the other sees a partition: silent peer, renewed lease')
})

t.test('peer death: silent on every path and no longer renewing -> takeover after max(dead, stale), under 200 ms, never before it stopped renewing', async (t) => {
  let worst = 0
  for (let phase = 0; phase < 50; phase += 5) { // crash at every point of a heartbeat and renew period
    const sim = new PairSim()
    await sim.advance(1000 + phase)
    sim.a.running = false
    sim.a.vips = false // the machine died
    const died = sim.clock.now()
    const lastRenew = sim.redis.renewedAt // when a last renewed, by Redis's clock (the fake one)
    const lastHeard = sim.b.m.state.peer.lastSeen!
    let tookAt: number | undefined
    let early = false
    for (let i = 0; i < 100 && tookAt === undefined; i++) {
      await sim.advance(5)
      if (sim.b.vips) tookAt = sim.clock.now()
      if (sim.clock.now() < lastRenew + STALE && sim.redis.holder === 'b') early = true
    }
    t.ok(tookAt, `phase ${phase}: b took over`)
    t.notOk(early, `phase ${phase}: the lease is not taken before its holder had not renewed for staleMs`)
    t.ok(tookAt! >= lastRenew + STALE && tookAt! >= lastHeard + DEAD, `phase ${phase}: not before stale and silent (${tookAt! - lastRenew} ms after the last renew, ${tookAt! - lastHeard} after the last heartbeat)`)
    t.same(sim.b.takeovers, [2], 'with the epoch bumped')
    t.same(sim.b.handovers, [false], 'a death is no handover: no handoff window')
    t.equal(sim.redis.epoch, 2)
    t.equal(sim.b.m.state.peer.alive, false)
    t.ok(sim.b.alerts.includes('standby-lost'), 'now the pair has no standby: alerted')
    t.notOk(sim.b.alerts.includes('partition'), 'a death, not a partition')
    worst = Math.max(worst, tookAt! - died)
  }
  t.ok(worst <= Math.max(DEAD, STALE) + 10, `taken over at most ${worst} ms after the death: max(dead, stale) + a tick`)
  t.ok(worst < 200, 'under the 0.2 s of design.md, before adding and announcing the VIPs')
})

t.test('with Redis saying since when the holder renewed: never a steal while it renews; once stale and silent, a steal', async (t) => {
  const m = new RoleMachine({ node: 'b', priority: 100 }, 0)
  let renewedAt = 0 // a renews every 50 ms until `stopAt`
  let stopAt = Infinity
  const view = (at: number) => {
    while (renewedAt + 50 <= Math.min(at, stopAt)) renewedAt += 50
    return { held: false, holder: 'a', epoch: 3, ttlMs: 1000 - (at - renewedAt), sinceRenewMs: at - renewedAt }
  }
  const acquires: RoleAction[] = []
  const step = (now: number, input: RoleAction[] = m.tick(now)) => {
    for (const a of input) {
      if (a.type === 'read-lease') step(now, m.leaseReply(now + 1, { op: 'read', sentAt: now, view: view(now + 1) }))
      if (a.type === 'acquire-lease') {
        acquires.push(a)
        const v = view(now + 1)
        const granted = a.stealIfStaleMs !== undefined && v.sinceRenewMs >= a.stealIfStaleMs
        step(now, m.leaseReply(now + 1, { op: 'acquire', sentAt: now, view: granted ? { held: true, holder: 'b', epoch: 4, ttlMs: 1000, sinceRenewMs: 0 } : v }))
      }
    }
  }
  step(0)
  m.heartbeat(10, 'p1', { node: 'a', role: 'active', epoch: 3, priority: 200, handover: false })
  for (let now = 20; now < 2000; now += 10) step(now) // a silent since 10, but renewing: a partition
  t.equal(m.state.role, 'standby')
  t.same(acquires, [], 'no steal while the holder renews')
  stopAt = 2000 // a stops renewing (at 2000, its last renew)
  step(2100, m.stall(2100, 100)) // and b's main loop was blocked meanwhile: heartbeats may be queued
  for (let now = 2110; now < 2150; now += 10) step(now)
  t.same(acquires, [], 'not within a heartbeat interval after a stall of its own')
  for (let now = 2150; now < 2200 && m.state.role === 'standby'; now += 10) step(now)
  t.equal(m.state.role, 'active')
  t.match(acquires, [{ type: 'acquire-lease', minEpoch: 3, stealIfStaleMs: 150 }])
})

t.test('a takeover waits for the latest expiry seen + drift, even once the lease reads free', async (t) => {
  const m = new RoleMachine({ node: 'b', priority: 100 }, 0)
  let holder: string | null = 'a' // renewed last at 0: expires at 1000
  const view = (at: number) => ({ held: false, holder, epoch: 3, ttlMs: holder ? Math.max(1000 - at, 0) : 0 })
  const seen: RoleAction[] = []
  /** Tick, and answer each lease action at once with `view` (as Redis would, 1 ms later). */
  const step = (now: number, input: RoleAction[] = m.tick(now)) => {
    for (const a of input) {
      seen.push(a)
      if (a.type === 'read-lease') step(now, m.leaseReply(now + 1, { op: 'read', sentAt: now, view: view(now + 1) }))
      if (a.type === 'acquire-lease') step(now, m.leaseReply(now + 1, { op: 'acquire', sentAt: now, view: { held: true, holder: 'b', epoch: 4, ttlMs: 1000 } }))
    }
  }
  step(0)
  m.heartbeat(10, 'p1', { node: 'a', role: 'active', epoch: 3, priority: 200, handover: false })
  for (let now = 20; now < 300; now += 10) step(now)
  t.equal(m.state.role, 'standby')
  // a went silent at 10; its lease, seen held until 300, expires at 1000
  step(300)
  holder = null // freed early (say by a Redis restarted empty)
  seen.length = 0
  for (let now = 310; now < 1100; now += 10) step(now)
  t.notOk(seen.some((a) => a.type === 'acquire-lease' || a.type === 'takeover'), 'nothing before 1000 + drift 100')
  step(1100)
  t.match(seen.filter((a) => a.type === 'acquire-lease' || a.type === 'takeover'), [{ type: 'acquire-lease', minEpoch: 3 }, { type: 'takeover', epoch: 4 }], 'then it takes the lease, and the VIPs')
})

t.test('partition: heartbeats lost but the peer renews its lease -> standby stays standby, alerts once, logs once', async (t) => {
  const sim = new PairSim()
  await sim.advance(1000)
  sim.heartbeats(false)
  sim.measure()
  await sim.advance(5000)
  t.equal(sim.a.role, 'active')
  t.equal(sim.b.role, 'standby')
  t.equal(sim.dualMs, 0)
  t.same(sim.b.alerts, ['partition'], 'one alert')
  t.same(sim.b.takeovers, [], 'never a takeover: the holder renews')
  t.equal(sim.redis.holder, 'a')
  t.equal(sim.redis.epoch, 1)
  t.equal(sim.b.logs.filter((l) => l === 'partition').length, 1, 'one log line')
  t.same(sim.a.alerts, ['standby-lost'], 'the active alerts that its standby is gone')
  t.equal(sim.a.logs.filter((l) => l === 'heartbeat path down').length, 2, 'one line per path')
  sim.heartbeats(true)
  await sim.advance(500)
  t.equal(sim.b.m.state.peer.alive, true)
  t.ok(sim.b.logs.includes('peer up'))
})

t.test('one path lost: the peer is still alive on the other; nothing changes', async (t) => {
  const sim = new PairSim()
  await sim.advance(1000)
  sim.paths.set('p1', false)
  await sim.advance(2000)
  t.equal(sim.a.role, 'active')
  t.equal(sim.b.role, 'standby')
  t.same(sim.b.alerts, [])
  t.match(sim.b.m.state.peer, { alive: true, paths: { p1: { alive: false }, p2: { alive: true } } })
})

t.test('Redis unreachable: heartbeats alone decide', async (t) => {
  const sim = new PairSim()
  await sim.advance(1000)
  sim.redis.up = false
  await sim.advance(2000)
  t.equal(sim.a.role, 'active', 'the active keeps the VIPs while the standby hears it')
  t.equal(sim.b.role, 'standby')
  t.ok(sim.a.alerts.includes('redis-lost') && sim.b.alerts.includes('redis-lost'), 'both alert that Redis is lost')
  t.equal(sim.a.alerts.filter((k) => k === 'redis-lost').length, 1, 'once')
  sim.a.running = false
  sim.a.vips = false
  await sim.advance(500)
  t.equal(sim.b.role, 'active', 'a death is seen by heartbeats alone')
  t.same(sim.b.takeovers, [2], 'at an epoch above the one it knew')
  sim.redis.up = true
  await sim.advance(500)
  t.equal(sim.redis.holder, 'b', 'Redis back: the active takes the lease')
  t.ok(sim.b.logs.includes('redis back'))
  t.ok(sim.redis.epoch > 2)
  t.equal(sim.b.m.state.epoch, sim.redis.epoch, 'and works at its epoch')
  t.equal(sim.b.releases, 0, 'without dropping the VIPs')
  t.same(sim.b.takeovers, [2, sim.redis.epoch], 'taken again at the new epoch (VIPs unchanged, announced under it)')
})

t.test('Redis unreachable with requireWitness: no takeover, an alert', async (t) => {
  const sim = new PairSim({}, {}, { requireWitness: true })
  await sim.advance(1000)
  sim.redis.up = false
  sim.a.running = false
  sim.a.vips = false
  await sim.advance(3000)
  t.equal(sim.b.role, 'standby')
  t.notOk(sim.b.vips)
  t.same(sim.b.alerts, ['redis-lost', 'no-witness'])
})

t.test('with requireWitness too, the holder keeps the VIPs while the standby hears it; alone it drops them', async (t) => {
  const sim = new PairSim({}, {}, { requireWitness: true })
  await sim.advance(1000)
  sim.redis.up = false
  await sim.advance(3000)
  t.ok(sim.a.vips, 'b hears a and will not take over: a keeps them')
  t.equal(sim.b.role, 'standby')
  sim.heartbeats(false)
  await sim.advance(1000)
  t.notOk(sim.a.vips, 'no witness and no peer heard: a drops them')
  t.notOk(sim.b.vips, 'and b, without a witness, does not take them')
  t.ok(sim.b.alerts.includes('no-witness'))
})

t.test('double fault (the active cut off from its peer and from Redis): it self-fences at its last renew + ttl - margin; the standby took over after staleMs', async (t) => {
  const sim = new PairSim()
  await sim.advance(1000)
  sim.heartbeats(false)
  sim.a.redisLink = false
  const cut = sim.clock.now()
  const lastRenew = sim.redis.renewedAt
  sim.measure()
  let droppedAt: number | undefined
  let bAt: number | undefined
  for (let i = 0; i < 300 && droppedAt === undefined; i++) {
    await sim.advance(5)
    if (sim.b.vips) bAt ??= sim.clock.now()
    if (!sim.a.vips) droppedAt = sim.clock.now()
  }
  t.ok(droppedAt, 'a dropped the VIPs')
  t.ok(droppedAt! <= lastRenew + TTL - 250 + 5, `by the fence deadline (${droppedAt! - lastRenew} ms after its last renew)`)
  t.ok(sim.a.alerts.includes('self-fenced'))
  t.ok(bAt! - cut <= Math.max(DEAD, STALE) + 10, `b, which reaches Redis, took over ${bAt! - cut} ms after the cut`)
  t.ok(sim.dualMs <= TTL - 250 - STALE + 10, `both held the VIPs for ${sim.dualMs} ms: at most ttl - margin - staleMs (docs/ha.md)`)
  t.same(sim.b.takeovers, [2])
  await sim.advance(2000)
  t.ok(sim.a.vips && sim.b.vips, 'without requireWitness a, hearing nobody, takes them back by heartbeats alone (as VRRP would)')
  sim.heartbeats(true)
  await sim.advance(500)
  t.equal([sim.a, sim.b].filter((d) => d.vips).length, 1, 'healed: one keeps them')
  const witness = new PairSim({}, {}, { requireWitness: true })
  await witness.advance(1000)
  witness.heartbeats(false)
  witness.a.redisLink = false
  witness.measure()
  await witness.advance(3000)
  t.notOk(witness.a.vips, 'with requireWitness a stays fenced')
  t.ok(witness.b.vips)
  t.ok(witness.dualMs <= TTL - 250 - STALE + 10, `both held them ${witness.dualMs} ms, no more`)
})

t.test('the holder keeps the VIPs past the lease when Redis is lost but the standby hears it', async (t) => {
  const sim = new PairSim()
  await sim.advance(1000)
  sim.a.redisLink = false
  await sim.advance(3000)
  t.equal(sim.a.role, 'active')
  t.ok(sim.a.vips)
  t.equal(sim.b.role, 'standby', 'b sees the lease lapse but hears a: no takeover')
  t.notOk(sim.a.alerts.includes('self-fenced'))
})

t.test('a main-loop stall drops the VIPs; the lease still ours at our epoch takes them back and announces', async (t) => {
  const sim = new PairSim()
  await sim.advance(1000)
  sim.a.run(sim.a.m.stall(sim.clock.now(), 400))
  t.equal(sim.a.releases, 1, 'dropped at once')
  t.ok(sim.a.alerts.includes('self-fenced'))
  t.ok(sim.a.vips, 'taken back once the renew says the lease is still ours (the fake Redis answers at once)')
  t.same(sim.a.takeovers, [1, 1], 'the regain is a takeover (VIPs added and announced), at the same epoch')
  sim.a.redisLink = false
  sim.a.run(sim.a.m.stall(sim.clock.now(), 400))
  t.notOk(sim.a.vips, 'Redis unreachable: the lease cannot be confirmed, the VIPs stay dropped')
  t.equal(sim.a.role, 'standby')
  await sim.advance(2000)
  t.equal(sim.a.role, 'active', 'until the heartbeats alone give them back (b hears a, a is preferred), after the lease surely lapsed')
  t.same(sim.a.takeovers, [1, 1, 2])
  const short = new PairSim()
  await short.advance(1000)
  short.a.run(short.a.m.stall(short.clock.now(), 100))
  t.ok(short.a.vips, 'a stall under the margin changes nothing')
})

t.test('a paused holder (no heartbeats, no renews) is replaced; back, its renew is refused: it releases, never re-adds at its old epoch', async (t) => {
  for (const stallSeen of [false, true]) {
    const sim = new PairSim()
    await sim.advance(1000)
    sim.a.running = false // paused: the VIPs stay on it meanwhile
    await sim.advance(400)
    t.equal(sim.b.role, 'active', 'b took over after dead + stale')
    t.same(sim.b.takeovers, [2])
    t.ok(sim.a.vips, 'the paused director still holds them (as a stopped keepalived would)')
    sim.a.running = true
    if (stallSeen) sim.a.run(sim.a.m.stall(sim.clock.now(), 400)) // the driver sees the late tick
    await sim.advance(5)
    t.notOk(sim.a.vips, `${stallSeen ? 'stall reported' : 'no stall reported'}: released at its first tick`)
    t.equal(sim.a.role, 'standby')
    t.match(sim.a.m.state.reason, stallSeen ? /stalled/ : /held by b at epoch 2/, 'its renew was refused: the epoch moved')
    await sim.advance(3000)
    t.same(sim.a.takeovers, [1], 'never re-added')
    t.equal(sim.b.role, 'active')
    t.equal(sim.redis.holder, 'b')
  }
})

t.test('start-up: the listen counts from begin() (the heartbeats running), not from the machine being built', async (t) => {
  // Built at 0; the director programs its kernel and starts its heartbeats, then the role begins at 1000. Without
  // begin, the listen would be over at the first tick, before a heartbeat could come: a standby that never heard
  // the active (a partition alert with Redis), or, with no lease, a second active.
  const m = new RoleMachine({ node: 'a', priority: 200, lease: false }, 0)
  m.begin(1000)
  const acts: RoleAction[] = [...m.tick(1000), ...m.tick(1000 + DEAD - 10)]
  t.equal(m.state.role, 'init', 'still listening a dead interval after begin')
  acts.push(...m.heartbeat(1000 + DEAD - 5, 'p1', { node: 'b', role: 'active', epoch: 4, priority: 100, handover: false }), ...m.tick(1000 + DEAD))
  t.equal(m.state.role, 'standby', 'the active peer heard within the listen')
  t.same(acts.filter((a) => a.type === 'takeover'), [], 'no takeover: the peer is active')
  const late = new RoleMachine({ node: 'a', priority: 200, lease: false }, 0)
  t.match(late.tick(1000).filter((a) => a.type === 'takeover'), [{ epoch: 1 }], 'without begin: active at the first tick, unheard peer or not')
})

t.test('a higher epoch seen: the active releases and never re-adds the VIPs at its old epoch', async (t) => {
  const m = new RoleMachine({ node: 'a', priority: 200, lease: false }, 0)
  const acts: RoleAction[] = []
  for (let now = 0; now <= 200; now += 10) acts.push(...m.tick(now))
  t.match(acts.filter((a) => a.type === 'takeover'), [{ epoch: 1 }])
  const hb = { node: 'b', role: 'active' as const, epoch: 5, priority: 100, handover: false }
  const after = m.heartbeat(210, 'p1', hb)
  t.match(after.filter((a) => a.type === 'release' || (a.type === 'log' && a.message.startsWith('role'))), [{ type: 'release' }, { type: 'log', message: 'role standby' }])
  t.equal(m.state.role, 'standby')
  const later: RoleAction[] = []
  for (let now = 220; now <= 400; now += 10) later.push(...m.heartbeat(now, 'p1', hb), ...m.tick(now))
  t.same(later.filter((a) => a.type === 'takeover'), [], 'not while the peer is active')
  for (let now = 410; now <= 1000; now += 10) later.push(...m.tick(now))
  const retakes = later.filter((a): a is Extract<RoleAction, { type: 'takeover' }> => a.type === 'takeover')
  t.equal(retakes.length, 1, 'the peer gone silent: it takes over again')
  t.ok(retakes[0]!.epoch > 5, 'only above the epoch it saw')
})

t.test('a split (Redis down, heartbeats cut) heals: one keeps the VIPs, the other drops them, the keeper announces again', async (t) => {
  const sim = new PairSim()
  await sim.advance(1000)
  sim.redis.up = false
  sim.heartbeats(false)
  await sim.advance(3000)
  t.ok(sim.a.vips && sim.b.vips, 'both active: heartbeats alone decided on each side')
  t.same(sim.b.takeovers, [2])
  t.same(sim.a.takeovers, [1, 2], 'a self-fenced when its lease could not be renewed, then took them back by heartbeats alone')
  sim.heartbeats(true)
  sim.measure()
  await sim.advance(500)
  t.equal(sim.a.role, 'active', 'equal epochs: the preferred one keeps them')
  t.equal(sim.b.role, 'standby')
  t.ok(sim.a.announces >= 1, 'and announces again once the other dropped them')
  t.equal(sim.noneMs, 0, 'no moment without the VIPs')
  t.same(sim.b.takeovers, [2], 'b does not take them back')
})

t.test('an active that sees an active peer at a lower epoch keeps the VIPs and announces again when the peer drops them', async (t) => {
  const m = new RoleMachine({ node: 'b', priority: 100, lease: false }, 0)
  for (let now = 0; now <= 200; now += 10) m.tick(now)
  m.heartbeat(210, 'p1', { node: 'a', role: 'standby', epoch: 4, priority: 200, handover: false })
  for (let now = 220; now <= 400; now += 10) m.tick(now)
  m.heartbeat(410, 'p1', { node: 'a', role: 'standby', epoch: 4, priority: 200, handover: false })
  t.equal(m.state.role, 'active', 'a standby at a higher epoch is no threat')
  const split = m.heartbeat(420, 'p1', { node: 'a', role: 'active', epoch: 0, priority: 200, handover: false })
  t.notOk(split.some((a) => a.type === 'release'), 'the peer is active at a lower epoch: keep')
  t.ok(split.some((a) => a.type === 'log' && a.message === 'split: the peer is active too'))
  t.match(m.heartbeat(430, 'p1', { node: 'a', role: 'standby', epoch: 4, priority: 200, handover: false }), [{ type: 'announce', epoch: 1 }])
})

t.test('a split at equal epochs: the preferred director keeps the VIPs', async (t) => {
  const m = new RoleMachine({ node: 'b', priority: 100, lease: false }, 0)
  for (let now = 0; now <= 200; now += 10) m.tick(now)
  t.equal(m.state.role, 'active')
  const acts = m.heartbeat(210, 'p1', { node: 'a', role: 'active', epoch: 1, priority: 200, handover: false })
  t.ok(acts.some((a) => a.type === 'release'), 'equal epoch, the peer has the higher priority: release')
  const keeper = new RoleMachine({ node: 'a', priority: 200, lease: false }, 0)
  for (let now = 0; now <= 200; now += 10) keeper.tick(now)
  const kept = keeper.heartbeat(210, 'p1', { node: 'b', role: 'active', epoch: 1, priority: 100, handover: false })
  t.notOk(kept.some((a) => a.type === 'release'), 'the preferred one keeps them')
  const announced = keeper.heartbeat(260, 'p1', { node: 'b', role: 'standby', epoch: 1, priority: 100, handover: false })
  t.match(announced, [{ type: 'announce', epoch: 1 }], 'and announces again when the peer has dropped them')
})

t.test('Redis restarted empty: the active takes the lease again above its epoch without dropping the VIPs', async (t) => {
  const sim = new PairSim()
  await sim.advance(1000)
  sim.redis.wipe()
  sim.measure()
  await sim.advance(1000)
  t.equal(sim.a.role, 'active')
  t.equal(sim.redis.holder, 'a')
  t.equal(sim.redis.epoch, 2, 'the new grant is above the epoch a remembered, not 1')
  t.equal(sim.noneMs, 0)
  t.equal(sim.a.releases, 0, 'the VIPs never dropped')
  t.same(sim.a.takeovers, [1, 2], 'taken again at the new epoch (VIPs unchanged, announced under it)')
  t.equal(sim.b.role, 'standby')
})

t.test('preemption off: a returning higher-priority director stays standby', async (t) => {
  const sim = new PairSim()
  await sim.advance(1000)
  sim.a.running = false
  sim.a.vips = false
  await sim.advance(2000)
  t.equal(sim.b.role, 'active')
  sim.a.running = true // restarted (a new machine would start in init; this one comes back as standby)
  await sim.advance(15000)
  t.equal(sim.b.role, 'active')
  t.equal(sim.a.role, 'standby')
})

t.test('preemption on: the higher-priority director takes back after the delay, gracefully', async (t) => {
  const sim = new PairSim({}, {}, { preempt: true, preemptDelayMs: 3000 })
  await sim.advance(1000)
  sim.a.running = false
  sim.a.vips = false
  await sim.advance(2000)
  t.equal(sim.b.role, 'active')
  sim.a.running = true
  const back = sim.clock.now()
  sim.measure()
  await sim.advance(2500)
  t.equal(sim.a.role, 'standby', 'not before the delay')
  await sim.advance(1500)
  t.equal(sim.a.role, 'active', 'after it')
  t.equal(sim.b.role, 'standby')
  t.same(sim.a.handovers, [false, true], 'its first start no handover; taking back after the delay, handed over by b')
  t.equal(sim.noneMs, 0, 'no moment without the VIPs')
  t.ok(sim.dualMs <= 60, `both held them ${sim.dualMs} ms, at most a heartbeat interval`)
  t.ok(sim.a.m.state.since - back >= 3000)
})

t.test('planned switchover: the standby takes over at once, then the old active drops the VIPs', async (t) => {
  const sim = new PairSim()
  await sim.advance(1000)
  sim.measure()
  const start = sim.clock.now()
  sim.a.run(sim.a.m.switchover(start))
  t.equal(sim.a.role, 'handing-over')
  t.ok(sim.a.vips, 'still holding while it hands over')
  await sim.advance(300)
  t.equal(sim.b.role, 'active')
  t.equal(sim.a.role, 'standby')
  t.equal(sim.noneMs, 0, 'never on neither')
  t.ok(sim.dualMs <= 60, `on both for ${sim.dualMs} ms`)
  t.ok(sim.b.m.state.since - start <= 60, 'b took over within a heartbeat')
  t.same(sim.b.takeovers, [2])
  t.same(sim.b.handovers, [true], 'a takeover handed over: the daemon opens its handoff window (ha/handoff.ts)')
  t.same(sim.a.released, [true], 'released as handed over (the daemon keeps the VIPs through the handoff window)')
  t.same(sim.a.alerts, [])
  sim.b.run(sim.b.m.switchover(sim.clock.now()))
  await sim.advance(300)
  t.equal(sim.a.role, 'active', 'and back')
  t.same(sim.a.takeovers, [1, 3], 'the regain announces again (a takeover), at a higher epoch')
})

t.test('a switchover asked on the standby: the active hands over', async (t) => {
  const sim = new PairSim()
  await sim.advance(1000)
  sim.measure()
  sim.b.run(sim.b.m.switchover(sim.clock.now()))
  await sim.advance(300)
  t.equal(sim.b.role, 'active')
  t.equal(sim.a.role, 'standby')
  t.equal(sim.noneMs, 0)
})

t.test('a switchover without a standby is refused; one the standby never takes times out and keeps the VIPs', async (t) => {
  const sim = new PairSim()
  await sim.advance(1000)
  sim.heartbeats(false)
  await sim.advance(500)
  sim.a.run(sim.a.m.switchover(sim.clock.now()))
  t.equal(sim.a.role, 'active', 'no standby heard: refused')
  t.ok(sim.a.logs.includes('switchover refused: no standby ready'))
  sim.heartbeats(true)
  await sim.advance(500)
  sim.b.redisLink = false // b cannot take the lease
  sim.b.running = false // and goes quiet right after a starts the handover
  sim.a.run(sim.a.m.switchover(sim.clock.now()))
  t.equal(sim.a.role, 'handing-over')
  await sim.advance(1500)
  t.equal(sim.a.role, 'handing-over', 'still waiting at 1.5 s: the timeout is 2 x the lease ttl (a slow standby may need it)')
  await sim.advance(1000)
  t.equal(sim.a.role, 'active', 'timed out: a keeps the VIPs')
  t.same(sim.a.released, [], 'never released')
  t.ok(sim.a.vips)
  t.ok(sim.a.alerts.includes('handover-failed'))
  t.equal(sim.redis.holder, 'a', 'and holds the lease again')
})

t.test('stop on the active hands over first, then stops; stop without a standby drops the VIPs and frees the lease', async (t) => {
  const sim = new PairSim()
  await sim.advance(1000)
  sim.measure()
  sim.a.run(sim.a.m.stop(sim.clock.now()))
  await sim.advance(300)
  t.equal(sim.a.role, 'stopped')
  t.notOk(sim.a.vips)
  t.equal(sim.b.role, 'active')
  t.equal(sim.noneMs, 0)
  sim.a.running = false
  sim.b.run(sim.b.m.stop(sim.clock.now()))
  t.equal(sim.b.role, 'stopped')
  t.notOk(sim.b.vips)
  t.equal(sim.redis.holder, null, 'the lease is free for whoever starts next')
  t.same(sim.b.m.stop(sim.clock.now()), [], 'stop again: nothing')
  t.same(sim.b.m.tick(sim.clock.now() + 5000), [], 'stopped: no more actions')
})

t.test('the standby stays in init until it has listened a dead interval and heard from Redis', async (t) => {
  const m = new RoleMachine({ node: 'b', priority: 100 }, 0)
  t.match(m.tick(0), [{ type: 'read-lease' }])
  t.equal(m.tick(200).length, 0, 'no reply yet: still init')
  t.equal(m.state.role, 'init')
  const acts = m.leaseReply(210, { op: 'read', sentAt: 0, view: { held: false, holder: 'a', epoch: 4, ttlMs: 900 } })
  t.equal(m.state.role, 'standby')
  t.notOk(acts.some((a) => a.type === 'acquire-lease' || a.type === 'takeover'), 'the lease is held: no takeover yet')
  t.equal(m.state.epoch, 4, 'the epoch it learnt from Redis')
})

t.test('bad settings are refused', async (t) => {
  const bad = (c: Partial<RoleConfig>) => () => new RoleMachine({ node: 'a', priority: 1, ...c }, 0)
  t.throws(bad({ leaseTtlMs: 100, leaseMarginMs: 90 }), { code: 'LVS_ERR_INVALID_VALUE' })
  t.throws(bad({ heartbeatIntervalMs: 50, deadIntervalMs: 20 }), { code: 'LVS_ERR_INVALID_VALUE' })
})

t.test('a heartbeat passed on late counts from when it was heard, and an older one never replaces a newer', async (t) => {
  const m = new RoleMachine({ node: 'b', priority: 100, lease: false }, 0)
  const hb = (role: 'active' | 'standby', epoch: number) => ({ node: 'a', role, epoch, priority: 200, handover: false })
  m.heartbeat(100, 'p1', hb('active', 2), 90)
  t.match(m.state.peer, { alive: true, role: 'active', lastSeen: 90 })
  m.heartbeat(110, 'p1', hb('standby', 1), 80)
  t.match(m.state.peer, { role: 'active', epoch: 2, lastSeen: 90 }, 'the older heartbeat is ignored')
  m.tick(239)
  t.equal(m.state.peer.alive, true)
  m.tick(240)
  t.equal(m.state.peer.alive, false, 'dead interval counted from 90, not from 100')
})

t.test('a stop asked while the peer is still starting (init) waits for it to be standby and hands over to it', async (t) => {
  const m = new RoleMachine({ node: 'a', priority: 200, lease: false }, 0)
  for (let now = 0; now <= 400; now += 10) m.tick(now)
  t.equal(m.state.role, 'active', 'alone: active')
  const hb = (role: 'init' | 'standby' | 'active', epoch: number) => ({ node: 'b', role, epoch, priority: 100, handover: false })
  m.heartbeat(410, 'p1', hb('init', 0))
  const stop = m.stop(410)
  t.equal(m.state.role, 'handing-over', 'the starting peer will take it: no stop without a holder')
  t.notOk(stop.some((a) => a.type === 'release'), 'the VIPs stay until the peer is active')
  t.ok(m.advert().handover, 'its heartbeats ask the peer to take over')
  m.heartbeat(450, 'p1', hb('standby', 1))
  t.equal(m.state.role, 'handing-over')
  const done = m.heartbeat(500, 'p1', hb('active', 2))
  t.equal(m.state.role, 'stopped', 'stopped once the peer is active at a higher epoch')
  t.ok(done.some((a) => a.type === 'release'), 'and only then drops the VIPs')
})

t.test('a peer that says it stopped without handing over (it heard no standby) is replaced at once, not after its lease', async (t) => {
  const sim = new PairSim()
  await sim.advance(1000)
  sim.heartbeats(false)
  await sim.advance(300)
  t.equal(sim.b.role, 'standby', 'heartbeats cut, the lease renewed: a partition, b stays standby')
  sim.a.run(sim.a.m.stop(sim.clock.now()))
  t.equal(sim.a.role, 'stopped', 'a hears no standby: it stops, drops the VIPs and frees the lease')
  sim.a.running = false // its process lives on a moment, saying "stopped" (below)
  const tell = () => sim.b.run(sim.b.m.heartbeat(sim.clock.now(), 'p1', sim.a.m.advert()))
  const healedAt = sim.clock.now()
  tell()
  for (let i = 0; i < 10 && sim.b.role !== 'active'; i++) {
    await sim.advance(20)
    tell()
  }
  t.equal(sim.b.role, 'active', 'b takes over on hearing "stopped"')
  t.ok(sim.clock.now() - healedAt < 100, `within a heartbeat or two (${sim.clock.now() - healedAt} ms), not after the lease's ttl`)
})

t.test('one failed lease command is not a lost Redis (a main-loop stall times out the one in flight); two in a row are', async (t) => {
  const sim = new PairSim()
  await sim.advance(1000)
  sim.b.redisLink = false
  await sim.advance(50) // one read-lease fails
  sim.b.redisLink = true
  await sim.advance(500)
  t.notOk(sim.b.alerts.includes('redis-lost'), 'no alert for one failure')
  t.equal(sim.b.m.state.redis.up, true)
  sim.b.redisLink = false
  await sim.advance(200)
  t.ok(sim.b.alerts.includes('redis-lost'), 'failures in a row: Redis is lost')
  t.equal(sim.b.m.state.redis.up, false)
})

t.test('a main-loop stall of half a dead interval or more is logged once, a shorter one not', async (t) => {
  const m = new RoleMachine({ node: 'a', priority: 100, heartbeatIntervalMs: 50, deadIntervalMs: DEAD, leaseTtlMs: TTL, leaseMarginMs: 250, lease: false }, 0)
  const logs = (actions: RoleAction[]) => actions.filter((a) => a.type === 'log' && a.message === 'main loop stalled')
  t.same(logs(m.stall(100, DEAD / 2 - 1)), [], 'under half a dead interval: nothing said')
  t.match(logs(m.stall(500, 400)), [{ level: 'warn', fields: { node: 'a', ms: 400, role: 'init' } }], 'one warn line with its length and the role')
})

t.test('a lease command in flight across a main-loop stall that then fails says nothing of Redis; failures after it do', async (t) => {
  const m = new RoleMachine({ node: 'b', priority: 100 }, 0)
  const free = { held: false, holder: null, epoch: 1, ttlMs: 0 }
  m.leaseReply(10, { op: 'read', sentAt: 5, view: free })
  t.equal(m.state.redis.up, true)
  m.stall(3000, 2900) // the loop was stuck from 100 to 3000
  m.leaseReply(3001, { op: 'read', sentAt: 90, error: 'Command timed out' })
  m.leaseReply(3002, { op: 'read', sentAt: 100, error: 'Command timed out' })
  t.equal(m.state.redis.up, true, 'commands sent before the stall timed out behind it: Redis not lost')
  const out = [...m.leaseReply(4300, { op: 'read', sentAt: 3050, error: 'Command timed out' }), ...m.leaseReply(5600, { op: 'read', sentAt: 4350, error: 'Command timed out' })]
  t.equal(m.state.redis.up, false, 'two sent after it failed: lost')
  t.match(out.filter((a) => a.type === 'alert'), [{ kind: 'redis-lost' }])
})
