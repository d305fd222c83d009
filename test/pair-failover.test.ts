// A director pair as an operator runs it, in network namespaces this test builds (a bridge joining two directors,
// Redis and a client): each director a daemon process with its VIP, heartbeats, lease and role, and a web server
// standing in for what the VIP serves (ipvsadm is the stand-in fake-ipvsadm.mjs: this host has no IPVS; the lab
// runs the pair against the real kernel). A client polls the VIP every 20 ms. The active dies (kill -9, its link
// down): the standby takes the VIP and announces it, and the client is answered by it. The old active comes back
// as standby (no preemption) and gives up the VIP its crash left. A planned switchover (SIGTERM on the active)
// leaves no moment without a holder, also when it comes right after the standby's start.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DaemonProcess, fake, spawnNode, startDaemon, type Line } from './helpers/daemon-process.js'
import { createNetns, ip } from './helpers/netns.js'

const NET = '10.77.0'
const VIP = `${NET}.50`
const probeJs = new URL('./lab/guest/http-probe.ts', import.meta.url).pathname

interface Reply extends Line { at: number; ok: boolean; body?: string; error?: string }

t.test('a director pair in namespaces: the standby takes the VIP when the active dies, the old active returns as standby, a planned switchover leaves no moment without a holder', { timeout: 300_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lvs-pair-ha-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // The network: a bridge in its own namespace, one veth per host.
  const sw = await createNetns(t, 'lvsw')
  await ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge')
  await ip('-n', sw, 'link', 'set', 'br0', 'up')
  const hosts = { a: 1, b: 2, redis: 100, client: 200 } as const
  const ns: Record<keyof typeof hosts, string> = { a: '', b: '', redis: '', client: '' }
  for (const [name, n] of Object.entries(hosts) as Array<[keyof typeof hosts, number]>) {
    ns[name] = await createNetns(t, `lv${name}`)
    await ip('-n', sw, 'link', 'add', `p${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns[name])
    await ip('-n', sw, 'link', 'set', `p${n}`, 'master', 'br0', 'up')
    await ip('-n', ns[name], 'addr', 'add', `${NET}.${n}/24`, 'dev', 'eth0')
    await ip('-n', ns[name], 'link', 'set', 'eth0', 'up')
  }
  const procs: DaemonProcess[] = []
  t.teardown(() => { for (const p of procs) p.child.kill('SIGKILL') })
  const started = (p: DaemonProcess) => (procs.push(p), p)

  const redis = started(new DaemonProcess(spawn('ip', ['netns', 'exec', ns.redis, 'redis-server', '--bind', `${NET}.100`, '--port', '6379', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })))
  await new Promise<void>((resolve) => {
    const check = (c: Buffer) => { if (c.toString().includes('Ready to accept connections')) { redis.child.stdout!.off('data', check); resolve() } }
    redis.child.stdout!.on('data', check)
  })
  // What the VIP serves: a web server on each director answering with its name.
  const web = (name: 'a' | 'b') => started(spawnNode(['-e', `require('http').createServer((q, s) => s.end('${name}')).listen(80, () => console.log(JSON.stringify({ msg: 'listening' })))`], {}, { netns: ns[name] }))
  for (const name of ['a', 'b'] as const) await web(name).waitFor((l) => l.msg === 'listening')

  const config = async (name: 'a' | 'b', priority: number) => {
    const file = join(dir, `${name}.yaml`)
    const peer = name === 'a' ? hosts.b : hosts.a
    await writeFile(file, `
director:
  stateDir: ${dir}/${name}
  ipvsadm: { path: ${fake} }
  redis: { host: ${NET}.100, port: 6379, cluster: pair-test }
  pair:
    node: ${name}
    priority: ${priority}
    heartbeat: { key: 0123456789abcdef-test-key, paths: [{ local: ${NET}.${hosts[name]}, peer: ${NET}.${peer} }], interval: 0.1, deadCount: 5 }
    vips: [{ address: ${VIP}, interface: eth0 }]
services:
  - { name: web, protocol: tcp, address: ${VIP}, port: 80, check: { kind: on }, destinations: [{ address: ${NET}.10 }] }
`)
    return file
  }
  const director = async (name: 'a' | 'b', priority: number) =>
    started(startDaemon(await config(name, priority), { FAKE_IPVSADM_STATE: join(dir, `${name}.kernel`) }, { netns: ns[name] }))
  const role = (d: DaemonProcess, r: string, from = 0) => d.waitFor((l) => l.msg === `role ${r}`, from)
  const holdsVip = async (name: 'a' | 'b') => (await ip('-n', ns[name], '-j', 'addr', 'show', 'dev', 'eth0')).includes(`"${VIP}"`)

  let a = await director('a', 150)
  await role(a, 'active')
  // Redis is reached (its lease decides with the heartbeats): a director that cannot follow it says so.
  const redisLost = (d: DaemonProcess) => d.lines.some((l) => l.msg.startsWith('the shared table cannot be followed') || l.msg === 'redis lost')
  const b = await director('b', 100)
  await role(b, 'standby')
  t.ok(await holdsVip('a'), 'the active holds the VIP')
  t.notOk(redisLost(a) || redisLost(b), 'both directors reach Redis')
  t.notOk(await holdsVip('b'), 'the standby does not')

  const probe = started(spawnNode([probeJs, '--interval', '20', '--timeout', '300', `http://${VIP}/`], {}, { netns: ns.client }))
  const replies = () => probe.lines as Reply[]
  await probe.waitFor((l) => (l as Reply).ok && (l as Reply).body === 'a')

  // The active dies: its process killed, its machine gone from the network.
  const killedAt = Date.now()
  a.child.kill('SIGKILL')
  await a.exited
  await ip('-n', ns.a, 'link', 'set', 'eth0', 'down')
  const took = await role(b, 'active')
  await probe.waitFor((l) => (l as Reply).ok && (l as Reply).body === 'b' && (l as Reply).at > killedAt)
  t.ok(await holdsVip('b'), 'the standby holds the VIP')
  const ok = replies().filter((r) => r.ok)
  const lastA = ok.filter((r) => r.body === 'a').at(-1)!.at
  const firstB = ok.find((r) => r.body === 'b')!.at
  t.comment(`failover: the client's last answer from a at +${lastA - killedAt} ms, first from b at +${firstB - killedAt} ms (gap ${firstB - lastA} ms; b's role line at +${took.time as number - killedAt} ms)`)
  t.ok(firstB > lastA, 'the client is answered by b after a died')

  // The old active comes back: it removes the VIP its crash left and stays standby (no preemption).
  await ip('-n', ns.a, 'link', 'set', 'eth0', 'up')
  a = await director('a', 150)
  await role(a, 'standby')
  t.notOk(await holdsVip('a'), 'the returning director gave up the VIP its crash left')
  t.ok(await holdsVip('b'), 'b keeps it')

  // Planned switchover: SIGTERM on the active hands over; no request fails.
  const before = replies().length
  const mark = a.lines.length
  b.child.kill('SIGTERM')
  t.equal(await b.exited, 0, 'b stopped cleanly')
  await role(a, 'active', mark)
  await probe.waitFor((l) => (l as Reply).ok && (l as Reply).body === 'a' && replies().indexOf(l as Reply) > before)
  const during = replies().slice(before)
  // Here the VIP's service is a web server on each director, so a connection opened to b whose next packets reach
  // a (its announcement came in between) is reset: with IPVS the sync daemon gives a that connection (the lab
  // proves no request fails there). Nothing else may fail: no request found no holder.
  const failed = during.filter((r) => !r.ok)
  t.ok(failed.length <= 1 && failed.every((r) => r.error === 'read ECONNRESET'), 'no request found the VIP without a holder during the switchover', { failed })
  t.notOk(await holdsVip('b'), 'the stopped director gave up the VIP')
  t.ok(await holdsVip('a'), 'a holds it')
  probe.child.kill('SIGTERM')
  a.child.kill('SIGTERM')
  t.equal(await a.exited, 0)
})
