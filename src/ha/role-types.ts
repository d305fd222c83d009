// The pair role's vocabulary: roles, heartbeats, settings (with their defaults), actions, lease replies, state.
import { ERR_INVALID_VALUE } from '../errors.js'
import type { LeaseView } from './lease.js'

/** A director's role. */
export type Role = 'init' | 'standby' | 'active' | 'handing-over' | 'stopped'

/** What a peer's heartbeat says (and what {@link RoleMachine.advert} says for ours). */
export interface PeerHeartbeat {
  node: string
  role: Role
  epoch: number
  priority: number
  /** From an active: "take over now". From a standby: "hand over to me". */
  handover: boolean
}

/** The machine's settings. */
export interface RoleConfig {
  node: string
  /** Higher wins an election, and preempts when `preempt` is on. */
  priority: number
  /** @default 50 */
  heartbeatIntervalMs?: number
  /** Silent this long on every path = peer lost. @default 3 * heartbeatIntervalMs */
  deadIntervalMs?: number
  /** false: no Redis, heartbeats alone decide. @default true */
  lease?: boolean
  /** @default 1000 */
  leaseTtlMs?: number
  /** The holder drops the VIPs this long before its lease could expire. @default leaseTtlMs / 4 */
  leaseMarginMs?: number
  /** Added to the ttl before a taker adds the VIPs (clock rate drift, Redis latency). @default leaseTtlMs / 10 */
  driftMarginMs?: number
  /** How often the active renews its lease. @default min(heartbeatIntervalMs, leaseTtlMs / 5) */
  renewIntervalMs?: number
  /**
   * A holder heard on no heartbeat path that has not renewed its lease for this long by Redis's clock counts as
   * dead: the standby takes the lease over (and the VIPs) without waiting for the ttl. At least
   * 2 x renewIntervalMs. @default max(3 * renewIntervalMs, deadIntervalMs)
   */
  staleMs?: number
  /**
   * A main-loop stall this long or longer makes an active drop the VIPs until its lease is confirmed. Heartbeats
   * sent off the main loop (src/ha/heartbeat.ts) keep the peer from taking over during shorter stalls: then set it
   * to their stall limit. @default leaseMarginMs
   */
  stallFenceMs?: number
  /** @default false */
  preempt?: boolean
  /** @default 10000 */
  preemptDelayMs?: number
  /** No takeover without Redis. @default false */
  requireWitness?: boolean
  /**
   * How long an active handing over waits for the standby to say it is active (VIPs added, announcement started).
   * @default max(1000, 2 x leaseTtlMs): the ttl is what an emulated or slow machine scales
   */
  handoverTimeoutMs?: number
}

/** Why an alert went out. */
export type AlertKind = 'standby-lost' | 'partition' | 'redis-lost' | 'self-fenced' | 'no-witness' | 'handover-failed'

/** What the caller must do, in order. Each lease action must be answered with {@link RoleMachine.leaseReply}. */
export type RoleAction =
  | { type: 'takeover'; epoch: number; handover: boolean } // add the VIPs, announce them, sync daemon master; handover: the peer hands them over (and keeps serving a while)
  | { type: 'announce'; epoch: number } // announce the VIPs again (a split ended)
  | { type: 'release'; handedOver: boolean } // remove the VIPs, sync daemon backup; handedOver: the peer holds them now
  | { type: 'acquire-lease'; minEpoch: number; stealIfStaleMs?: number } // steal: also from a holder stale that long
  | { type: 'renew-lease'; epoch: number }
  | { type: 'release-lease'; epoch: number }
  | { type: 'read-lease' }
  | { type: 'alert'; kind: AlertKind; message: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string; fields: Record<string, unknown> }

/** A lease operation, as named in its action. */
export type LeaseOp = 'acquire' | 'renew' | 'release' | 'read'

/** The answer to a lease action: `sentAt` is when it was sent (monotonic ms); `view`, or the failure's message. */
export type LeaseReply = { op: LeaseOp; sentAt: number } & ({ view: LeaseView } | { error: string })

/** The machine's state, for status, metrics and the heartbeats. */
export interface RoleState {
  role: Role
  /** The epoch held (active) or the highest known (otherwise). */
  epoch: number
  /** Set in our heartbeats: handing over (active) or asking for it (standby). */
  handover: boolean
  reason: string
  since: number
  peer: { node?: string; alive: boolean; role?: Role; epoch: number; priority?: number; lastSeen?: number; paths: Record<string, { lastHeard: number; alive: boolean }> }
  /**
   * `lastSeenHeld`: when a lease op last found it held; `heldUntil`: the latest expiry seen (no takeover by the ttl
   * before it + drift); `holderRenewedAt`: the earliest time (our clock) the peer holding it can have last renewed,
   * from Redis's `sinceRenewMs` (stale, and stealable once silent, at it + staleMs).
   */
  redis: { enabled: boolean; up?: boolean; holder: string | null; lastSeenHeld?: number; heldUntil?: number; holderRenewedAt?: number }
}

/** The settings with every default filled in, checked. */
export function resolveRoleConfig(config: RoleConfig): Required<RoleConfig> {
  const hb = config.heartbeatIntervalMs ?? 50
  const dead = config.deadIntervalMs ?? 3 * hb
  const ttl = config.leaseTtlMs ?? 1000
  const renew = config.renewIntervalMs ?? Math.min(hb, ttl / 5)
  const defined = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) as RoleConfig
  const c: Required<RoleConfig> = {
    heartbeatIntervalMs: hb,
    deadIntervalMs: dead,
    lease: true,
    leaseTtlMs: ttl,
    leaseMarginMs: ttl / 4,
    driftMarginMs: ttl / 10,
    renewIntervalMs: renew,
    staleMs: Math.max(3 * renew, dead),
    stallFenceMs: config.leaseMarginMs ?? ttl / 4,
    preempt: false,
    preemptDelayMs: 10000,
    requireWitness: false,
    handoverTimeoutMs: Math.max(1000, 2 * ttl),
    ...defined,
  }
  if (!(c.heartbeatIntervalMs > 0 && c.deadIntervalMs >= c.heartbeatIntervalMs)) throw new ERR_INVALID_VALUE('ha deadIntervalMs', `${c.deadIntervalMs} is below heartbeatIntervalMs ${c.heartbeatIntervalMs}`)
  if (!(c.leaseMarginMs > 0 && c.leaseMarginMs + c.renewIntervalMs < c.leaseTtlMs)) throw new ERR_INVALID_VALUE('ha leaseMarginMs', `renewIntervalMs ${c.renewIntervalMs} + leaseMarginMs ${c.leaseMarginMs} must be under leaseTtlMs ${c.leaseTtlMs}`)
  if (!(c.renewIntervalMs > 0 && c.staleMs >= 2 * c.renewIntervalMs)) throw new ERR_INVALID_VALUE('ha staleMs', `${c.staleMs} is below 2 x renewIntervalMs ${c.renewIntervalMs}: one late renew would make a live holder stale`)
  return c
}
