// The wire format: what is encoded decodes, and any change to a byte is refused.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { clusterTag, decodeHeartbeat, destinationBytes, encodeHeartbeat, MAX_PAYLOAD, type HeartbeatPacket } from '../../src/ha/heartbeat-wire.js'

const key = randomBytes(32)
const tag = clusterTag('pair-1')
const packet: HeartbeatPacket = {
  boot: randomBytes(16), seq: 2 ** 40, echoBoot: randomBytes(16), echoSeq: 7, to: destinationBytes('2001:db8::1', 694),
  payload: JSON.stringify({ node: 'dir-a', role: 'active', epoch: 3, priority: 200 }),
}

t.test('a heartbeat decodes to what was encoded', async (t) => {
  const d = decodeHeartbeat(encodeHeartbeat(packet, key, tag), key, tag)
  t.same(d, { ok: true, packet })
})

t.test('destinations: IPv4 as IPv4-mapped IPv6, with the port', async (t) => {
  t.equal(destinationBytes('192.0.2.1', 694).toString('hex'), '00000000000000000000ffffc000020102b6')
  t.not(destinationBytes('192.0.2.1', 694).toString('hex'), destinationBytes('192.0.2.1', 695).toString('hex'))
})

t.test('every flipped byte, a wrong key or a wrong cluster is refused', async (t) => {
  const buf = encodeHeartbeat(packet, key, tag)
  const reasons = new Set<string>()
  for (let i = 0; i < buf.length; i++) {
    const bad = Buffer.from(buf)
    bad.writeUInt8(bad.readUInt8(i) ^ 0x01, i)
    const d = decodeHeartbeat(bad, key, tag)
    if (d.ok) t.fail(`byte ${i} flipped and still accepted`)
    else reasons.add(d.reason)
  }
  t.same([...reasons].sort(), ['cluster', 'mac', 'malformed', 'version'])
  t.match(decodeHeartbeat(buf, randomBytes(32), tag), { ok: false, reason: 'mac' })
  t.match(decodeHeartbeat(buf, key, clusterTag('pair-2')), { ok: false, reason: 'cluster' })
  t.match(decodeHeartbeat(buf.subarray(0, buf.length - 1), key, tag), { ok: false, reason: 'malformed' })
  t.match(decodeHeartbeat(Buffer.alloc(0), key, tag), { ok: false, reason: 'malformed' })
})

t.test('a payload over the limit is not sent', async (t) => {
  t.throws(() => encodeHeartbeat({ ...packet, payload: 'x'.repeat(MAX_PAYLOAD + 1) }, key, tag), RangeError)
})
