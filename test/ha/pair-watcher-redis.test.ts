// `lvs-director watch` as an operator runs it on a third machine, with a director's config, against a real
// redis-server and a real webhook on loopback. Two real leases (src/ha/lease.ts) stand in for the directors and
// refresh their seen marks; when they stop, the marks expire and the watcher alerts: one director lost, both down,
// one back, none holding the lease, one active again. SIGTERM stops it cleanly (exit 0, Redis and timers closed).
// The reader alone: one cluster's marks, found by SCAN or for the named directors.
import t, { type Test } from 'tap'
import { EventEmitter, once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Lease } from '../../src/ha/lease.js'
import { PairMarks } from '../../src/ha/pair-marks.js'
import { startWatcher } from '../helpers/daemon-process.js'
import { redisServer, type RedisServer } from '../helpers/redis-server.js'

interface Received { kind: string; node: string; cluster: string; message: string; detail?: Record<string, unknown> }

async function webhook(t: Test) {
  const got: Received[] = []
  const events = new EventEmitter()
  const server = createServer((req, res) => {
    let text = ''
    req.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => {
      got.push(JSON.parse(text) as Received)
      res.end()
      events.emit('alert')
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/alerts`,
    got,
    /** Resolves with the first alert of `kind` (already received or to come). */
    async next(kind: string): Promise<Received> {
      for (;;) {
        const found = got.find((a) => a.kind === kind)
        if (found) return found
        await once(events, 'alert')
      }
    },
  }
}

/** A director as the watcher sees it: a lease that refreshes its seen mark every 50 ms (and holds the lease when active). */
async function director(t: Test, redis: RedisServer, node: string, active: boolean) {
  const lease = new Lease({ connection: { host: '127.0.0.1', port: redis.port }, cluster: 'web', node, ttlMs: 1000, seenTtlMs: 1000, commandTimeoutMs: 500 })
  await lease.ready()
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const d = {
    active,
    async refresh() {
      await (d.active ? lease.acquire(0, 'active') : lease.read('standby')).catch(() => {})
      if (!stopped) timer = setTimeout(() => void d.refresh(), 50)
    },
    /** As a crash: no more refreshes; its marks expire. */
    async stop() {
      stopped = true
      clearTimeout(timer)
      await lease.close()
    },
  }
  t.teardown(() => d.stop())
  await d.refresh()
  return d
}

t.test('the watcher alerts when one director, then both, are no longer seen in Redis, and when they are back; SIGTERM stops it', async (t) => {
  const redis = await redisServer(t)
  const hook = await webhook(t)
  const dir = await mkdtemp(join(tmpdir(), 'lvs-watch-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const config = join(dir, 'director.yaml')
  // dir-a's own config, as the watcher on the Redis host would be given it.
  await writeFile(config, JSON.stringify({
    director: {
      redis: { host: '127.0.0.1', port: redis.port, cluster: 'web' },
      pair: {
        node: 'dir-a', heartbeat: { key: 'k'.repeat(32), paths: [{ local: '127.0.0.1', peer: '127.0.0.2' }] },
        vips: [{ address: '192.0.2.100', interface: 'lo' }], alerts: { webhook: hook.url },
      },
    },
  }))
  const a = await director(t, redis, 'dir-a', true)
  const b = await director(t, redis, 'dir-b', false)

  const watcher = startWatcher([config, '--interval', '100', '--down-after', '500', '--name', 'watch-test'])
  t.teardown(() => { if (watcher.child.exitCode === null) watcher.child.kill('SIGKILL') })
  const started = await watcher.waitFor((l) => l.msg === 'watching the pair')
  t.match(started, { redis: `127.0.0.1:${redis.port}`, cluster: 'web', nodes: 'scan', webhook: true })
  await watcher.waitFor((l) => l.msg === 'the pair is seen in Redis: dir-a, dir-b')

  await b.stop()
  t.match(await hook.next('director-lost'), { node: 'watch-test', cluster: 'web', detail: { director: 'dir-b', role: 'standby' } }, 'the standby lost')
  await a.stop()
  const down = await hook.next('pair-down')
  t.match(down, { message: /both directors are down as seen from Redis/, detail: { lastSeen: { 'dir-a': { role: 'active' }, 'dir-b': { role: 'standby' } } } }, 'both down')

  const back = await director(t, redis, 'dir-b', false)
  t.match(await hook.next('pair-back'), { message: /dir-b seen in Redis/, detail: { directors: { 'dir-b': 'standby' } } }, 'one is back')
  t.match(await hook.next('no-active'), { detail: { directors: { 'dir-b': 'standby' } } }, 'seen, but no director holds the lease')
  back.active = true
  t.match(await hook.next('active-back'), { detail: { holder: 'dir-b' } }, 'it took the lease')
  t.same(hook.got.map((g) => g.kind), ['director-lost', 'pair-down', 'pair-back', 'no-active', 'active-back'], 'each change once, in order')
  t.equal(watcher.lines.filter((l) => l.msg.startsWith('alert: ')).length, 5, 'one log line per alert')

  watcher.child.kill('SIGTERM')
  t.equal(await watcher.exited, 0, 'SIGTERM: exit 0')
  t.ok(watcher.lines.some((l) => l.msg === 'watcher stopped'), 'it said it stopped')
  t.equal(watcher.stderr, '', 'nothing on stderr')
})

t.test('watch without Redis named is refused with a coded error', async (t) => {
  const watcher = startWatcher(['--interval', '100'])
  t.equal(await watcher.exited, 1)
  t.match(watcher.stderr, /LVS_ERR_INVALID_VALUE: invalid watch: give a director's config \(with director.redis\) or --redis/)
})

t.test("the reader finds one cluster's marks by SCAN, or the named directors' only; Redis gone is a coded error", async (t) => {
  const redis = await redisServer(t)
  const connection = { host: '127.0.0.1', port: redis.port }
  const leases = [['web', 'dir-a'], ['web', 'dir-b'], ['sip', 'dir-x']].map(([cluster, node]) => new Lease({ connection, cluster: cluster!, node: node!, ttlMs: 5000 }))
  t.teardown(() => Promise.all(leases.map((l) => l.close())))
  for (const l of leases) await l.ready()
  await leases[0]!.acquire(0, 'active')
  await leases[1]!.read('standby')
  await leases[2]!.read('standby')
  const marks = (nodes?: string[]) => {
    const m = new PairMarks({ connection, cluster: 'web', nodes })
    t.teardown(() => m.close())
    return m
  }
  const scan = marks()
  t.ok(await scan.ready(5000))
  t.same(await scan.read(), { seen: { 'dir-a': 'active', 'dir-b': 'standby' }, holder: 'dir-a', epoch: 1 }, 'by SCAN: web\'s two, not sip\'s')
  const named = marks(['dir-b', 'dir-c'])
  t.ok(await named.ready(5000))
  t.same(await named.read(), { seen: { 'dir-b': 'standby' }, holder: 'dir-a', epoch: 1 }, 'named: only those, when seen')
  await redis.kill()
  await t.rejects(scan.read(), { code: 'LVS_ERR_STORE_UNAVAILABLE' })
})
