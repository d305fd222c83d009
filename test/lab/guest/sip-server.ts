// A SIP responder for the lab: `node sip-server.js --name rs1 [--port 5060]` answers every SIP request over UDP
// (IPv4 and IPv6) with `SIP/2.0 200 OK`, copying Via, From, To, Call-ID and CSeq (what a health check matches)
// and naming itself in `Server:`. SIGUSR2 makes it go silent (the socket stays bound, nothing is answered: a
// hung server, not a refused port). Prints "listening" once bound, "silent" when silenced.
import { createSocket } from 'node:dgram'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { name: { type: 'string' }, port: { type: 'string', default: '5060' } } })
const name = values.name ?? 'unnamed'
const port = Number(values.port)
let silent = false

const copied = new Set(['via', 'v', 'from', 'f', 'to', 't', 'call-id', 'i', 'cseq'])
const udp = createSocket({ type: 'udp6', ipv6Only: false })
udp.on('message', (msg, peer) => {
  if (silent) return
  const head = msg.toString('latin1').split('\r\n\r\n')[0] ?? ''
  const [requestLine, ...headers] = head.split('\r\n')
  if (!requestLine || !/ SIP\/2\.0$/.test(requestLine)) return // not a request
  const keep = headers.filter((h) => copied.has(h.slice(0, h.indexOf(':')).trim().toLowerCase()))
  const reply = ['SIP/2.0 200 OK', ...keep, `Server: ${name}`, 'Content-Length: 0', '', ''].join('\r\n')
  udp.send(reply, peer.port, peer.address)
})
udp.bind({ address: '::', port }, () => process.stdout.write('listening\n'))
process.on('SIGUSR2', () => {
  silent = true
  process.stdout.write('silent\n')
})
process.on('SIGTERM', () => udp.close(() => process.exit(0)))
