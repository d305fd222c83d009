// The director's configuration: one TypeBox schema that types the code, validates the YAML file and validates
// the REST API's bodies. A service is a table-file service (src/ipvs/model.ts) plus what the daemon adds:
// a name, a health check, quiescent or removal, a fallback server, a drain timeout, and per real server an
// admin state.
import { Type, type Static } from '@sinclair/typebox'
import { DestinationSchema, ServiceSchema } from '../ipvs/model.js'
import { CheckSpecSchema } from '../../healthchecks/spec.js'

const lit = <const T extends string>(values: readonly T[], options: { default?: NoInfer<T>; description?: string } = {}) =>
  Type.Unsafe<T>(Type.Union(values.map((v) => Type.Literal(v)), options))

/** What an operator has said about a real server: in the pool, draining (no new connections), or out. */
export const ADMIN_STATES = ['enabled', 'draining', 'disabled'] as const
export type AdminState = (typeof ADMIN_STATES)[number]

/** A service name: URL-safe, unique in the director. */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'

/** A real server of a director's service: a table destination plus its admin state. */
export const RealSchema = Type.Object(
  {
    ...DestinationSchema.properties,
    admin: lit(ADMIN_STATES, { default: 'enabled', description: 'enabled: in the pool; draining: weight 0 until its connections end, then removed; disabled: out' }),
  },
  { additionalProperties: false },
)

/** A fallback ("sorry") server: in the pool only while every real server is out. */
export const FallbackSchema = Type.Object(
  {
    address: DestinationSchema.properties.address,
    port: DestinationSchema.properties.port,
    forwarding: DestinationSchema.properties.forwarding,
    weight: Type.Integer({ minimum: 1, maximum: 65535, default: 1 }),
  },
  { additionalProperties: false },
)

const { destinations: _destinations, ...serviceFields } = ServiceSchema.properties

/** A virtual service as the director serves it. */
export const ServiceConfigSchema = Type.Object(
  {
    /** Unique and URL-safe; by default derived from protocol, address and port (`tcp-192.0.2.100-80`). */
    name: Type.Optional(Type.String({ pattern: NAME_PATTERN })),
    /** `web`, `sip` or `pbs`: defaults for the service, its real servers and its check (directors/). */
    profile: Type.Optional(lit(['web', 'sip', 'pbs'] as const)),
    ...serviceFields,
    /** The health check of every real server; by default the profile's, else one guessed from the port. */
    check: Type.Optional(CheckSpecSchema),
    /** A real server that fails its check stays with weight 0 (true, ldirectord's default) or is removed. */
    quiescent: Type.Boolean({ default: true }),
    fallback: Type.Optional(FallbackSchema),
    /** Seconds a draining real server keeps its connections before it is removed anyway. */
    drainTimeout: Type.Number({ minimum: 0, maximum: 604800, default: 300 }),
    destinations: Type.Array(RealSchema, { default: [] }),
  },
  { additionalProperties: false },
)

/** An API token: a name (written in the audit trail), the secret, and what it may do. */
export const TokenSchema = Type.Object(
  {
    name: Type.String({ pattern: NAME_PATTERN }),
    token: Type.String({ minLength: 16, maxLength: 256 }),
    role: lit(['read', 'admin'] as const),
  },
  { additionalProperties: false },
)

const Host = Type.String({ minLength: 1, maxLength: 255 })
const Port = Type.Integer({ minimum: 1, maximum: 65535 })
const FilePath = Type.String({ minLength: 1, maxLength: 4096 })
/** TLS to Redis: true (the system's CAs), or files for a private CA and a client certificate. */
const RedisTlsSchema = Type.Union([
  Type.Boolean(),
  Type.Object(
    { ca: Type.Optional(FilePath), cert: Type.Optional(FilePath), key: Type.Optional(FilePath), servername: Type.Optional(Host) },
    { additionalProperties: false },
  ),
])

/**
 * The pair's shared table in Redis (docs/redis.md): where Redis is (a URL, a host, or Sentinels and the master's
 * name), its secrets (inline or in files), the cluster name in every key, and how a write is confirmed.
 */
