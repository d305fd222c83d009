// TypeBox schemas of what the API answers (the views of control.ts) and of its small request parts. They give the
// OpenAPI document and the response serialisation; request bodies are described by src/config/schema.ts.
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { NAME_PATTERN, RealSchema, ServiceConfigSchema } from '../config/schema.js'
import { CheckSpecSchema } from '../../healthchecks/spec.js'
import type { AuditEntry, RealView, ServiceView, StatusView } from './control.js'

const Time = Type.String({ description: 'ISO 8601' })
const Counter = Type.Number({ minimum: 0 })

/** Every error answer: a stable code and a message for people. */
export const ErrorSchema = Type.Object({
  code: Type.String({ pattern: '^LVS_ERR_' }),
  message: Type.String(),
  /** A pair's table revision in Redis: the one that won a conflict, or the one a write not confirmed by replicas has. */
  revision: Type.Optional(Type.Integer()),
}, { $id: 'Error' })

export const KernelCountersSchema = Type.Object({
  activeConns: Type.Optional(Counter),
  inactiveConns: Type.Optional(Counter),
  connections: Counter,
  inPackets: Counter,
  outPackets: Counter,
  inBytes: Counter,
  outBytes: Counter,
  cps: Counter,
  inPps: Counter,
  outPps: Counter,
  inBps: Counter,
  outBps: Counter,
})

const ProbeSchema = Type.Object({ ok: Type.Boolean(), message: Type.String(), code: Type.Optional(Type.String()), durationMs: Type.Number() })

export const RealViewSchema = Type.Object(
  {
    ...RealSchema.properties,
    key: Type.String({ description: '`address:port` as in paths (`[v6]:port`)' }),
    etag: Type.String(),
    health: Type.Object({
      state: Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('unknown')]),
      since: Type.Optional(Time),
      lastResult: Type.Optional(ProbeSchema),
    }),
    effectiveWeight: Type.Union([Type.Integer(), Type.Null()], { description: 'admin x health x weight; null = not in the kernel' }),
    drain: Type.Optional(Type.Object({ since: Time, deadline: Time })),
    kernel: Type.Optional(Type.Composite([KernelCountersSchema, Type.Object({ weight: Type.Integer() })])),
  },
  { $id: 'Real' },
)

const { destinations: _d, ...serviceFields } = ServiceConfigSchema.properties

export const ServiceViewSchema = Type.Object(
  {
    ...serviceFields,
    name: Type.String({ pattern: NAME_PATTERN }),
    check: CheckSpecSchema,
    key: Type.String({ description: 'kernel identity: `tcp/192.0.2.100:80`' }),
    etag: Type.String(),
    destinations: Type.Array(RealViewSchema),
    fallbackActive: Type.Boolean(),
    kernel: Type.Optional(KernelCountersSchema),
  },
  { $id: 'Service' },
)

