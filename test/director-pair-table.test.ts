// Two directors sharing their desired table through a real redis-server (each on its own in-memory kernel): a
// write on either reaches the other's table and kernel; writes on both at once are all kept, in one order; a
// stale If-Match is refused; Redis down refuses writes with a code and changes nothing while both keep serving;
// Redis restarted empty is refilled from the directors' table; a director that starts later (or with an edited
// config) takes the pair's table and gives its edits to the other.
import t, { type Test } from 'tap'
import { RedisTable } from '../src/table/redis-table.js'
import { startHarness, webConfig, type Harness } from './helpers/director-harness.js'
import { redisServer, type RedisServer } from './helpers/redis-server.js'

const WEB = 'tcp/192.0.2.100:80'

function shared(t: Test, redis: RedisServer): RedisTable {
  const rt = new RedisTable({ connection: { host: '127.0.0.1', port: redis.port }, cluster: 'pair', commandTimeoutMs: 1000, blockMs: 300 })
  t.teardown(() => rt.close())
  return rt
}

async function director(t: Test, redis: RedisServer, config: unknown = webConfig()): Promise<Harness> {
  const h = await startHarness(config, { shared: shared(t, redis) })
  t.teardown(() => h.close())
  return h
}

const table = (h: Harness) => h.director.exportTable()
const reals = (h: Harness) => table(h).services.find((s) => s.name === 'web')!.destinations.map((r) => `${r.address}:${r.port}=${r.weight}`)
const inKernel = (h: Harness, address: string) => h.weights(WEB).some((w) => w.startsWith(`${address}:`))

t.test("a write on either director reaches the other's table and kernel, at the same revision", async (t) => {
  const redis = await redisServer(t)
  const a = await director(t, redis)
  const b = await director(t, redis)
  t.same(table(b), table(a), 'the second director started from the table the first put in Redis')
  t.equal(a.director.status().store.kind, 'redis')

  await b.director.change({ op: 'add-real', name: 'web', body: { address: '192.0.2.14' } }, { actor: 'ops' })
  t.ok(inKernel(b, '192.0.2.14'), "in the writer's kernel when the write resolves")
  await a.until(() => inKernel(a, '192.0.2.14'), "the added real server in the other director's kernel")
  t.same(table(a), table(b), 'one table, one revision')
  const synced = a.director.audit({}).filter((e) => e.actor === 'peer')
  t.same(synced.map((e) => [e.action, e.target]), [['sync', 'service web']], 'the other director audits the change it took')
  t.equal(a.director.status().store.lastPeerChange?.revision, table(b).revision)
  t.match(a.director.status().store.position, { id: /^\d+-\d+$/, revision: table(b).revision }, 'the stream position it has read to')

  await a.director.change({ op: 'delete-real', name: 'web', real: '192.0.2.11:80' }, { actor: 'ops' })
  await b.until(() => !inKernel(b, '192.0.2.11'), 'the deleted real server gone from the other kernel')
  t.same(table(b), table(a))
})

t.test('writes on both directors at once are all kept, in one order, by both', async (t) => {
  const redis = await redisServer(t)
  const a = await director(t, redis)
  const b = await director(t, redis)
  const start = table(a).revision
  const writes = [11, 12, 13].flatMap((last, i) => [
    a.director.change({ op: 'patch-real', name: 'web', real: `192.0.2.${last}:80`, body: { weight: 10 + i } }, { actor: 'a' }),
    b.director.change({ op: 'add-real', name: 'web', body: { address: `192.0.2.${20 + i}`, weight: 3 } }, { actor: 'b' }),
  ])
  await Promise.all(writes)
  const want = start + writes.length
  await a.until(() => table(a).revision === want, 'A holds every write')
  await b.until(() => table(b).revision === want, 'B holds every write')
  t.same(table(a), table(b), 'the same table on both')
  t.same(reals(a).sort(), ['192.0.2.11:80=10', '192.0.2.12:80=11', '192.0.2.13:80=12', '192.0.2.20:80=3', '192.0.2.21:80=3', '192.0.2.22:80=3'], 'no write lost')
})

