// A forger of the pair's heartbeats: `node heartbeat-forge.js --to ADDR:PORT --cluster C --key K --node N
// [--interval MS]` sends, every MS (20) until SIGTERM, a well-formed heartbeat of cluster C addressed to that path,
// claiming to be director N, active at a high epoch, every other one also handing over ("take over now"),
// authenticated with key K (a wrong one: the receiver must drop and count it; taken, the plain ones would keep a dead
// N alive and the others would make the receiver take over). Prints "sending" once, then `sent N` at the end.
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { parseArgs } from 'node:util'
import { parseHostPort } from '../../../src/address.js'
import { clusterTag, destinationBytes, encodeHeartbeat } from '../../../src/ha/heartbeat-wire.js'

const { values } = parseArgs({
  options: { to: { type: 'string' }, cluster: { type: 'string' }, key: { type: 'string' }, node: { type: 'string' }, interval: { type: 'string', default: '20' } },
})
if (!values.to || !values.cluster || !values.key || !values.node) {
  process.stderr.write('usage: heartbeat-forge.js --to ADDR:PORT --cluster C --key K --node N [--interval MS]\n')
  process.exit(2)
}
const to = parseHostPort(values.to, { defaultPort: 694 }) as { address: string; port: number }
const key = Buffer.from(values.key, 'utf8')
const tag = clusterTag(values.cluster)
const boot = randomBytes(16)
const payload = (handover: boolean) => JSON.stringify({ node: values.node, role: 'active', epoch: 1_000_000, priority: 255, handover })
const socket = createSocket(to.address.includes(':') ? 'udp6' : 'udp4')
let seq = 0
const timer = setInterval(() => {
  seq++
  const buf = encodeHeartbeat({ boot, seq, echoBoot: Buffer.alloc(16), echoSeq: 0, to: destinationBytes(to.address, to.port), payload: payload(seq % 2 === 1) }, key, tag)
  socket.send(buf, to.port, to.address)
}, Number(values.interval))
process.stdout.write('sending\n')
process.on('SIGTERM', () => {
  clearInterval(timer)
  socket.close()
  process.stdout.write(`sent ${seq}\n`)
  process.exit(0)
})
