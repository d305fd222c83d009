// The heartbeat transport over real UDP on loopback (IPv4 and IPv6): two instances play the two directors.
import t, { type Test } from 'tap'
import { createSocket } from 'node:dgram'
import { randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { extname } from 'node:path'
import { startHeartbeat, type Heartbeat, type HeartbeatOptions, type PeerEvent, type StallEvent } from '../../src/ha/heartbeat.js'
import { clusterTag, decodeHeartbeat, destinationBytes, encodeHeartbeat } from '../../src/ha/heartbeat-wire.js'
import { blockMainThread, freePort, KEY, pairOptions, pairPorts, until, untilPaths, type PathView } from '../helpers/heartbeat-pair.js'

const aliveAs = (node: string) => (p: PathView) => p.alive && p.state?.node === node
const silent = (p: PathView) => !p.alive

/** Starts a heartbeat closed at the end of the test. */
async function started(t: Test, options: HeartbeatOptions): Promise<Heartbeat> {
  const hb = await startHeartbeat(options)
  t.teardown(() => hb.close())
  return hb
}

/** Sends datagrams to 127.0.0.1:`port` from a socket of its own. */
async function sendRaw(port: number, ...datagrams: Buffer[]): Promise<void> {
  const socket = createSocket('udp4')
  for (const d of datagrams) await new Promise<void>((resolve, reject) => socket.send(d, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())))
  await new Promise<void>((resolve) => socket.close(() => resolve()))
}

t.test('two directors hear each other on every path, and setState changes what the peer sees', async (t) => {
  const ports = await pairPorts()
  const a = await started(t, pairOptions('a', ports))
  const b = await started(t, pairOptions('b', ports))
  const heardByA = await untilPaths(a, aliveAs('b'))
  await untilPaths(b, aliveAs('a'))
  t.same(heardByA.map((e) => e.path).sort(), ['v4', 'v6'])
  t.same(heardByA[0]!.state, { node: 'b', role: 'standby', epoch: 1, priority: 100 })
  t.equal(heardByA[0]!.boot, b.boot, 'the event names the peer boot')
  const stats = a.stats()
  t.equal(stats.stalled, false)
  for (const p of stats.paths) {
    t.ok(p.sent > 0 && p.received > 0, `${p.name}: sent and received`)
    t.equal(p.forged + p.replayed + p.sendErrors, 0, `${p.name}: nothing dropped`)
    t.ok(p.lastHeardMs !== undefined && p.lastHeardMs <= performance.now() && p.lastHeardMs > performance.now() - 5000, `${p.name}: last heard on this thread's clock`)
  }
  t.match(stats.paths.map((p) => p.local), ['127.0.0.1:' + ports.a4, `[::1]:${ports.a6}`])

  a.setState({ node: 'a', role: 'active', epoch: 5, priority: 200, handover: true })
  const seen = await untilPaths(b, (p) => p.alive && p.state?.epoch === 5)
  t.same(seen.map((e) => e.state), [
    { node: 'a', role: 'active', epoch: 5, priority: 200, handover: true },
    { node: 'a', role: 'active', epoch: 5, priority: 200, handover: true },
  ])
  t.throws(() => a.setState({ node: '', role: 'x', epoch: 1, priority: 1 }), { code: 'LVS_ERR_HEARTBEAT_STATE' })
  t.throws(() => a.setState({ node: 'a', role: 'x', epoch: -1, priority: 1 }), { code: 'LVS_ERR_HEARTBEAT_STATE' })
  await a.close()
  await a.close() // idempotent
  t.throws(() => a.setState({ node: 'a', role: 'x', epoch: 1, priority: 1 }), { code: 'LVS_ERR_HEARTBEAT_CLOSED' })
})

t.test('closing one director makes the other report every path silent within the dead interval', async (t) => {
  const ports = await pairPorts()
  const a = await started(t, pairOptions('a', ports))
  const b = await started(t, pairOptions('b', ports))
  await untilPaths(a, aliveAs('b'))
  await b.close()
  const events = await untilPaths(a, silent)
  t.same(events.map((e) => [e.path, e.alive, e.state]), [['v4', false, undefined], ['v6', false, undefined]])
  const now = performance.now()
  for (const p of a.stats().paths) {
    // Silent no sooner than the dead interval (150 ms) after the last heartbeat, and not much later.
    t.ok(now - p.lastHeardMs! >= 150, `${p.name}: silent after the dead interval`)
    t.ok(now - p.lastHeardMs! < 3000, `${p.name}: reported soon after it`)
    t.notOk(p.state, `${p.name}: no state while silent`)
  }
})

