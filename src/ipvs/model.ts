// The typed model of an IPVS table: TypeBox schemas (types and validation), normalisation to one canonical
// form, and the identity keys of services and destinations.
import { Type, type Static } from '@sinclair/typebox'
import type { ValueError } from '@sinclair/typebox/value'
import { withDefaults } from '../values.js'
import ipaddr from 'ipaddr.js'
import { addressRange, canonicalAddress, hostPort } from '../address.js'
import { ERR_INVALID_VALUE } from '../errors.js'

// Addresses are parsed and printed in one place for the whole project; these names stay here for compatibility.
export { canonicalAddress, hostPort }

/** Schedulers the kernel ships (each is a module ip_vs_<name>). */
export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh', 'fo', 'ovf', 'twos'] as const
/** Scheduler flags as `ipvsadm -b` takes them; sh-* only with sh, mh-* only with mh. */
export const SCHED_FLAGS = ['sh-fallback', 'sh-port', 'mh-fallback', 'mh-port', 'flag-1', 'flag-2', 'flag-3'] as const

const lit = <const T extends string>(values: readonly T[], options: { default?: NoInfer<T> } = {}) =>
  Type.Unsafe<T>(Type.Union(values.map((v) => Type.Literal(v)), options))

/** A real server of a virtual service. */
export const DestinationSchema = Type.Object(
  {
    address: Type.String({ minLength: 1, maxLength: 64 }),
    /** Defaults to the service's port (0 for fwmark services: the packet's own port). */
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    forwarding: lit(['dr', 'nat', 'tun'] as const, { default: 'dr' }),
    weight: Type.Integer({ minimum: 0, maximum: 65535, default: 1 }),
    upperThreshold: Type.Integer({ minimum: 0, maximum: 65535, default: 0 }),
    lowerThreshold: Type.Integer({ minimum: 0, maximum: 65535, default: 0 }),
    tunType: Type.Optional(lit(['ipip', 'gue', 'gre'] as const)),
    tunPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    tunChecksum: Type.Optional(lit(['nocsum', 'csum', 'remcsum'] as const)),
  },
  { additionalProperties: false },
)

/** A virtual service: tcp/udp address:port, or a firewall mark of one address family. */
export const ServiceSchema = Type.Object(
  {
    protocol: lit(['tcp', 'udp', 'fwmark'] as const),
    address: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    fwmark: Type.Optional(Type.Integer({ minimum: 1, maximum: 4294967295 })),
    /** Address family of a fwmark service (tcp/udp take it from the address). */
    family: Type.Optional(lit(['inet', 'inet6'] as const)),
    scheduler: lit(SCHEDULERS, { default: 'wlc' }),
    flags: Type.Array(lit(SCHED_FLAGS), { default: [] }),
    /** Persistence timeout in seconds (ipvsadm -p); absent = not persistent. */
    persistent: Type.Optional(Type.Integer({ minimum: 1, maximum: 2678400 })),
    /** Persistence granularity: dotted mask for IPv4, prefix length 1..128 for IPv6. */
    netmask: Type.Optional(Type.Union([Type.String({ maxLength: 15 }), Type.Integer()])),
    pe: Type.Optional(Type.Literal('sip')),
    /** One-packet scheduling (UDP and fwmark only). */
    ops: Type.Boolean({ default: false }),
    destinations: Type.Array(DestinationSchema, { default: [] }),
  },
  { additionalProperties: false },
)

/** A whole desired (or kernel) table. */
export const TableSchema = Type.Object(
  { services: Type.Array(ServiceSchema, { default: [] }) },
  { additionalProperties: false },
)

export type Destination = Static<typeof DestinationSchema>
export type Service = Static<typeof ServiceSchema>
export type Table = Static<typeof TableSchema>
export type Scheduler = (typeof SCHEDULERS)[number]
export type SchedFlag = (typeof SCHED_FLAGS)[number]

