// The pair's desired table in a real redis-server: a write is atomic and checks the revision, a write on one
// director reaches the other's follower in order, a follower catches up from its last id or reloads a snapshot
// when that id was trimmed or the table was replaced, Redis restarting (with its data, or empty) loses nothing
// acknowledged and deletes nothing, WAIT without enough replicas answers with the coded error and the revision,
// and a failover to a replica that missed a write makes followers reload the replica's table.
import t, { type Test } from 'tap'
import { EventEmitter, once } from 'node:events'
import { Redis } from 'ioredis'
import { normalizeServiceConfig, type DesiredService } from '../../src/config/service.js'
import { RedisTable, redisTableOptions, type FollowHandlers, type RedisTableOptions, type Snapshot } from '../../src/table/redis-table.js'
import type { PersistedTable, TableChange } from '../../src/table/state-file.js'
import { redisServer, type RedisServer } from '../helpers/redis-server.js'

const svc = (name: string, port: number, reals = ['192.0.2.11']): DesiredService =>
  normalizeServiceConfig({ name, protocol: 'tcp', address: '192.0.2.100', port, destinations: reals.map((address) => ({ address })) }, '', {})

const first = (): PersistedTable => ({ revision: 1, base: [svc('a', 80)], services: [svc('a', 80), svc('b', 81)], drains: { 'b|192.0.2.11:81': 1000 } })

/** A director's view of the table in Redis, once connected; closed in teardown. */
async function table(t: Test, redis: RedisServer, options: Partial<RedisTableOptions> = {}): Promise<RedisTable> {
  const rt = new RedisTable({ connection: { host: '127.0.0.1', port: redis.port }, cluster: 'pair1', commandTimeoutMs: 1000, blockMs: 1000, ...options })
  t.teardown(() => rt.close())
  await rt.ready()
  return rt
}

/** A change that adds (or replaces) one service, as the director records it. */
const put = (revision: number, s: DesiredService, drains: Record<string, number> = {}): TableChange =>
  ({ revision, services: { [s.name]: s }, drains: { [s.name]: drains } })

/** A change applied to a table the way a director applies it (a replaced service keeps its place). */
function applyChange(table: PersistedTable, change: TableChange): PersistedTable {
  const services = new Map(table.services.map((s) => [s.name, s]))
  const drains = { ...table.drains }
  for (const [name, s] of Object.entries(change.services)) {
    if (s) services.set(name, s)
    else services.delete(name)
  }
  for (const [name, reals] of Object.entries(change.drains)) {
    for (const id of Object.keys(drains)) if (id.startsWith(`${name}|`)) delete drains[id]
    for (const [real, since] of Object.entries(reals)) drains[`${name}|${real}`] = since
  }
  return { ...table, revision: change.revision, services: [...services.values()], drains }
}

/** A follower that keeps its own table, as the other director would, and logs what it heard. */
function follower(rt: RedisTable, start: Snapshot) {
  const events = new EventEmitter()
  const f = {
    table: start.table,
    log: [] as string[],
    /** Resolves once `done()` holds (checked after each event). */
    async until(done: () => boolean): Promise<void> {
      while (!done()) await once(events, 'event')
    },
  }
  const note = (entry: string) => {
    f.log.push(entry)
    events.emit('event')
  }
  const handlers: FollowHandlers = {
    onChange(change) {
      f.table = applyChange(f.table, change)
      note(`change ${change.revision}`)
    },
    onReset(s) {
      f.table = s.table
      note(`reset ${s.table.revision}`)
    },
    current: () => f.table,
    onState: (up, err) => note(up ? 'up' : `down ${(err as { code?: string }).code}`),
  }
  rt.follow(start.position, handlers)
  return f
}

const code = (p: Promise<unknown>) => p.then(() => 'resolved', (err: { code?: string }) => err.code)

