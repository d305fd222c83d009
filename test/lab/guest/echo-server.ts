// A real server's service in the lab: answers every HTTP request (TCP) and every datagram (UDP) on its port
// with its name, on IPv4 and IPv6. Run as `node echo-server.js --name rs1 --port 80` inside a namespace;
// prints "listening" when both sockets are bound.
import { createSocket } from 'node:dgram'
import { createServer } from 'node:http'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { name: { type: 'string' }, port: { type: 'string', default: '80' } } })
const name = values.name ?? 'unnamed'
const port = Number(values.port)

const server = createServer((req, res) => {
  req.resume()
  // Keep-alive when the client asks for it, so a probe can hold one connection across a table change. A client
  // that sends `x-hold-open` (http-probe.js --keep-alive) keeps it past the idle close, so a connection held through
  // a failover longer than that (seconds under emulation) is ended by the directors or not at all.
  if (req.headers['x-hold-open']) (req.socket as { held?: boolean }).held = true
  res.writeHead(200, { 'content-type': 'text/plain', 'x-served-by': name })
  res.end(name)
})
// Node's idle close (keepAliveTimeout, 5 s) is a socket timeout: with a listener here it destroys only the rest.
server.on('timeout', (socket: { held?: boolean; destroy(): void }) => socket.held || socket.destroy())
const udp = createSocket({ type: 'udp6', ipv6Only: false })
udp.on('message', (_msg, peer) => udp.send(name, peer.port, peer.address))

// '::' without ipv6Only takes IPv4 too (as ::ffff:a.b.c.d), so one server serves both VIPs.
let bound = 0
const ready = () => ++bound === 2 && process.stdout.write('listening\n')
server.listen({ host: '::', port }, ready)
udp.bind({ address: '::', port }, ready)
process.on('SIGTERM', () => {
  udp.close()
  server.close(() => process.exit(0))
})
