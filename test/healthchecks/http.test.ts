// The http and https checks against real HTTP and HTTPS (self-signed) servers on 127.0.0.1 and ::1.
import t, { type Test } from 'tap'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import type tls from 'node:tls'
import { Agent, buildConnector } from 'undici'
import { createHttpChecker, finalStatus } from '../../healthchecks/http.js'
import { parseCheckSpec, type HttpCheckSpec } from '../../healthchecks/spec.js'
import { FAMILIES, closedTcpPort, listenTcp, probe, selfSignedTls, target } from './helpers.js'

interface Seen {
  method?: string
  host?: string
  url?: string
  servername?: string | false | null
}

// One handler for both servers: the path picks the behaviour.
function handler(seen: Seen) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    seen.method = req.method
    seen.host = req.headers.host
    seen.url = req.url
    seen.servername = (req.socket as tls.TLSSocket).servername
    if (req.url === '/ok') return res.end('hello world, all is well')
    if (req.url === '/fail') return (res.statusCode = 500), res.end('broken')
    if (req.url === '/moved') return res.writeHead(301, { location: '/ok' }).end()
    if (req.url === '/slow') return // never answers
    if (req.url === '/early') return res.writeEarlyHints({ link: '</style.css>; rel=preload' }), res.end('ok') // 103, then 200
    if (req.url === '/huge') {
      // 1 MiB of padding, then the marker: past the 64 KiB the check reads
      res.write('start ')
      res.write(Buffer.alloc(1024 * 1024, 'a'))
      return res.end('MARKER')
    }
    res.statusCode = 404
    res.end('no such page')
  }
}

async function serve(t: Test, server: http.Server | https.Server, host: string): Promise<number> {
  const sockets = new Set<net.Socket>()
  server.on('connection', (s: net.Socket) => sockets.add(s))
  server.on('secureConnection', (s: net.Socket) => sockets.add(s))
  const port = await listenTcp(server, host)
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  return port
}

const spec = (extra: object) => parseCheckSpec({ kind: 'http', ...extra }) as HttpCheckSpec

/**
 * One probe with a fresh checker of `kind` built from `extra`, closed afterwards; `ms` is the probe's deadline, `at`
 * another port than the server's.
 */
function runner(kind: 'http' | 'https', host: string, port: number) {
  return async (extra: object, ms = 2000, at = port) => {
    const checker = createHttpChecker(parseCheckSpec({ kind, ...extra }) as HttpCheckSpec)
    try {
      return await probe(checker, target(host, at), ms)
    } finally {
      await checker.close?.()
    }
  }
}

t.test('the final status is read from the status line, whatever the chunks, interim answers skipped', async (t) => {
  const b = (s: string) => Buffer.from(s, 'latin1')
  t.equal(finalStatus(b('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')), 200)
  t.equal(finalStatus(b('HTTP/1.0 503\r\n')), 503, 'no reason phrase')
  t.equal(finalStatus(b('HTTP/1.1 20')), undefined, 'a status line not all there yet')
  t.equal(finalStatus(b('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\n')), 404)
  t.equal(finalStatus(b('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n')), undefined, 'the final answer still to come')
  t.equal(finalStatus(b('<html>\n')), null)
  t.equal(finalStatus(b('HTTP/1.1 2000 OK\r\n')), null, 'four digits')
  t.equal(finalStatus(Buffer.alloc(2000, 'a')), null, 'a first line over 1 KiB')
})