/** An LVS_ERR_INVALID_VALUE for one field, carrying `path` (a JSON pointer into the input) and `detail` (the message). */
export function invalid(path: string, message: string): Error {
  const err = new ERR_INVALID_VALUE(path || '/', message) as Error & { path?: string; detail?: string }
  err.path = path
  err.detail = message
  return err
}

function address(text: string, path: string): { address: string; family: 'inet' | 'inet6' } {
  const a = canonicalAddress(text)
  if (!a) throw invalid(path, `${JSON.stringify(text)} is not an IPv4 or IPv6 address`)
  const range = addressRange(a.address)
  if (range === 'unspecified' || range === 'multicast' || range === 'broadcast') {
    throw invalid(path, `${a.address} is a ${range} address`)
  }
  return a
}

/** The kernel bit (1..3) of each flag name; ipvsadm names the three bits after the scheduler (sh-*, mh-*, or flag-N). */
export const FLAG_BIT: Record<SchedFlag, number> = {
  'sh-fallback': 1, 'mh-fallback': 1, 'flag-1': 1, 'sh-port': 2, 'mh-port': 2, 'flag-2': 2, 'flag-3': 3,
}

/** The flag names ipvsadm prints for these bits under this scheduler, in bit order. */
export function flagNames(scheduler: string, bits: Set<number>): SchedFlag[] {
  const names: SchedFlag[] =
    scheduler === 'sh' ? ['sh-fallback', 'sh-port', 'flag-3']
    : scheduler === 'mh' ? ['mh-fallback', 'mh-port', 'flag-3']
    : ['flag-1', 'flag-2', 'flag-3']
  return names.filter((_, i) => bits.has(i + 1))
}

function normalizeFlags(s: Service, path: string): SchedFlag[] {
  const bits = new Set<number>()
  s.flags.forEach((f, i) => {
    if ((f.startsWith('sh-') && s.scheduler !== 'sh') || (f.startsWith('mh-') && s.scheduler !== 'mh')) {
      throw invalid(`${path}/flags/${i}`, `flag ${f} needs scheduler ${f.slice(0, 2)}, not ${s.scheduler}`)
    }
    bits.add(FLAG_BIT[f])
  })
  return flagNames(s.scheduler, bits)
}

function normalizeNetmask(s: Service, family: 'inet' | 'inet6', path: string): string | number | undefined {
  const m = s.netmask
  if (m === undefined) return undefined
  if (s.persistent === undefined) throw invalid(`${path}/netmask`, 'a netmask needs persistent')
  if (family === 'inet6') {
    const n = typeof m === 'number' ? m : /^\d{1,3}$/.test(m) ? Number(m) : NaN
    if (!(n >= 1 && n <= 128)) throw invalid(`${path}/netmask`, `IPv6 netmask must be a prefix length 1..128, not ${JSON.stringify(m)}`)
    return n === 128 ? undefined : n
  }
  const text = String(m)
  const prefix = ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text).prefixLengthFromSubnetMask() : null
  if (prefix === null) throw invalid(`${path}/netmask`, `${JSON.stringify(m)} is not an IPv4 netmask such as 255.255.255.0`)
  return prefix === 32 ? undefined : ipaddr.IPv4.parse(text).toString()
}

// The constant of each name: a value parsed from text is a string of its own (40,000 copies of 'dr', ~1 MB, in a
// table of 40,000 real servers); its constant is one string shared by all.
const FORWARDING = { dr: 'dr', nat: 'nat', tun: 'tun' } as const
const SCHEDULER = Object.fromEntries(SCHEDULERS.map((s) => [s, s])) as Record<Scheduler, Scheduler>

