// The ping check against real ICMP: loopback answers on IPv4 and IPv6; silent and unreachable hosts in a
// namespace the test creates time out; forged replies with the wrong id, sequence or source are ignored; and a
// process without CAP_NET_RAW gets a 'no-permission' result, not an exception.
import t from 'tap'
import { createPingChecker } from '../../healthchecks/ping.js'
import { createIcmpTransport, echoRequest, parseIcmp } from '../../healthchecks/icmp.js'
import type { CheckResult } from '../../healthchecks/checker.js'
import { createNetns, ip, nsExec, runFixture } from '../helpers/netns.js'

const fixture = new URL('../fixtures/ping-child.ts', import.meta.url)
type ChildResult = CheckResult & { address: string; sent: number }

function probe(address: string, timeoutMs = 2000, count = 1) {
  const checker = createPingChecker({ count })
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  return checker
    .check({ address, port: 0, protocol: 'tcp' }, controller.signal)
    .finally(async () => {
      clearTimeout(timer)
      await checker.close?.()
    })
}

t.test('127.0.0.1 answers an ICMP echo (our checksum is right, or the kernel would drop the request)', async (t) => {
  const r = await probe('127.0.0.1')
  t.match(r, { ok: true, message: 'echo reply from 127.0.0.1' })
  t.type(r.durationMs, 'number')
})

t.test('::1 answers an ICMPv6 echo (ldirectord cannot ping IPv6)', async (t) => {
  t.match(await probe('::1'), { ok: true })
  t.match(await probe('0:0:0:0:0:0:0:1'), { ok: true }, 'the reply source is matched as an address, not a string')
})

t.test('many probes at once on one transport each get their own reply', async (t) => {
  const icmp = createIcmpTransport()
  const checkers = Array.from({ length: 20 }, () => createPingChecker({}, { icmp }))
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), 3000)
  const results = await Promise.all(
    checkers.map((c, i) => c.check({ address: i % 2 ? '::1' : '127.0.0.1', port: 0, protocol: 'tcp' }, controller.signal)),
  )
  clearTimeout(timer)
  await Promise.all(checkers.map((c) => c.close?.()))
  t.ok(results.every((r) => r.ok), 'all 20 answered')
})

t.test('a probe aborted before it starts is a timeout, and a non-address is a clear failure', async (t) => {
  const checker = createPingChecker({})
  t.teardown(() => checker.close?.())
  t.match(await checker.check({ address: '127.0.0.1', port: 0, protocol: 'tcp' }, AbortSignal.abort()), { ok: false, code: 'timeout' })
  t.match(await checker.check({ address: 'not-an-ip', port: 0, protocol: 'tcp' }, new AbortController().signal), { ok: false, code: 'bad-address' })
})

t.test('a send still queued when its socket closes fails instead of waiting forever', async (t) => {
  const ep = createIcmpTransport().open(4, () => {})
  // raw-socket sends once the socket is writable, on a later turn of the loop: closing now drops the request.
  const sent = ep.send('127.0.0.1', 1)
  ep.close()
  await t.rejects(sent, /ICMP transport closed/)
})

t.test('packets are built and parsed as the RFCs say', async (t) => {
  const req = echoRequest(4, 0x1234, 0xbeef)
  t.equal(req[0], 8)
  t.equal(req.readUInt16BE(4), 0x1234)
  t.equal(req.readUInt16BE(6), 0xbeef)
  // The one's-complement sum of a packet with a correct checksum is 0xffff.
  let sum = 0
  for (let i = 0; i < req.length; i += 2) sum += req.readUInt16BE(i)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16)
  t.equal(sum, 0xffff, 'ICMPv4 checksum is valid')
  t.equal(echoRequest(6, 1, 2)[0], 128)
  // An IPv4 "host unreachable" quoting our request to 198.51.100.9 (id 0x1234, seq 7).
  const inner = Buffer.concat([Buffer.from('450000240000000040010000c6336401c6336409', 'hex'), echoRequest(4, 0x1234, 7)])
  const outer = Buffer.concat([Buffer.from('45000038000000004001000cc6336401c6336401', 'hex'), Buffer.from([3, 1, 0, 0, 0, 0, 0, 0]), inner])
  t.same(parseIcmp(4, outer, '198.51.100.1'), { kind: 'unreachable', address: '198.51.100.9', id: 0x1234, seq: 7 })
  t.equal(parseIcmp(4, Buffer.from('4500001c', 'hex'), '1.2.3.4'), undefined, 'a short packet is ignored')
})