t.test('a write is atomic and checks the revision: a stale one changes nothing', async (t) => {
  const redis = await redisServer(t)
  const rt = await table(t, redis)
  t.equal(await rt.snapshot(), undefined, 'an empty Redis holds no table')
  t.equal(await code(rt.write(put(2, svc('c', 82)), 1)), 'LVS_ERR_STORE_UNAVAILABLE', 'no write before a table is seeded')
  t.same(await rt.seed(first()), { seeded: true })
  t.same(await rt.seed({ ...first(), services: [] }), { seeded: false }, 'a Redis with a table keeps it')

  const id = await rt.write({ revision: 2, services: { b: svc('b', 81, ['192.0.2.12']), c: svc('c', 82) }, drains: { b: {}, c: { '192.0.2.11:82': 5 } } }, 1)
  const after = await rt.snapshot()
  t.equal(after?.table.revision, 2)
  t.equal(after?.position.id, id, 'the snapshot names the stream entry of the write')
  t.same(after?.table.services.map((s) => s.name), ['a', 'b', 'c'], 'a replaced service keeps its place, a new one goes last')
  t.same(after?.table.services[1]?.destinations.map((d) => d.address), ['192.0.2.12'])
  t.same(after?.table.drains, { 'c|192.0.2.11:82': 5 }, "b's drain ended, c's began")
  t.same(after?.table.base.map((s) => s.name), ['a'])

  const stale = rt.write({ revision: 2, services: { a: null }, drains: { a: {} } }, 1)
  await t.rejects(stale, { code: 'LVS_ERR_STORE_CONFLICT', statusCode: 409, revision: 2 })
  t.same(await rt.snapshot(), after, 'the stale write changed nothing')

  await rt.write({ revision: 3, services: { a: null }, drains: { a: {} } }, 2)
  t.same((await rt.snapshot())?.table.services.map((s) => s.name), ['b', 'c'], 'a delete')
})

t.test('the turn: a writer refused because the other wrote first holds the next write; the other is told busy until it is made or the turn lapses', async (t) => {
  const redis = await redisServer(t)
  const x = await table(t, redis)
  const y = await table(t, redis, { turnMs: 300 })
  await x.seed(first())
  await y.write(put(2, svc('c', 82)), 1)
  await t.rejects(x.write(put(2, svc('d', 83)), 1), { code: 'LVS_ERR_STORE_CONFLICT', revision: 2, busy: undefined }, 'x lost a race: a plain conflict, and x holds the next write')
  await t.rejects(y.write(put(3, svc('e', 84)), 2), { code: 'LVS_ERR_STORE_CONFLICT', revision: 2, busy: true }, 'y, at the right revision, is told busy')
  t.equal((await x.snapshot())?.table.revision, 2, 'and changed nothing')
  await x.write(put(3, svc('d', 83)), 2)
  await y.write(put(4, svc('e', 84)), 3)
  t.same((await y.snapshot())?.table.services.map((s) => s.name), ['a', 'b', 'c', 'd', 'e'], "x's write made at once, then y's")

  // A holder that never writes again: its turn lapses after turnMs, and y writes.
  await t.rejects(y.write(put(4, svc('f', 85)), 3), { code: 'LVS_ERR_STORE_CONFLICT', revision: 4 }, 'y lost a race with itself: y holds the turn now')
  await t.rejects(x.write(put(5, svc('g', 86)), 4), { code: 'LVS_ERR_STORE_CONFLICT', busy: true }, 'x is told busy')
  const raw = new Redis({ host: '127.0.0.1', port: redis.port })
  t.teardown(() => raw.disconnect())
  for (let i = 0; i < 100 && (await raw.exists('lvs:{pair1}:turn')) === 1; i++) await new Promise((resolve) => setTimeout(resolve, 50))
  await x.write(put(5, svc('g', 86)), 4)
  t.equal((await x.snapshot())?.table.revision, 5, 'once it lapsed, the other writes')
})

t.test('either director writes; each change reaches the other in order', async (t) => {
  const redis = await redisServer(t)
  const [a, b] = [await table(t, redis), await table(t, redis)]
  await a.seed(first())
  const fb = follower(b, (await b.snapshot())!)
  for (let rev = 2; rev <= 21; rev++) await (rev % 2 ? a : b).write(put(rev, svc(`s${rev}`, 1000 + rev)), rev - 1)
  await fb.until(() => fb.table.revision === 21)
  t.same(fb.log, Array.from({ length: 20 }, (_, i) => `change ${i + 2}`), 'every change, once, in order, no reset')
  t.same(fb.table, (await a.snapshot())!.table, "the follower's table is Redis's")
})

t.test('a follower closed while writes happened catches up from its last id', async (t) => {
  const redis = await redisServer(t)
  const a = await table(t, redis)
  await a.seed(first())
  const b1 = await table(t, redis)
  const f1 = follower(b1, (await b1.snapshot())!)
  for (let rev = 2; rev <= 4; rev++) await a.write(put(rev, svc(`s${rev}`, 1000 + rev)), rev - 1)
  await f1.until(() => f1.table.revision === 4)
  await b1.close()
  const where = (await a.snapshot())!.position // the id of revision 4: what b1 applied last

  for (let rev = 5; rev <= 9; rev++) await a.write(put(rev, svc(`s${rev}`, 1000 + rev)), rev - 1)
  const b2 = await table(t, redis)
  const f2 = follower(b2, { table: f1.table, position: where })
  await f2.until(() => f2.table.revision === 9)
  t.same(f2.log, ['change 5', 'change 6', 'change 7', 'change 8', 'change 9'], 'only what it missed, from the stream')
  t.same(f2.table, (await a.snapshot())!.table)
})

