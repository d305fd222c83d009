// The one interface every health-check kind implements, and the value a probe returns.
import type { BareTcpTarget } from './tcp-connect.js'

/** Where a probe goes: the real server (or its check address and port) behind a virtual service. */
export interface CheckTarget {
  /** Address to probe: the real server's, or the check's own `address` when one is configured. */
  address: string
  /** Port to probe: the real server's port, or the check's `port` (ldirectord's checkport). */
  port: number
  /** Transport of the virtual service; checks that follow the service's transport (connect, sip, dns) use it. */
  protocol: 'tcp' | 'udp'
  /** The virtual service's address and port (for external commands and the DR guard). */
  virtualAddress?: string
  virtualPort?: number
  /** The real server's own address and port, when the probe goes elsewhere. */
  realAddress?: string
  realPort?: number
}

/** What one probe found. A probe never throws: every failure, timeouts included, is a result. */
export interface CheckResult {
  ok: boolean
  /** Short human reason: 'connected', 'HTTP 500', 'timeout after 2000 ms', 'ECONNREFUSED'. */
  message: string
  durationMs: number
  /** Stable code for a failure: 'timeout', 'refused', 'unreachable', 'bad-status', 'bad-body', 'exit-code', ... */
  code?: string
}

/** One configured check. The scheduler calls `check` on each interval; `signal` aborts at the timeout. */
export interface Checker {
  readonly kind: string
  /**
   * Runs one probe. Must resolve (never reject) and must settle promptly once `signal` aborts,
   * with `{ ok: false, code: 'timeout' }`.
   */
  check(target: CheckTarget, signal: AbortSignal): Promise<CheckResult>
  /**
   * Optional set-up for a target (the DR guard installs its routes here), awaited once before the first probe so
   * its time never counts against a probe's timeout. Must not reject: a failed set-up shows in the probes.
   */
  prepare?(target: CheckTarget): Promise<void>
  /**
   * For a check that is a bare TCP connect (keepalived's TCP_CHECK): where it connects, when the native engine can
   * run it (healthchecks/tcp-connect.ts); the scheduler then leaves its cadence to the engine and never calls `check`.
   */
  bareTcp?(target: CheckTarget): BareTcpTarget | undefined
  /** Releases sockets, agents or child processes the checker keeps. */
  close?(): Promise<void>
}
