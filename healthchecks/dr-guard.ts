// The DR guard (after seesaw's DSR-mode checks): an ICMP echo to the VIP routed through the real server, so a
// real server that lacks the VIP on its loopback is caught instead of black-holing the traffic IPVS-DR sends it.
import type { Checker, CheckResult, CheckTarget } from './checker.js'
import { createEchoProber, type EchoDeps } from './ping.js'
import type { GuardRoute, GuardRouter } from './guard-router.js'
import { familyOf } from './icmp.js'

/** The fields of a dr-guard spec this module reads. */
export interface DrGuardSpec {
  /** Echo requests per probe (see the ping check). @default 1 */
  count?: number
}

/** What the DR guard needs besides the echo transport: the one router shared by every guard of the director. */
export interface DrGuardDeps extends EchoDeps {
  router: GuardRouter
}

/**
 * Creates the DR-guard checker. The target's `virtualAddress` is the VIP; the real server is `realAddress`
 * (or `address`). Up when the real server answers for the VIP; a timeout means it does not hold the VIP.
 */
export function createDrGuardChecker(spec: DrGuardSpec, deps: DrGuardDeps): Checker {
  const count = spec.count ?? 1
  const prober = createEchoProber(deps)
  const routes = new Map<string, { route: GuardRoute; mark: Promise<number> }>()

  function markFor(route: GuardRoute): Promise<number> {
    const key = `${route.vip}|${route.via}`
    let entry = routes.get(key)
    if (!entry) {
      entry = { route, mark: deps.router.ensure(route) }
      routes.set(key, entry)
      // A failed setup is retried on the next probe.
      entry.mark.catch(() => routes.delete(key))
    }
    return entry.mark
  }

  // The VIP and the real server of a target; undefined for a fwmark service (its "address" is the mark, not a VIP).
  function routeOf(target: CheckTarget): GuardRoute | undefined {
    const vip = target.virtualAddress
    return vip && familyOf(vip) !== undefined ? { vip, via: target.realAddress ?? target.address } : undefined
  }

  return {
    kind: 'dr-guard',
    async prepare(target: CheckTarget): Promise<void> {
      const route = routeOf(target)
      // A failure is reported by the probes, which retry the set-up.
      if (route) await markFor(route).catch(() => {})
    },
    async check(target: CheckTarget, signal: AbortSignal): Promise<CheckResult> {
      const route = routeOf(target)
      if (!route) {
        const vip = target.virtualAddress
        return { ok: false, code: 'bad-target', message: `the DR guard needs the virtual IP address, got ${vip ?? 'none'}`, durationMs: 0 }
      }
      const { vip, via } = route
      let mark: number
      try {
        mark = await markFor(route)
      } catch (err) {
        return { ok: false, code: 'setup-failed', message: String((err as Error)?.message ?? err), durationMs: 0 }
      }
      const r = await prober.probe(vip, { count, mark }, signal)
      if (r.ok) return { ...r, message: `${via} answers for ${vip}` }
      // A real server without the VIP drops the probe (timeout) or, as Linux does for IPv6, sends an ICMP error.
      if (r.code === 'timeout' || r.code === 'unreachable') {
        return { ...r, message: `${via} does not answer for ${vip} (VIP missing on its loopback?)` }
      }
      return r
    },
    async close() {
      await prober.close()
      const entries = [...routes.values()]
      routes.clear()
      for (const { route, mark } of entries) {
        if (await mark.then(() => true, () => false)) await deps.router.release(route)
      }
    },
  }
}
