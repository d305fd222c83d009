// One UDP conversation for a probe: a connected socket, a request with resends, replies matched, ICMP errors seen.
import dgram from 'node:dgram'
import net from 'node:net'
import { down, fromError, onAbort, type Outcome } from './probe.js'
import type { LocalEndpoint } from './tcp-exchange.js'

/** What to do on one connected UDP socket. */
export interface UdpExchange {
  address: string
  port: number
  /** The datagram, built once the local endpoint is known; resends repeat it unchanged. */
  request: (local: LocalEndpoint) => Buffer
  /** Milliseconds to wait before resend number `n` (1, 2, ...); without it there is no resend. */
  resendDelay?: (n: number) => number
  /** Judges one datagram; `undefined` means "not ours or not final, keep waiting". */
  onMessage?: (msg: Buffer) => Outcome | undefined
  /** Silence for `ms` after the first send settles with `outcome` (a UDP service that answers nothing). */
  quiet?: { ms: number; outcome: Outcome }
}

/**
 * Runs one UDP exchange. The socket is connect()ed, so the kernel reports an ICMP port-unreachable as
 * ECONNREFUSED, which settles at once as code 'refused'. Resolves (never rejects) and closes the socket.
 */
export function udpExchange(x: UdpExchange, signal: AbortSignal): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(net.isIPv6(x.address) ? 'udp6' : 'udp4')
    let quietTimer: NodeJS.Timeout | undefined
    let resendTimer: NodeJS.Timeout | undefined
    let settled = false
    const finish = (o: Outcome): void => {
      if (settled) return
      settled = true
      unhook()
      clearTimeout(quietTimer)
      clearTimeout(resendTimer)
      try {
        socket.close()
      } catch {
        // already closed by an error
      }
      resolve(o)
    }
    const unhook = onAbort(signal, () => finish(down('timeout', 'aborted')))
    socket.on('error', (err: NodeJS.ErrnoException) =>
      finish(err.code === 'ECONNREFUSED' ? down('refused', 'ECONNREFUSED (ICMP port unreachable)') : fromError(err)),
    )
    socket.on('message', (msg) => {
      const o = x.onMessage?.(msg)
      if (o) finish(o)
    })
    socket.connect(x.port, x.address, () => {
      if (settled) return
      const local = socket.address()
      const datagram = x.request({ address: local.address, port: local.port })
      const send = (): void => {
        if (!settled) socket.send(datagram, (err) => err && finish(fromError(err)))
      }
      send()
      const quiet = x.quiet
      if (quiet) quietTimer = setTimeout(() => finish(quiet.outcome), quiet.ms)
      if (x.resendDelay) {
        const delay = x.resendDelay
        const arm = (n: number): void => {
          resendTimer = setTimeout(() => (send(), arm(n + 1)), delay(n))
        }
        arm(1)
      }
    })
  })
}
