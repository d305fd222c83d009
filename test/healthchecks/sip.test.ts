// The sip check against a SIP user agent (written here) over UDP and TCP on 127.0.0.1 and ::1.
import t, { type Test } from 'tap'
import net from 'node:net'
import dgram from 'node:dgram'
import { createSipChecker } from '../../healthchecks/sip.js'
import { parseCheckSpec, type SipCheckSpec } from '../../healthchecks/spec.js'
import { FAMILIES, bindUdp, closedTcpPort, closedUdpPort, listenTcp, probe, target } from './helpers.js'

type Mode = '200' | '404' | '401' | '407' | 'silent' | 'third' | 'wrong-callid' | 'trying-then-200' | 'stray-then-404'

function header(req: string, name: string): string {
  return new RegExp(`^${name}:.*$`, 'im').exec(req)?.[0] ?? ''
}

// A response echoing the request's Via, From, To, Call-ID and CSeq, as a UA does.
function reply(req: string, status: string, over: { callId?: string; branch?: string } = {}): string {
  let via = header(req, 'Via')
  if (over.branch) via = via.replace(/branch=[^;\s]+/, `branch=${over.branch}`)
  const callId = over.callId ? `Call-ID: ${over.callId}` : header(req, 'Call-ID')
  return [`SIP/2.0 ${status}`, via, header(req, 'From'), `${header(req, 'To')};tag=uas1`, callId, header(req, 'CSeq'), 'Content-Length: 0', '', ''].join('\r\n')
}

// What the UA answers to the n-th copy (0-based) of a request: a list of responses, maybe empty.
function answers(mode: Mode, req: string, copy: number): string[] {
  switch (mode) {
    case '200':
      return [reply(req, '200 OK')]
    case '404':
      return [reply(req, '404 Not Found')]
    case '401':
      return [reply(req, '401 Unauthorized')]
    case '407':
      return [reply(req, '407 Proxy Authentication Required')]
    case 'silent':
      return []
    case 'third':
      return copy === 2 ? [reply(req, '200 OK')] : [] // only the second retransmission is answered
    case 'wrong-callid':
      return [reply(req, '200 OK', { callId: 'not-the-one@elsewhere' })]
    case 'trying-then-200':
      return [reply(req, '100 Trying'), reply(req, '200 OK')]
    case 'stray-then-404':
      return [reply(req, '200 OK', { branch: 'z9hG4bKstray' }), reply(req, '404 Not Found')]
  }
}

async function udpUa(t: Test, host: string, mode: Mode) {
  const requests: string[] = []
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4')
  socket.on('message', (m, from) => {
    const req = m.toString('latin1')
    requests.push(req)
    const copy = requests.filter((r) => header(r, 'Call-ID') === header(req, 'Call-ID')).length - 1
    for (const a of answers(mode, req, copy)) socket.send(a, from.port, from.address)
  })
  const port = await bindUdp(socket, host)
  t.teardown(() => socket.close())
  return { port, requests }
}

async function tcpUa(t: Test, host: string, mode: Mode) {
  const requests: string[] = []
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => {
    sockets.add(s)
    let buf = ''
    s.on('data', (d) => {
      buf += d.toString('latin1')
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) return
      const req = buf.slice(0, end + 4)
      buf = buf.slice(end + 4)
      requests.push(req)
      for (const a of answers(mode, req, 0)) s.write(a)
    })
  })
  const port = await listenTcp(server, host)
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  return { port, requests }
}

const checker = (extra: object = {}) =>
  createSipChecker(parseCheckSpec({ kind: 'sip', ...extra }) as SipCheckSpec, { hostname: 'director1' })

