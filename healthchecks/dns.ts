// The `dns` check: one query over UDP (resent each second) or TCP, up on rcode 0 and, if configured, a matching answer.
import { randomInt } from 'node:crypto'
import ipaddr from 'ipaddr.js'
import type { Checker, CheckTarget } from './checker.js'
import type { DnsCheckSpec } from './spec.js'
import type { Clock } from '../src/clock.js'
import { down, runProbe, up, type Outcome } from './probe.js'
import { tcpExchange } from './tcp-exchange.js'
import { udpExchange } from './udp-exchange.js'
import { buildDnsQuery, DNS_TYPES, parseDnsReply, rcodeName, type DnsReply } from './dns-message.js'

/** Milliseconds between resends of an unanswered UDP query. */
export const DNS_RESEND_MS = 1000

/** What the dns check needs from outside. */
export interface DnsCheckerDeps {
  clock?: Clock
}

/**
 * Creates a dns checker. A reply counts only if its ID, QR bit and question match the query. Up when the
 * rcode is NOERROR and, when `answer` or `receive` is set, an answer record of the asked type equals that
 * address or matches that regex (keepalived's DNS_CHECK checks the rcode only).
 */
export function createDnsChecker(spec: DnsCheckSpec, deps: DnsCheckerDeps = {}): Checker {
  const qtype = DNS_TYPES[spec.type]
  const want = spec.answer === undefined ? undefined : ipaddr.parse(spec.answer).toNormalizedString()
  const receive = spec.receive === undefined ? undefined : new RegExp(spec.receive)
  const qname = spec.name === '.' ? '.' : spec.name.replace(/\.$/, '').toLowerCase()

  // undefined: not the reply to this query (wrong ID, not a response, other question).
  function judge(reply: DnsReply | undefined, id: number): Outcome | undefined {
    if (!reply || reply.id !== id || !reply.isResponse) return undefined
    if (reply.question && (reply.question.name.toLowerCase() !== qname || reply.question.type !== qtype)) return undefined
    if (reply.rcode !== 0) return down('bad-rcode', rcodeName(reply.rcode))
    const records = reply.answers.filter((r) => r.type === qtype)
    if (!want && !receive) return up(`NOERROR, ${records.length} ${spec.type} record(s)`)
    const hit = records.find((r) => (want ? ipaddr.parse(r.data).toNormalizedString() === want : receive!.test(r.data)))
    if (hit) return up(`NOERROR, ${spec.type} ${hit.data}`)
    const got = records.map((r) => r.data).join(', ') || 'none'
    return down('bad-answer', `no ${spec.type} answer matches ${spec.answer ?? `/${spec.receive}/`} (got ${got})`)
  }

  function probe(target: CheckTarget, signal: AbortSignal): Promise<Outcome> {
    const id = randomInt(0, 0x10000)
    const query = buildDnsQuery(id, spec.name, spec.type)
    if ((spec.protocol ?? target.protocol) === 'udp') {
      return udpExchange(
        {
          address: target.address,
          port: target.port,
          request: () => query,
          resendDelay: () => DNS_RESEND_MS,
          onMessage: (msg) => judge(parseDnsReply(msg), id),
        },
        signal,
      )
    }
    const framed = Buffer.concat([Buffer.from([query.length >> 8, query.length & 0xff]), query])
    return tcpExchange(
      {
        address: target.address,
        port: target.port,
        request: () => framed,
        onData: (received) => {
          if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return undefined
          const msg = received.subarray(2, 2 + received.readUInt16BE(0))
          return judge(parseDnsReply(msg), id) ?? down('bad-reply', 'reply does not answer the query')
        },
        onEnd: () => down('bad-reply', 'connection closed before a reply'),
      },
      signal,
    )
  }

  return {
    kind: 'dns',
    check: (target, signal) => runProbe((s) => probe(target, s), signal, deps.clock),
  }
}