function normalizeDestination(d: Destination, svc: Service, family: string, path: string): Destination {
  const a = address(d.address, `${path}/address`)
  if (a.family !== family) throw invalid(`${path}/address`, `${a.address} is not of the service's family ${family}`)
  const svcPort = svc.protocol === 'fwmark' ? 0 : (svc.port ?? 0)
  const port = d.port ?? svcPort
  if (svc.protocol !== 'fwmark' && port === 0 && svcPort !== 0) throw invalid(`${path}/port`, 'port must be 1..65535')
  // A port-0 ("all ports") service keeps each packet's own port: a fixed real-server port would fold every port into one.
  if (svc.protocol !== 'fwmark' && svcPort === 0 && port !== 0) throw invalid(`${path}/port`, `a port-0 service's real servers are at port 0, not ${port}`)
  // ipvsadm silently forces the service's port on dr/tun destinations; say so instead of drifting for ever.
  if (svc.protocol !== 'fwmark' && d.forwarding !== 'nat' && port !== svcPort) {
    throw invalid(`${path}/port`, `${d.forwarding} forwarding keeps the service port ${svcPort}; only nat can map to ${port}`)
  }
  const out: Destination = {
    address: a.address, port, forwarding: FORWARDING[d.forwarding] ?? d.forwarding, weight: d.weight,
    upperThreshold: d.upperThreshold, lowerThreshold: d.lowerThreshold,
  }
  if (d.forwarding !== 'tun') {
    if (d.tunType || d.tunPort || d.tunChecksum) throw invalid(`${path}/tunType`, 'tunnel options need forwarding tun')
    return out
  }
  out.tunType = d.tunType ?? 'ipip'
  if (out.tunType === 'gue') {
    if (!d.tunPort) throw invalid(`${path}/tunPort`, 'tun type gue needs tunPort')
    out.tunPort = d.tunPort
  } else if (d.tunPort) throw invalid(`${path}/tunPort`, 'tunPort is only for tun type gue')
  if (out.tunType !== 'ipip') out.tunChecksum = d.tunChecksum ?? 'nocsum'
  else if (d.tunChecksum) throw invalid(`${path}/tunChecksum`, 'checksum options are only for gue and gre')
  if (out.tunChecksum === 'remcsum' && out.tunType !== 'gue') throw invalid(`${path}/tunChecksum`, 'remcsum is only for gue')
  return out
}

/** Validate one service (already schema-checked, defaults applied) and return its canonical form. */
export function normalizeService(s: Service, path = ''): Service {
  let family: 'inet' | 'inet6'
  const out = { protocol: s.protocol } as Service
  if (s.protocol === 'fwmark') {
    if (s.fwmark === undefined) throw invalid(`${path}/fwmark`, 'a fwmark service needs fwmark')
    if (s.address !== undefined) throw invalid(`${path}/address`, 'a fwmark service has no address')
    if (s.port) throw invalid(`${path}/port`, 'a fwmark service has no port')
    family = s.family ?? 'inet'
    out.fwmark = s.fwmark
    out.family = family
  } else {
    if (s.address === undefined) throw invalid(`${path}/address`, `a ${s.protocol} service needs address`)
    if (s.fwmark !== undefined) throw invalid(`${path}/fwmark`, `a ${s.protocol} service has no fwmark`)
    if (s.port === undefined) throw invalid(`${path}/port`, `a ${s.protocol} service needs port`)
    // Port 0 is the kernel's "all ports" service, which it allows only when persistent.
    if (s.port === 0 && s.persistent === undefined) throw invalid(`${path}/port`, 'port must be 1..65535 (0 only with persistent)')
    const a = address(s.address, `${path}/address`)
    if (s.family && s.family !== a.family) throw invalid(`${path}/family`, `${a.address} is not ${s.family}`)
    family = a.family
    Object.assign(out, { address: a.address, port: s.port, family })
  }
  out.scheduler = SCHEDULER[s.scheduler] ?? s.scheduler
  out.flags = normalizeFlags(s, path)
  if (s.persistent !== undefined) out.persistent = s.persistent
  const netmask = normalizeNetmask(s, family, path)
  if (netmask !== undefined) out.netmask = netmask
  if (s.pe) {
    if (s.persistent === undefined) throw invalid(`${path}/pe`, 'a persistence engine needs persistent')
    out.pe = s.pe
  }
  if (s.ops && s.protocol === 'tcp') throw invalid(`${path}/ops`, 'one-packet scheduling is only for udp and fwmark services')
  out.ops = s.ops
  const seen = new Set<string>()
  out.destinations = s.destinations.map((d, i) => {
    const n = normalizeDestination(d, out, family, `${path}/destinations/${i}`)
    const key = destinationKey(n)
    if (seen.has(key)) throw invalid(`${path}/destinations/${i}`, `destination ${key} appears twice`)
    seen.add(key)
    return n
  })
  return out
}

