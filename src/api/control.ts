// What the REST API sees of the director: read views joining configured and live state, and one way to change
// the desired table. The API never touches the kernel; the director (src/director.ts) implements this.
import type { DesiredService } from '../config/service.js'
import type { RealConfig } from '../config/schema.js'
import type { Applied, Mutation } from '../table/desired-table.js'

/** Kernel counters of a service or real server (`ipvsadm -Ln --stats --exact` and `--rate`), from one cached read. */
export interface KernelCounters {
  activeConns?: number
  inactiveConns?: number
  connections: number
  inPackets: number
  outPackets: number
  inBytes: number
  outBytes: number
  /** Per-second rates over the kernel's last estimate. */
  cps: number
  inPps: number
  outPps: number
  inBps: number
  outBps: number
}

/** The last probe of a real server's check. */
export interface ProbeView {
  ok: boolean
  message: string
  code?: string
  durationMs: number
}

/** A real server: configured fields, health, what the kernel holds. Times are ISO 8601. */
export interface RealView extends RealConfig {
  /** `address:port` as in paths. */
  key: string
  etag: string
  health: { state: 'up' | 'down' | 'unknown'; since?: string; lastResult?: ProbeView }
  /** The weight the kernel should have now (admin x health x weight); null = not in the kernel. */
  effectiveWeight: number | null
  drain?: { since: string; deadline: string }
  /** Absent when the kernel does not hold it (or could not be read). */
  kernel?: KernelCounters & { weight: number }
}

/** A service: configured fields, its real servers' views, whether the fallback is in, kernel counters. */
export interface ServiceView extends Omit<DesiredService, 'destinations'> {
  /** Kernel identity: `tcp/192.0.2.100:80`. */
  key: string
  etag: string
  destinations: RealView[]
  fallbackActive: boolean
  kernel?: KernelCounters
}

/** The director's own state (`GET /v1/status`). */
export interface StatusView {
  role: 'single' | 'init' | 'standby' | 'active' | 'handing-over' | 'stopped'
  version: string
  startedAt: string
  revision: number
  services: number
  reals: { up: number; down: number; unknown: number; draining: number; disabled: number }
  kernel: {
    /** False after a failed apply until one succeeds (retried with backoff). */
    ok: boolean
    lastApplyAt?: string
    lastError?: { at: string; code: string; message: string }
    /** Changes waiting for a retry. */
    pending: number
    lastDriftCheckAt?: string
    driftRepairs: number
  }
  reload: { at?: string; ok: boolean; error?: { code: string; message: string } }
  /** A director pair: this director's side (absent for a single director). */
  pair?: PairView
  /** Where the desired table lives: the state file, or Redis for a pair (and how its follower is doing). */
  store: {
    kind: 'file' | 'redis'
    up: boolean
    lastError?: { at: string; code: string; message: string }
    lastPeerChange?: { at: string; revision: number; lagMs: number }
    /** The last stream entry the follower read (this director's own writes included). */
    position?: { id: string; revision: number }
  }
}

/** A director pair as this director sees it: epoch, peer, heartbeat paths, the lease, the VIPs it holds. */
export interface PairView {
  node: string
  epoch: number
  reason: string
  since: string
  peer: { node?: string; alive: boolean; role?: string; epoch: number }
  heartbeat: {
    stopped: boolean
    paths: Array<{ name: string; local: string; peer: string; alive: boolean; lastHeardMsAgo?: number; received: number; sent: number; forged: number; replayed: number; unconfirmed: number }>
  }
  lease: { up?: boolean; holder: string | null }
  vips: string[]
}

/** One line of the audit trail. */
export interface AuditEntry {
  /** Increasing; `GET /v1/audit?after=N` returns later entries. */
  seq: number
  at: string
  /** A token's name, `config` (reload), `health`, `drift`, `drain`, `local` (no tokens configured). */
  actor: string
  action: string
  /** `service NAME` or `service NAME real ADDR:PORT`. */
  target: string
  detail?: Record<string, unknown>
}

/** Who asks, and the ETag they send. */
export interface ChangeContext {
  actor: string
  ifMatch?: string
}

/** How a view gets its kernel counters. */
export interface ViewOptions {
  /**
   * `fresh` (reads): from a kernel read at most a second old (one read at a time, shared by all requests).
   * `cached` (a write's answer): from the last read, never starting one, so a write spawns only its own `ipvsadm -R`.
   * @default 'fresh'
   */
  counters?: 'fresh' | 'cached'
  /**
   * A write's answer shows the service (and real server) as the write left them: a director pair may take the
   * other director's next change (a drain ending, say) before the answer is built.
   */
  written?: { service?: DesiredService; real?: RealConfig }
}

/** The view options of a write's answer: the resource as written, with the last kernel read's counters. */
export const writeAnswer = (written: ViewOptions['written']): ViewOptions => ({ counters: 'cached', written })

/** The director as the API uses it. Every write is validated, persisted and audited before it resolves. */
export interface DirectorControl {
  services(): Promise<ServiceView[]>
  /** LVS_ERR_NOT_FOUND when unknown. */
  service(name: string, options?: ViewOptions): Promise<ServiceView>
  real(name: string, real: string, options?: ViewOptions): Promise<RealView>
  /** Apply one change; throws coded errors (400/404/409/412) and changes nothing when refused. */
  change(m: Mutation, ctx: ChangeContext): Promise<Applied>
  /** Re-read the config file (SIGHUP does the same); a bad file changes nothing and throws its coded error. */
  reload(actor: string): Promise<{ revision: number; changed: number }>
  /** The whole desired table, for backups. */
  exportTable(): { revision: number; etag: string; services: DesiredService[] }
  /** Replace the whole desired table (disaster recovery); `ifMatch` is the table's ETag from export, or `*`. */
  restoreTable(services: unknown, ctx: ChangeContext): Promise<Applied>
  status(): StatusView
  /** Hand the VIPs to the peer (a planned switchover); LVS_ERR_SWITCHOVER_REFUSED without a pair or a standby. */
  switchover(actor: string): Promise<{ role: StatusView['role'] }>
  audit(options: { after?: number; limit?: number }): AuditEntry[]
  /** True once the kernel table has been read and the first reconcile has run. */
  ready(): boolean
}
