// Two pair drivers with real leases in a real redis-server, heartbeats wired directly: one becomes active, a
// crash of the active hands the VIPs to the other once it is silent and its lease stale (Redis's clock), a holder
// still renewing with the heartbeats cut is never stolen from, and a planned switchover never leaves the VIPs on
// neither. Real time, generous bounds.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { systemClock } from '../../src/clock.js'
import { Lease } from '../../src/ha/lease.js'
import { Pair } from '../../src/ha/pair.js'
import type { RoleConfig } from '../../src/ha/role.js'
import { redisServer, type RedisServer } from '../helpers/redis-server.js'

interface Node {
  pair: Pair
  vips: boolean
  events: string[]
  beating: boolean
}

const config = (node: string, priority: number): RoleConfig =>
  ({ node, priority, heartbeatIntervalMs: 20, deadIntervalMs: 100, leaseTtlMs: 1000, leaseMarginMs: 300, driftMarginMs: 50, renewIntervalMs: 50, handoverTimeoutMs: 1000 }) // staleMs: 150

function director(t: Test, redis: RedisServer, node: string, priority: number): Node {
  const n = { vips: false, events: [] as string[], beating: true } as unknown as Node
  const lease = new Lease({ connection: { host: '127.0.0.1', port: redis.port }, cluster: 'pair1', node, ttlMs: 1000, commandTimeoutMs: 250 })
  n.pair = new Pair({
    config: config(node, priority),
    clock: systemClock,
    lease,
    tickMs: 5,
    onTakeover: async (epoch) => void ((n.vips = true), n.events.push(`takeover ${epoch}`)),
    onAnnounce: async (epoch) => void n.events.push(`announce ${epoch}`),
    onRelease: async () => void ((n.vips = false), n.events.push('release')),
    alert: (kind) => void n.events.push(`alert ${kind}`),
    log: () => {},
  })
  t.teardown(() => n.pair.close())
  return n
}

/** Heartbeats both ways every 20 ms while both beat; stopped in teardown. */
function wire(t: Test, a: Node, b: Node): void {
  const timer = setInterval(() => {
    if (a.beating && b.beating) {
      b.pair.heartbeat('p1', a.pair.advert())
      a.pair.heartbeat('p1', b.pair.advert())
    }
  }, 20)
  t.teardown(() => clearInterval(timer))
}

async function until(what: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(5)) if (what()) return true
  return what()
}

t.test('two directors on one Redis: one active; the active crashes, the other takes over once it is silent and stale', async (t) => {
  const redis = await redisServer(t)
  const a = director(t, redis, 'a', 200)
  const b = director(t, redis, 'b', 100)
  wire(t, a, b)
  void a.pair.start()
  void b.pair.start()
  t.ok(await until(() => a.vips, 3000), 'a (higher priority) is active')
  await sleep(300)
  t.notOk(b.vips, 'b stays standby')
  t.equal(b.pair.state.role, 'standby')
  // a crashes: no more heartbeats, ticks or renews
  const epoch = a.pair.state.epoch
  a.beating = false
  await a.pair.close()
  const crashed = Date.now()
  t.ok(await until(() => b.vips, 5000), 'b takes over')
  const took = Date.now() - crashed
  t.ok(took >= 80, `not before the lease could be stale (${took} ms)`)
  t.ok(took < 600, `long before its ttl (${took} ms; dead 100, stale 150)`)
  t.equal(b.events.filter((e) => e.startsWith('takeover')).length, 1)
  t.ok(b.pair.state.epoch > epoch, 'at a higher epoch')
  t.ok(b.events.includes('alert standby-lost'), 'and alerts that the pair has no standby')
})

t.test('a planned switchover through real Redis: the VIPs are never on neither', async (t) => {
  const redis = await redisServer(t)
  const a = director(t, redis, 'a', 200)
  const b = director(t, redis, 'b', 100)
  wire(t, a, b)
  void a.pair.start()
  void b.pair.start()
  t.ok(await until(() => a.vips && a.pair.state.peer.role === 'standby', 3000))
  let neither = 0
  const watch = setInterval(() => void (!a.vips && !b.vips && neither++), 1)
  t.teardown(() => clearInterval(watch))
  t.equal(a.pair.switchover(), true)
  t.ok(await until(() => b.vips && !a.vips, 3000), 'b holds them, a dropped them')
  t.equal(neither, 0, 'never on neither')
  t.equal(a.pair.state.role, 'standby')
  t.same(a.events.filter((e) => e.startsWith('alert')), [])
})

t.test('heartbeats cut, the active still renewing: a partition, never a steal', async (t) => {
  const redis = await redisServer(t)
  const a = director(t, redis, 'a', 200)
  const b = director(t, redis, 'b', 100)
  wire(t, a, b)
  void a.pair.start()
  void b.pair.start()
  t.ok(await until(() => a.vips && b.pair.state.role === 'standby', 3000))
  const epoch = a.pair.state.epoch
  a.beating = false // every heartbeat path cut; both still reach Redis
  await sleep(1500)
  t.notOk(b.vips, 'b never takes over')
  t.ok(a.vips, 'a keeps them')
  t.ok(b.events.includes('alert partition'), 'b alerts a partition')
  t.equal(a.pair.state.epoch, epoch, 'the epoch never moved')
})
