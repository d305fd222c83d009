// Announcing VIPs: in real network namespaces, a peer's stale neighbour entry for the VIP moves to the director's
// MAC after a gratuitous ARP (IPv4) or an unsolicited neighbour advertisement (IPv6); and, with fakes, the
// burst's packets, its spacing, its abort, and failures that are logged and reported, never thrown.
import t, { type Test } from 'tap'
import { createAnnouncer, type AnnounceLog } from '../../src/ha/announce.js'
import { gratuitousArp } from '../../src/ha/gratuitous-arp.js'
import { neighbourAdvert, type NaSocket } from '../../src/ha/neighbour-advert.js'
import { checkVip, openVips } from '../../src/ha/vips.js'
import { createNetns, ip, nsAddresses, nsExec, runFixture } from '../helpers/netns.js'

const fixture = new URL('../fixtures/announce-child.ts', import.meta.url)
const V4 = '192.0.2.10'
const V6 = '2001:db8:10::10'
const OLD_MAC = '02:00:00:00:00:01'

interface ChildReport { sent: number; aborted: boolean; errors: { code?: string; message: string }[]; ms: number }


async function pair(t: Test) {
  const dir = await createNetns(t, 'lvsa-dir')
  const peer = await createNetns(t, 'lvsa-peer')
  await ip('link', 'add', 'eth0', 'netns', dir, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer)
  await ip('-n', dir, 'addr', 'add', '192.0.2.1/24', 'dev', 'eth0')
  await ip('-n', dir, 'addr', 'add', '2001:db8:10::1/64', 'dev', 'eth0', 'nodad')
  await ip('-n', peer, 'addr', 'add', '192.0.2.2/24', 'dev', 'eth0')
  await ip('-n', peer, 'addr', 'add', '2001:db8:10::2/64', 'dev', 'eth0', 'nodad')
  await ip('-n', dir, 'link', 'set', 'eth0', 'up')
  await ip('-n', peer, 'link', 'set', 'eth0', 'up')
  const mac = (await nsExec(dir, 'cat', '/sys/class/net/eth0/address')).trim()
  return { dir, peer, mac }
}

async function neighbour(ns: string, address: string): Promise<{ lladdr?: string; state?: string[] } | undefined> {
  const list = JSON.parse(await ip('-n', ns, '-j', 'neigh', 'show', 'to', address, 'dev', 'eth0')) as { dst: string; lladdr?: string; state?: string[] }[]
  return list.find((n) => n.dst === address)
}

t.test("gratuitous ARP and an unsolicited NA move a peer's stale entry for the VIP to the director's MAC", async (t) => {
  const { dir, peer, mac } = await pair(t)
  const vips = await openVips({ addresses: nsAddresses(t, dir), stateDir: t.testdir() })
  t.teardown(() => vips.close())
  await ip('-n', peer, 'neigh', 'replace', V4, 'lladdr', OLD_MAC, 'dev', 'eth0', 'nud', 'stale')
  await ip('-n', peer, '-6', 'neigh', 'replace', V6, 'lladdr', OLD_MAC, 'dev', 'eth0', 'nud', 'stale')
  t.equal((await neighbour(peer, V4))?.lladdr, OLD_MAC, 'the peer starts with the old MAC (v4)')
  t.equal((await neighbour(peer, V6))?.lladdr, OLD_MAC, 'the peer starts with the old MAC (v6)')

  await vips.add([{ address: V4, interface: 'eth0' }, { address: V6, interface: 'eth0' }])
  await new Promise((r) => setTimeout(r, 300))
  t.equal((await neighbour(peer, V4))?.lladdr, OLD_MAC, 'adding the VIP alone tells the peer nothing (v4)')
  t.equal((await neighbour(peer, V6))?.lladdr, OLD_MAC, 'adding the VIP alone tells the peer nothing (v6)')
  const report = await runFixture<ChildReport>(fixture, { vips: vips.held(), count: 3, intervalMs: 100 }, { ns: dir })
  t.same(report.errors, [])
  t.equal(report.sent, 6, 'three packets per VIP')
  t.equal(report.aborted, false)
  t.equal((await neighbour(peer, V4))?.lladdr, mac, "IPv4: the peer now has the director's MAC")
  t.equal((await neighbour(peer, V6))?.lladdr, mac, "IPv6: the peer now has the director's MAC")
})