export const RedisSettingsSchema = Type.Object(
  {
    url: Type.Optional(Type.String({ pattern: '^rediss?://', maxLength: 1024 })),
    host: Type.Optional(Host),
    port: Type.Optional(Port),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    passwordFile: Type.Optional(FilePath),
    db: Type.Optional(Type.Integer({ minimum: 0, maximum: 1023 })),
    tls: Type.Optional(RedisTlsSchema),
    sentinels: Type.Optional(Type.Array(Type.Object({ host: Host, port: Port }, { additionalProperties: false }), { minItems: 1, maxItems: 16 })),
    /** The master's name the Sentinels watch. */
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    sentinelPassword: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    sentinelPasswordFile: Type.Optional(FilePath),
    /** The pair's name in every key (`lvs:{CLUSTER}:...`): several pairs share one Redis. */
    cluster: Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', default: 'lvs' }),
    /** Replicas that must confirm a write (WAIT) before the API acknowledges it; 0: Redis's answer is enough. */
    replicas: Type.Integer({ minimum: 0, maximum: 16, default: 0 }),
    /** Seconds WAIT waits for them. */
    waitTimeout: Type.Number({ exclusiveMinimum: 0, maximum: 60, default: 1 }),
    /** Seconds a Redis command may take before it fails (never resent late). */
    commandTimeout: Type.Number({ exclusiveMinimum: 0, maximum: 60, default: 2 }),
    /** Change-stream entries kept (a director further behind loads a snapshot). */
    streamMaxLen: Type.Integer({ minimum: 100, maximum: 10_000_000, default: 10000 }),
  },
  { additionalProperties: false },
)

