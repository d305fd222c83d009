// Two director daemons sharing one real redis-server, as an operator runs a pair: a real server added through
// one director's API reaches the other's kernel; with Redis stopped both keep their kernel tables, a write
// answers 503 with its code and changes nothing; Redis back empty is refilled and writes go on. ipvsadm is the
// stand-in (test/fixtures/fake-ipvsadm.mjs): the lab runs the pair against the real kernel.
import t from 'tap'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { fake, kernelReaches, startDaemon } from './helpers/daemon-process.js'
import { redisServer } from './helpers/redis-server.js'

t.test('a director pair over Redis: a write on one reaches both kernels; Redis down refuses writes and keeps serving; Redis back empty is refilled', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lvs-pair-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const redis = await redisServer(t)
  const config = (name: string) => `
director:
  stateDir: ${dir}/${name}
  api: { listen: 127.0.0.1:0 }
  ipvsadm: { path: ${fake} }
  redis: { host: 127.0.0.1, port: ${redis.port}, cluster: web-pair, commandTimeout: 1 }
services:
  - name: web
    protocol: tcp
    address: 192.0.2.100
    port: 80
    check: { kind: on }
    destinations:
      - { address: 192.0.2.11 }
`
  const start = async (name: string) => {
    const file = join(dir, `${name}.yaml`)
    await writeFile(file, config(name))
    const env = { FAKE_IPVSADM_STATE: join(dir, `${name}.kernel`) }
    const d = startDaemon(file, env)
    t.teardown(() => { d.child.kill('SIGKILL') })
    const started = await d.waitFor((l) => l.msg === 'director started')
    return { d, api: started.api as string, kernel: async () => (await readFile(env.FAKE_IPVSADM_STATE, 'utf8').catch(() => '')).split('\n').filter((l) => l.startsWith('-a')) }
  }
  const a = await start('a')
  const b = await start('b')
  const has = (lines: string[], address: string) => lines.some((l) => l.includes(` -r ${address}:80 -g -w 1`)) // in, and up
  await kernelReaches(a.d, async () => has(await a.kernel(), '192.0.2.11'))
  await kernelReaches(b.d, async () => has(await b.kernel(), '192.0.2.11'))

  const post = (api: string, address: string) =>
    request(`${api}/v1/services/web/reals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address }) })
  const added = await post(b.api, '192.0.2.12')
  t.equal(added.statusCode, 201, 'the write on B is acknowledged')
  await added.body.dump()
  await kernelReaches(a.d, async () => has(await a.kernel(), '192.0.2.12'))
  t.ok(has(await a.kernel(), '192.0.2.12'), "the real server added through B's API is in A's kernel")
  const status = (await (await request(`${a.api}/v1/status`)).body.json()) as { revision: number; store: { kind: string; up: boolean; lastPeerChange?: { revision: number } } }
  t.match(status.store, { kind: 'redis', up: true, lastPeerChange: { revision: status.revision } }, "A's status shows Redis and the change it took from B")

  // Redis stops: both keep their kernel tables; a write is refused with its code and changes nothing.
  const kernelA = await a.kernel()
  await redis.kill()
  const refused = await post(a.api, '192.0.2.13')
  t.equal(refused.statusCode, 503, 'a write with Redis down is refused')
  t.match(await refused.body.json(), { code: 'LVS_ERR_STORE_UNAVAILABLE' })
  const web = (await (await request(`${a.api}/v1/services/web`)).body.json()) as { destinations: Array<{ key: string }> }
  t.same(web.destinations.map((r) => r.key), ['192.0.2.11:80', '192.0.2.12:80'], 'the refused write is not in the table')
  t.same(await a.kernel(), kernelA, 'nor in the kernel, which keeps serving')
  await a.d.waitFor((l) => l.msg.startsWith('the shared table cannot be followed'))

  // Redis back without its data: refilled from the directors' table; writes go on and reach the other.
  const mark = a.d.lines.length
  await redis.start(true)
  await a.d.waitFor((l) => l.msg === 'following the shared table again', mark)
  const again = await post(a.api, '192.0.2.13')
  t.equal(again.statusCode, 201, 'writes are taken again')
  await again.body.dump()
  await kernelReaches(b.d, async () => has(await b.kernel(), '192.0.2.13'))
  t.same((await b.kernel()).length, 3, "B's kernel has the pair's three real servers: nothing was lost or emptied")

  for (const { d } of [a, b]) {
    d.child.kill('SIGTERM')
    t.equal(await d.exited, 0, 'a clean stop')
  }
})

