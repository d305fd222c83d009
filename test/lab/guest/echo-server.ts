// A real server's web service in the lab: answers every HTTP request with its name, on IPv4 and IPv6.
// Run as `node echo-server.js --name rs1 --port 80` inside a namespace; prints "listening" when ready.
import { createServer } from 'node:http'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { name: { type: 'string' }, port: { type: 'string', default: '80' } } })
const name = values.name ?? 'unnamed'
const port = Number(values.port)

const server = createServer((req, res) => {
  req.resume()
  // Keep-alive when the client asks for it, so a probe can hold one connection across a table change.
  res.writeHead(200, { 'content-type': 'text/plain', 'x-served-by': name })
  res.end(name)
})
// '::' without ipv6Only takes IPv4 too (as ::ffff:a.b.c.d), so one server serves both VIPs.
server.listen({ host: '::', port }, () => process.stdout.write('listening\n'))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
