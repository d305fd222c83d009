// The `sip` check: SIP OPTIONS over UDP (with retransmission) or TCP, up on a matching accepted final status.
import os from 'node:os'
import type { Checker, CheckTarget } from './checker.js'
import { statusMatcher, type SipCheckSpec } from './spec.js'
import type { Clock } from '../src/clock.js'
import { down, runProbe, up, type Outcome } from './probe.js'
import { tcpExchange } from './tcp-exchange.js'
import { udpExchange } from './udp-exchange.js'
import { buildSipOptions, matchesRequest, newSipIds, parseSipResponse, splitSipStream } from './sip-message.js'

/** RFC 3261 timers: first retransmit after T1, doubling up to T2 (milliseconds). */
export const SIP_T1_MS = 500
export const SIP_T2_MS = 4000

/** What the sip check needs from outside. */
export interface SipCheckerDeps {
  clock?: Clock
  /** Host name in the default login `lvs-director@<hostname>`. @default os.hostname() */
  hostname?: string
}

/**
 * Creates a sip checker. It sends ldirectord's OPTIONS request with a fresh Call-ID, branch, From tag and
 * CSeq per probe, over the service's transport. Over UDP the request is retransmitted after 0.5, 1, 2, 4, 4 ...
 * seconds until the timeout. Only a reply whose Call-ID, CSeq and branch match counts; 1xx replies are
 * waited past; a status in `spec.status` (default 200) is up, any other final status is down ('bad-status');
 * an ICMP port-unreachable is 'refused'.
 */
export function createSipChecker(spec: SipCheckSpec, deps: SipCheckerDeps = {}): Checker {
  const login = spec.login ?? `lvs-director@${deps.hostname ?? os.hostname()}`
  const accepted = statusMatcher(spec.status)

  function probe(target: CheckTarget, signal: AbortSignal): Promise<Outcome> {
    const ids = newSipIds()
    const judge = (head: string): Outcome | undefined => {
      const res = parseSipResponse(head)
      if (!res || !matchesRequest(res, ids) || res.status < 200) return undefined
      const text = `SIP ${res.status} ${res.reason}`.trim()
      return accepted(res.status) ? up(text) : down('bad-status', text)
    }
    if ((spec.protocol ?? target.protocol) === 'udp') {
      return udpExchange(
        {
          address: target.address,
          port: target.port,
          request: (local) => buildSipOptions(login, target, 'UDP', local, ids),
          resendDelay: (n) => Math.min(SIP_T1_MS * 2 ** (n - 1), SIP_T2_MS),
          onMessage: (msg) => judge(msg.toString('latin1').split('\r\n\r\n')[0] ?? ''),
        },
        signal,
      )
    }
    return tcpExchange(
      {
        address: target.address,
        port: target.port,
        request: (local) => buildSipOptions(login, target, 'TCP', local, ids),
        onData: (received) => {
          for (const head of splitSipStream(received)) {
            const o = judge(head)
            if (o) return o
          }
          return undefined
        },
        onEnd: () => down('bad-reply', 'connection closed without a matching final reply'),
      },
      signal,
    )
  }

  return {
    kind: 'sip',
    check: (target, signal) => runProbe((s) => probe(target, s), signal, deps.clock),
  }
}
