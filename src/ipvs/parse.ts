// Pure parsers for ipvsadm's output: `-Sn` (restore lines) and `-Ln` with --exact, --stats, --rate, --thresholds.
// Formats follow ipvsadm.c (v1.31): print_service_entry, print_title and print_largenum.
// Services of protocols outside the model (SCTP; ICMP and ICMPv6 of newer or forked ipvsadm: -q, -1) belong to
// other tools: they are skipped with their real servers, never break a read, and are listed in `skipped`.
import { parseHostPort } from '../address.js'
import { ERR_IPVS_PARSE } from '../errors.js'
import {
  destinationKey, FLAG_BIT, flagNames, serviceKey, SCHED_FLAGS,
  type Destination, type SchedFlag, type Service, type Table,
} from './model.js'

/** Packet and byte counters (`--stats`), exact with `--exact`, else rounded as ipvsadm prints K/M/G/T. */
export interface Counters { conns: number; inPkts: number; outPkts: number; inBytes: number; outBytes: number }
/** Per-second rates (`--rate`). */
export interface Rates { cps: number; inPps: number; outPps: number; inBps: number; outBps: number }

/** One real server as `ipvsadm -Ln` shows it; which fields are set depends on the listing's format. */
export interface ListedDestination {
  address: string
  port: number
  /** `local` when the kernel serves it on this host (ipvsadm prints Local). */
  forwarding?: 'dr' | 'nat' | 'tun' | 'local'
  weight?: number
  activeConns?: number
  inactiveConns?: number
  upperThreshold?: number
  lowerThreshold?: number
  persistConns?: number
  stats?: Counters
  rate?: Rates
}

/** One virtual service as `ipvsadm -Ln` shows it. */
export interface ListedService {
  key: string
  protocol: 'tcp' | 'udp' | 'fwmark'
  address?: string
  port?: number
  fwmark?: number
  family: 'inet' | 'inet6'
  scheduler?: string
  flags?: string[]
  persistent?: number
  netmask?: string | number
  pe?: string
  ops?: boolean
  stats?: Counters
  rate?: Rates
  destinations: ListedDestination[]
}

/** A whole `ipvsadm -Ln` listing. */
export interface Listing {
  format: 'plain' | 'stats' | 'rate' | 'thresholds' | 'persistent'
  version?: string
  size?: number
  services: ListedService[]
  /** Entries of protocols the model lacks (see SavedTable.skipped); present only when there are some. */
  skipped?: string[]
}

/** A table read by `ipvsadm -Sn`. */
export interface SavedTable extends Table {
  /**
   * Services of protocols the model lacks and their real servers, as `sctp/192.0.2.1:80` and
   * `sctp/192.0.2.1:80 -> 192.0.2.11:80`: never touched, for callers to report as foreign. Present only when
   * there are some (so a table without them stays a plain Table).
   */
  skipped?: string[]
}

// -Sn service options of protocols outside the model, and the protocol each names.
const OTHER_SERVICE_OPTIONS: Record<string, string> = {
  '--sctp-service': 'sctp', '-q': 'icmp', '--icmp-service': 'icmp', '-1': 'icmpv6', '--icmpv6-service': 'icmpv6',
}
// -Ln protocol words of those services (print_service_entry: SCTP; ICMP and ICMPv6 in newer ipvsadm).
const OTHER_PROTOCOLS = /^(SCTP|ICMP|ICMPv6)$/

function fail(lineNo: number, message: string): never {
  throw new ERR_IPVS_PARSE(lineNo, message)
}

/** Split `addr:port` or `[v6]:port` into canonical address and port (0 allowed: fwmark real servers). */
function splitHostPort(text: string, lineNo: number): { address: string; port: number; family: 'inet' | 'inet6' } {
  let hp
  try {
    hp = parseHostPort(text, { minPort: 0 })
  } catch (err) {
    return fail(lineNo, (err as { detail: string }).detail)
  }
  if (hp.port === undefined) fail(lineNo, `no port in ${JSON.stringify(text)}`)
  return { address: hp.address, port: hp.port, family: hp.family }
}

function int(text: string | undefined, lineNo: number, what: string): number {
  if (text === undefined || !/^\d+$/.test(text)) fail(lineNo, `bad ${what} ${JSON.stringify(text)}`)
  return Number(text)
}

// Canonical flag names for the scheduler, so `-b flag-1` under sh reads back as sh-fallback.
function canonicalFlags(scheduler: string, list: string, lineNo: number): SchedFlag[] {
  const bits = new Set<number>()
  for (const f of list.split(',')) {
    if (!(SCHED_FLAGS as readonly string[]).includes(f)) fail(lineNo, `unknown scheduler flag ${JSON.stringify(f)}`)
    bits.add(FLAG_BIT[f as SchedFlag])
  }
  return flagNames(scheduler, bits)
}

