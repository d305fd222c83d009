// The ping check: ICMP echo (IPv4) and ICMPv6 echo with our own identifier, replies matched by id, seq and source.
import type { Checker, CheckResult, CheckTarget } from './checker.js'
import { systemClock, type Clock, type TimerHandle } from '../src/clock.js'
import { down, onAbort, timedResult, up, type Outcome } from './probe.js'
import { createIcmpTransport, familyOf, sameAddress, type Family, type IcmpEndpoint, type IcmpMessage, type IcmpTransport } from './icmp.js'

/** The fields of a ping spec this module reads. */
export interface PingSpec {
  /** Echo requests sent per probe, one every `retransmitMs`; any matching reply is success (ldirectord's checkcount). @default 1 */
  count?: number
}

/** What ping and the DR guard are built from. */
export interface EchoDeps {
  /** The shared raw-socket transport; one is created (and closed with the checker) when absent. */
  icmp?: IcmpTransport
  clock?: Clock
  /** Milliseconds between the echo requests of one probe, as ping(8) sends one a second. @default 1000 */
  retransmitMs?: number
  /** Source of the first sequence number (and of the identifier, for a transport created here). @default Math.random */
  random?: () => number
}

/** Options of one echo probe. */
export interface EchoOptions {
  count: number
  /** SO_MARK for policy routing (the DR guard); 0 = none. */
  mark?: number
}

/** Sends echo requests and waits for a matching reply; results are values. */
export interface EchoProber {
  probe(address: string, options: EchoOptions, signal: AbortSignal): Promise<CheckResult>
  close(): Promise<void>
}

/** Creates an echo prober with its own identifier per address family. */
export function createEchoProber(deps: EchoDeps = {}): EchoProber {
  const clock = deps.clock ?? systemClock
  const retransmitMs = deps.retransmitMs ?? 1000
  const random = deps.random ?? Math.random
  const icmp = deps.icmp ?? createIcmpTransport({ random })
  const endpoints = new Map<Family, IcmpEndpoint>()
  const listeners = new Set<(m: IcmpMessage) => void>()
  let seq = Math.floor(random() * 0x10000)

  function endpointFor(family: Family): IcmpEndpoint {
    let ep = endpoints.get(family)
    if (!ep) {
      ep = icmp.open(family, (m) => {
        for (const l of listeners) l(m)
      })
      endpoints.set(family, ep)
    }
    return ep
  }

  return {
    probe(address, options, signal) {
      const start = clock.now()
      const result = (r: Outcome): CheckResult => timedResult(r, clock.now() - start)
      const family = familyOf(address)
      const timedOut = (): Outcome => down('timeout', `no echo reply from ${address}`)
      if (!family) return Promise.resolve(result(down('bad-address', `not an IP address: ${address}`)))
      if (signal.aborted) return Promise.resolve(result(timedOut()))
      let ep: IcmpEndpoint
      try {
        ep = endpointFor(family)
      } catch (err) {
        return Promise.resolve(result(socketFailure(err, address)))
      }
      return new Promise<CheckResult>((resolve) => {
        const sent = new Set<number>()
        let timer: TimerHandle | undefined
        let done = false
        const finish = (r: Outcome): void => {
          if (done) return
          done = true
          if (timer) clock.clearTimeout(timer)
          listeners.delete(listener)
          unhook()
          resolve(result(r))
        }
        // Any of this probe's requests may be answered: a late reply to the first still proves the host is up.
        const listener = (m: IcmpMessage): void => {
          if (!sent.has(m.seq) || !(m.address === address || sameAddress(m.address, address))) return
          if (m.kind === 'reply') finish(up(`echo reply from ${address}`))
          else finish(down('unreachable', `${address} unreachable (ICMP error)`))
        }
        const attempt = (): void => {
          timer = undefined
          seq = (seq + 1) & 0xffff
          sent.add(seq)
          ep.send(address, seq, options.mark ?? 0).catch((err: unknown) => lostOnTheWayOut(err) || finish(socketFailure(err, address)))
          if (sent.size < options.count) {
            timer = clock.setTimeout(attempt, retransmitMs)
            timer.unref?.()
          }
        }
        listeners.add(listener)
        // Not aborted yet (checked above), so the hook cannot fire before `unhook` exists.
        const unhook = onAbort(signal, () => finish(timedOut()))
        attempt()
      })
    },
    async close() {
      for (const ep of endpoints.values()) ep.close()
      endpoints.clear()
      listeners.clear() // the transport closes its socket with the last endpoint
    },
  }
}

/**
 * True when the kernel dropped the request on its way out (ENOBUFS: a full or refusing queue, or a veth whose
 * peer just went down). A raw IPv4 socket hides such drops and a raw IPv6 socket reports them; both are a lost
 * request, so the probe waits for its timeout or its next request, the same on both families.
 */
function lostOnTheWayOut(err: unknown): boolean {
  return /no buffer space/i.test(String((err as Error)?.message ?? err))
}

/** Maps a socket error to a result: missing privilege, no route, or other. */
function socketFailure(err: unknown, address: string): Outcome {
  const message = String((err as Error)?.message ?? err)
  if (/not permitted|permission denied/i.test(message)) {
    return down('no-permission', `raw ICMP socket not permitted (run as root or with CAP_NET_RAW): ${message}`)
  }
  if (/unreachable|no route/i.test(message)) return down('unreachable', `${address}: ${message}`)
  return down('error', `${address}: ${message}`)
}

/** Creates the ping checker: up when the target answers an echo request before the timeout. */
export function createPingChecker(spec: PingSpec, deps: EchoDeps = {}): Checker {
  const count = spec.count ?? 1
  const prober = createEchoProber(deps)
  return {
    kind: 'ping',
    check: (target: CheckTarget, signal: AbortSignal) => prober.probe(target.address, { count }, signal),
    close: () => prober.close(),
  }
}