t.test('an abort stops a burst under way', async (t) => {
  const { dir } = await pair(t)
  const vips = await openVips({ addresses: nsAddresses(t, dir), stateDir: t.testdir() })
  t.teardown(() => vips.close())
  await vips.add([{ address: V4, interface: 'eth0' }, { address: V6, interface: 'eth0' }])
  const report = await runFixture<ChildReport>(fixture, { vips: vips.held(), count: 100, intervalMs: 100, abortAfterMs: 250 }, { ns: dir })
  t.equal(report.aborted, true)
  t.same(report.errors, [])
  t.ok(report.sent < 20, `sent ${report.sent} of 200`)
  t.ok(report.ms < 3000, `ended after ${report.ms} ms, not 10 s`)
})

t.test('announcing a VIP on an interface that is not there is a logged, reported error, never a throw', async (t) => {
  const { dir } = await pair(t)
  const report = await runFixture<ChildReport>(fixture, { vips: [{ address: V4, interface: 'nosuch0' }, { address: V6, interface: 'nosuch0' }], count: 1, intervalMs: 10 }, { ns: dir })
  t.equal(report.sent, 0)
  t.same(report.errors.map((e) => e.code), ['LVS_ERR_ANNOUNCE_FAILED', 'LVS_ERR_ANNOUNCE_FAILED'])
})

t.test('the advertisement: type 136, Override only, the target, the link-layer address option', async (t) => {
  const msg = neighbourAdvert('2001:db8::1', '02:ab:cd:ef:01:23')
  t.equal(msg.length, 32)
  t.equal(msg[0], 136)
  t.equal(msg[1], 0, 'code 0')
  t.equal(msg.readUInt16BE(2), 0, 'checksum left to the kernel')
  t.equal(msg[4], 0x20, 'Override set; Router and Solicited clear')
  t.equal(msg.subarray(8, 24).toString('hex'), '20010db8000000000000000000000001')
  t.same([msg[24], msg[25]], [2, 1], 'Target Link-Layer Address, 8 bytes')
  t.equal(msg.subarray(26, 32).toString('hex'), '02abcdef0123')
  t.throws(() => neighbourAdvert('2001:db8::1', 'nonsense'))
})

// --- the burst with fakes: what runs, when, and what an abort or a failure does

function fakes() {
  const sent: string[] = []
  let closed = 0
  const socket = async (iface: string): Promise<NaSocket> => ({
    send: async (address) => void sent.push(`${address}%${iface}`),
    close: () => void closed++,
  })
  const lines: { msg: string; obj: object }[] = []
  const log: AnnounceLog = { info: (obj, msg) => void lines.push({ msg, obj }), warn: (obj, msg) => void lines.push({ msg, obj }) }
  return { sent, openArpSocket: socket, openNaSocket: socket, log, lines, closed: () => closed }
}

t.test('a burst sends count packets per VIP, gratuitous ARP and NAs, and closes its sockets', async (t) => {
  const f = fakes()
  const announcer = createAnnouncer({ openArpSocket: f.openArpSocket, openNaSocket: f.openNaSocket, count: 3, intervalMs: 5, log: f.log })
  const report = await announcer.announce([checkVip({ address: V4, interface: 'eth0' }), checkVip({ address: V6, interface: 'eth1' })])
  t.same(report, { sent: 6, errors: [], aborted: false })
  t.same(f.sent, [`${V4}%eth0`, `${V6}%eth1`, `${V4}%eth0`, `${V6}%eth1`, `${V4}%eth0`, `${V6}%eth1`])
  t.equal(f.closed(), 2, 'one socket per family and interface, both closed')
  t.ok(f.lines.some((l) => l.msg === 'VIPs announced'))
  await announcer.close()
})

t.test('abort() during a burst stops it: no packet after the abort', async (t) => {
  const f = fakes()
  const announcer = createAnnouncer({ openArpSocket: f.openArpSocket, openNaSocket: f.openNaSocket, count: 50, intervalMs: 20 })
  const done = announcer.announce([checkVip({ address: V6, interface: 'eth0' })])
  await new Promise((r) => setTimeout(r, 50))
  announcer.abort()
  const atAbort = f.sent.length
  const report = await done
  t.equal(report.aborted, true)
  t.ok(atAbort >= 1 && atAbort < 50)
  t.equal(f.sent.length, atAbort, 'nothing sent after the abort')
  t.equal(f.closed(), 1, 'the socket is closed')
  await announcer.close()
})

