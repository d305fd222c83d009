// The health-check spec: one TypeBox schema per kind (the single source of types and validation) and its parser.
import { Type, type Static } from '@sinclair/typebox'
import type { ValueError } from '@sinclair/typebox/value'
import { canonicalAddress } from '../src/address.js'
import { ERR_INVALID_CHECK } from '../src/errors.js'
import { withDefaults } from '../src/values.js'

/** Fields every check kind takes. Times are in seconds; fractions are allowed. */
const common = {
  /** Seconds between two probes. @default 5 */
  interval: Type.Number({ exclusiveMinimum: 0, maximum: 86400, default: 5 }),
  /** Seconds a probe may take before it counts as failed with code 'timeout'. @default 3 */
  timeout: Type.Number({ exclusiveMinimum: 0, maximum: 3600, default: 3 }),
  /** Consecutive failures before an up server goes down (ldirectord's failurecount). @default 3 */
  fall: Type.Integer({ minimum: 1, maximum: 1000, default: 3 }),
  /** Consecutive successes before a down server comes back up. @default 2 */
  rise: Type.Integer({ minimum: 1, maximum: 1000, default: 2 }),
  /** Probe this address instead of the real server's (keepalived's connect_ip). */
  address: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  /** Probe this port instead of the real server's (ldirectord's checkport). */
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
}

/** Transport for kinds that otherwise follow the virtual service's protocol (useful for fwmark services). */
const protocol = Type.Optional(Type.Union([Type.Literal('tcp'), Type.Literal('udp')]))
/** A JavaScript regular expression source (ldirectord's `receive`, a Perl regex, is nearly always valid here). */
const regex = Type.String({ minLength: 1, maxLength: 1024 })
/** An argv array: program path first, no shell. */
const argv = Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { minItems: 1, maxItems: 64 })
/** Seconds between SIGTERM and SIGKILL when a command overruns its timeout. @default 1 */
const grace = Type.Number({ minimum: 0, maximum: 60, default: 1 })

/** `connect`: TCP connect; for a UDP service a datagram whose ICMP port-unreachable means down. */
export const ConnectCheckSchema = Type.Object(
  {
    kind: Type.Literal('connect'),
    ...common,
    protocol,
    /** Bytes to send after connecting (TCP) or as the datagram (UDP); UTF-8. UDP sends an empty datagram without it. */
    payload: Type.Optional(Type.String({ maxLength: 4096 })),
    /** Regex the reply must match; when set, a reply is required (TCP and UDP). */
    receive: Type.Optional(regex),
    /** UDP only, without `receive`: seconds to wait for an ICMP error before a silent service counts as up. @default min(1, timeout/2) */
    udpWait: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 3600 })),
  },
  { additionalProperties: false },
)

/** Accepted statuses: codes (301) and inclusive ranges ("200-299"), up to `top`99 (HTTP 5, SIP 6). */
function statusList(top: 5 | 6, defaults: (number | string)[]) {
  const item = Type.Union([Type.Integer({ minimum: 100, maximum: top * 100 + 99 }), Type.String({ pattern: `^[1-${top}][0-9]{2}-[1-${top}][0-9]{2}$` })], {
    errorMessage: `must be a status code (100-${top}99) or a range such as "200-299"`,
  })
  return Type.Array(item, { minItems: 1, maxItems: 32, default: defaults })
}

/** The predicate of a status list such as [200, "300-399"]. */
export function statusMatcher(list: readonly (number | string)[]): (code: number) => boolean {
  const ranges = list.map((s) => (typeof s === 'number' ? [s, s] : s.split('-').map(Number)) as [number, number])
  return (code) => ranges.some(([lo, hi]) => code >= lo && code <= hi)
}

function httpSchema<K extends 'http' | 'https'>(kind: K) {
  return Type.Object(
    {
      kind: Type.Literal(kind),
      ...common,
      /** @default 'GET' */
      method: Type.Union([Type.Literal('GET'), Type.Literal('HEAD')], { default: 'GET' }),
      /** Request path and query (ldirectord's `request`). @default '/' */
      path: Type.String({ pattern: '^/[^\\s]*$', maxLength: 2048, default: '/' }),
      /** Host header and TLS server name (ldirectord's `virtualhost`); the real server's address when unset. */
      virtualhost: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9.:\\[\\]_-]+$', maxLength: 255 })),
      /** Accepted status codes and ranges. @default ['200-299'] (ldirectord's is_success) */
      status: statusList(5, ['200-299']),
      /** Regex the body (its first 64 KiB) must match (ldirectord's `receive`). */
      receive: Type.Optional(regex),
      /** Verify the server's certificate and name (https). @default false (as ldirectord: verify_hostname => 0) */
      verify: Type.Boolean({ default: false }),
    },
    { additionalProperties: false },
  )
}
/** `http`: one HTTP request (the status line read over TCP, or the body through undici when `receive` is set); up on an accepted status and a matching body. */
export const HttpCheckSchema = httpSchema('http')
/** `https`: as `http`, over TLS. */
export const HttpsCheckSchema = httpSchema('https')