/** A schema error in words a user can act on (TypeBox says only "Expected union value" for enums). */
export function describeError(e: ValueError): string {
  const anyOf = (e.schema as { anyOf?: Array<{ const?: unknown }> }).anyOf
  if (anyOf?.every((s) => 'const' in s)) return `${JSON.stringify(e.value)} is not one of ${anyOf.map((s) => s.const).join(', ')}`
  return e.value === undefined || typeof e.value === 'object' ? e.message : `${JSON.stringify(e.value)}: ${e.message}`
}

/** Schema-check, default and normalise a whole table; throws LVS_ERR_INVALID_VALUE naming the field's path. */
export function parseTable(input: unknown): Table {
  const { value: table, error } = withDefaults<Table>(TableSchema, input ?? {})
  if (error) throw invalid(error.path, describeError(error))
  const keys = new Set<string>()
  const services = table.services.map((s, i) => {
    const n = normalizeService(s, `/services/${i}`)
    const key = serviceKey(n)
    if (keys.has(key)) throw invalid(`/services/${i}`, `service ${key} appears twice`)
    keys.add(key)
    return n
  })
  return { services }
}

/** Stable identity of a service: `tcp/192.0.2.1:80`, `udp/[2001:db8::1]:5060`, `fwmark/7` or `fwmark6/7`. */
export function serviceKey(s: Pick<Service, 'protocol' | 'address' | 'port' | 'fwmark' | 'family'>): string {
  if (s.protocol === 'fwmark') return `fwmark${s.family === 'inet6' ? '6' : ''}/${s.fwmark}`
  return `${s.protocol}/${hostPort(s.address ?? '', s.port ?? 0)}`
}

/** Identity of a destination within its service: `192.0.2.11:80` or `[2001:db8::11]:80`. */
export function destinationKey(d: Pick<Destination, 'address' | 'port'>): string {
  return hostPort(d.address, d.port ?? 0)
}

/** What separates the service and the real server in an entry key. */
export const ENTRY_SEPARATOR = ' -> '

/** Key of a real server in plans and the owned set: `<service key> -> <destination key>` (kept in state files). */
export function entryKey(service: string, destination: string): string {
  return `${service}${ENTRY_SEPARATOR}${destination}`
}

/** True when two destinations are the same real server of a service (same destinationKey). */
export function sameDestination(a: Pick<Destination, 'address' | 'port'>, b: Pick<Destination, 'address' | 'port'>): boolean {
  return a.address === b.address && (a.port ?? 0) === (b.port ?? 0)
}

/** True when two services have the same attributes (identity and destinations aside). */
export function sameServiceAttrs(a: Service, b: Service): boolean {
  return (
    a.scheduler === b.scheduler && a.flags.join(',') === b.flags.join(',') && a.persistent === b.persistent &&
    a.netmask === b.netmask && a.pe === b.pe && a.ops === b.ops
  )
}

/** True when two destinations have the same attributes. */
export function sameDestinationAttrs(a: Destination, b: Destination): boolean {
  return (
    a.forwarding === b.forwarding && a.weight === b.weight && a.upperThreshold === b.upperThreshold &&
    a.lowerThreshold === b.lowerThreshold && a.tunType === b.tunType && a.tunPort === b.tunPort &&
    a.tunChecksum === b.tunChecksum
  )
}