t.test("a caller's signal aborts its burst; close() aborts the rest and later bursts start aborted", async (t) => {
  const f = fakes()
  const announcer = createAnnouncer({ openArpSocket: f.openArpSocket, openNaSocket: f.openNaSocket, count: 50, intervalMs: 20 })
  const ac = new AbortController()
  const one = announcer.announce([checkVip({ address: V4, interface: 'eth0' })], ac.signal)
  const two = announcer.announce([checkVip({ address: V6, interface: 'eth0' })])
  ac.abort()
  t.equal((await one).aborted, true)
  await announcer.close()
  t.equal((await two).aborted, true)
  const late = await announcer.announce([checkVip({ address: V4, interface: 'eth0' })])
  t.same(late, { sent: 0, errors: [], aborted: true })
})

t.test('failures are coded errors, logged and reported; the burst goes on', async (t) => {
  const f = fakes()
  const refusing = async (): Promise<NaSocket> => ({ send: async () => { throw new Error('ENETDOWN: Network is down') }, close: () => {} })
  const unopened = async (): Promise<NaSocket> => { throw new Error('Operation not permitted') }
  const announcer = createAnnouncer({ openArpSocket: refusing, openNaSocket: unopened, count: 2, intervalMs: 1, log: f.log })
  const report = await announcer.announce([checkVip({ address: V4, interface: 'eth9' }), checkVip({ address: V6, interface: 'eth9' })])
  t.equal(report.sent, 0)
  t.equal(report.errors.length, 3, 'two ARP packets, one socket')
  t.ok(report.errors.every((e) => (e as Error & { code?: string }).code === 'LVS_ERR_ANNOUNCE_FAILED'))
  t.ok(report.errors.some((e) => /gratuitous ARP: ENETDOWN/.test(e.message)), 'the send says why')
  t.ok(report.errors.some((e) => /neighbour advertisement socket: Operation not permitted/.test(e.message)), 'the socket says why')
  t.ok(f.lines.filter((l) => l.msg === 'VIP announcement failed').length === 3)
})

t.test('the gratuitous ARP frame: broadcast, ARP request, sender and target both the VIP, padded to 60 bytes', async (t) => {
  const f = gratuitousArp('192.0.2.10', '02:ab:cd:ef:01:23')
  t.equal(f.length, 60)
  t.equal(f.subarray(0, 6).toString('hex'), 'ffffffffffff', 'to every host')
  t.equal(f.subarray(6, 12).toString('hex'), '02abcdef0123', 'from the interface')
  t.equal(f.readUInt16BE(12), 0x0806, 'EtherType ARP')
  t.same([f.readUInt16BE(14), f.readUInt16BE(16), f[18], f[19], f.readUInt16BE(20)], [1, 0x0800, 6, 4, 1], 'Ethernet/IPv4, a request')
  t.equal(f.subarray(22, 28).toString('hex'), '02abcdef0123', 'sender MAC')
  t.equal(f.subarray(28, 32).toString('hex'), 'c000020a', 'sender IP: the VIP')
  t.equal(f.subarray(32, 38).toString('hex'), '000000000000', 'target MAC zero')
  t.equal(f.subarray(38, 42).toString('hex'), 'c000020a', 'target IP: the VIP')
  t.throws(() => gratuitousArp('192.0.2.10', 'nonsense'))
  t.throws(() => gratuitousArp('2001:db8::1', '02:ab:cd:ef:01:23'))
})

t.test('a count or interval out of range is refused when the announcer is made', async (t) => {
  t.throws(() => createAnnouncer({ count: 0 }), { code: 'LVS_ERR_INVALID_VALUE' })
  t.throws(() => createAnnouncer({ count: 1.5 }), { code: 'LVS_ERR_INVALID_VALUE' })
  t.throws(() => createAnnouncer({ intervalMs: -1 }), { code: 'LVS_ERR_INVALID_VALUE' })
})