// The key of an -Sn line of another protocol's service (`sctp/addr:port[ -> dest]`), or undefined.
function otherProtocolKey(words: string[]): string | undefined {
  const i = words.findIndex((w) => w in OTHER_SERVICE_OPTIONS)
  if (i < 0) return undefined
  const key = `${OTHER_SERVICE_OPTIONS[words[i]!]}/${words[i + 1] ?? ''}`
  const r = words.indexOf('-r')
  return r < 0 ? key : `${key} -> ${words[r + 1] ?? ''}`
}

/** Parse `ipvsadm -Sn` output (or our own `-R` lines) into a table; -a lines must follow their -A line. */
export function parseSave(text: string): SavedTable {
  const services = new Map<string, Service>()
  const skipped: string[] = []
  text.split('\n').forEach((raw, i) => {
    const lineNo = i + 1
    const words = raw.trim().split(/\s+/).filter(Boolean)
    if (words[0] === 'ipvsadm') words.shift()
    if (words.length === 0 || words[0]!.startsWith('#')) return
    const cmd = words.shift()
    if (cmd !== '-A' && cmd !== '-a') fail(lineNo, `unexpected ${JSON.stringify(cmd)}`)
    const other = otherProtocolKey(words)
    if (other !== undefined) { skipped.push(other); return }
    const svc: Service = { protocol: 'tcp', scheduler: 'wlc', flags: [], ops: false, destinations: [] } as unknown as Service
    const dest: Destination = { address: '', port: 0, forwarding: 'dr', weight: 1, upperThreshold: 0, lowerThreshold: 0 }
    let flags: string | undefined
    let sawService = false
    for (let w = 0; w < words.length; w++) {
      const opt = words[w]!
      const arg = (): string => words[++w] ?? fail(lineNo, `${opt} needs a value`)
      switch (opt) {
        case '-t': case '-u': {
          const hp = splitHostPort(arg(), lineNo)
          Object.assign(svc, { protocol: opt === '-t' ? 'tcp' : 'udp', address: hp.address, port: hp.port, family: hp.family })
          sawService = true
          break
        }
        case '-f': Object.assign(svc, { protocol: 'fwmark', fwmark: int(arg(), lineNo, 'fwmark'), family: 'inet' }); sawService = true; break
        case '-6': svc.family = 'inet6'; break
        case '-s': svc.scheduler = arg() as Service['scheduler']; break
        case '-p': svc.persistent = int(arg(), lineNo, 'timeout'); break
        case '-M': { const m = arg(); svc.netmask = /^\d+$/.test(m) ? Number(m) : m; break }
        case '--pe': svc.pe = arg() as 'sip'; break
        case '-o': svc.ops = true; break
        case '-b': flags = arg(); break
        case '-r': { const hp = splitHostPort(arg(), lineNo); dest.address = hp.address; dest.port = hp.port; break }
        case '-g': dest.forwarding = 'dr'; break
        case '-m': dest.forwarding = 'nat'; break
        case '-i': dest.forwarding = 'tun'; dest.tunType = 'ipip'; break
        case '-w': dest.weight = int(arg(), lineNo, 'weight'); break
        case '-x': dest.upperThreshold = int(arg(), lineNo, 'threshold'); break
        case '-y': dest.lowerThreshold = int(arg(), lineNo, 'threshold'); break
        case '--tun-type': dest.tunType = arg() as Destination['tunType']; if (dest.tunType !== 'ipip') dest.tunChecksum ??= 'nocsum'; break
        case '--tun-port': dest.tunPort = int(arg(), lineNo, 'tunnel port'); break
        case '--tun-nocsum': case '--tun-csum': case '--tun-remcsum': dest.tunChecksum = opt.slice(6) as Destination['tunChecksum']; break
        default: fail(lineNo, `unknown option ${JSON.stringify(opt)}`)
      }
    }
    if (!sawService) fail(lineNo, 'no service (-t, -u or -f)')
    if (flags) svc.flags = canonicalFlags(svc.scheduler, flags, lineNo)
    const key = serviceKey(svc)
    if (cmd === '-A') {
      services.set(key, svc)
      return
    }
    const owner = services.get(key) ?? fail(lineNo, `destination of unknown service ${key}`)
    if (!dest.address) fail(lineNo, '-a without -r')
    owner.destinations.push(dest)
  })
  return skipped.length ? { services: [...services.values()], skipped } : { services: [...services.values()] }
}

const TITLES: Array<[RegExp, Listing['format']]> = [
  [/\bConns\s+InPkts\s+OutPkts\s+InBytes\s+OutBytes\b/, 'stats'],
  [/\bCPS\s+InPPS\s+OutPPS\s+InBPS\s+OutBPS\b/, 'rate'],
  [/\bUthreshold\s+Lthreshold\b/, 'thresholds'],
  [/\bPersistConn\b/, 'persistent'],
  [/\bScheduler Flags\b/, 'plain'],
]