t.test('a forged heartbeat is dropped and counted and does not make a path alive', async (t) => {
  const port = await freePort('127.0.0.1')
  const peerPort = await freePort('127.0.0.1')
  const b = await started(t, { paths: [{ name: 'v4', local: `127.0.0.1:${port}`, peer: `127.0.0.1:${peerPort}` }], key: KEY, cluster: 'test', state: { node: 'b', role: 'standby', epoch: 1, priority: 1 } })
  const events: PeerEvent[] = []
  b.onPeer((e) => events.push(e))
  const packet = { boot: randomBytes(16), seq: 1, echoBoot: Buffer.from(b.boot, 'hex'), echoSeq: 1, to: destinationBytes('127.0.0.1', port), payload: JSON.stringify({ node: 'x', role: 'active', epoch: 9, priority: 1 }) }
  const wrongKey = encodeHeartbeat(packet, Buffer.from('another key of 32 bytes, no good'), clusterTag('test'))
  const wrongCluster = encodeHeartbeat(packet, Buffer.from(KEY), clusterTag('other'))
  const wrongVersion = encodeHeartbeat(packet, Buffer.from(KEY), clusterTag('test'))
  wrongVersion[4] = 2
  const flipped = encodeHeartbeat(packet, Buffer.from(KEY), clusterTag('test'))
  flipped.writeUInt8(flipped.readUInt8(flipped.length - 40) ^ 1, flipped.length - 40) // a payload byte: the MAC no longer holds
  await sendRaw(port, wrongKey, wrongCluster, wrongVersion, flipped, Buffer.from('not a heartbeat'))
  await until(() => b.stats().paths[0]!.forged === 5, 'five forged datagrams counted')
  const p = b.stats().paths[0]!
  t.equal(p.alive, false)
  t.equal(p.received, 0)
  t.equal(p.lastHeardMs, undefined)
  t.same(events, [], 'no event')
})

t.test('a replayed heartbeat, or one held back and delivered late, is dropped and counted', async (t) => {
  // The test plays the peer with the key: it hears B's heartbeats and answers with its own, echoing them.
  const [bPort, peerPort] = [await freePort('127.0.0.1'), await freePort('127.0.0.1')]
  const b = await started(t, { paths: [{ name: 'v4', local: `127.0.0.1:${bPort}`, peer: `127.0.0.1:${peerPort}` }], key: KEY, cluster: 'test', state: { node: 'b', role: 'standby', epoch: 1, priority: 1 } })
  const tag = clusterTag('test')
  const peer = createSocket('udp4')
  t.teardown(() => peer.close())
  let firstOfB = 0
  let latestOfB = 0
  peer.on('message', (msg: Buffer) => {
    const d = decodeHeartbeat(msg, Buffer.from(KEY), tag)
    if (d.ok) [firstOfB, latestOfB] = [firstOfB || d.packet.seq, d.packet.seq]
  })
  await new Promise<void>((resolve) => peer.bind(peerPort, '127.0.0.1', () => resolve()))
  await until(() => latestOfB > 0, 'B heard')
  const boot = randomBytes(16)
  const heartbeat = (seq: number, echoSeq: number) => encodeHeartbeat({
    boot, seq, echoBoot: Buffer.from(b.boot, 'hex'), echoSeq, to: destinationBytes('127.0.0.1', bPort),
    payload: JSON.stringify({ node: 'p', role: 'active', epoch: 1, priority: 2 }),
  }, Buffer.from(KEY), tag)
  const path = () => b.stats().paths[0]!
  const h1 = heartbeat(1, latestOfB)
  const alive = untilPaths(b, aliveAs('p'))
  await sendRaw(bPort, h1)
  await alive
  const h2 = heartbeat(2, latestOfB)
  await sendRaw(bPort, h2)
  await until(() => path().received === 2, 'the second heartbeat counted')
  await sendRaw(bPort, h2, h1)
  await until(() => path().replayed === 2, 'both replays counted')
  // Held back: echoing B's first heartbeat, delivered once B has sent more than 2 s of them (40 at 50 ms).
  const held = heartbeat(3, firstOfB)
  await until(() => latestOfB > firstOfB + 41, 'B sent 2 s of heartbeats more', 10_000)
  await sendRaw(bPort, held)
  await until(() => path().unconfirmed === 1, 'the late one counted as unconfirmed')
  t.match(path(), { received: 2, replayed: 2, unconfirmed: 1, forged: 0 })
})