export const StatusViewSchema = Type.Object(
  {
    /** `single` without a pair; else the pair role: init (listening at start), standby, active, handing-over, stopped. */
    role: Type.Union([Type.Literal('single'), Type.Literal('init'), Type.Literal('standby'), Type.Literal('active'), Type.Literal('handing-over'), Type.Literal('stopped')]),
    version: Type.String(),
    startedAt: Time,
    revision: Type.Integer(),
    services: Type.Integer(),
    reals: Type.Object({ up: Type.Integer(), down: Type.Integer(), unknown: Type.Integer(), draining: Type.Integer(), disabled: Type.Integer() }),
    kernel: Type.Object({
      ok: Type.Boolean(),
      lastApplyAt: Type.Optional(Time),
      lastError: Type.Optional(Type.Object({ at: Time, code: Type.String(), message: Type.String() })),
      pending: Type.Integer(),
      lastDriftCheckAt: Type.Optional(Time),
      driftRepairs: Type.Integer(),
    }),
    reload: Type.Object({ at: Type.Optional(Time), ok: Type.Boolean(), error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })) }),
    pair: Type.Optional(Type.Object({
      node: Type.String(),
      epoch: Type.Integer(),
      /** Why the role is what it is (the last transition). */
      reason: Type.String(),
      since: Time,
      peer: Type.Object({ node: Type.Optional(Type.String()), alive: Type.Boolean(), role: Type.Optional(Type.String()), epoch: Type.Integer() }),
      heartbeat: Type.Object({
        /** Heartbeats stopped because the main loop was stuck past the stall limit. */
        stopped: Type.Boolean(),
        paths: Type.Array(Type.Object({
          name: Type.String(), local: Type.String(), peer: Type.String(), alive: Type.Boolean(),
          lastHeardMsAgo: Type.Optional(Type.Number()),
          received: Type.Integer(), sent: Type.Integer(), forged: Type.Integer(), replayed: Type.Integer(), unconfirmed: Type.Integer(),
        })),
      }),
      /** The lease in Redis as last seen: reachable, and who holds it. */
      lease: Type.Object({ up: Type.Optional(Type.Boolean()), holder: Type.Union([Type.String(), Type.Null()]) }),
      vips: Type.Array(Type.String()),
    })),
    store: Type.Object({
      kind: Type.Union([Type.Literal('file'), Type.Literal('redis')]),
      /** Redis reachable and followed (always true for the file). */
      up: Type.Boolean(),
      lastError: Type.Optional(Type.Object({ at: Time, code: Type.String(), message: Type.String() })),
      /** The last change of the other director made here: when, its revision, and how long after Redis took it. */
      lastPeerChange: Type.Optional(Type.Object({ at: Time, revision: Type.Integer(), lagMs: Type.Number() })),
      position: Type.Optional(Type.Object({ id: Type.String(), revision: Type.Integer() }, { description: 'the last stream entry the follower read' })),
    }),
  },
  { $id: 'Status' },
)

export const AuditEntrySchema = Type.Object({
  seq: Type.Integer(),
  at: Time,
  actor: Type.String(),
  action: Type.String(),
  target: Type.String(),
  detail: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
})

/** The desired table as exported and restored (`GET/PUT /v1/table`). */
export const TableExportSchema = Type.Object({
  revision: Type.Integer(),
  services: Type.Array(ServiceConfigSchema),
})

/** `PUT /v1/table`: an export sent back; its revision is ignored (If-Match guards the table instead). */
export const TableRestoreSchema = Type.Object(
  { revision: Type.Optional(Type.Integer()), services: Type.Array(ServiceConfigSchema) },
  { additionalProperties: false },
)

export const ReloadSchema = Type.Object({ revision: Type.Integer(), changed: Type.Integer() })

/** A merge patch (RFC 7386) of a service: any field but name and destinations; null removes an optional one. */
export const ServicePatchSchema = Type.Partial(Type.Omit(ServiceConfigSchema, ['name', 'destinations']))
/** A merge patch of a real server: any field but address and port (`{"weight": 0}`, `{"admin": "draining"}`). */
export const RealPatchSchema = Type.Partial(Type.Omit(RealSchema, ['address', 'port']))

export const ServiceParams = Type.Object({ name: Type.String({ pattern: NAME_PATTERN }) })
export const RealParams = Type.Object({
  name: Type.String({ pattern: NAME_PATTERN }),
  real: Type.String({ maxLength: 80, description: '`address:port`, `[v6]:port` (URL-encoded), or a bare address' }),
})
export const ForceQuery = Type.Object({
  force: Type.Optional(Type.Boolean({ description: 'skip the maxDrainShare limit' })),
})
export const AuditQuery = Type.Object({
  after: Type.Optional(Type.Integer({ minimum: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'default 100' })),
})

/** Headers every conditional write may carry. */
export const IfMatchHeaders = Type.Object({ 'if-match': Type.Optional(Type.String({ maxLength: 1024 })) })

/** The error answers a route may give, for the OpenAPI document. */
export function errors(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries([400, 401, ...statuses].map((s) => [s, Type.Ref(ErrorSchema)]))
}

// The views are written twice (interface in control.ts, schema here); these lines fail to compile when they differ.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const _real: Same<Static<typeof RealViewSchema>, RealView> = true
const _service: Same<Static<typeof ServiceViewSchema>, ServiceView> = true
const _status: Same<Static<typeof StatusViewSchema>, StatusView> = true
const _audit: Same<Static<typeof AuditEntrySchema>, AuditEntry> = true
void [_real, _service, _status, _audit]
