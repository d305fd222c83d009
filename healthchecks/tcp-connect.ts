// The plain TCP connect of a health check (no request, no reply to read: keepalived's TCP_CHECK) through the native
// engine (native/connect.c): a non-blocking connect watched in the engine's own epoll set on Node's loop, without a
// net.Socket, on a cadence the engine keeps itself, so JavaScript runs once per batch of results and not per probe.
// The scheduler runs a bare connect check's whole cadence on an engine; a single probe (nativeConnect) uses a shared
// one. Both need the module built and a numeric address without a zone; else the connect check uses tcpExchange.
import { isIP } from 'node:net'
import { constants } from 'node:os'
import { lvsPacket, type LvsPacket } from '../src/native.js'
import type { CheckResult } from './checker.js'
import { down, fromError, onAbort, type Outcome } from './probe.js'

/** Where a bare connect goes, in the form the engine takes. */
export interface BareTcpTarget {
  family: 4 | 6
  address: string
  port: number
}

/** An engine's counters (probes since it opened; in flight, queued and targets now). */
export interface TcpEngineStats {
  started: number
  completed: number
  timeouts: number
  late: number
  inFlight: number
  queued: number
  targets: number
}

/** Targets probed by native code on their own cadence; results come back to `onResult`, a batch at a time. */
export interface TcpEngine {
  /**
   * Probes `target` first after `firstMs`, then every `intervalMs` on a fixed cadence (0: once, then the target is
   * gone); a probe without an answer after `timeoutMs` (0: never) ends with code 'timeout'. Returns the target's id.
   * `onResult` hears each result with `tag`, so one function can serve every target (a closure per target costs
   * ~100 bytes, 4 MB at 40,000 targets).
   */
  add<T>(target: BareTcpTarget, intervalMs: number, timeoutMs: number, firstMs: number, onResult: (result: CheckResult, tag: T) => void, tag?: T): number
  /** Stops a target: its probe in flight is closed and reports nothing. False when it is already gone. */
  remove(id: number): boolean
  stats(): TcpEngineStats
  /** Removes every target. Idempotent. */
  close(): void
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]))
const failures = new Map<number, Outcome>() // errno → outcome: a handful of values

/** The result of one probe as the engine reports it (errno 0: connected, -1: timed out). */
function resultOf(errno: number, durationMs: number, timeoutMs: number): CheckResult {
  if (errno === 0) return { ok: true, message: 'connected', durationMs }
  if (errno === -1) return { ok: false, code: 'timeout', message: `timeout after ${timeoutMs} ms`, durationMs }
  let o = failures.get(errno)
  if (!o) failures.set(errno, (o = fromError({ code: ERRNO_NAMES.get(errno) ?? `errno ${errno}` })))
  return { ok: false, code: o.code!, message: o.message, durationMs }
}

function loadModule(): LvsPacket | undefined {
  try {
    return lvsPacket()
  } catch {
    return undefined // not built: the connect check falls back to a net.Socket
  }
}

/** The target of a bare connect to `address:port`, or undefined when the engine cannot take it (a name, a zone). */
export function bareTcpTarget(address: string, port: number): BareTcpTarget | undefined {
  const family = address.includes('%') ? 0 : isIP(address)
  return family === 0 ? undefined : { family: family as 4 | 6, address, port }
}

/** Opens an engine that runs at most `maxInFlight` probes at once (the rest wait in turn); undefined when the native module is not built. */
export function createTcpEngine(maxInFlight: number): TcpEngine | undefined {
  const m = loadModule()
  if (!m) return undefined
  const handlers = new Map<number, { timeoutMs: number; onResult: (result: CheckResult, tag: unknown) => void; tag: unknown; once: boolean }>()
  const engine = m.tcpOpen((batch) => {
    for (let i = 0; i < batch.length; i += 3) {
      const id = batch[i]!
      const errno = batch[i + 1]!
      const h = handlers.get(id)
      if (!h) continue
      if (h.once) handlers.delete(id)
      h.onResult(resultOf(errno, batch[i + 2]! / 1000, h.timeoutMs), h.tag)
    }
  }, maxInFlight)
  let closed = false
  return {
    add(target, intervalMs, timeoutMs, firstMs, onResult, tag) {
      if (!(intervalMs >= 0 && timeoutMs >= 0 && firstMs >= 0)) {
        throw Object.assign(new TypeError(`times must be >= 0 ms, got ${intervalMs}, ${timeoutMs}, ${firstMs}`), { code: 'EINVAL' })
      }
      // Whole milliseconds, and a cadence of at least 1 ms (0 would mean once).
      const interval = intervalMs === 0 ? 0 : Math.max(1, Math.round(intervalMs))
      const id = m.tcpAdd(engine, target.family, target.address, target.port, interval, Math.round(timeoutMs), Math.round(firstMs))
      handlers.set(id, { timeoutMs, onResult: onResult as (result: CheckResult, tag: unknown) => void, tag, once: interval === 0 })
      return id
    },
    remove(id) {
      handlers.delete(id)
      return !closed && m.tcpRemove(engine, id)
    },
    stats() {
      const [started, completed, timeouts, late, inFlight, queued, targets] = closed ? [0, 0, 0, 0, 0, 0, 0] : m.tcpStats(engine)
      return { started: started!, completed: completed!, timeouts: timeouts!, late: late!, inFlight: inFlight!, queued: queued!, targets: targets! }
    },
    close() {
      if (closed) return
      closed = true
      handlers.clear()
      m.tcpClose(engine)
    },
  }
}

let shared: TcpEngine | null | undefined

/** One connect to `address:port`, ended by `signal` (its timeout); undefined when the native path cannot take it. */
export function nativeConnect(address: string, port: number, signal: AbortSignal): Promise<Outcome> | undefined {
  const target = bareTcpTarget(address, port)
  if (!target) return undefined
  // Single probes share one engine; their number in flight is bounded by whoever runs them (the scheduler).
  if (shared === undefined) shared = createTcpEngine(0x7fffffff) ?? null
  const engine = shared
  if (!engine) return undefined
  return new Promise((resolve) => {
    let id: number
    try {
      id = engine.add(target, 0, 0, 0, (result) => {
        unhook()
        resolve(result)
      })
    } catch (err) {
      resolve(fromError(err))
      return
    }
    const unhook = onAbort(signal, () => {
      engine.remove(id)
      resolve(down('timeout', 'aborted'))
    })
  })
}
