// DNS wire format for the dns check: one query built by hand, and the reply's header, question and answers parsed.
import ipaddr from 'ipaddr.js'

/** Record types the check can ask for, with their wire numbers. */
export const DNS_TYPES = { A: 1, AAAA: 28 } as const
const CNAME = 5
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED']

/** The text name of a reply code (rcode 3 → 'NXDOMAIN'). */
export function rcodeName(rcode: number): string {
  return RCODES[rcode] ?? `RCODE${rcode}`
}

function encodeName(name: string): Buffer {
  const labels = name === '.' ? [] : name.replace(/\.$/, '').split('.')
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])])
}

/** Builds a standard query (RD set, one question, class IN). */
export function buildDnsQuery(id: number, name: string, type: keyof typeof DNS_TYPES): Buffer {
  const header = Buffer.alloc(12)
  header.writeUInt16BE(id, 0)
  header.writeUInt16BE(0x0100, 2) // recursion desired
  header.writeUInt16BE(1, 4) // one question
  const tail = Buffer.alloc(4)
  tail.writeUInt16BE(DNS_TYPES[type], 0)
  tail.writeUInt16BE(1, 2) // class IN
  return Buffer.concat([header, encodeName(name), tail])
}

/** One answer record, its data as text (an address, a CNAME target, or '' for other types). */
export interface DnsRecord {
  name: string
  type: number
  data: string
}

/** The parts of a reply the check judges. */
export interface DnsReply {
  id: number
  isResponse: boolean
  truncated: boolean
  rcode: number
  question?: { name: string; type: number }
  answers: DnsRecord[]
}

// Reads a possibly compressed name at `at`; returns it and the offset after it in the original position.
function readName(buf: Buffer, at: number): [string, number] {
  const labels: string[] = []
  let pos = at
  let end = -1
  for (let jumps = 0; jumps < 64; ) {
    const len = buf[pos]
    if (len === undefined) throw new RangeError('name runs past the message')
    if (len === 0) return [labels.join('.') || '.', end < 0 ? pos + 1 : end]
    if ((len & 0xc0) === 0xc0) {
      if (end < 0) end = pos + 2
      pos = buf.readUInt16BE(pos) & 0x3fff
      jumps++
      continue
    }
    if (pos + 1 + len > buf.length) throw new RangeError('label runs past the message')
    labels.push(buf.toString('latin1', pos + 1, pos + 1 + len))
    pos += 1 + len
  }
  throw new RangeError('too many compression pointers')
}

/** Parses a reply; `undefined` when it is malformed (truncated, bad pointers). */
export function parseDnsReply(buf: Buffer): DnsReply | undefined {
  try {
    if (buf.length < 12) return undefined
    const flags = buf.readUInt16BE(2)
    const qd = buf.readUInt16BE(4)
    const an = buf.readUInt16BE(6)
    const reply: DnsReply = { id: buf.readUInt16BE(0), isResponse: (flags & 0x8000) !== 0, truncated: (flags & 0x0200) !== 0, rcode: flags & 0xf, answers: [] }
    let pos = 12
    for (let i = 0; i < qd; i++) {
      const [name, next] = readName(buf, pos)
      if (i === 0) reply.question = { name, type: buf.readUInt16BE(next) }
      pos = next + 4
    }
    for (let i = 0; i < an; i++) {
      const [name, next] = readName(buf, pos)
      const type = buf.readUInt16BE(next)
      const rdlen = buf.readUInt16BE(next + 8)
      const rdata = next + 10
      if (rdata + rdlen > buf.length) return undefined
      let data = ''
      if ((type === DNS_TYPES.A && rdlen === 4) || (type === DNS_TYPES.AAAA && rdlen === 16))
        data = ipaddr.fromByteArray([...buf.subarray(rdata, rdata + rdlen)]).toString()
      else if (type === CNAME) data = readName(buf, rdata)[0]
      reply.answers.push({ name, type, data })
      pos = rdata + rdlen
    }
    return reply
  } catch {
    return undefined
  }
}
