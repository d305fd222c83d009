// Announcing VIPs a director has just taken, so neighbours send to its MAC at once: gratuitous ARP for IPv4 (a
// packet socket) and unsolicited neighbour advertisements for IPv6 (a raw ICMPv6 socket), both from this process.
// A burst runs in the background and can be aborted (a release during the burst stops it); a failure is an
// LVS_ERR_ANNOUNCE_FAILED that is logged and reported, never thrown into the caller's takeover.
import { systemClock, type Clock, type TimerHandle } from '../clock.js'
import { ERR_ANNOUNCE_FAILED, ERR_INVALID_VALUE } from '../errors.js'
import { openArpSocket, type ArpSocket, type OpenArpSocket } from './gratuitous-arp.js'
import { openNaSocket, type NaSocket, type OpenNaSocket } from './neighbour-advert.js'
import type { Vip } from './vips.js'

/** The pino-style logger announcements log to. */
export interface AnnounceLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

/** Options of {@link createAnnouncer}. */
export interface AnnouncerOptions {
  /** Packets per VIP in one burst. @default 3 */
  count?: number
  /** Milliseconds between a VIP's packets. @default 150 */
  intervalMs?: number
  /** Opens the IPv4 sender of an interface. @default openArpSocket (a packet socket, native/packet.c) */
  openArpSocket?: OpenArpSocket
  /** Opens the IPv6 sender of an interface. @default openNaSocket (raw-socket) */
  openNaSocket?: OpenNaSocket
  clock?: Clock
  log?: AnnounceLog
}

/** What one burst did. */
export interface AnnounceReport {
  /** Packets sent (ARP requests and advertisements). */
  sent: number
  /** One LVS_ERR_ANNOUNCE_FAILED per failed packet (or per interface whose IPv6 socket did not open). */
  errors: Error[]
  /** The burst was stopped before its last packet. */
  aborted: boolean
}

/** Sends bursts of announcements. */
export interface Announcer {
  /**
   * Starts a burst for `vips` and returns at once; the promise resolves when the burst ends (never rejects).
   * A takeover need not await it. `signal` aborts this burst only.
   */
  announce(vips: readonly Vip[], signal?: AbortSignal): Promise<AnnounceReport>
  /** Stops every burst under way (call it on release, before removing the VIPs). */
  abort(): void
  /** abort(), then waits for the bursts to end; idempotent. */
  close(): Promise<void>
}

/** Creates an announcer; throws LVS_ERR_INVALID_VALUE on a count or interval out of range. */
export function createAnnouncer(options: AnnouncerOptions = {}): Announcer {
  const count = options.count ?? 3
  const intervalMs = options.intervalMs ?? 150
  if (!Number.isInteger(count) || count < 1 || count > 100) throw new ERR_INVALID_VALUE('announce count', `${count} is not an integer from 1 to 100`)
  if (!Number.isFinite(intervalMs) || intervalMs < 0 || intervalMs > 60_000) throw new ERR_INVALID_VALUE('announce interval', `${intervalMs} ms is not from 0 to 60000`)
  const open = { 4: options.openArpSocket ?? openArpSocket, 6: options.openNaSocket ?? openNaSocket }
  const clock = options.clock ?? systemClock
  const { log } = options
  const bursts = new Set<{ controller: AbortController; done: Promise<AnnounceReport> }>()
  let closing: Promise<void> | undefined

  // Resolves after `ms`, or at once when `signal` aborts.
  function sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve()
      let timer: TimerHandle | undefined
      const done = () => {
        if (timer !== undefined) clock.clearTimeout(timer)
        signal.removeEventListener('abort', done)
        resolve()
      }
      timer = clock.setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
    })
  }

  async function burst(vips: readonly Vip[], signal: AbortSignal): Promise<AnnounceReport> {
    const report: AnnounceReport = { sent: 0, errors: [], aborted: false }
    const fail = (vip: Vip, why: string) => {
      const err = new ERR_ANNOUNCE_FAILED(vip.address, vip.interface, why)
      report.errors.push(err)
      log?.warn({ vip: vip.address, interface: vip.interface, err }, 'VIP announcement failed')
    }
    // One socket per family and interface for the whole burst (null: it did not open).
    const sockets = new Map<string, ArpSocket | NaSocket | null>()
    const where = (v: Vip) => `${v.family}%${v.interface}`
    for (const v of vips) {
      if (sockets.has(where(v))) continue
      try {
        sockets.set(where(v), await open[v.family](v.interface))
      } catch (err) {
        sockets.set(where(v), null)
        for (const w of vips.filter((w) => where(w) === where(v))) fail(w, `${KIND[v.family]} socket: ${(err as Error).message}`)
      }
    }
    const send = async (v: Vip) => {
      const socket = sockets.get(where(v))
      if (!socket) return
      try {
        await withDeadline(socket.send(v.address), 1000, clock)
        report.sent++
      } catch (err) {
        fail(v, `${KIND[v.family]}: ${(err as Error).message}`)
      }
    }
    try {
      for (let round = 0; round < count; round++) {
        if (signal.aborted) break
        if (round > 0) await sleep(intervalMs, signal)
        if (signal.aborted) break
        await Promise.all(vips.map(send))
      }
    } finally {
      for (const s of sockets.values()) s?.close()
    }
    report.aborted = signal.aborted
    log?.info({ vips: vips.map((v) => v.address), sent: report.sent, failed: report.errors.length, aborted: report.aborted }, 'VIPs announced')
    return report
  }

  const announcer: Announcer = {
    announce(vips, signal) {
      const controller = new AbortController()
      if (closing) controller.abort()
      const onAbort = () => controller.abort()
      signal?.addEventListener('abort', onAbort, { once: true })
      if (signal?.aborted) controller.abort()
      const entry = {
        controller,
        done: burst(vips, controller.signal)
          .catch((err: Error): AnnounceReport => {
            // A bug, not an expected failure: still reported, never thrown at the takeover.
            log?.warn({ err }, 'VIP announcement failed')
            return { sent: 0, errors: [err], aborted: controller.signal.aborted }
          })
          .finally(() => {
            signal?.removeEventListener('abort', onAbort)
            bursts.delete(entry)
          }),
      }
      bursts.add(entry)
      return entry.done
    },
    abort() {
      for (const b of bursts) b.controller.abort()
    },
    close() {
      closing ??= (async () => {
        announcer.abort()
        await Promise.all([...bursts].map((b) => b.done))
      })()
      return closing
    },
  }
  return announcer
}

const KIND = { 4: 'gratuitous ARP', 6: 'neighbour advertisement' } as const

// `promise`, or a rejection after `ms` (raw-socket never calls back when its socket closed under a queued send).
function withDeadline<T>(promise: Promise<T>, ms: number, clock: Clock): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new Error(`no answer from the socket within ${ms} ms`)), ms)
    promise.then(
      (v) => { clock.clearTimeout(timer); resolve(v) },
      (e: unknown) => { clock.clearTimeout(timer); reject(e as Error) },
    )
  })
}
