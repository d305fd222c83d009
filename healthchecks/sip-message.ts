// SIP messages for the sip check: the OPTIONS request ldirectord sends (with fresh ids) and reply parsing.
import { randomBytes, randomInt } from 'node:crypto'
import net from 'node:net'
import type { LocalEndpoint } from './tcp-exchange.js'

/** The identifiers that tie a reply to one request. */
export interface SipRequestIds {
  callId: string
  branch: string
  tag: string
  cseq: number
}

/** Fresh identifiers for one probe: Call-ID, a RFC 3261 branch (z9hG4bK + random), From tag and CSeq. */
export function newSipIds(): SipRequestIds {
  return {
    callId: randomBytes(16).toString('hex'),
    branch: `z9hG4bK${randomBytes(12).toString('hex')}`,
    tag: randomBytes(6).toString('hex'),
    cseq: randomInt(1, 2 ** 31),
  }
}

/** `address:port` as a SIP URI host part, with an IPv6 address in brackets (RFC 3261 hostport). */
export function sipHostPort(address: string, port: number): string {
  return `${net.isIPv6(address) ? `[${address}]` : address}:${port}`
}

/**
 * Builds the OPTIONS request in ldirectord's form, with our ids and the real transport and local endpoint. The
 * Request-URI is the server probed (`sip:address:port`), which any UA accepts as addressed to itself, where a
 * user URI may be refused as "not found" or relayed by a proxy.
 */
export function buildSipOptions(login: string, server: { address: string; port: number }, transport: 'UDP' | 'TCP', local: LocalEndpoint, ids: SipRequestIds): Buffer {
  const lines = [
    `OPTIONS sip:${sipHostPort(server.address, server.port)} SIP/2.0`,
    `Via: SIP/2.0/${transport} ${sipHostPort(local.address, local.port)};branch=${ids.branch}`,
    'Max-Forwards: 70',
    `To: <sip:${login}>`,
    `From: <sip:${login}>;tag=${ids.tag}`,
    `Call-ID: ${ids.callId}`,
    `CSeq: ${ids.cseq} OPTIONS`,
    `Contact: <sip:${login}>`,
    'Accept: application/sdp',
    'Content-Length: 0',
  ]
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n')
}

/** The parts of a SIP response the check looks at. */
export interface SipResponse {
  status: number
  reason: string
  callId?: string
  cseq?: string
  /** The branch parameter of the top Via. */
  branch?: string
}

// RFC 3261 compact header forms the check reads.
const COMPACT: Record<string, string> = { i: 'call-id', v: 'via', l: 'content-length' }

/** Parses a response's start line and headers; `undefined` when it is not a SIP/2.0 response. */
export function parseSipResponse(head: string): SipResponse | undefined {
  const [start = '', ...lines] = head.split(/\r?\n/)
  const m = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(start)
  if (!m) return undefined
  const res: SipResponse = { status: Number(m[1]), reason: m[2] ?? '' }
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon < 1) continue
    const raw = line.slice(0, colon).trim().toLowerCase()
    const name = COMPACT[raw] ?? raw
    const value = line.slice(colon + 1).trim()
    if (name === 'call-id') res.callId ??= value
    else if (name === 'cseq') res.cseq ??= value.replace(/\s+/g, ' ')
    else if (name === 'via' && res.branch === undefined) {
      const top = value.split(',')[0] ?? ''
      res.branch = /;\s*branch=([^;,\s]+)/i.exec(top)?.[1] ?? ''
    }
  }
  return res
}

/** True when a response answers the request with these ids (Call-ID, CSeq and top-Via branch all match). */
export function matchesRequest(res: SipResponse, ids: SipRequestIds): boolean {
  return res.callId === ids.callId && res.cseq === `${ids.cseq} OPTIONS` && res.branch === ids.branch
}

/** Splits the complete messages off the front of a TCP stream (headers, then Content-Length bytes of body). */
export function splitSipStream(buf: Buffer): string[] {
  const out: string[] = []
  let at = 0
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', at)
    if (end < 0) return out
    const head = buf.subarray(at, end).toString('latin1')
    const len = Number(/^(?:content-length|l)[ \t]*:[ \t]*(\d+)/im.exec(head)?.[1] ?? 0)
    if (end + 4 + len > buf.length) return out
    out.push(head)
    at = end + 4 + len
  }
}