t.test('a follower whose last id was trimmed reloads a snapshot and goes on', async (t) => {
  const redis = await redisServer(t)
  const a = await table(t, redis, { streamMaxLen: 10 })
  await a.seed(first())
  const old = (await a.snapshot())!
  let rev = 1
  for (; rev < 301; rev++) await a.write(put(rev + 1, svc(`s${rev % 7}`, 1000 + rev)), rev) // 300 changes of 7 services
  const raw = new Redis(redis.port, '127.0.0.1')
  t.teardown(() => raw.disconnect())
  t.ok((await raw.xlen('lvs:{pair1}:stream')) < 250, 'MAXLEN ~ trimmed the stream')

  const b = await table(t, redis, { streamMaxLen: 10 })
  const fb = follower(b, old)
  await fb.until(() => fb.table.revision === 301)
  t.same(fb.log, ['reset 301'], 'one snapshot, no partial replay')
  t.same(fb.table, (await a.snapshot())!.table, 'the whole table')
  await a.write(put(302, svc('late', 2000)), 301)
  await fb.until(() => fb.table.revision === 302)
  t.same(fb.log.at(-1), 'change 302', 'then it follows the stream again')
})

t.test('Redis restarted mid-stream keeps every acknowledged write; writes while it is down fail and change nothing', async (t) => {
  const redis = await redisServer(t, { persist: true })
  const [a, b] = [await table(t, redis), await table(t, redis)]
  await a.seed(first())
  const fb = follower(b, (await b.snapshot())!)
  for (let rev = 2; rev <= 4; rev++) await a.write(put(rev, svc(`s${rev}`, 1000 + rev)), rev - 1)

  await redis.kill()
  await fb.until(() => fb.log.includes('down LVS_ERR_STORE_UNAVAILABLE'))
  await t.rejects(a.write(put(5, svc('lost', 3000)), 4), { code: 'LVS_ERR_STORE_UNAVAILABLE', statusCode: 503 })
  await redis.start()
  await a.ready()
  for (let rev = 5; rev <= 7; rev++) await a.write(put(rev, svc(`s${rev}`, 1000 + rev)), rev - 1)
  await fb.until(() => fb.table.revision === 7)

  t.same(fb.log.filter((e) => e.startsWith('change')), ['change 2', 'change 3', 'change 4', 'change 5', 'change 6', 'change 7'], 'every change once, in order')
  t.notOk(fb.log.some((e) => e.startsWith('reset')), 'no snapshot was needed')
  t.ok(fb.log.indexOf('up') > fb.log.indexOf('down LVS_ERR_STORE_UNAVAILABLE'), 'the follower saw Redis go (a coded error) and come back')
  const snap = (await a.snapshot())!
  t.notOk(snap.table.services.some((s) => s.name === 'lost'), 'the failed write left no trace')
  t.same(fb.table, snap.table)
})

t.test('Redis restarted empty is refilled from the last table, not taken as "delete everything"', async (t) => {
  const redis = await redisServer(t)
  const [a, b] = [await table(t, redis), await table(t, redis)]
  await a.seed(first())
  const before = (await a.snapshot())!
  const fb = follower(b, before)
  for (let rev = 2; rev <= 4; rev++) await a.write(put(rev, svc(`s${rev}`, 1000 + rev)), rev - 1)
  await fb.until(() => fb.table.revision === 4)
  const last = fb.table

  await redis.kill()
  await redis.start(true)
  await fb.until(() => fb.log.includes('reset 4'))
  await a.ready() // a's own connection comes back on its own time (b's did, for the reset)
  const refilled = (await a.snapshot())!
  t.same(refilled.table, last, 'Redis holds the last table again: nothing was deleted')
  t.same(fb.table, last, "the follower's table is unchanged")
  t.not(refilled.position.instance, before.position.instance, 'a new stream instance')

  await a.write(put(5, svc('after', 4000)), 4)
  await fb.until(() => fb.table.revision === 5)
  t.same(fb.log.at(-1), 'change 5', 'writes go on from the refilled revision')
  t.same(fb.table.services.map((s) => s.name), ['a', 'b', 's2', 's3', 's4', 'after'])
})

t.test('WAIT with too few replicas: the coded 503 with the revision; the write is in Redis', async (t) => {
  const redis = await redisServer(t)
  const rt = await table(t, redis, { replicas: 1, waitTimeoutMs: 100 })
  await rt.seed(first())
  await t.rejects(rt.write(put(2, svc('c', 82)), 1), { code: 'LVS_ERR_STORE_NOT_REPLICATED', statusCode: 503, revision: 2 })
  t.equal((await rt.snapshot())?.table.revision, 2, 'the client can read the revision to see whether it held')
})