// Without --exact ipvsadm rounds to K (1e3), M (1e6), G (1e9) or T (1e12).
const SCALE: Record<string, number> = { '': 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12 }
function counter(text: string | undefined, lineNo: number): number {
  const m = /^(\d+)([KMGT]?)$/.exec(text ?? '')
  if (!m) fail(lineNo, `bad counter ${JSON.stringify(text)}`)
  return Number(m[1]) * SCALE[m[2]!]!
}

// The five counters of a --stats or --rate line, as that format names them.
function counters(words: string[], format: 'stats' | 'rate', lineNo: number): { stats: Counters } | { rate: Rates } {
  if (words.length !== 5) fail(lineNo, `expected 5 counters, got ${words.length}`)
  const [a, b, c, d, e] = words.map((w) => counter(w, lineNo)) as [number, number, number, number, number]
  return format === 'stats'
    ? { stats: { conns: a, inPkts: b, outPkts: c, inBytes: d, outBytes: e } }
    : { rate: { cps: a, inPps: b, outPps: c, inBps: d, outBps: e } }
}

function parseServiceLine(words: string[], format: Listing['format'], lineNo: number): ListedService {
  const proto = words.shift()
  let svc: ListedService
  if (proto === 'FWM') {
    const fwmark = int(words.shift(), lineNo, 'fwmark')
    const family = words[0] === 'IPv6' ? (words.shift(), 'inet6' as const) : ('inet' as const)
    svc = { key: '', protocol: 'fwmark', fwmark, family, destinations: [] }
  } else if (proto === 'TCP' || proto === 'UDP') {
    const hp = splitHostPort(words.shift() ?? '', lineNo)
    svc = { key: '', protocol: proto === 'TCP' ? 'tcp' : 'udp', address: hp.address, port: hp.port, family: hp.family, destinations: [] }
  } else return fail(lineNo, `unknown protocol ${JSON.stringify(proto)}`)
  svc.key = serviceKey(svc)
  if (format === 'stats' || format === 'rate') return Object.assign(svc, counters(words, format, lineNo))
  svc.scheduler = words.shift() ?? fail(lineNo, 'no scheduler')
  if (words[0]?.startsWith('(')) svc.flags = words.shift()!.replace(/[()]/g, '').split(',')
  svc.ops = false
  while (words.length > 0) {
    const w = words.shift()
    if (w === 'persistent') svc.persistent = int(words.shift(), lineNo, 'timeout')
    else if (w === 'mask') { const m = words.shift() ?? ''; svc.netmask = /^\d+$/.test(m) ? Number(m) : m }
    else if (w === 'pe') svc.pe = words.shift()
    else if (w === 'ops') svc.ops = true
    else fail(lineNo, `unexpected ${JSON.stringify(w)}`)
  }
  return svc
}

const FORWARD_NAME = { Route: 'dr', Masq: 'nat', Tunnel: 'tun', Local: 'local' } as const

function parseDestLine(words: string[], format: Listing['format'], tunInfo: boolean, lineNo: number): ListedDestination {
  const hp = splitHostPort(words.shift() ?? '', lineNo)
  const d: ListedDestination = { address: hp.address, port: hp.port }
  const n = (w: string | undefined) => int(w, lineNo, 'number')
  if (format === 'stats' || format === 'rate') {
    Object.assign(d, counters(words, format, lineNo))
  } else if (format === 'thresholds') {
    Object.assign(d, { upperThreshold: n(words[0]), lowerThreshold: n(words[1]), activeConns: n(words[2]), inactiveConns: n(words[3]) })
  } else if (format === 'persistent') {
    Object.assign(d, { weight: n(words[0]), persistConns: n(words[1]), activeConns: n(words[2]), inactiveConns: n(words[3]) })
  } else {
    const fwd = FORWARD_NAME[words.shift() as keyof typeof FORWARD_NAME] ?? fail(lineNo, 'unknown forwarding method')
    if (tunInfo) words.shift()
    Object.assign(d, { forwarding: fwd, weight: n(words[0]), activeConns: n(words[1]), inactiveConns: n(words[2]) })
  }
  return d
}

