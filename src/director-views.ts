// The read views of the director's API (pure): a desired service or real server joined with its check's state,
// its effective weight, its drain, and the kernel's counters.
import type { CheckStatus } from '../healthchecks/scheduler.js'
import type { KernelCounters, RealView, ServiceView } from './api/control.js'
import type { RealConfig } from './config/schema.js'
import { kernelKey, type DesiredService } from './config/service.js'
import type { ListedDestination, ListedService } from './ipvs/parse.js'
import { etag, realKey } from './table/desired-table.js'

/** What the director knows live about one real server. */
export interface RealLive {
  check?: CheckStatus
  /** Effective weight; null = not in the kernel. */
  weight: number | null
  /** Wall-clock ms the drain began, when draining. */
  drainSince?: number
}

const iso = (ms: number) => new Date(ms).toISOString()

/** One real server's view; `wallOf` turns the scheduler's monotonic times into wall-clock ms. */
export function realView(s: DesiredService, r: RealConfig, listed: ListedService | undefined, live: RealLive, wallOf: (monotonic: number) => number): RealView {
  const st = live.check
  const d = listed?.destinations.find((x: ListedDestination) => x.address === r.address && x.port === r.port)
  const health: RealView['health'] = { state: st?.health ?? 'unknown' }
  if (st?.lastChangeAt !== undefined) health.since = iso(wallOf(st.lastChangeAt))
  if (st?.lastResult) {
    const { ok, message, durationMs, code } = st.lastResult
    health.lastResult = { ok, message, durationMs, ...(code ? { code } : {}) }
  }
  const since = live.drainSince
  return {
    ...r,
    key: realKey(r),
    etag: etag(r),
    health,
    effectiveWeight: live.weight,
    ...(since !== undefined ? { drain: { since: iso(since), deadline: iso(since + s.drainTimeout * 1000) } } : {}),
    ...(d ? { kernel: { weight: d.weight ?? 0, ...counters(d) } } : {}),
  }
}

/** A service's view with each real server's. */
export function serviceView(s: DesiredService, listed: ListedService | undefined, fallbackActive: boolean, liveOf: (r: RealConfig) => RealLive, wallOf: (monotonic: number) => number): ServiceView {
  const { destinations, ...rest } = s
  return {
    ...rest,
    key: kernelKey(s),
    etag: etag(s),
    destinations: destinations.map((r) => realView(s, r, listed, liveOf(r), wallOf)),
    fallbackActive,
    ...(listed?.stats ? { kernel: counters(listed) } : {}),
  }
}

/** Kernel counters and rates of a listed service or real server, zero where the listing has none. */
export function counters(x: ListedService | ListedDestination): KernelCounters {
  const st = x.stats
  const rt = x.rate
  return {
    ...('activeConns' in x ? { activeConns: x.activeConns ?? 0, inactiveConns: x.inactiveConns ?? 0 } : {}),
    connections: st?.conns ?? 0, inPackets: st?.inPkts ?? 0, outPackets: st?.outPkts ?? 0, inBytes: st?.inBytes ?? 0, outBytes: st?.outBytes ?? 0,
    cps: rt?.cps ?? 0, inPps: rt?.inPps ?? 0, outPps: rt?.outPps ?? 0, inBps: rt?.inBps ?? 0, outBps: rt?.outBps ?? 0,
  }
}