for (const host of FAMILIES) {
  const local = host === '::1' ? '\\[::1\\]' : '127\\.0\\.0\\.1'
  const uri = host === '::1' ? '[::1]' : '127.0.0.1'

  t.test(`SIP over UDP on ${host}`, async (t) => {
    t.test('a 200 is up, and the request is ldirectord\'s OPTIONS to sip:address:port with UDP Via and local address', async (t) => {
      const ua = await udpUa(t, host, '200')
      const r = await probe(checker(), target(host, ua.port, 'udp'))
      t.equal(r.ok, true)
      t.equal(r.message, 'SIP 200 OK')
      const req = ua.requests[0] ?? ''
      t.ok(req.startsWith(`OPTIONS sip:${uri}:${ua.port} SIP/2.0\r\n`), 'the Request-URI is the target (IPv6 bracketed)')
      t.match(req, new RegExp(`\r\nVia: SIP/2\\.0/UDP ${local}:\\d+;branch=z9hG4bK[0-9a-f]+\r\n`))
      t.match(req, /\r\nMax-Forwards: 70\r\nTo: <sip:lvs-director@director1>\r\nFrom: <sip:lvs-director@director1>;tag=[0-9a-f]+\r\n/)
      t.match(req, /\r\nCall-ID: [0-9a-f]{32}\r\nCSeq: \d+ OPTIONS\r\nContact: <sip:lvs-director@director1>\r\nAccept: application\/sdp\r\nContent-Length: 0\r\n\r\n$/)
    })
    t.test('each probe uses a fresh Call-ID, branch and tag', async (t) => {
      const ua = await udpUa(t, host, '200')
      const c = checker({ login: 'probe@lb' })
      await probe(c, target(host, ua.port, 'udp'))
      await probe(c, target(host, ua.port, 'udp'))
      const [a = '', b = ''] = ua.requests
      for (const name of ['Call-ID', 'Via', 'From']) t.not(header(a, name), header(b, name), `${name} differs`)
      t.match(a, /\r\nTo: <sip:probe@lb>\r\n/, 'the login goes in To, From and Contact')
    })
    t.test('a 404 is down with bad-status', async (t) => {
      const ua = await udpUa(t, host, '404')
      const r = await probe(checker(), target(host, ua.port, 'udp'))
      t.equal(r.ok, false)
      t.equal(r.code, 'bad-status')
      t.equal(r.message, 'SIP 404 Not Found')
    })
    t.test('401 and 407 are down by default, up when listed in status; ranges work too', async (t) => {
      const challenge = await udpUa(t, host, '401')
      const proxy = await udpUa(t, host, '407')
      t.match(await probe(checker(), target(host, challenge.port, 'udp')), { ok: false, code: 'bad-status', message: 'SIP 401 Unauthorized' })
      const alive = checker({ status: [200, 401, 407] })
      t.match(await probe(alive, target(host, challenge.port, 'udp')), { ok: true, message: 'SIP 401 Unauthorized' })
      t.match(await probe(alive, target(host, proxy.port, 'udp')), { ok: true, message: 'SIP 407 Proxy Authentication Required' })
      t.equal((await probe(checker({ status: ['400-499'] }), target(host, proxy.port, 'udp'))).ok, true)
      const ok = await udpUa(t, host, '200')
      t.equal((await probe(checker({ status: [401] }), target(host, ok.port, 'udp'))).code, 'bad-status', 'a 200 not listed is down')
    })
    t.test('a UA that answers nothing is a timeout', async (t) => {
      const ua = await udpUa(t, host, 'silent')
      const r = await probe(checker(), target(host, ua.port, 'udp'), 700)
      t.equal(r.code, 'timeout')
      t.ok(ua.requests.length >= 1)
      for (const copy of ua.requests) t.equal(copy, ua.requests[0], 'a retransmission repeats the request byte for byte')
    })
    t.test('a UA that answers only the second retransmission is up', async (t) => {
      const ua = await udpUa(t, host, 'third')
      const r = await probe(checker(), target(host, ua.port, 'udp'), 3000)
      t.equal(r.ok, true, r.message)
      t.equal(ua.requests.length, 3, 'the request and two retransmissions')
      t.equal(ua.requests[2], ua.requests[0])
    })
    t.test('a 200 with another Call-ID does not count', async (t) => {
      const ua = await udpUa(t, host, 'wrong-callid')
      const r = await probe(checker(), target(host, ua.port, 'udp'), 700)
      t.equal(r.ok, false)
      t.equal(r.code, 'timeout')
    })
    t.test('a stray 200 with another branch is ignored, the matching 404 decides', async (t) => {
      const ua = await udpUa(t, host, 'stray-then-404')
      const r = await probe(checker(), target(host, ua.port, 'udp'))
      t.equal(r.message, 'SIP 404 Not Found')
    })
    t.test('a 100 Trying is waited past', async (t) => {
      const ua = await udpUa(t, host, 'trying-then-200')
      t.equal((await probe(checker(), target(host, ua.port, 'udp'))).ok, true)
    })
    t.test('ICMP port unreachable is down at once with code refused', async (t) => {
      const r = await probe(checker(), target(host, await closedUdpPort(host), 'udp'), 5000)
      t.equal(r.code, 'refused')
    })
  })

  t.test(`SIP over TCP on ${host}`, async (t) => {
    t.test('a 200 is up, with a TCP Via', async (t) => {
      const ua = await tcpUa(t, host, '200')
      const r = await probe(checker(), target(host, ua.port, 'tcp'))
      t.equal(r.ok, true, r.message)
      t.ok(ua.requests[0]?.startsWith(`OPTIONS sip:${uri}:${ua.port} SIP/2.0\r\n`), 'the Request-URI is the target')
      t.match(ua.requests[0], new RegExp(`\r\nVia: SIP/2\\.0/TCP ${local}:\\d+;branch=z9hG4bK`))
    })
    t.test('a 404 is down', async (t) => {
      const ua = await tcpUa(t, host, '404')
      t.equal((await probe(checker(), target(host, ua.port, 'tcp'))).code, 'bad-status')
    })
    t.test('a 407 is up when listed', async (t) => {
      const ua = await tcpUa(t, host, '407')
      t.equal((await probe(checker({ status: [200, 407] }), target(host, ua.port, 'tcp'))).ok, true)
    })
    t.test('a UA that answers nothing is a timeout, without retransmission', async (t) => {
      const ua = await tcpUa(t, host, 'silent')
      const r = await probe(checker(), target(host, ua.port, 'tcp'), 700)
      t.equal(r.code, 'timeout')
      t.equal(ua.requests.length, 1)
    })
    t.test('a 200 with another Call-ID does not count', async (t) => {
      const ua = await tcpUa(t, host, 'wrong-callid')
      t.equal((await probe(checker(), target(host, ua.port, 'tcp'), 500)).code, 'timeout')
    })
    t.test('a 100 then a 200 in one stream is up', async (t) => {
      const ua = await tcpUa(t, host, 'trying-then-200')
      t.equal((await probe(checker(), target(host, ua.port, 'tcp'))).ok, true)
    })
    t.test('a closed port is refused', async (t) => {
      t.equal((await probe(checker(), target(host, await closedTcpPort(host), 'tcp'))).code, 'refused')
    })
    t.test('spec.protocol udp overrides a tcp service', async (t) => {
      const ua = await udpUa(t, host, '200')
      t.equal((await probe(checker({ protocol: 'udp' }), target(host, ua.port, 'tcp'))).ok, true)
    })
  })
}
