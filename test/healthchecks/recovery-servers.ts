// Loopback servers whose health a recovery test flips at will: TCP and UDP ports that close and reopen on the same
// number, HTTP(S) servers, a SIP user agent and a DNS responder, each counting the probes it receives.
import type { Test } from 'tap'
import net from 'node:net'
import dgram from 'node:dgram'
import http from 'node:http'
import https from 'node:https'
import { bindUdp, listenTcp, selfSignedTls } from './helpers.js'

/** A TCP port on `host` that stops listening on fail() and listens again, on the same number, on heal(). */
export async function tcpPort(t: Test, host: string) {
  const make = () => net.createServer((s) => s.destroy())
  let server = make()
  const port = await listenTcp(server, host)
  const close = () => new Promise<void>((r) => server.close(() => r()))
  t.teardown(() => (server.listening ? close() : undefined))
  return {
    port,
    fail: close,
    async heal() {
      server = make()
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve))
    },
  }
}

/** A bound UDP socket on `host` that is closed on fail() (so the kernel answers ICMP port-unreachable) and
 * bound again to the same port on heal(). */
export async function udpPort(t: Test, host: string) {
  const make = () => dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4')
  let socket = make()
  let bound = true
  const port = await bindUdp(socket, host)
  const close = () => new Promise<void>((r) => ((bound = false), socket.close(() => r())))
  t.teardown(() => (bound ? close() : undefined))
  return {
    port,
    fail: close,
    async heal() {
      socket = make()
      await new Promise<void>((resolve, reject) => socket.once('error', reject).bind(port, host, () => resolve()))
      bound = true
    },
  }
}

/** An HTTP (or, with `secure`, HTTPS with the self-signed fixture) server answering `state.status` and `state.body`. */
export async function httpServer(t: Test, host: string, secure = false) {
  // hang: take the request and never answer (closed with the server).
  const state = { status: 200, body: 'service healthy\n', hang: false, hits: 0, okHits: 0 }
  const handler = (_req: http.IncomingMessage, res: http.ServerResponse) => {
    state.hits++
    if (state.hang) return
    if (state.status === 200) state.okHits++
    res.writeHead(state.status, { 'content-type': 'text/plain' })
    res.end(state.body)
  }
  const server = secure
    ? https.createServer(selfSignedTls(), handler)
    : http.createServer(handler)
  const port = await listenTcp(server, host)
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((r) => server.close(() => r()))
  })
  return { port, state }
}

/** What the user agent does with an OPTIONS request. */
export type SipMode = '200' | '404' | 'silent'

function header(req: string, name: string): string {
  return new RegExp(`^${name}:.*$`, 'im').exec(req)?.[0] ?? ''
}

// A response echoing the request's Via, From, To, Call-ID and CSeq, as a user agent does.
function sipReply(req: string, status: string): string {
  const lines = [`SIP/2.0 ${status}`, header(req, 'Via'), header(req, 'From'), `${header(req, 'To')};tag=ua1`]
  return [...lines, header(req, 'Call-ID'), header(req, 'CSeq'), 'Content-Length: 0', '', ''].join('\r\n')
}

function sipAnswer(mode: SipMode, req: string): string | undefined {
  return mode === 'silent' ? undefined : sipReply(req, mode === '200' ? '200 OK' : '404 Not Found')
}

/** A SIP user agent over UDP or TCP that answers OPTIONS as `state.mode` says. */
export async function sipUa(t: Test, host: string, protocol: 'udp' | 'tcp') {
  // copies: how many times each Call-ID arrived (more than once = retransmitted).
  const state = { mode: '200' as SipMode, requests: 0, copies: new Map<string, number>() }
  if (protocol === 'udp') {
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4')
    socket.on('message', (m, from) => {
      state.requests++
      const req = m.toString('latin1')
      state.copies.set(header(req, 'Call-ID'), (state.copies.get(header(req, 'Call-ID')) ?? 0) + 1)
      const a = sipAnswer(state.mode, req)
      if (a) socket.send(a, from.port, from.address)
    })
    const port = await bindUdp(socket, host)
    t.teardown(() => new Promise<void>((r) => socket.close(() => r())))
    return { port, state }
  }
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    let buf = ''
    s.on('data', (d) => {
      buf += d.toString('latin1')
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const req = buf.slice(0, end + 4)
        buf = buf.slice(end + 4)
        state.requests++
        const a = sipAnswer(state.mode, req)
        if (a) s.write(a)
      }
    })
  })
  const port = await listenTcp(server, host)
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    return new Promise<void>((r) => server.close(() => r()))
  })
  return { port, state }
}

/** A UDP DNS responder for one name: A `state.address`, NXDOMAIN while `state.nxdomain` is set, nothing while `state.silent` is. */
export async function dnsServer(t: Test, host: string, name: string) {
  const state = { address: '192.0.2.10', nxdomain: false, silent: false, queries: 0 }
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4')
  socket.on('message', (q, from) => {
    state.queries++
    if (state.silent) return
    // The question, read here independently of the code under test.
    const labels: string[] = []
    let pos = 12
    while (q[pos]) {
      labels.push(q.toString('latin1', pos + 1, pos + 1 + q[pos]!))
      pos += 1 + q[pos]!
    }
    const end = pos + 5
    const known = labels.join('.') === name && q.readUInt16BE(pos + 1) === 1 && !state.nxdomain
    const head = Buffer.alloc(12)
    head.writeUInt16BE(q.readUInt16BE(0), 0)
    head.writeUInt16BE(0x8180 | (known ? 0 : 3), 2)
    head.writeUInt16BE(1, 4)
    head.writeUInt16BE(known ? 1 : 0, 6)
    const rr = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...state.address.split('.').map(Number)])
    socket.send(Buffer.concat([head, q.subarray(12, end), ...(known ? [rr] : [])]), from.port, from.address)
  })
  const port = await bindUdp(socket, host)
  t.teardown(() => new Promise<void>((r) => socket.close(() => r())))
  return { port, state }
}
