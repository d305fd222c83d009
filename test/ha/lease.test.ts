// The lease in a real redis-server: a grant raises the epoch, a renew extends only the holder's grant, an expired
// lease goes to the next director with a higher epoch, a stale holder's renew is refused, release frees it for the
// peer, a Redis restarted empty never hands a director an epoch below the one it remembers, and a holder that
// stopped renewing (by Redis's clock) can be stolen from, atomically, while one still renewing cannot.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { Lease, type LeaseOptions } from '../../src/ha/lease.js'
import { redisServer, type RedisServer } from '../helpers/redis-server.js'

async function lease(t: Test, redis: RedisServer, node: string, options: Partial<LeaseOptions> = {}): Promise<Lease> {
  const l = new Lease({ connection: { host: '127.0.0.1', port: redis.port }, cluster: 'pair1', node, ttlMs: 5000, commandTimeoutMs: 500, ...options })
  t.teardown(() => l.close())
  await l.ready()
  return l
}

const code = (p: Promise<unknown>) => p.then(() => 'resolved', (err: { code?: string }) => err.code)

t.test('a free lease is granted with a new epoch; the holder renews it; the other director is refused', async (t) => {
  const redis = await redisServer(t)
  const a = await lease(t, redis, 'a')
  const b = await lease(t, redis, 'b')
  t.same(await a.read(), { held: false, holder: null, epoch: 0, ttlMs: 0 }, 'nothing in a new Redis')
  const granted = await a.acquire(0)
  t.match(granted, { held: true, holder: 'a', epoch: 1 })
  t.ok(granted.ttlMs > 4000 && granted.ttlMs <= 5000, 'with its ttl')
  t.match(await a.acquire(0), { held: true, holder: 'a', epoch: 1 }, 'acquiring what we hold keeps the epoch')
  t.match(await a.renew(1), { held: true, holder: 'a', epoch: 1 })
  t.match(await b.acquire(0), { held: false, holder: 'a', epoch: 1 }, 'the peer is refused while it is held')
  t.match(await b.renew(1), { held: false, holder: 'a' }, 'and cannot renew it')
  t.match(await b.read(), { held: false, holder: 'a', epoch: 1 })
})

t.test('an expired lease goes to the other director with a higher epoch; the stale holder cannot renew it', async (t) => {
  const redis = await redisServer(t)
  const a = await lease(t, redis, 'a', { ttlMs: 100 })
  const b = await lease(t, redis, 'b', { ttlMs: 100 })
  t.match(await a.acquire(0), { held: true, epoch: 1 })
  await sleep(150)
  t.match(await b.read(), { holder: null, epoch: 1, ttlMs: 0 }, 'expired: free, the epoch stays')
  t.match(await b.acquire(0), { held: true, holder: 'b', epoch: 2 }, 'taken with the epoch bumped')
  t.match(await a.renew(1), { held: false, holder: 'b', epoch: 2 }, "the stale holder's renew is refused")
  await sleep(150)
  t.match(await a.renew(1), { held: false, holder: null, epoch: 2 }, 'and stays refused once it is free again')
  t.match(await a.acquire(0), { held: true, holder: 'a', epoch: 3 }, 'a new grant to a: a new epoch')
})

t.test('a holder that renews at the wrong epoch is refused (held only at the epoch it was granted)', async (t) => {
  const redis = await redisServer(t)
  const a = await lease(t, redis, 'a')
  t.match(await a.acquire(0), { epoch: 1 })
  t.match(await a.renew(7), { held: false, holder: 'a', epoch: 1 })
})

t.test('release frees the lease for the peer at once; only the holder at its epoch can release', async (t) => {
  const redis = await redisServer(t)
  const a = await lease(t, redis, 'a')
  const b = await lease(t, redis, 'b')
  t.match(await a.acquire(0), { epoch: 1 })
  t.match(await b.release(1), { held: false, holder: 'a' }, 'not the holder: nothing happens')
  t.match(await a.release(2), { holder: 'a' }, 'the wrong epoch: nothing happens')
  t.match(await a.release(1), { held: false, holder: null, epoch: 1 })
  t.match(await b.acquire(0), { held: true, holder: 'b', epoch: 2 })
})

t.test('a Redis restarted empty never hands out an epoch below the one a director remembers', async (t) => {
  const redis = await redisServer(t)
  const a = await lease(t, redis, 'a')
  t.match(await a.acquire(0), { epoch: 1 })
  t.match(await a.acquire(0), { epoch: 1 })
  await redis.kill()
  t.equal(await code(a.renew(1)), 'LVS_ERR_STORE_UNAVAILABLE', 'Redis down: a coded error, at once')
  await redis.start(true)
  await a.ready()
  t.match(await a.renew(1), { held: false, holder: null, epoch: 0 }, 'Redis lost the lease and the epoch')
  t.match(await a.acquire(5), { held: true, holder: 'a', epoch: 6 }, 'a grant above the epoch the director remembers')
  const b = await lease(t, redis, 'b')
  await a.release(6)
  t.match(await b.acquire(0), { held: true, epoch: 7 }, 'and Redis goes on from there')
})