/** A heartbeat path: this director's address and the peer's, each `ADDRESS` or `ADDRESS:PORT` (`[v6]:PORT`; port 694). */
const HeartbeatPathSchema = Type.Object(
  { local: Type.String({ minLength: 1, maxLength: 64 }), peer: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
)

/**
 * The director pair (docs/pair.md): this director's name and priority, the heartbeat paths and their key, the
 * lease in Redis, the VIPs it holds while active, how they are announced, the connection-sync daemon, alerts.
 */
export const PairSettingsSchema = Type.Object(
  {
    /** This director's name (the peer has another). */
    node: Type.String({ pattern: NAME_PATTERN }),
    /** 1..254; the higher one becomes active when both start, and takes back over with `preempt`. */
    priority: Type.Integer({ minimum: 1, maximum: 254, default: 100 }),
    heartbeat: Type.Object(
      {
        /** Seconds between heartbeats on each path. */
        interval: Type.Number({ minimum: 0.01, maximum: 10, default: 0.05 }),
        /** Heartbeats missed on every path before the peer counts as silent. */
        deadCount: Type.Integer({ minimum: 2, maximum: 100, default: 3 }),
        /** Seconds the main loop may be stuck before heartbeats stop (a hung director is replaced). */
        stallLimit: Type.Number({ minimum: 0.1, maximum: 60, default: 2 }),
        /** The shared HMAC-SHA256 key (at least 16 bytes), inline or on the first line of a file. */
        key: Type.Optional(Type.String({ minLength: 16, maxLength: 1024 })),
        keyFile: Type.Optional(FilePath),
        paths: Type.Array(HeartbeatPathSchema, { minItems: 1, maxItems: 8 }),
      },
      { additionalProperties: false },
    ),
    /** The active's lease in Redis: its time to live and the margin it gives up the VIPs before that (seconds). */
    lease: Type.Object(
      {
        ttl: Type.Number({ minimum: 0.2, maximum: 60, default: 1 }),
        margin: Type.Number({ minimum: 0.01, maximum: 30, default: 0.25 }),
      },
      { additionalProperties: false, default: {} },
    ),
    preempt: Type.Boolean({ default: false }),
    /** Seconds a returning higher-priority director waits before it takes back over (with preempt). */
    preemptDelay: Type.Number({ minimum: 0, maximum: 86400, default: 30 }),
    /** Take over only when Redis confirms the peer's lease lapsed (no takeover on heartbeats alone). */
    requireWitness: Type.Boolean({ default: false }),
    vips: Type.Array(
      Type.Object({ address: Type.String({ minLength: 1, maxLength: 64 }), interface: Type.String({ pattern: '^[A-Za-z0-9_.:@-]{1,15}$' }), label: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:@-]{1,15}$' })) }, { additionalProperties: false }),
      { minItems: 1, maxItems: 256 },
    ),
    announce: Type.Object(
      { count: Type.Integer({ minimum: 1, maximum: 100, default: 3 }), interval: Type.Number({ minimum: 0.01, maximum: 10, default: 0.15 }) },
      { additionalProperties: false, default: {} },
    ),
    /** The kernel's connection-sync daemon: master on the active, backup on the standby; absent: not run. */
    syncDaemon: Type.Optional(Type.Object(
      { interface: Type.String({ pattern: '^[A-Za-z0-9_.:@-]{1,15}$' }), syncid: Type.Integer({ minimum: 0, maximum: 255, default: 0 }) },
      { additionalProperties: false },
    )),
    alerts: Type.Object(
      {
        webhook: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 2048 })),
        headers: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' }), Type.String({ maxLength: 4096 }))),
        timeout: Type.Number({ exclusiveMinimum: 0, maximum: 60, default: 5 }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
)

/** The director's own settings. Times are seconds unless named otherwise. */
export const DirectorSettingsSchema = Type.Object(
  {
    api: Type.Object(
      {
        /** `ADDRESS:PORT`; without tokens only a loopback address is allowed. */
        listen: Type.String({ default: '127.0.0.1:9410', maxLength: 64 }),
        tls: Type.Optional(Type.Object({ cert: Type.String({ minLength: 1 }), key: Type.String({ minLength: 1 }) }, { additionalProperties: false })),
        tokens: Type.Array(TokenSchema, { default: [] }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Where the desired table, the owned set and the lock live. */
    stateDir: Type.String({ minLength: 1, default: '/var/lib/lvs-director' }),
    logLevel: lit(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, { default: 'info' }),
    /** Defaults for every check's timing, and the bound on probes running at once. */
    checks: Type.Object(
      {
        interval: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 86400 })),
        timeout: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 3600 })),
        fall: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        rise: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        maxConcurrent: Type.Integer({ minimum: 1, maximum: 100000, default: 1000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Seconds between full reads of the kernel table that repair drift. */
    driftInterval: Type.Number({ minimum: 1, maximum: 86400, default: 60 }),
    /** Milliseconds health transitions are gathered into one `ipvsadm -R` (an API write goes out at once). */
    batchWindow: Type.Integer({ minimum: 0, maximum: 5000, default: 20 }),
    /** The largest share (0..1) of a service's real servers an operator may have draining or disabled at once. */
    maxDrainShare: Type.Number({ minimum: 0, maximum: 1, default: 0.5 }),
    /**
     * Set `net.ipv4.vs.expire_nodest_conn=1` while the director runs (the earlier value is put back on stop): a
     * connection whose real server left the table (a drain's end, a removal) ends at its next packet, and a new
     * connection from a reused port is scheduled afresh, instead of the kernel dropping its packets until it times out.
     */
    expireNodestConn: Type.Boolean({ default: true }),
    /** Allow dr-guard checks (they add policy routing on the director; undone on stop). */
    drGuard: Type.Boolean({ default: false }),
    /** A director pair's shared table; absent: one director with its table in stateDir. */
    redis: Type.Optional(RedisSettingsSchema),
    /** Two directors, active and hot standby (needs redis). */
    pair: Type.Optional(PairSettingsSchema),
    ipvsadm: Type.Object(
      {
        path: Type.String({ minLength: 1, default: 'ipvsadm' }),
        timeout: Type.Number({ minimum: 1, maximum: 3600, default: 120 }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
)

/** The whole config file. A table file (`services:` only) is a valid config. */
export const ConfigSchema = Type.Object(
  {
    director: DirectorSettingsSchema,
    services: Type.Array(ServiceConfigSchema, { default: [] }),
  },
  { additionalProperties: false },
)

export type RealConfig = Static<typeof RealSchema>
export type FallbackConfig = Static<typeof FallbackSchema>
export type ServiceConfig = Static<typeof ServiceConfigSchema>
export type DirectorSettings = Static<typeof DirectorSettingsSchema>
export type RedisSettings = Static<typeof RedisSettingsSchema>
export type PairSettings = Static<typeof PairSettingsSchema>
export type Config = Static<typeof ConfigSchema>
export type Token = Static<typeof TokenSchema>
