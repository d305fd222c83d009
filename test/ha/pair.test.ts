// The pair driver with fakes: it ticks on the injected clock, runs lease actions and feeds the replies back, runs
// the effects one at a time, reports a main-loop stall, stops gracefully and closes every timer.
import t, { type Test } from 'tap'
import type { Clock } from '../../src/clock.js'
import type { LeaseStore, LeaseView } from '../../src/ha/lease.js'
import { Pair, type PairOptions } from '../../src/ha/pair.js'
import { createFakeClock, type FakeClock } from '../helpers/fake-clock.js'
import { FakeRedis } from '../helpers/pair-sim.js'

/** A LeaseStore over the in-memory lease; `down` makes every call fail as Redis unreachable would. */
function fakeLease(redis: FakeRedis, node: string, ttl: number) {
  const calls: string[] = []
  const store: LeaseStore & { calls: string[]; down: boolean; closed: boolean } = {
    calls,
    down: false,
    closed: false,
    async acquire(minEpoch, _role, stealIfStaleMs) {
      return run('acquire', () => redis.run(node, ttl, { type: 'acquire-lease', minEpoch, stealIfStaleMs }))
    },
    async renew(epoch) {
      return run('renew', () => redis.run(node, ttl, { type: 'renew-lease', epoch }))
    },
    async release(epoch) {
      return run('release', () => redis.run(node, ttl, { type: 'release-lease', epoch }))
    },
    async read() {
      return run('read', () => redis.run(node, ttl, { type: 'read-lease' }))
    },
    async close() {
      store.closed = true
    },
  }
  const run = (op: string, fn: () => LeaseView): LeaseView => {
    calls.push(op)
    if (store.down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'LVS_ERR_STORE_UNAVAILABLE' })
    return fn()
  }
  return store
}

function pair(t: Test, clock: Clock & { pending?(): number }, options: Partial<PairOptions> = {}) {
  const events: string[] = []
  const p = new Pair({
    config: { node: 'a', priority: 200 },
    clock,
    onTakeover: async (epoch) => void events.push(`takeover ${epoch}`),
    onAnnounce: async (epoch) => void events.push(`announce ${epoch}`),
    onRelease: async () => void events.push('release'),
    alert: (kind) => void events.push(`alert ${kind}`),
    log: (level, message) => void events.push(`${level} ${message}`),
    ...options,
  })
  t.teardown(() => p.close())
  return { p, events }
}

t.test('alone with Redis: takes the lease, takes over, renews; a peer active at a higher epoch makes it release', async (t) => {
  const clock = createFakeClock(0)
  const redis = new FakeRedis(clock)
  const lease = fakeLease(redis, 'a', 1000)
  const { p, events } = pair(t, clock, { lease })
  void p.start()
  await clock.advance(300)
  t.equal(p.state.role, 'active')
  t.ok(events.includes('takeover 1'))
  t.ok(events.includes('info role active'), 'the machine logs through the injected log')
  t.equal(redis.holder, 'a')
  await clock.advance(1000)
  t.ok(lease.calls.filter((c) => c === 'renew').length >= 4, 'renewed on its interval')
  t.match(p.advert(), { node: 'a', role: 'active', epoch: 1, priority: 200, handover: false })
  p.heartbeat('p1', { node: 'b', role: 'active', epoch: 9, priority: 100, handover: false })
  await clock.advance(20)
  t.equal(p.state.role, 'standby')
  t.equal(events.at(-1) === 'release' || events.includes('release'), true, 'the VIPs released')
})

t.test('Redis lost: one alert, heartbeats alone; effects run one at a time, in order', async (t) => {
  const clock = createFakeClock(0)
  const redis = new FakeRedis(clock)
  const lease = fakeLease(redis, 'a', 1000)
  lease.down = true
  let running = 0
  let overlap = false
  const slow = async (what: string) => {
    running++
    overlap ||= running > 1
    await new Promise((resolve) => setImmediate(resolve))
    events.push(what)
    running--
  }
  const { p, events } = pair(t, clock, { lease, onTakeover: (e) => slow(`takeover ${e}`), onRelease: () => slow('release') })
  void p.start()
  await clock.advance(500)
  t.equal(p.state.role, 'active', 'alone, Redis unreachable: heartbeats alone (no peer heard) decide')
  t.equal(events.filter((e) => e === 'alert redis-lost').length, 1)
  p.heartbeat('p1', { node: 'b', role: 'active', epoch: 5, priority: 100, handover: false })
  p.heartbeat('p1', { node: 'b', role: 'standby', epoch: 5, priority: 100, handover: false })
  await clock.advance(300)
  t.notOk(overlap, 'never two effects at once')
  t.same(events.filter((e) => e.startsWith('takeover') || e === 'release'), ['takeover 1', 'release', 'takeover 6'], 'in order')
})