t.test('a director slow to follow the stream still gets its writes in while the other writes without pause', async (t) => {
  const redis = await redisServer(t)
  // A's follower takes 30 ms per change (a loaded machine): without the turn in Redis, each of its writes, made on
  // the revision it holds, would find B several writes further and lose every race.
  const slow = shared(t, redis)
  const follow = slow.follow.bind(slow)
  slow.follow = (from, h) => follow(from, { ...h, onChange: async (change, id) => { await new Promise((resolve) => setTimeout(resolve, 30)); await h.onChange(change, id) } })
  const a = await startHarness(webConfig(), { shared: slow })
  t.teardown(() => a.close())
  const b = await director(t, redis)
  let stop = false
  const steady = (async () => {
    let n = 0
    while (!stop && n < 400) await b.director.change({ op: 'patch-real', name: 'web', real: '192.0.2.11:80', body: { weight: 1 + (++n % 50) } }, { actor: 'b' })
    return n
  })()
  const mine: string[] = []
  try {
    for (const last of [30, 31, 32, 33, 34]) {
      await a.director.change({ op: 'add-real', name: 'web', body: { address: `192.0.2.${last}` } }, { actor: 'a' })
      mine.push(`192.0.2.${last}`)
    }
  } finally {
    stop = true
  }
  const bWrites = await steady
  t.same(mine.length, 5, 'every write on the slow director was made')
  t.ok(bWrites > 0 && bWrites < 400, `while the other director went on writing (${bWrites} writes, all made), not once it had stopped`)
  await b.until(() => mine.every((r) => inKernel(b, r)), "A's real servers in B's kernel")
  await a.until(() => table(a).revision === table(b).revision, 'A caught up')
  t.same(table(a), table(b), 'one table')
})

t.test('a write whose If-Match predates the other director\'s write is refused and changes nothing', async (t) => {
  const redis = await redisServer(t)
  const a = await director(t, redis)
  const b = await director(t, redis)
  const tag = (await b.director.real('web', '192.0.2.11:80')).etag
  const first = a.director.change({ op: 'patch-real', name: 'web', real: '192.0.2.11:80', body: { weight: 5 } }, { actor: 'a', ifMatch: tag })
  const second = b.director.change({ op: 'patch-real', name: 'web', real: '192.0.2.11:80', body: { weight: 7 } }, { actor: 'b', ifMatch: tag })
  const [ra, rb] = await Promise.allSettled([first, second])
  const refused = [ra, rb].filter((r): r is PromiseRejectedResult => r.status === 'rejected')
  t.equal(refused.length, 1, 'one of the two writes is refused')
  t.match((refused[0]!.reason as { code: string }).code, /^LVS_ERR_(STORE_CONFLICT|PRECONDITION)$/, 'with a conflict code')
  const want = table(a).revision === table(b).revision ? table(a).revision : Math.max(table(a).revision, table(b).revision)
  await a.until(() => table(a).revision === want, 'A settles')
  await b.until(() => table(b).revision === want, 'B settles')
  t.same(table(a), table(b), 'both hold the write that won')
  t.equal(reals(a)[0], ra.status === 'fulfilled' ? '192.0.2.11:80=5' : '192.0.2.11:80=7')
})

t.test('Redis down: writes are refused with 503 and change nothing, both keep serving; Redis back empty is refilled, not emptied', async (t) => {
  const redis = await redisServer(t)
  const a = await director(t, redis)
  const b = await director(t, redis)
  await a.director.change({ op: 'add-real', name: 'web', body: { address: '192.0.2.14' } }, { actor: 'ops' })
  await b.until(() => inKernel(b, '192.0.2.14'), 'B has the added real server')
  const before = table(a)
  const kernelBefore = a.weights(WEB)

  await redis.kill()
  const refused = a.director.change({ op: 'patch-real', name: 'web', real: '192.0.2.11:80', body: { weight: 9 } }, { actor: 'ops' })
  await t.rejects(refused, { code: 'LVS_ERR_STORE_UNAVAILABLE', statusCode: 503 }, 'a write is refused with the coded 503')
  t.same(table(a), before, 'the refused write changed nothing in the table')
  t.same(a.weights(WEB), kernelBefore, 'nor in the kernel')
  await a.until(() => !a.director.status().store.up, 'status shows the shared table is not followed')

  await redis.start(true) // empty: as after a restart without persistence
  await a.until(() => a.director.status().store.up, 'A follows again')
  await b.until(() => b.director.status().store.up, 'B follows again')
  t.same(table(a).services, before.services, 'A kept its table (an empty Redis is not "delete everything")')
  t.same(table(b).services, before.services, 'B too')
  const check = shared(t, redis)
  await check.ready()
  const snap = await check.snapshot()
  t.same(snap?.table.services, before.services, 'Redis was refilled with the pair\'s table')

  await b.director.change({ op: 'patch-real', name: 'web', real: '192.0.2.11:80', body: { weight: 9 } }, { actor: 'ops' })
  await a.until(() => reals(a)[0] === '192.0.2.11:80=9', 'writes go on and reach the other director')
})

t.test('a director that starts later takes the pair\'s table, and its config edits reach the other', async (t) => {
  const redis = await redisServer(t)
  const a = await director(t, redis)
  await a.director.change({ op: 'add-real', name: 'web', body: { address: '192.0.2.14' } }, { actor: 'ops' })

  const edited = webConfig()
  ;(edited.services as Array<Record<string, unknown>>).push({ name: 'dns', protocol: 'udp', address: '192.0.2.100', port: 53, destinations: [{ address: '192.0.2.31' }] })
  const b = await director(t, redis, edited)
  t.ok(reals(b).includes('192.0.2.14:80=1'), 'B has the real server A added before B started')
  t.ok(table(b).services.some((s) => s.name === 'dns'), 'B applied the service its config file adds')
  await a.until(() => table(a).services.some((s) => s.name === 'dns'), 'the edit reached A')
  t.same(table(a), table(b))
  t.ok(reals(a).includes('192.0.2.14:80=1'), "the API's change survived the other director's config edit")
})