/** Parse `ipvsadm -Ln [--exact] [--stats|--rate|--thresholds|--persistent-conn|--tun-info]` output. */
export function parseList(text: string): Listing {
  const listing: Listing = { format: 'plain', services: [] }
  let tunInfo = false
  let current: ListedService | undefined
  let other: string | undefined // key of the other protocol's service whose real servers are being skipped
  const skipped: string[] = []
  text.split('\n').forEach((line, i) => {
    const lineNo = i + 1
    if (line.trim() === '') return
    const version = /^IP Virtual Server version (\S+) \(size=(\d+)\)/.exec(line)
    if (version) { listing.version = version[1]; listing.size = Number(version[2]); return }
    if (line.startsWith('Prot LocalAddress:Port')) {
      listing.format = TITLES.find(([re]) => re.test(line))?.[1] ?? fail(lineNo, 'unknown listing title')
      return
    }
    if (line.startsWith('  -> RemoteAddress:Port')) { tunInfo = /TunnelInfo/.test(line); return }
    const words = line.trim().split(/\s+/)
    if (words[0] === '->') {
      if (other !== undefined) { skipped.push(`${other} -> ${words[1] ?? ''}`); return }
      if (!current) fail(lineNo, 'real server before any service')
      current.destinations.push(parseDestLine(words.slice(1), listing.format, tunInfo, lineNo))
      return
    }
    other = OTHER_PROTOCOLS.test(words[0]!) ? `${words[0]!.toLowerCase()}/${words[1] ?? ''}` : undefined
    if (other !== undefined) { skipped.push(other); current = undefined; return }
    current = parseServiceLine(words, listing.format, lineNo)
    listing.services.push(current)
  })
  if (skipped.length) listing.skipped = skipped
  return listing
}

/** Copy the thresholds of a `-Ln --thresholds` listing into a table read by `-Sn` (which omits them). */
export function withThresholds<T extends Table>(table: T, listing: Listing): T {
  const byKey = new Map(listing.services.map((s) => [s.key, s]))
  for (const s of table.services) {
    const listed = new Map(byKey.get(serviceKey(s))?.destinations.map((x) => [destinationKey(x), x]))
    for (const d of s.destinations) {
      const l = listed.get(destinationKey(d))
      d.upperThreshold = l?.upperThreshold ?? d.upperThreshold
      d.lowerThreshold = l?.lowerThreshold ?? d.lowerThreshold
    }
  }
  return table
}

/** A running connection-sync daemon as `ipvsadm -Ln --daemon` shows it. */
export interface ListedDaemon {
  state: 'master' | 'backup'
  mcastInterface: string
  syncid: number
  syncMaxlen?: number
  mcastGroup?: string
  mcastPort?: number
  mcastTtl?: number
}

/** Parse `ipvsadm -Ln --daemon`: `master sync daemon (mcast=eth0, syncid=7, maxlen=1472, group=..., port=..., ttl=...)`. */
export function parseDaemons(text: string): ListedDaemon[] {
  return text.split('\n').filter((l) => l.trim()).map((line, i) => {
    const m = /^(master|backup) sync daemon \((.*)\)\s*$/.exec(line.trim())
    if (!m) fail(i + 1, `unexpected daemon line ${JSON.stringify(line)}`)
    const fields = new Map(m[2]!.split(',').map((kv) => kv.trim().split('=') as [string, string]))
    const num = (k: string) => (fields.has(k) ? int(fields.get(k), i + 1, k) : undefined)
    const d: ListedDaemon = { state: m[1] as 'master' | 'backup', mcastInterface: fields.get('mcast') ?? '', syncid: num('syncid') ?? 0 }
    if (fields.has('maxlen')) d.syncMaxlen = num('maxlen')
    if (fields.has('group')) d.mcastGroup = fields.get('group')
    if (fields.has('port')) d.mcastPort = num('port')
    if (fields.has('ttl')) d.mcastTtl = num('ttl')
    return d
  })
}

/**
 * A service as `-Ln -t VIP:PORT` (plain) and `... --thresholds` show it, in the model's form: what a read of one
 * service gives (`-Sn` cannot be limited to one). Tunnel options are not shown by these listings: callers read
 * services with tunnel real servers through `-Sn`.
 */
export function listedService(plain: ListedService, thresholds?: ListedService): Table['services'][number] {
  const byKey = new Map(thresholds?.destinations.map((d) => [destinationKey(d), d]))
  const { key: _k, stats: _s, rate: _r, destinations, flags, pe, ...rest } = plain
  return {
    ...rest,
    scheduler: (plain.scheduler ?? 'wlc') as Table['services'][number]['scheduler'],
    flags: flagNames(plain.scheduler ?? '', new Set((flags ?? []).map((f) => FLAG_BIT[f as keyof typeof FLAG_BIT]).filter(Boolean))),
    ...(pe === 'sip' ? { pe } : {}),
    ops: plain.ops ?? false,
    destinations: destinations.map((d) => {
      const t = byKey.get(destinationKey(d))
      return {
        address: d.address, port: d.port, forwarding: d.forwarding === 'local' ? 'dr' : (d.forwarding ?? 'dr'), weight: d.weight ?? 0,
        upperThreshold: t?.upperThreshold ?? 0, lowerThreshold: t?.lowerThreshold ?? 0,
      }
    }),
  }
}