t.test('after a main-loop stall a lease reply that comes before the first tick also finds the heartbeats heard meanwhile', async (t) => {
  const fake = createFakeClock(0)
  let skew = 0
  const clock: Clock & { advance: FakeClock['advance'] } = { ...fake, now: () => fake.now() + skew, advance: (ms) => fake.advance(ms) }
  const redis = new FakeRedis(fake)
  const base = fakeLease(redis, 'a', 1000)
  let hold = false
  let release: (() => void) | undefined
  const lease: LeaseStore = {
    ...base,
    renew: (epoch, role) => (hold ? new Promise<LeaseView>((resolve) => (release = () => resolve(base.renew(epoch, role)))) : base.renew(epoch, role)),
  }
  let p: Pair | undefined
  const pullHeartbeats = () => p!.heartbeat('p1', { node: 'b', role: 'standby', epoch: 1, priority: 100, handover: false }, clock.now())
  const made = pair(t, clock, { lease, config: { node: 'a', priority: 200, stallFenceMs: 2000 }, pullHeartbeats })
  p = made.p
  void p.start()
  await clock.advance(300)
  t.equal(p.state.role, 'active')
  hold = true
  await clock.advance(60) // a renew is on its way
  t.ok(release, 'a renew in flight')
  made.events.length = 0
  skew = 1500 // stuck 1.5 s; the renew's reply is the first thing the loop handles after it
  release!()
  await new Promise((resolve) => setImmediate(resolve))
  t.same(made.events.filter((e) => e === 'release' || e.startsWith('alert') || e.includes('peer lost')), [], 'no VIP dropped, no alert, no peer lost')
  t.equal(p.state.role, 'active')
})

t.test('an active that took over on heartbeats alone and then gets the lease at another epoch takes over again at it (the VIPs, announced, under the epoch its heartbeats will say)', async (t) => {
  const clock = createFakeClock(0)
  const redis = new FakeRedis(clock)
  redis.run('x', 1000, { type: 'acquire-lease', minEpoch: 0 }) // an earlier holder: Redis's epoch is ahead of ours
  redis.run('x', 1000, { type: 'release-lease', epoch: 1 })
  const lease = fakeLease(redis, 'a', 1000)
  lease.down = true
  const { p, events } = pair(t, clock, { lease })
  void p.start()
  await clock.advance(500)
  t.equal(p.state.role, 'active', 'Redis unreachable: heartbeats alone')
  t.same(events.filter((e) => e.startsWith('takeover')), ['takeover 1'])
  lease.down = false
  await clock.advance(300)
  t.equal(redis.holder, 'a', 'the lease taken once Redis is back')
  t.equal(p.state.epoch, 2, 'at the epoch Redis granted')
  t.same(events.filter((e) => e.startsWith('takeover')), ['takeover 1', 'takeover 2'], 'a takeover effect at the new epoch: main.ts lets the heartbeats say it once that has run')
  t.equal(p.advert().epoch, 2)
})

t.test('a late tick is reported as a main-loop stall: the VIPs drop until the lease is confirmed', async (t) => {
  const fake = createFakeClock(0)
  let skew = 0
  const clock: Clock & { advance: FakeClock['advance'] } = { ...fake, now: () => fake.now() + skew, advance: (ms) => fake.advance(ms) }
  const redis = new FakeRedis(fake)
  const { p, events } = pair(t, clock, { lease: fakeLease(redis, 'a', 1000) })
  void p.start()
  await clock.advance(300)
  t.equal(p.state.role, 'active')
  events.length = 0
  skew = 400 // the loop was blocked 400 ms: the next tick fires late
  await clock.advance(20)
  t.same(events.filter((e) => e.startsWith('takeover') || e === 'release' || e === 'alert self-fenced'), ['alert self-fenced', 'release', 'takeover 1'], 'dropped, confirmed, taken back (and announced)')
})

t.test('after a main-loop stall the tick first takes the heartbeats heard meanwhile: a standby that kept answering is not lost, and the active keeps the VIPs', async (t) => {
  const fake = createFakeClock(0)
  let skew = 0
  const clock: Clock & { advance: FakeClock['advance'] } = { ...fake, now: () => fake.now() + skew, advance: (ms) => fake.advance(ms) }
  const redis = new FakeRedis(fake)
  // The transport hears the standby off the main loop (a worker thread) all along, the stall included; the driver
  // gets those heartbeats only when it pulls them.
  let p: Pair | undefined
  const pullHeartbeats = () => p!.heartbeat('p1', { node: 'b', role: 'standby', epoch: 1, priority: 100, handover: false }, clock.now())
  const made = pair(t, clock, { lease: fakeLease(redis, 'a', 1000), config: { node: 'a', priority: 200, stallFenceMs: 2000 }, pullHeartbeats })
  p = made.p
  void p.start()
  await clock.advance(300)
  t.equal(p.state.role, 'active')
  made.events.length = 0
  // Stuck 1.5 s: past the fence deadline (ttl - margin = 750 ms after the last renew), under the stall limit (2 s),
  // which the heartbeats from the other thread kept the standby from seeing as a death.
  skew = 1500
  await clock.advance(20)
  t.equal(p.state.role, 'active', 'still active')
  t.ok(p.state.peer.alive, 'the standby heard during the stall is alive')
  t.same(made.events.filter((e) => e === 'release' || e.startsWith('alert') || e.includes('peer lost')), [], 'no VIP dropped, no alert, no peer lost')
  t.ok(made.events.includes('warn lease not renewed; the peer hears this director: heartbeats decide'), 'the lease lapsed meanwhile: heartbeats decide, then it is taken again')
  await clock.advance(100)
  t.equal(redis.holder, 'a', 'the lease is held again')
})

