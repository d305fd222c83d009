// IP addresses and `addr:port` text for the whole project: one canonical form (RFC 5952 for IPv6), one parser,
// one printer, one error code (LVS_ERR_INVALID_ADDRESS; callers that own a field rethrow it under their own code).
import ipaddr from 'ipaddr.js'
import { ERR_INVALID_ADDRESS } from './errors.js'

/** An address in canonical text, with its family. */
export interface Address {
  address: string
  family: 'inet' | 'inet6'
}

/** An address with the port given (or defaulted); `port` is absent when neither gave one. */
export interface HostPort extends Address {
  port?: number
}

/** Options of parseHostPort. */
export interface HostPortOptions {
  /** Port when the text has none. @default undefined (no port) */
  defaultPort?: number
  /** Lowest port accepted: 0 where port 0 means "the packet's own port" (ipvsadm output). @default 1 */
  minPort?: number
}

// Parsing is memoised: the same few addresses are parsed on every API write, config line and kernel listing, and
// ipaddr.js is slow on text that is not an address (`192.0.2.11:80`). Bounded: cleared when full.
function memoised<T>(compute: (text: string) => T): (text: string) => T {
  const cache = new Map<string, T>()
  return (text) => {
    if (cache.has(text)) return cache.get(text) as T
    const value = compute(text)
    if (cache.size >= 4096) cache.clear()
    cache.set(text, value)
    return value
  }
}

/**
 * Canonical text and family of a plain IP literal, or undefined: dotted-quad IPv4 only (never "127.1", which a
 * resolver would take), IPv6 without a zone.
 */
export const canonicalAddress: (text: string) => Readonly<Address> | undefined = memoised(parseAddress)

/** ipaddr.js's range name of a canonical address (`unicast`, `multicast`, `unspecified`, ...), memoised like parsing. */
export const addressRange: (canonical: string) => string = memoised((canonical) => ipaddr.parse(canonical).range())

function parseAddress(text: string): Readonly<Address> | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return Object.freeze({ address: ipaddr.IPv4.parse(text).toString(), family: 'inet' })
  // Every IPv6 literal has at least two colons (`::`); `a.b.c.d:port` is not one.
  if (text.indexOf(':') !== text.lastIndexOf(':') && ipaddr.IPv6.isValid(text)) {
    const v6 = ipaddr.IPv6.parse(text)
    if (v6.zoneId) return undefined
    return Object.freeze({ address: v6.toRFC5952String(), family: 'inet6' })
  }
  return undefined
}

/** An LVS_ERR_INVALID_ADDRESS carrying `detail` (the reason alone, for a caller to rethrow under its own code). */
function invalidAddress(text: string, detail: string): Error & { detail: string } {
  return Object.assign(new ERR_INVALID_ADDRESS(JSON.stringify(text), detail), { detail })
}

/**
 * Parse `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1` or `[2001:db8::1]:80` (a bare IPv6 address has no port: its
 * colons are the address's). Throws LVS_ERR_INVALID_ADDRESS with a `detail`.
 */
export function parseHostPort(text: string, options: HostPortOptions = {}): HostPort {
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text)
  const [host, portText] = bracketed ? [bracketed[1]!, bracketed[2]]
    : text.split(':').length > 2 ? [text, undefined]
    : (text.split(':') as [string, string | undefined])
  const a = canonicalAddress(host)
  if (!a || (bracketed && a.family !== 'inet6')) throw invalidAddress(text, `${JSON.stringify(text)} is not an IPv4 or IPv6 address`)
  if (portText === undefined) return options.defaultPort === undefined ? a : { ...a, port: options.defaultPort }
  const port = Number(portText)
  const min = options.minPort ?? 1
  if (!/^\d{1,5}$/.test(portText) || port < min || port > 65535) throw invalidAddress(text, `port ${JSON.stringify(portText)} is not ${min}..65535`)
  return { ...a, port }
}

/** `addr:port`, bracketing IPv6 as ipvsadm does. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
}