t.test('a director that starts while Redis is down serves its config, and gives its table to Redis once Redis is back empty', async (t) => {
  const redis = await redisServer(t)
  await redis.kill()
  const a = await director(t, redis)
  t.same(reals(a), ['192.0.2.11:80=1', '192.0.2.12:80=2', '192.0.2.13:80=1'], 'the config is served')
  t.equal(a.director.status().store.up, true, 'not yet known to be down')
  await redis.start(true)
  const store = () => a.director.status().store
  await a.until(() => store().lastError !== undefined && store().up, 'A found Redis down, then followed it once it was back')
  const check = shared(t, redis)
  await check.ready()
  t.same((await check.snapshot())?.table.services, table(a).services, "Redis holds the director's table")
  const b = await director(t, redis)
  t.same(table(b).services, table(a).services, 'a director started next takes it')
})

t.test('of two directors only the one that may end drains (the active) writes a drain end; the other ends them once it is active', async (t) => {
  const redis = await redisServer(t)
  let activeIsA = true
  const start = async (may: () => boolean) => {
    const h = await startHarness(webConfig(), { shared: shared(t, redis), mayFinishDrains: may })
    t.teardown(() => h.close())
    return h
  }
  const a = await start(() => activeIsA)
  const b = await start(() => !activeIsA)
  const drainEnds = (h: Harness) => h.director.audit({}).filter((e) => e.actor === 'drain').map((e) => e.target)
  const draining = (h: Harness, real: string) => table(h).services[0]!.destinations.some((r) => `${r.address}:${r.port}` === real && r.admin === 'draining')

  await b.director.change({ op: 'patch-real', name: 'web', real: '192.0.2.11:80', body: { admin: 'draining' } }, { actor: 'ops' })
  await a.until(() => draining(a, '192.0.2.11:80'), 'the drain reached the active')
  await b.clock.advance(1100) // the standby's poll: no connections left, yet it leaves the end to the active
  t.ok(inKernel(b, '192.0.2.11'), 'the standby did not end it')
  await a.clock.advance(1100)
  await a.until(() => drainEnds(a).length > 0, 'the active ended it') // audited once Redis has it
  await b.until(() => !inKernel(b, '192.0.2.11'), "the active's drain end reached the standby")
  t.same(drainEnds(a), ['service web real 192.0.2.11:80'], 'one drain end, written by the active')
  t.same(drainEnds(b), [], 'none by the standby')

  activeIsA = false // B took over
  await a.director.change({ op: 'patch-real', name: 'web', real: '192.0.2.12:80', body: { admin: 'draining' } }, { actor: 'ops' })
  await b.until(() => draining(b, '192.0.2.12:80'), 'the drain reached the new active')
  await a.clock.advance(1100)
  t.ok(inKernel(a, '192.0.2.12'), 'the new standby leaves it')
  await b.clock.advance(1100)
  await b.until(() => drainEnds(b).length > 0, 'the new active ended it')
  await a.until(() => !inKernel(a, '192.0.2.12'), "the new active's drain end reached the standby")
  t.same(drainEnds(b), ['service web real 192.0.2.12:80'], 'ended by the new active')
  t.same(drainEnds(a), ['service web real 192.0.2.11:80'], 'not again by the old one')
  t.same(table(a), table(b))
})

t.test('a drain end Redis refuses (Redis down) is made once Redis is back', async (t) => {
  const redis = await redisServer(t)
  const a = await director(t, redis, webConfig({ drainTimeout: 5 }))
  a.active.set(`${WEB}|192.0.2.11:80`, 1)
  await a.director.change({ op: 'patch-real', name: 'web', real: '192.0.2.11:80', body: { admin: 'draining' } }, { actor: 'ops' })
  await redis.kill()
  await a.clock.advance(6000) // past its deadline: each poll's drain end is refused
  t.ok(inKernel(a, '192.0.2.11'), 'still there: its removal is not in Redis')
  t.ok((await a.director.real('web', '192.0.2.11:80')).drain, 'still draining, not forgotten')
  await redis.start(true)
  await a.until(() => a.director.status().store.up, 'A follows Redis again')
  await a.clock.advance(1100)
  await a.until(() => a.director.audit({}).some((e) => e.actor === 'drain'), 'ended at the next poll')
  t.notOk(inKernel(a, '192.0.2.11'), 'out of the kernel')
  t.match(a.director.audit({}).filter((e) => e.actor === 'drain'), [{ action: 'delete-real', target: 'service web real 192.0.2.11:80' }])
})