t.test('stop without a standby drops the VIPs and frees the lease; close clears every timer', async (t) => {
  const clock = createFakeClock(0)
  const redis = new FakeRedis(clock)
  const lease = fakeLease(redis, 'a', 1000)
  const { p, events } = pair(t, clock, { lease })
  void p.start()
  await clock.advance(300)
  t.equal(p.switchover(), false, 'no standby: a switchover is refused')
  const stopping = p.stop()
  await clock.advance(20)
  await stopping
  t.equal(p.state.role, 'stopped')
  t.ok(events.includes('release'))
  t.equal(redis.holder, null, 'the lease is free')
  await p.close()
  t.equal(clock.pending(), 0, 'no timer left')
  t.ok(lease.closed)
})

t.test('stop on the active with a standby hands over first', async (t) => {
  const clock = createFakeClock(0)
  const redis = new FakeRedis(clock)
  const { p, events } = pair(t, clock, { lease: fakeLease(redis, 'a', 1000) })
  void p.start()
  await clock.advance(300)
  const hb = (role: 'standby' | 'active', epoch: number) => p.heartbeat('p1', { node: 'b', role, epoch, priority: 100, handover: false })
  hb('standby', 1)
  let done = false
  const stopping = p.stop().then(() => (done = true))
  t.equal(p.state.role, 'handing-over')
  t.equal(p.advert().handover, true, 'the heartbeats now say "take over"')
  await clock.advance(20)
  t.equal(redis.holder, null, 'the lease was freed for the standby')
  t.notOk(done)
  t.notOk(events.includes('release'), 'the VIPs stay until the standby is active')
  redis.run('b', 1000, { type: 'acquire-lease', minEpoch: 1 })
  hb('active', 2)
  await clock.advance(20)
  await stopping
  t.ok(done)
  t.equal(p.state.role, 'stopped')
  t.ok(events.includes('release'))
})

t.test('without a lease store the machine runs on heartbeats alone and touches no Redis', async (t) => {
  const clock = createFakeClock(0)
  const { p, events } = pair(t, clock)
  void p.start()
  await clock.advance(300)
  t.equal(p.state.role, 'active')
  t.equal(p.state.redis.enabled, false)
  t.notOk(events.some((e) => e.includes('redis')))
})

t.test('a lease command that times out across a main-loop stall, its reply handled before any tick, is not a failure of Redis', async (t) => {
  const fake = createFakeClock(0)
  let skew = 0
  const clock: Clock & { advance: FakeClock['advance'] } = { ...fake, now: () => fake.now() + skew, advance: (ms) => fake.advance(ms) }
  const base = fakeLease(new FakeRedis(fake), 'a', 1000)
  let hold = false
  let timeOut: (() => void) | undefined
  const lease: LeaseStore = {
    ...base,
    renew: (epoch, role) => (hold ? new Promise<LeaseView>((_resolve, reject) => (timeOut = () => reject(new Error('Command timed out')))) : base.renew(epoch, role)),
  }
  const { p, events } = pair(t, clock, { lease, config: { node: 'a', priority: 200, stallFenceMs: 2000 } })
  void p.start()
  await clock.advance(300)
  t.equal(p.state.role, 'active')
  base.down = true // one renew fails: a blip
  const failedAt = base.calls.length
  for (let i = 0; i < 50 && base.calls.length === failedAt; i++) await clock.advance(10)
  base.down = false
  hold = true
  for (let i = 0; i < 50 && !timeOut; i++) await clock.advance(10)
  t.ok(timeOut, 'the next renew is in flight')
  skew = 1500 // stuck 1.5 s; the renew's timeout is the first thing the loop handles after it
  timeOut!()
  await new Promise((resolve) => setImmediate(resolve))
  t.same(events.filter((e) => e.includes('redis')), [], 'no redis lost, no alert: the second failure came from the stall')
  t.ok(events.includes('warn main loop stalled'), 'the stall is said')
})