t.test('a peer that does not hear us is not taken for alive: liveness is two-way', async (t) => {
  const ports = await pairPorts()
  const nowhere = await freePort('127.0.0.1') // B sends there: A never hears B
  const a = await started(t, { ...pairOptions('a', ports), paths: [{ name: 'v4', local: `127.0.0.1:${ports.a4}`, peer: `127.0.0.1:${ports.b4}` }] })
  const b = await started(t, { ...pairOptions('b', ports), paths: [{ name: 'v4', local: `127.0.0.1:${ports.b4}`, peer: `127.0.0.1:${nowhere}` }] })
  await until(() => b.stats().paths[0]!.unconfirmed >= 5, 'B counts A heartbeats as unconfirmed')
  t.match(b.stats().paths[0], { alive: false, received: 0 }, 'B hears A, but A does not hear B')
  t.match(a.stats().paths[0], { alive: false, received: 0 })
})

t.test('a restarted peer (a new boot id, its sequence from 1 again) is accepted', async (t) => {
  const ports = await pairPorts()
  const a = await started(t, pairOptions('a', ports))
  const b1 = await startHeartbeat(pairOptions('b', ports))
  const [first] = await untilPaths(a, aliveAs('b'))
  t.equal(first!.boot, b1.boot)
  await b1.close()
  await untilPaths(a, silent)
  const b2 = await started(t, pairOptions('b', ports, { state: { node: 'b', role: 'standby', epoch: 7, priority: 100 } }))
  t.not(b2.boot, b1.boot)
  const events = await untilPaths(a, (p) => p.alive && p.state?.epoch === 7)
  t.same(events.map((e) => e.boot), [b2.boot, b2.boot], 'the new boot is reported')
  await untilPaths(b2, aliveAs('a'))
})

t.test('a main thread busy for 500 ms does not silence the heartbeats', async (t) => {
  const ports = await pairPorts()
  // A dead interval of 300 ms: shorter than the block, with room for a loaded test host.
  const a = await started(t, pairOptions('a', ports, { deadIntervalMs: 300 }))
  const b = await started(t, pairOptions('b', ports, { deadIntervalMs: 300 }))
  await untilPaths(b, aliveAs('a'))
  await untilPaths(a, aliveAs('b'))
  const heard: PeerEvent[] = []
  const stalls: StallEvent[] = []
  b.onPeer((e) => heard.push(e))
  a.onStall((e) => stalls.push(e))
  const receivedBefore = b.stats().paths.map((p) => p.received)
  blockMainThread(500) // both threads' pings go stale for 500 ms: far below the 2000 ms stall limit
  const receivedAfter = b.stats().paths.map((p) => p.received)
  // Events are delivered in order: one posted after the block comes after any posted during it.
  a.setState({ node: 'a', role: 'active', epoch: 2, priority: 200 })
  await untilPaths(b, (p) => p.alive && p.state?.epoch === 2)
  t.same(heard.filter((e) => !e.alive), [], 'B never saw A silent')
  t.same(stalls, [], 'A never stopped its heartbeats')
  receivedAfter.forEach((n, i) => t.ok(n - receivedBefore[i]! >= 3, `path ${i}: heartbeats received during the block`))
})

t.test('a main thread stuck past the stall limit silences the heartbeats, which resume when it is back', async (t) => {
  const ports = await pairPorts()
  const a = await started(t, pairOptions('a', ports, { stallLimitMs: 300 }))
  const b = await started(t, pairOptions('b', ports))
  await untilPaths(b, aliveAs('a'))
  await untilPaths(a, aliveAs('b'))
  const heard: PeerEvent[] = []
  const stalls: StallEvent[] = []
  b.onPeer((e) => heard.push(e))
  a.onStall((e) => stalls.push(e))
  const silentSeen = untilPaths(b, silent)
  blockMainThread(1500)
  await silentSeen
  await untilPaths(b, aliveAs('a'))
  t.same(heard.map((e) => [e.path, e.alive]).sort(), [['v4', false], ['v4', true], ['v6', false], ['v6', true]], 'silent, then alive again, on each path')
  t.ok(heard.findIndex((e) => e.alive) > heard.findIndex((e) => !e.alive), 'alive after silent')
  await until(() => stalls.length === 2, 'A reported the stall and the resumption')
  t.same(stalls.map((s) => s.stalled), [true, false])
  t.ok(stalls[0]!.pingAgeMs > 300, 'stalled when the ping was older than the limit')
  t.equal(a.stats().stalled, false)
})