for (const host of FAMILIES) {
  const authority = (port: number) => (host === '::1' ? `[::1]:${port}` : `${host}:${port}`)

  t.test(`http on ${host}`, async (t) => {
    const seen: Seen = {}
    const port = await serve(t, http.createServer(handler(seen)), host)
    const run = runner('http', host, port)

    t.test('a 200 is up, sent as GET with the real server as Host', async (t) => {
      const r = await run({ path: '/ok' })
      t.equal(r.ok, true)
      t.equal(r.message, 'HTTP 200')
      t.equal(seen.method, 'GET')
      t.equal(seen.host, authority(port))
      t.equal(seen.url, '/ok')
    })
    t.test('a 500 is down with bad-status', async (t) => {
      const r = await run({ path: '/fail' })
      t.equal(r.ok, false)
      t.equal(r.code, 'bad-status')
      t.equal(r.message, 'HTTP 500')
    })
    t.test('a server that never answers is a timeout', async (t) => {
      const r = await run({ path: '/slow' }, 300)
      t.equal(r.code, 'timeout')
    })
    t.test('the body must match receive', async (t) => {
      t.equal((await run({ path: '/ok', receive: 'all is w[e]ll' })).ok, true)
      const bad = await run({ path: '/ok', receive: '^maintenance' })
      t.equal(bad.ok, false)
      t.equal(bad.code, 'bad-body')
    })
    t.test('HEAD is sent as HEAD', async (t) => {
      const r = await run({ path: '/ok', method: 'HEAD' })
      t.equal(r.ok, true)
      t.equal(seen.method, 'HEAD')
    })
    t.test('virtualhost is the Host header', async (t) => {
      await run({ path: '/ok', virtualhost: 'www.example.test' })
      t.equal(seen.host, 'www.example.test')
    })
    t.test('status lists and ranges decide', async (t) => {
      t.equal((await run({ path: '/moved' })).code, 'bad-status', '301 is not 2xx by default')
      t.equal((await run({ path: '/moved', status: [200, '300-399'] })).ok, true)
      t.equal((await run({ path: '/moved', status: [301] })).ok, true)
      t.equal((await run({ path: '/nothing', status: ['200-299', 301] })).message, 'HTTP 404')
    })
    t.test('only the first 64 KiB of a huge body is read', async (t) => {
      t.equal((await run({ path: '/huge', receive: '^start a+' })).ok, true)
      t.equal((await run({ path: '/huge', receive: 'MARKER' })).code, 'bad-body')
    })
    t.test('a closed port is refused', async (t) => {
      const checker = createHttpChecker(spec({}))
      t.teardown(() => checker.close?.())
      const r = await probe(checker, target(host, await closedTcpPort(host)))
      t.equal(r.code, 'refused')
    })
    t.test('an interim 103 is read past to the final status', async (t) => {
      t.equal((await run({ path: '/early' })).message, 'HTTP 200')
      t.equal((await run({ path: '/early', receive: '^ok$' })).message, 'HTTP 200, body matches', 'through undici too')
    })
    t.test('a reply that is not HTTP is down with bad-reply', async (t) => {
      const other = net.createServer((s) => s.end('SSH-2.0-OpenSSH_9.2\r\n'))
      t.teardown(() => other.close())
      const r = await run({ path: '/ok' }, 2000, await listenTcp(other, host))
      t.equal(r.code, 'bad-reply')
      t.equal(r.ok, false)
    })
    t.test('a passed-in dispatcher carries a body-reading check and is left open by close()', async (t) => {
      let connects = 0
      const connector = buildConnector({})
      const agent = new Agent({ connect: (opts, cb) => (connects++, connector(opts, cb)) })
      t.teardown(() => agent.close())
      const checker = createHttpChecker(spec({ path: '/ok', receive: 'well' }), { dispatcher: agent })
      t.equal((await probe(checker, target(host, port))).ok, true)
      const statusOnly = createHttpChecker(spec({ path: '/ok' }), { dispatcher: agent })
      t.equal((await probe(statusOnly, target(host, port))).ok, true)
      await checker.close?.()
      t.equal(connects, 1, 'the status-only check read its status line over a connection of its own')
      t.equal(agent.closed, false)
    })
  })

  t.test(`https on ${host}`, async (t) => {
    const seen: Seen = {}
    const port = await serve(t, https.createServer(selfSignedTls(), handler(seen)), host)
    const run = runner('https', host, port)
    t.test('a self-signed server is up without verification (the default)', async (t) => {
      const r = await run({ path: '/ok' })
      t.equal(r.ok, true, r.message)
      t.equal(seen.servername, false, 'no SNI for an IP address')
    })
    t.test('with verify on, the self-signed certificate fails with code tls', async (t) => {
      const r = await run({ path: '/ok', verify: true, virtualhost: 'www.example.test' })
      t.equal(r.ok, false)
      t.equal(r.code, 'tls', r.message)
    })
    t.test('virtualhost is the TLS server name and the Host header', async (t) => {
      const r = await run({ path: '/ok', virtualhost: 'www.example.test' })
      t.equal(r.ok, true)
      t.equal(seen.servername, 'www.example.test')
      t.equal(seen.host, 'www.example.test')
    })
    t.test('a 500 over TLS is down', async (t) => {
      t.equal((await run({ path: '/fail' })).code, 'bad-status')
    })
    t.test('a server that never answers over TLS is a timeout', async (t) => {
      t.equal((await run({ path: '/slow' }, 300)).code, 'timeout')
    })
    t.test('a plain-HTTP client against the TLS port is down, not up', async (t) => {
      const checker = createHttpChecker(spec({ path: '/ok' }))
      t.teardown(() => checker.close?.())
      t.equal((await probe(checker, target(host, port))).ok, false)
    })
  })
}