t.test('a replaced table reaches the follower as one reset; a stale replace changes nothing', async (t) => {
  const redis = await redisServer(t)
  const [a, b] = [await table(t, redis), await table(t, redis)]
  await a.seed(first())
  const fb = follower(b, (await b.snapshot())!)
  await b.write(put(2, svc('c', 82)), 1)
  const whole: PersistedTable = { revision: 3, base: [svc('x', 90)], services: [svc('x', 90), svc('a', 80)], drains: { 'x|192.0.2.11:90': 7 } }
  await t.rejects(a.replaceAll({ ...whole, revision: 2 }, 1), { code: 'LVS_ERR_STORE_CONFLICT', revision: 2 })
  await a.replaceAll(whole, 2)
  await fb.until(() => fb.table.revision === 3)
  t.same(fb.log, ['change 2', 'reset 3'])
  t.same(fb.table, whole, 'services in their new order, base and drains')
})

t.test('WAIT with a replica; after a failover to a replica that missed a write, a follower reloads its table', async (t) => {
  const redis = await redisServer(t)
  const replica = await redisServer(t, { replicaOf: redis.port })
  await redis.logged('Synchronization with replica') // the master streams to it (disk-based sync: at once)
  const a = await table(t, redis, { replicas: 1, waitTimeoutMs: 300 })
  await a.seed(first())
  for (let rev = 2; rev <= 4; rev++) await a.write(put(rev, svc(`s${rev}`, 1000 + rev)), rev - 1) // each confirmed by the replica

  // The replica is promoted (a failover) and no longer gets the master's writes.
  const raw = new Redis(replica.port, '127.0.0.1')
  t.teardown(() => raw.disconnect())
  await raw.replicaof('NO', 'ONE')
  await t.rejects(a.write(put(5, svc('s5', 1005)), 4), { code: 'LVS_ERR_STORE_NOT_REPLICATED', revision: 5 })

  // A director that applied revision 5 from the old master now reads the promoted replica.
  const b = await table(t, replica)
  const fb = follower(b, (await a.snapshot())!)
  await fb.until(() => fb.log.length > 0)
  t.same(fb.log, ['reset 4'], 'the unconfirmed revision 5 is gone; the confirmed ones are kept')
  t.same(fb.table.services.map((s) => s.name), ['a', 'b', 's2', 's3', 's4'])
})

t.test('AUTH: a password in the options or in a redis:// URL; pairs with other names share the Redis', async (t) => {
  const redis = await redisServer(t, { password: 's3cret pass' })
  const a = await table(t, redis, { connection: { host: '127.0.0.1', port: redis.port, password: 's3cret pass' } })
  const b = await table(t, redis, { connection: { url: `redis://:${encodeURIComponent('s3cret pass')}@127.0.0.1:${redis.port}` }, cluster: 'pair2' })
  await a.seed(first())
  t.equal(await b.snapshot(), undefined, "another pair's name sees no table")
  await b.seed({ ...first(), revision: 7, services: [svc('z', 99)] })
  t.same((await a.snapshot())?.table.services.map((s) => s.name), ['a', 'b'])
  t.same((await b.snapshot())?.table.services.map((s) => s.name), ['z'])
  t.throws(() => new RedisTable({ connection: {}, cluster: 'a}b' }), { code: 'LVS_ERR_INVALID_VALUE' }, 'a name that would break the hash tag')
})

t.test('the config\'s redis settings become the connection: secrets and TLS files read, times in ms', async (t) => {
  const files: Record<string, string> = { '/pass': 's3cret\nignored\n', '/ca.pem': 'CA', '/sp': 'sent' }
  const read = (path: string) => Buffer.from(files[path] ?? '')
  const o = redisTableOptions({ host: 'r', port: 6380, passwordFile: '/pass', tls: { ca: '/ca.pem' }, cluster: 'web', replicas: 1, waitTimeout: 0.5, commandTimeout: 3, streamMaxLen: 500 }, read)
  t.match(o, { cluster: 'web', replicas: 1, waitTimeoutMs: 500, commandTimeoutMs: 3000, streamMaxLen: 500, connection: { host: 'r', port: 6380, password: 's3cret' } })
  t.equal(String((o.connection.tls as { ca: Buffer }).ca), 'CA')
  const s = redisTableOptions({ sentinels: [{ host: 'a', port: 26379 }], name: 'm', sentinelPasswordFile: '/sp', tls: true, cluster: 'lvs', replicas: 0, waitTimeout: 1, commandTimeout: 2, streamMaxLen: 10000 }, read)
  t.match(s.connection, { sentinels: [{ host: 'a', port: 26379 }], name: 'm', sentinelPassword: 'sent', tls: true, sentinelTls: true })
})
