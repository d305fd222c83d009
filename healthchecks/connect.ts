// The `connect` check: a TCP connect, or for a UDP service a datagram whose ICMP port-unreachable means down.
import type { Checker, CheckTarget } from './checker.js'
import type { ConnectCheckSpec } from './spec.js'
import type { Clock } from '../src/clock.js'
import { down, runProbe, up, type Outcome } from './probe.js'
import { bareTcpTarget, nativeConnect } from './tcp-connect.js'
import { tcpExchange } from './tcp-exchange.js'
import { udpExchange } from './udp-exchange.js'

/** What the connect check needs from outside. */
export interface ConnectCheckerDeps {
  clock?: Clock
}

/**
 * Creates a connect checker.
 * TCP: up once connected; with `payload` it is sent, and with `receive` the reply must match.
 * UDP (like keepalived's UDP_CHECK without require_reply): the payload (or an empty datagram) is sent on a
 * connected socket; an ICMP port-unreachable (ECONNREFUSED) is down with code 'refused', and silence for
 * `udpWait` seconds (default min(1, timeout/2)) is up. With `receive`, a matching reply is required instead.
 */
export function createConnectChecker(spec: ConnectCheckSpec, deps: ConnectCheckerDeps = {}): Checker {
  const receive = spec.receive === undefined ? undefined : new RegExp(spec.receive)
  const payload = spec.payload === undefined ? undefined : Buffer.from(spec.payload)
  const udpWaitMs = 1000 * (spec.udpWait ?? Math.min(1, spec.timeout / 2))
  const judge = (reply: Buffer): Outcome | undefined => (receive?.test(reply.toString('latin1')) ? up('reply matches') : undefined)
  const noMatch = (reply: Buffer): Outcome =>
    down('bad-reply', reply.length ? `reply does not match /${spec.receive}/` : 'closed without a reply')

  const bare = !payload && !receive

  function probe(target: CheckTarget, signal: AbortSignal): Promise<Outcome> {
    if ((spec.protocol ?? target.protocol) === 'udp') {
      return udpExchange(
        {
          address: target.address,
          port: target.port,
          request: () => payload ?? Buffer.alloc(0),
          onMessage: receive ? judge : undefined,
          quiet: receive ? undefined : { ms: udpWaitMs, outcome: up(`no ICMP error within ${udpWaitMs} ms`) },
        },
        signal,
      )
    }
    // A bare connect (no payload, no reply to match) goes the native way when it can (healthchecks/tcp-connect.ts).
    if (bare) {
      const native = nativeConnect(target.address, target.port, signal)
      if (native) return native
    }
    return tcpExchange(
      {
        address: target.address,
        port: target.port,
        request: payload ? () => payload : undefined,
        onData: receive ? judge : undefined,
        onEnd: noMatch,
      },
      signal,
    )
  }

  return {
    kind: 'connect',
    check: (target, signal) => runProbe((s) => probe(target, s), signal, deps.clock),
    bareTcp: (target) => (bare && (spec.protocol ?? target.protocol) === 'tcp' ? bareTcpTarget(target.address, target.port) : undefined),
  }
}