t.test('in a namespace: a silent host and an absent host time out; forged replies are matched strictly', async (t) => {
  const ns = await createNetns(t, 'lvsp')
  // A host that does not answer echo at all, on both families.
  await nsExec(ns, 'sysctl', '-qw', 'net.ipv4.icmp_echo_ignore_all=1', 'net.ipv6.icmp.echo_ignore_all=1')
  // An absent host: a veth whose peer is down, so 198.51.100.2 never answers ARP.
  await ip('-n', ns, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1')
  await ip('-n', ns, 'addr', 'add', '198.51.100.1/24', 'dev', 'v0')
  await ip('-n', ns, 'link', 'set', 'v0', 'up')
  const results = await runFixture<ChildResult[]>(
    fixture,
    {
      timeoutMs: 800,
      probes: [
        { address: '127.0.0.1' },
        { address: '::1' },
        { address: '198.51.100.2' },
        { address: '127.0.0.1', forge: [{ id: 'other', seq: 'ours', to: '127.0.0.1' }, { id: 'ours', seq: 'other', to: '127.0.0.1' }] },
        { address: '127.0.0.3', forge: [{ id: 'ours', seq: 'ours', to: '127.0.0.1' }] },
        { address: '127.0.0.1', forge: [{ id: 'ours', seq: 'ours', to: '127.0.0.1' }] },
        { address: '::1', forge: [{ id: 'ours', seq: 'ours', to: '::1' }] },
      ],
    },
    { ns },
  )
  t.match(results[0], { ok: false, code: 'timeout' }, 'silent IPv4 host')
  t.match(results[1], { ok: false, code: 'timeout' }, 'silent IPv6 host')
  t.match(results[2], { ok: false, code: 'timeout' }, 'absent host behind a down link')
  t.match(results[3], { ok: false, code: 'timeout' }, 'replies with another identifier or sequence are ignored')
  t.match(results[4], { ok: false, code: 'timeout' }, 'a reply from another address is ignored')
  t.match(results[5], { ok: true }, 'the forged reply with our id, seq and source is accepted (so the two above were real rejections)')
  t.match(results[6], { ok: true }, 'same on IPv6 (the kernel filled in the ICMPv6 checksum)')
})

t.test('count > 1 sends that many echo requests within the timeout', async (t) => {
  const ns = await createNetns(t, 'lvsp')
  await nsExec(ns, 'sysctl', '-qw', 'net.ipv4.icmp_echo_ignore_all=1')
  const [r] = await runFixture<ChildResult[]>(
    fixture,
    { timeoutMs: 1000, count: 3, retransmitMs: 200, probes: [{ address: '127.0.0.1' }] },
    { ns },
  )
  t.match(r, { ok: false, code: 'timeout', sent: 3 }, 'three requests sent before the deadline')
})

t.test('a request the kernel drops on the way out (ENOBUFS on IPv6) is a lost request, not an error: the probe times out', async (t) => {
  // A link whose queue takes nothing (pfifo limit 0): every packet is dropped at once. A raw IPv6 send reports the
  // drop as ENOBUFS where IPv4 stays silent (as it does for a moment after a real server's link goes down); both
  // must read as "no reply" (timeout), and a retransmission is still sent.
  const ns = await createNetns(t, 'lvsp')
  await ip('-n', ns, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1')
  await ip('-n', ns, 'addr', 'add', '198.51.100.1/24', 'dev', 'v0')
  await ip('-n', ns, 'addr', 'add', '2001:db8::1/64', 'dev', 'v0', 'nodad')
  for (const dev of ['v0', 'v1']) await ip('-n', ns, 'link', 'set', dev, 'up')
  // Permanent neighbours, so the requests go to the queue instead of waiting on address resolution.
  for (const a of ['198.51.100.2', '2001:db8::2']) await ip('-n', ns, 'neigh', 'replace', a, 'lladdr', '02:00:5e:00:53:02', 'dev', 'v0', 'nud', 'permanent')
  await nsExec(ns, 'tc', 'qdisc', 'replace', 'dev', 'v0', 'root', 'pfifo', 'limit', '0')
  const results = await runFixture<ChildResult[]>(
    fixture,
    { timeoutMs: 600, count: 2, retransmitMs: 200, probes: [{ address: '198.51.100.2' }, { address: '2001:db8::2' }] },
    { ns },
  )
  t.match(results[0], { ok: false, code: 'timeout', sent: 2 }, 'IPv4')
  t.match(results[1], { ok: false, code: 'timeout', sent: 4 }, 'IPv6: the same, and the second request was still sent')
})

t.test('without CAP_NET_RAW the result says no-permission (no throw)', async (t) => {
  const results = await runFixture<ChildResult[]>(
    fixture,
    { timeoutMs: 500, probes: [{ address: '127.0.0.1' }] },
    { prefix: ['setpriv', '--bounding-set=-net_raw', '--inh-caps=-net_raw', '--'] },
  ).catch((err: Error) => err)
  t.notOk(results instanceof Error, 'the child did not crash')
  t.match((results as ChildResult[])[0], { ok: false, code: 'no-permission' })
})
