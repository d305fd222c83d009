// The connect check against real TCP and UDP services on 127.0.0.1 and ::1.
import t from 'tap'
import net from 'node:net'
import dgram from 'node:dgram'
import { createConnectChecker } from '../../healthchecks/connect.js'
import { parseCheckSpec, type ConnectCheckSpec } from '../../healthchecks/spec.js'
import { FAMILIES, bindUdp, closedTcpPort, closedUdpPort, listenTcp, probe, target } from './helpers.js'

const spec = (extra: object = {}) => parseCheckSpec({ kind: 'connect', ...extra }) as ConnectCheckSpec

for (const host of FAMILIES) {
  t.test(`TCP on ${host}`, async (t) => {
    const sockets = new Set<net.Socket>()
    const server = net.createServer((s) => {
      sockets.add(s)
      s.on('error', () => {}) // a bare connect probe closes with a reset
      s.on('data', (d) => {
        if (d.toString().startsWith('PING')) s.write('PONG\r\n')
        if (d.toString().startsWith('QUIT')) s.end('BYE\r\n')
        // anything else: never answer
      })
    })
    const port = await listenTcp(server, host)
    t.teardown(() => {
      for (const s of sockets) s.destroy()
      server.close()
    })

    t.test('a listening port is up', async (t) => {
      const r = await probe(createConnectChecker(spec()), target(host, port))
      t.equal(r.ok, true)
      t.equal(r.message, 'connected')
    })
    t.test('a closed port is down with code refused', async (t) => {
      const r = await probe(createConnectChecker(spec()), target(host, await closedTcpPort(host)))
      t.equal(r.ok, false)
      t.equal(r.code, 'refused')
    })
    t.test('a payload with a matching reply is up', async (t) => {
      const r = await probe(createConnectChecker(spec({ payload: 'PING\r\n', receive: '^PONG' })), target(host, port))
      t.equal(r.ok, true, r.message)
    })
    t.test('a reply that does not match is down with bad-reply', async (t) => {
      const r = await probe(createConnectChecker(spec({ payload: 'QUIT\r\n', receive: '^PONG' })), target(host, port))
      t.equal(r.ok, false)
      t.equal(r.code, 'bad-reply')
    })
    t.test('a server that never answers ends in a timeout at the abort', async (t) => {
      const r = await probe(createConnectChecker(spec({ payload: 'HELLO\r\n', receive: 'x' })), target(host, port), 300)
      t.equal(r.ok, false)
      t.equal(r.code, 'timeout')
      t.match(r.message, /^timeout after \d+ ms$/)
    })
    t.test('an already aborted signal settles as a timeout', async (t) => {
      const r = await createConnectChecker(spec()).check(target(host, port), AbortSignal.abort())
      t.equal(r.code, 'timeout')
    })
  })

  t.test(`UDP on ${host}`, async (t) => {
    const family = net.isIPv6(host) ? 'udp6' : 'udp4'
    const silent = dgram.createSocket(family)
    const seen: string[] = []
    silent.on('message', (m) => seen.push(m.toString()))
    const silentPort = await bindUdp(silent, host)
    const echo = dgram.createSocket(family)
    echo.on('message', (m, from) => echo.send(Buffer.concat([Buffer.from('echo:'), m]), from.port, from.address))
    const echoPort = await bindUdp(echo, host)
    t.teardown(() => {
      silent.close()
      echo.close()
    })

    t.test('a bound port that answers nothing is up (no ICMP error) and gets the payload', async (t) => {
      const r = await probe(createConnectChecker(spec({ payload: 'hello', udpWait: 0.2 })), target(host, silentPort, 'udp'))
      t.equal(r.ok, true, r.message)
      t.same(seen, ['hello'])
    })
    t.test('a closed port is down with code refused (ICMP port unreachable)', async (t) => {
      const r = await probe(createConnectChecker(spec({ udpWait: 1 })), target(host, await closedUdpPort(host), 'udp'), 2000)
      t.equal(r.ok, false)
      t.equal(r.code, 'refused')
    })
    t.test('a required reply that matches is up', async (t) => {
      const r = await probe(createConnectChecker(spec({ payload: 'x', receive: '^echo:x$' })), target(host, echoPort, 'udp'))
      t.equal(r.ok, true, r.message)
    })
    t.test('a required reply that never comes is a timeout', async (t) => {
      const r = await probe(createConnectChecker(spec({ payload: 'x', receive: 'echo' })), target(host, silentPort, 'udp'), 300)
      t.equal(r.code, 'timeout')
    })
    t.test('spec.protocol udp overrides the service protocol', async (t) => {
      const r = await probe(createConnectChecker(spec({ protocol: 'udp', payload: 'x', receive: 'echo' })), target(host, echoPort, 'tcp'))
      t.equal(r.ok, true, r.message)
    })
  })
}
