// Expand (pure): a desired service, its real servers' admin states and their health, into the service the
// kernel should hold. The one place the rules live:
//   enabled and up           -> the configured weight
//   draining                 -> weight 0 (no new connections; the director removes it when its drain ends)
//   disabled, down, unknown  -> out: weight 0 when the service is quiescent (ldirectord's default), else absent
//   every real server out    -> the fallback (sorry) server goes in, and leaves when one is back
import type { Health } from '../../healthchecks/state.js'
import type { DesiredService } from '../config/service.js'
import type { RealConfig } from '../config/schema.js'
import type { Destination, Service } from '../ipvs/model.js'
import { realKey } from '../table/desired-table.js'
import { withFields } from '../values.js'

/** A real server's health by its key (`address:port`); unknown until its check has answered. */
export type HealthOf = (realKey: string) => Health

/** The kernel form of one desired service, and each real server's effective weight (null = not in the kernel). */
export interface Expanded {
  service: Service
  weights: Map<string, number | null>
  fallbackActive: boolean
}

/** The weight a real server should have in the kernel, or null when it should not be there. */
export function effectiveWeight(r: RealConfig, health: Health, quiescent: boolean): number | null {
  if (r.admin === 'draining') return 0
  if (r.admin === 'enabled' && health === 'up') return r.weight
  return quiescent ? 0 : null
}

const toDestination = ({ admin: _a, ...d }: RealConfig): Destination => d

/** Expand one desired service with its real servers' health. */
export function expandService(s: DesiredService, healthOf: HealthOf): Expanded {
  const weights = new Map<string, number | null>()
  const destinations: Destination[] = []
  let serving = false
  for (const r of s.destinations) {
    const w = effectiveWeight(r, healthOf(realKey(r)), s.quiescent)
    weights.set(realKey(r), w)
    if (w === null) continue
    destinations.push({ ...toDestination(r), weight: w })
    if (w > 0) serving = true
  }
  const fallbackActive = !serving && s.fallback !== undefined
  if (fallbackActive) {
    const f = s.fallback!
    destinations.push({ address: f.address, port: f.port, forwarding: f.forwarding, weight: f.weight, upperThreshold: 0, lowerThreshold: 0 })
  }
  const { name: _n, profile: _p, check: _c, quiescent: _q, fallback: _f, drainTimeout: _t, destinations: _d, ...ipvs } = s
  // A copy of exact length: an array pushed to from empty keeps 17 slots (~140 bytes more per service kept).
  return { service: withFields(ipvs, { destinations: destinations.slice() }), weights, fallbackActive }
}

/** The kernel table of desired services taken as healthy (the one-shot `apply`, which runs no checks). */
export function staticTable(services: readonly DesiredService[]): { services: Service[] } {
  return { services: services.map((s) => expandService(s, () => 'up').service) }
}