/** `sip`: SIP OPTIONS over the service's transport, up on an accepted final status. */
export const SipCheckSchema = Type.Object(
  {
    kind: Type.Literal('sip'),
    ...common,
    protocol,
    /** User in To, From and Contact (the Request-URI is the target, sip:address:port). @default 'lvs-director@<hostname>' */
    login: Type.Optional(Type.String({ pattern: '^[^\\s<>"]+$', maxLength: 255 })),
    /** Accepted final statuses; list 401 and 407 to count a UA that challenges the OPTIONS as alive. @default [200] */
    status: statusList(6, [200]),
  },
  { additionalProperties: false },
)

/** `pbs`: the PBS server's TCP port (15001 by default) accepts, and an optional status command exits 0. */
export const PbsCheckSchema = Type.Object(
  {
    kind: Type.Literal('pbs'),
    ...common,
    /** A `qstat -B`-style argv; `{address}` and `{port}` in an argument are replaced by the target's. */
    command: Type.Optional(argv),
    grace,
  },
  { additionalProperties: false },
)

/** `dns`: a query whose reply must carry rcode 0 and, when configured, a matching answer. */
export const DnsCheckSchema = Type.Object(
  {
    kind: Type.Literal('dns'),
    ...common,
    protocol,
    /** Name to query (ldirectord's `request`). */
    name: Type.String({ minLength: 1, maxLength: 253 }),
    /** @default 'A' */
    type: Type.Union([Type.Literal('A'), Type.Literal('AAAA')], { default: 'A' }),
    /** An address one answer record must equal. */
    answer: Type.Optional(Type.String({ minLength: 2, maxLength: 64 })),
    /** Regex one answer record (as text) must match (ldirectord's `receive`). */
    receive: Type.Optional(regex),
  },
  { additionalProperties: false },
)

/** `external`: a command run with argv + [vip, vport, rip, rport], no shell; up on exit 0. */
export const ExternalCheckSchema = Type.Object(
  { kind: Type.Literal('external'), ...common, command: argv, grace },
  { additionalProperties: false },
)

/** `ping`: ICMP / ICMPv6 echo (the checker lives in ping.ts). */
export const PingCheckSchema = Type.Object(
  {
    kind: Type.Literal('ping'),
    ...common,
    /** Echo requests per probe; one reply is enough (ldirectord's checkcount). @default 1 */
    count: Type.Integer({ minimum: 1, maximum: 10, default: 1 }),
  },
  { additionalProperties: false },
)

/** `dr-guard`: the VIP probed through the real server (the checker lives in dr-guard.ts). */
export const DrGuardCheckSchema = Type.Object(
  {
    kind: Type.Literal('dr-guard'),
    ...common,
    /** Echo requests to the VIP per probe. @default 1 */
    count: Type.Integer({ minimum: 1, maximum: 10, default: 1 }),
  },
  { additionalProperties: false },
)
/** `on`: always up. */
export const OnCheckSchema = Type.Object({ kind: Type.Literal('on'), ...common }, { additionalProperties: false })
/** `off`: always down. */
export const OffCheckSchema = Type.Object({ kind: Type.Literal('off'), ...common }, { additionalProperties: false })

const schemas = {
  connect: ConnectCheckSchema,
  http: HttpCheckSchema,
  https: HttpsCheckSchema,
  sip: SipCheckSchema,
  pbs: PbsCheckSchema,
  dns: DnsCheckSchema,
  ping: PingCheckSchema,
  external: ExternalCheckSchema,
  on: OnCheckSchema,
  off: OffCheckSchema,
  'dr-guard': DrGuardCheckSchema,
} as const

/** Every check kind. */
export const CHECK_KINDS = Object.keys(schemas) as CheckKind[]
/** One check spec: a union discriminated by `kind`. */
export const CheckSpecSchema = Type.Union(Object.values(schemas))

export type ConnectCheckSpec = Static<typeof ConnectCheckSchema>
export type HttpCheckSpec = Static<typeof HttpCheckSchema>
export type HttpsCheckSpec = Static<typeof HttpsCheckSchema>
export type SipCheckSpec = Static<typeof SipCheckSchema>
export type PbsCheckSpec = Static<typeof PbsCheckSchema>
export type DnsCheckSpec = Static<typeof DnsCheckSchema>
export type ExternalCheckSpec = Static<typeof ExternalCheckSchema>
export type PingCheckSpec = Static<typeof PingCheckSchema>
export type DrGuardCheckSpec = Static<typeof DrGuardCheckSchema>
export type OnCheckSpec = Static<typeof OnCheckSchema>
export type OffCheckSpec = Static<typeof OffCheckSchema>
/** A validated check spec with its defaults applied. */
export type CheckSpec = Static<typeof CheckSpecSchema>
/** The kind names. */
export type CheckKind = CheckSpec['kind']

