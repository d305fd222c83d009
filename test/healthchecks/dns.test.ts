// The dns check against a DNS responder (written here) over UDP and TCP on 127.0.0.1 and ::1.
import t, { type Test } from 'tap'
import net from 'node:net'
import dgram from 'node:dgram'
import { createDnsChecker } from '../../healthchecks/dns.js'
import { parseCheckSpec, type DnsCheckSpec } from '../../healthchecks/spec.js'
import { FAMILIES, bindUdp, closedUdpPort, listenTcp, probe, target } from './helpers.js'

// The zone: name → records by type (1 = A, 28 = AAAA). Other names are NXDOMAIN.
const ZONE: Record<string, Record<number, Buffer[]>> = {
  'www.example.test': { 1: [Buffer.from([192, 0, 2, 10]), Buffer.from([192, 0, 2, 11])], 28: [Buffer.from('20010db8000000000000000000000010', 'hex')] },
  'empty.example.test': {},
  'lossy.example.test': { 1: [Buffer.from([192, 0, 2, 20])] },
}

// Reads the question of a query independently of the code under test: [id, name, type, end of question].
function question(q: Buffer): [number, string, number, number] {
  const labels: string[] = []
  let pos = 12
  while (q[pos]) {
    labels.push(q.toString('latin1', pos + 1, pos + 1 + q[pos]!))
    pos += 1 + q[pos]!
  }
  return [q.readUInt16BE(0), labels.join('.'), q.readUInt16BE(pos + 1), pos + 5]
}

function answer(q: Buffer): Buffer | undefined {
  const [id, name, type, end] = question(q)
  if (name === 'silent.example.test') return undefined
  const records = ZONE[name]?.[type] ?? []
  const rcode = ZONE[name] ? 0 : 3
  const header = Buffer.alloc(12)
  header.writeUInt16BE(name === 'wrongid.example.test' ? (id + 1) & 0xffff : id, 0)
  header.writeUInt16BE(0x8180 | rcode, 2)
  header.writeUInt16BE(1, 4)
  header.writeUInt16BE(records.length, 6)
  const rrs = records.map((rdata) => {
    const rr = Buffer.alloc(12)
    rr.writeUInt16BE(0xc00c, 0) // compression pointer to the question name
    rr.writeUInt16BE(type, 2)
    rr.writeUInt16BE(1, 4)
    rr.writeUInt32BE(60, 6)
    rr.writeUInt16BE(rdata.length, 10)
    return Buffer.concat([rr, rdata])
  })
  return Buffer.concat([header, q.subarray(12, end), ...rrs])
}

async function udpServer(t: Test, host: string): Promise<number> {
  const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4')
  const lossy = new Set<number>()
  s.on('message', (q, from) => {
    const [id, name] = question(q)
    // lossy.example.test: the first copy of each query is "lost"
    if (name === 'lossy.example.test' && !lossy.has(id)) return void lossy.add(id)
    const a = answer(q)
    if (a) s.send(a, from.port, from.address)
  })
  t.teardown(() => s.close())
  return bindUdp(s, host)
}

async function tcpServer(t: Test, host: string): Promise<number> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => {
    sockets.add(s)
    let buf = Buffer.alloc(0)
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d])
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return
      const a = answer(buf.subarray(2, 2 + buf.readUInt16BE(0)))
      if (a) s.write(Buffer.concat([Buffer.from([a.length >> 8, a.length & 0xff]), a]))
    })
  })
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  return listenTcp(server, host)
}

const checker = (extra: object) => createDnsChecker(parseCheckSpec({ kind: 'dns', name: 'www.example.test', ...extra }) as DnsCheckSpec)

for (const host of FAMILIES) {
  for (const protocol of ['udp', 'tcp'] as const) {
    t.test(`DNS over ${protocol} on ${host}`, async (t) => {
      const port = protocol === 'udp' ? await udpServer(t, host) : await tcpServer(t, host)
      const run = (extra: object, ms = 2000) => probe(checker(extra), target(host, port, protocol), ms)

      t.test('a NOERROR reply is up when no answer is expected', async (t) => {
        const r = await run({})
        t.equal(r.ok, true)
        t.equal(r.message, 'NOERROR, 2 A record(s)')
      })
      t.test('the expected address among the answers is up', async (t) => {
        const r = await run({ answer: '192.0.2.11' })
        t.equal(r.ok, true)
        t.equal(r.message, 'NOERROR, A 192.0.2.11')
      })
      t.test('a wrong address is down with bad-answer', async (t) => {
        const r = await run({ answer: '192.0.2.99' })
        t.equal(r.ok, false)
        t.equal(r.code, 'bad-answer')
        t.match(r.message, /got 192\.0\.2\.10, 192\.0\.2\.11/)
      })
      t.test('NOERROR with no records fails an expected answer', async (t) => {
        t.equal((await run({ name: 'empty.example.test', answer: '192.0.2.10' })).code, 'bad-answer')
      })
      t.test('an AAAA answer is compared as an address', async (t) => {
        t.equal((await run({ type: 'AAAA', answer: '2001:DB8:0::10' })).ok, true)
        t.equal((await run({ type: 'AAAA', answer: '2001:db8::11' })).ok, false)
      })
      t.test('receive is a regex over the answers', async (t) => {
        t.equal((await run({ receive: '^192\\.0\\.2\\.1[01]$' })).ok, true)
        t.equal((await run({ receive: '^10\\.' })).code, 'bad-answer')
      })
      t.test('NXDOMAIN is down with bad-rcode', async (t) => {
        const r = await run({ name: 'missing.example.test' })
        t.equal(r.code, 'bad-rcode')
        t.equal(r.message, 'NXDOMAIN')
      })
      t.test('no reply is a timeout', async (t) => {
        t.equal((await run({ name: 'silent.example.test' }, 400)).code, 'timeout')
      })
      t.test('a reply with another ID does not count', async (t) => {
        const r = await run({ name: 'wrongid.example.test' }, 400)
        t.equal(r.ok, false)
        t.equal(r.code, protocol === 'udp' ? 'timeout' : 'bad-reply')
      })
    })
  }

  t.test(`DNS over udp on ${host} resends a lost query`, async (t) => {
    const port = await udpServer(t, host)
    const r = await probe(checker({ name: 'lossy.example.test', answer: '192.0.2.20' }), target(host, port, 'udp'), 3000)
    t.equal(r.ok, true, r.message)
  })

  t.test(`DNS to a closed UDP port on ${host} is refused`, async (t) => {
    const r = await probe(checker({}), target(host, await closedUdpPort(host), 'udp'))
    t.equal(r.code, 'refused')
  })
}