t.test("each director's last-seen mark lives for seenTtlMs after it last talked to Redis", async (t) => {
  const redis = await redisServer(t)
  const a = await lease(t, redis, 'a', { seenTtlMs: 100 })
  const b = await lease(t, redis, 'b', { seenTtlMs: 100 })
  t.equal(await b.seen('a'), undefined, 'never seen')
  await a.acquire(0)
  await b.read()
  t.match(await b.seen('a'), { role: 'active' })
  t.match(await a.seen('b'), { role: 'standby' })
  await sleep(150)
  t.equal(await a.seen('b'), undefined, 'b gone quiet: its mark is gone')
  t.equal(await a.seen('a'), undefined, 'and a reading marks nothing')
})

t.test("read says how long ago, by Redis's clock, the holder last renewed", async (t) => {
  const redis = await redisServer(t)
  const a = await lease(t, redis, 'a')
  const b = await lease(t, redis, 'b')
  await a.acquire(0)
  t.ok((await b.read()).sinceRenewMs! < 50, 'just granted')
  await sleep(120)
  const later = (await b.read()).sinceRenewMs!
  t.ok(later >= 110 && later < 1000, `not renewed since (${later} ms)`)
  await a.renew(1)
  t.ok((await b.read()).sinceRenewMs! < 50, 'renewed')
  await a.release(1)
  t.equal((await b.read()).sinceRenewMs, undefined, 'free: nothing to say')
})

t.test('a steal takes the lease only from a holder stale by Redis\'s clock, with the epoch bumped; the old holder is refused', async (t) => {
  const redis = await redisServer(t)
  const a = await lease(t, redis, 'a')
  const b = await lease(t, redis, 'b')
  t.match(await a.acquire(0), { held: true, epoch: 1 })
  t.match(await b.acquire(0, 'standby', 100), { held: false, holder: 'a', epoch: 1 }, 'renewed just now: refused')
  await sleep(130)
  t.match(await b.acquire(0, 'standby'), { held: false, holder: 'a' }, 'without the steal argument: refused (its ttl has not run out)')
  t.match(await b.acquire(0, 'standby', 100), { held: true, holder: 'b', epoch: 2 }, 'stale: taken, at a new epoch')
  t.match(await a.renew(1), { held: false, holder: 'b', epoch: 2 }, "the old holder's renew is refused")
  t.match(await a.acquire(0, 'active', 100), { held: false, holder: 'b', epoch: 2 }, 'and it cannot steal it back from a fresh grant')
})

t.test('two stealers at once: exactly one wins, and the epoch moves once', async (t) => {
  const redis = await redisServer(t)
  const a = await lease(t, redis, 'a')
  const b = await lease(t, redis, 'b')
  const c = await lease(t, redis, 'c')
  for (let round = 0; round < 5; round++) {
    const epoch = (await a.acquire(0)).epoch // a holds it, then stops renewing
    await sleep(110)
    const [vb, vc] = await Promise.all([b.acquire(0, 'standby', 100), c.acquire(0, 'standby', 100)])
    t.equal([vb, vc].filter((v) => v.held).length, 1, `round ${round}: one wins`)
    t.same([vb.epoch, vc.epoch], [epoch + 1, epoch + 1], 'at one new epoch')
    const winner = vb.held ? b : c
    await winner.release(epoch + 1) // free for the next round
  }
})

t.test('a holder that keeps renewing keeps the lease against steals', async (t) => {
  const redis = await redisServer(t)
  const a = await lease(t, redis, 'a')
  const b = await lease(t, redis, 'b')
  await a.acquire(0)
  const renewing = setInterval(() => a.renew(1).catch(() => {}), 30) // one in flight at the end fails with the closed connection
  t.teardown(() => clearInterval(renewing))
  let stolen = 0
  // Stale after 300 ms: ten renews' room, so a busy host's late timer is not taken for a dead holder.
  for (const end = Date.now() + 600; Date.now() < end; await sleep(10)) if ((await b.acquire(0, 'standby', 300)).held) stolen++
  t.equal(stolen, 0, 'never stolen')
  t.match(await b.read(), { holder: 'a', epoch: 1 })
})

t.test('a holder that recorded no renew time (an older version) is never stolen from: its ttl decides', async (t) => {
  const redis = await redisServer(t)
  const a = await lease(t, redis, 'a', { ttlMs: 400 })
  const b = await lease(t, redis, 'b', { ttlMs: 400 })
  await a.acquire(0)
  const raw = new Redis({ port: redis.port, host: '127.0.0.1' })
  t.teardown(() => raw.disconnect())
  await raw.del('lvs:{pair1}:renewed')
  await sleep(150)
  const seen = await b.acquire(0, 'standby', 100)
  t.match(seen, { held: false, holder: 'a' })
  t.equal(seen.sinceRenewMs, undefined)
  await sleep(300)
  t.match(await b.acquire(0, 'standby', 100), { held: true, epoch: 2 }, 'after the ttl it is free')
})

t.test('names that would break the keys are refused', async (t) => {
  t.throws(() => new Lease({ connection: {}, cluster: 'pair1', node: 'a b', ttlMs: 100 }), { code: 'LVS_ERR_INVALID_VALUE' })
  t.throws(() => new Lease({ connection: {}, cluster: 'p}', node: 'a', ttlMs: 100 }), { code: 'LVS_ERR_INVALID_VALUE' })
})