/** Ports probed when neither the spec nor the real server gives one (a fwmark service's real has port 0). */
export const DEFAULT_PORTS: Partial<Record<CheckKind, number>> = { http: 80, https: 443, sip: 5060, pbs: 15001, dns: 53 }

function invalid(field: string, reason: string): Error {
  return new ERR_INVALID_CHECK(field, reason)
}

// A readable reason for a schema error: our own `errorMessage`, the allowed literals, or TypeBox's text.
type SchemaHints = { errorMessage?: unknown; anyOf?: { const?: unknown }[] }
function reasonOf(schema: SchemaHints, fallback: string): string {
  if (typeof schema.errorMessage === 'string') return schema.errorMessage
  const literals = schema.anyOf?.map((s) => s.const)
  if (literals?.length && literals.every((v) => typeof v === 'string')) return `must be one of ${literals.join(', ')}`
  return fallback === 'Unexpected property' ? 'unknown field' : fallback
}

function fieldOf(path: string): string {
  return path.replace(/^\//, '').replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.') || '(spec)'
}

function checkRegex(field: string, source: string | undefined): void {
  if (source === undefined) return
  try {
    new RegExp(source)
  } catch (err) {
    throw invalid(field, `not a valid regular expression: ${(err as Error).message}`)
  }
}

// Rules a JSON schema cannot state: addresses, regexes, range order, answer family, wait vs timeout.
function checkSemantics(spec: CheckSpec): void {
  // Only plain literals, never forms such as "127.1" that would go to a resolver.
  if (spec.address !== undefined && !canonicalAddress(spec.address)) throw invalid('address', `"${spec.address}" is not an IP address`)
  if ('receive' in spec) checkRegex('receive', spec.receive)
  if ((spec.kind === 'http' || spec.kind === 'https') && spec.method === 'HEAD' && spec.receive !== undefined)
    throw invalid('receive', 'a HEAD reply has no body to match; use method GET')
  if ('status' in spec) {
    spec.status.forEach((s, i) => {
      if (typeof s !== 'string') return
      const [lo, hi] = s.split('-').map(Number) as [number, number]
      if (lo > hi) throw invalid(`status[${i}]`, `range "${s}" runs backwards`)
    })
  }
  if (spec.kind === 'dns') {
    const labels = spec.name === '.' ? [] : spec.name.replace(/\.$/, '').split('.')
    if (labels.some((l) => !/^[A-Za-z0-9_*-]{1,63}$/.test(l))) throw invalid('name', `"${spec.name}" is not a DNS name`)
    if (spec.answer !== undefined) {
      if (canonicalAddress(spec.answer)?.family !== (spec.type === 'A' ? 'inet' : 'inet6'))
        throw invalid('answer', `"${spec.answer}" is not an ${spec.type === 'A' ? 'IPv4' : 'IPv6'} address (type is ${spec.type})`)
    }
  }
  if (spec.kind === 'connect' && spec.udpWait !== undefined && spec.udpWait >= spec.timeout)
    throw invalid('udpWait', `must be shorter than the timeout (${spec.timeout} s)`)
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

/**
 * Validates a check spec (from a config file or an API body), applies the defaults and returns it frozen.
 * Throws LVS_ERR_INVALID_CHECK naming the field on any problem; the input is never modified.
 */
export function parseCheckSpec(input: unknown): Readonly<CheckSpec> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw invalid('(spec)', 'must be an object')
  const kind = (input as { kind?: unknown }).kind
  if (typeof kind !== 'string' || !Object.hasOwn(schemas, kind))
    throw invalid('kind', `must be one of ${CHECK_KINDS.join(', ')} (got ${JSON.stringify(kind)})`)
  const schema = schemas[kind as CheckKind]
  // withDefaults copies with structuredClone, which keeps an own "__proto__" key as data (Value.Clone would set the
  // prototype), so it is rejected; what it cannot copy (functions, symbols) is not plain data.
  let checked: { value: unknown; error?: ValueError }
  try {
    checked = withDefaults(schema, input)
  } catch {
    throw invalid('(spec)', 'must be plain data (JSON or YAML values)')
  }
  const { value, error } = checked
  if (error) throw invalid(fieldOf(error.path), reasonOf(error.schema as SchemaHints, error.message))
  const spec = value as CheckSpec
  checkSemantics(spec)
  return deepFreeze(spec)
}