t.test('a path bound to the unspecified address hears heartbeats sent to its port', async (t) => {
  const ports = await pairPorts()
  const a = await started(t, { ...pairOptions('a', ports), paths: [{ name: 'any4', local: `0.0.0.0:${ports.a4}`, peer: `127.0.0.1:${ports.b4}` }, { name: 'any6', local: `[::]:${ports.a6}`, peer: `[::1]:${ports.b6}` }] })
  const b = await started(t, pairOptions('b', ports))
  await untilPaths(a, aliveAs('b'))
  await untilPaths(b, aliveAs('a'))
  t.same(a.stats().paths.map((p) => p.local), [`0.0.0.0:${ports.a4}`, `[::]:${ports.a6}`])
})

t.test('bad options are refused with a coded error before anything starts', async (t) => {
  const ports = await pairPorts()
  const good = pairOptions('a', ports)
  const refused = async (over: Partial<HeartbeatOptions>, code: string, what: string) =>
    t.rejects(startHeartbeat({ ...good, ...over }), { code }, what)
  await refused({ paths: [] }, 'LVS_ERR_HEARTBEAT_CONFIG', 'no path')
  await refused({ paths: [{ local: '127.0.0.300', peer: '127.0.0.1:700' }] }, 'LVS_ERR_HEARTBEAT_CONFIG', 'a bad address')
  await refused({ paths: [{ local: '127.0.0.1:70000', peer: '127.0.0.1:700' }] }, 'LVS_ERR_HEARTBEAT_CONFIG', 'a bad port')
  await refused({ paths: [{ local: '127.0.0.1', peer: 'peer.example:700' }] }, 'LVS_ERR_HEARTBEAT_CONFIG', 'a host name')
  await refused({ paths: [{ local: '127.0.0.1:700', peer: '[::1]:700' }] }, 'LVS_ERR_HEARTBEAT_CONFIG', 'two families')
  await refused({ paths: [{ local: '127.0.0.1:700', peer: '127.0.0.2:700' }, { local: '127.0.0.1:700', peer: '127.0.0.3:700' }] }, 'LVS_ERR_HEARTBEAT_CONFIG', 'one bind twice')
  await refused({ intervalMs: 0 }, 'LVS_ERR_HEARTBEAT_CONFIG', 'interval 0')
  await refused({ intervalMs: 50, deadIntervalMs: 60 }, 'LVS_ERR_HEARTBEAT_CONFIG', 'a dead interval under two intervals')
  await refused({ key: 'short key' }, 'LVS_ERR_HEARTBEAT_KEY', 'a key under 16 bytes')
  await refused({ key: new Uint8Array(15) }, 'LVS_ERR_HEARTBEAT_KEY', 'a 15-byte key')
  await refused({ key: undefined as unknown as string }, 'LVS_ERR_HEARTBEAT_KEY', 'no key')
  await refused({ state: { node: 'a', role: 'active', epoch: 1.5, priority: 1 } }, 'LVS_ERR_HEARTBEAT_CONFIG', 'a bad state')

  const taken = createSocket('udp4')
  await new Promise<void>((resolve) => taken.bind(ports.a4, '127.0.0.1', () => resolve()))
  t.teardown(() => taken.close())
  await refused({}, 'LVS_ERR_HEARTBEAT_START', 'a port in use')
  // The v6 path of the refused start was released: a start without the v4 path binds it.
  const v6only = await started(t, { ...good, paths: good.paths.slice(1) })
  t.equal(v6only.stats().paths.length, 1)
})

t.test('close() leaves no handle open: a process that starts and closes a pair exits by itself', async (t) => {
  const ext = extname(fileURLToPath(import.meta.url))
  const script = fileURLToPath(new URL(`../helpers/heartbeat-exit${ext}`, import.meta.url))
  const child = spawn(process.execPath, [...process.execArgv, script], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr.on('data', (c: Buffer) => (out += c.toString()))
  const kill = setTimeout(() => child.kill('SIGKILL'), 60_000) // a bound, should the test fail
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])))
  clearTimeout(kill)
  t.equal(signal, null, `exited by itself: ${out}`)
  t.equal(code, 0)
  t.match(out, /both heard; closed/)
})
