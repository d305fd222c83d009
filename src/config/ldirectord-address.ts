// Addresses and ports as ldirectord.cf writes them: `10.0.0.1:80`, `[2001:db8::1]:80`, a port as a service
// name, an IPv4 range `a->b`. Host names are refused: the converter never resolves (a config must not change
// meaning with DNS), so the operator writes the address.
import ipaddr from 'ipaddr.js'
import { canonicalAddress } from '../ipvs/model.js'
import type { Fail } from './ldirectord-syntax.js'

// Service names ldirectord's configs use for ports (getservbyname's usual answers).
const PORTS: Record<string, number> = {
  ftp: 21, ssh: 22, smtp: 25, domain: 53, http: 80, www: 80, pop3: 110, nntp: 119, imap: 143, ldap: 389, https: 443,
  submission: 587, ldaps: 636, imaps: 993, pop3s: 995, oracle: 1521, radius: 1812, squid: 3128, mysql: 3306, sip: 5060,
  postgresql: 5432, pbs: 15001,
}

/** ldirectord's `service` for a port (its ld_port_to_service); `none` otherwise. */
export const SERVICE_BY_PORT: Record<number, string> = {
  21: 'ftp', 25: 'smtp', 53: 'dns', 80: 'http', 110: 'pop', 119: 'nntp', 143: 'imap', 389: 'ldap', 443: 'https',
  587: 'submission', 636: 'ldaps', 993: 'imaps', 995: 'pops', 1521: 'oracle', 1812: 'radius', 3128: 'http_proxy',
  3306: 'mysql', 5060: 'sip', 5432: 'pgsql',
}

/** The port of an ldirectord `service` (its ld_service_to_port), for checks of fwmark services. */
export const PORT_BY_SERVICE: Record<string, number> = Object.fromEntries(Object.entries(SERVICE_BY_PORT).map(([p, s]) => [s, Number(p)]))

/** A port number or service name; `allowZero` for real servers (port 0 = the packet's own port, fwmark). */
export function parsePort(text: string, line: number, what: string, fail: Fail, allowZero = false): number {
  if (/^\d{1,5}$/.test(text)) {
    const n = Number(text)
    if (n <= 65535 && (n > 0 || allowZero)) return n
  } else if (Object.hasOwn(PORTS, text)) return PORTS[text]!
  return fail(line, `${JSON.stringify(text)} is not a port (1..65535) or a known service name for the ${what}`)
}

/** One address of the given family, canonical; host names and bad literals are refused. */
export function parseAddress(text: string, v6: boolean, line: number, what: string, fail: Fail): string {
  const a = canonicalAddress(text)
  if (a && a.family === (v6 ? 'inet6' : 'inet')) return a.address
  if (a) fail(line, `${a.address} is an ${v6 ? 'IPv4' : 'IPv6'} address; the ${what} needs ${v6 ? 'IPv6 (use the *6 directive\'s [addr]:port form)' : 'IPv4 (use virtual6/real6/fallback6 for IPv6)'}`)
  if (/^[A-Za-z][A-Za-z0-9.-]*$/.test(text)) fail(line, `${text} for the ${what} is a host name; lvs-director does not resolve names, give the address`)
  return fail(line, `${JSON.stringify(text)} is not an ${v6 ? 'IPv6' : 'IPv4'} address for the ${what}`)
}

/** `host[:port]` or `[v6][:port]`; the port is undefined when absent. */
export function parseHostPort(
  text: string, v6: boolean, line: number, what: string, fail: Fail, allowZero = false,
): { address: string; port: number | undefined } {
  const m = v6 ? /^\[([^\]]*)\](?::([^:]*))?$/.exec(text) : /^([^:[\]]+)(?::([^:]*))?$/.exec(text)
  if (!m) fail(line, `${JSON.stringify(text)} is not ${v6 ? '[address]:port' : 'address:port'} for the ${what}`)
  const address = parseAddress(m[1]!, v6, line, what, fail)
  return { address, port: m[2] === undefined ? undefined : parsePort(m[2], line, what, fail, allowZero) }
}

/** Every IPv4 address from `first` to `last` (ldirectord's `real=a->b`); capped so a typo cannot eat memory. */
export function expandRange(first: string, last: string, line: number, fail: Fail): string[] {
  const from = ipaddr.IPv4.parse(first).toByteArray().reduce((n, b) => n * 256 + b, 0)
  const to = ipaddr.IPv4.parse(last).toByteArray().reduce((n, b) => n * 256 + b, 0)
  if (from > to) fail(line, `range ${first}->${last} runs backwards`)
  if (to - from >= 1024) fail(line, `range ${first}->${last} holds ${to - from + 1} addresses; at most 1024`)
  const out: string[] = []
  for (let n = from; n <= to; n++) out.push([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'))
  return out
}
