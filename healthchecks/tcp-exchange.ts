// One TCP conversation for a probe: connect, optionally send a request, read until the reply decides.
import net from 'node:net'
import { down, fromError, onAbort, up, type Outcome } from './probe.js'

/** The local end of a probe's socket (SIP puts it in its Via header). */
export interface LocalEndpoint {
  address: string
  port: number
}

/** What to do on one TCP connection. */
export interface TcpExchange {
  address: string
  port: number
  /** Bytes sent once connected. */
  request?: (local: LocalEndpoint) => Buffer | string
  /** Judges everything received so far; `undefined` means "read more". Without it, connecting is success. */
  onData?: (received: Buffer) => Outcome | undefined
  /** Verdict when the peer closes (or `maxBytes` is reached) before `onData` decided. */
  onEnd?: (received: Buffer) => Outcome
  /** Bytes read at most; a huge reply cannot grow memory. @default 65536 */
  maxBytes?: number
}

/** Runs one TCP exchange; resolves (never rejects) and destroys the socket once decided or aborted. */
export function tcpExchange(x: TcpExchange, signal: AbortSignal): Promise<Outcome> {
  const maxBytes = x.maxBytes ?? 65536
  return new Promise((resolve) => {
    const socket = net.connect({ host: x.address, port: x.port })
    let received = Buffer.alloc(0)
    let settled = false
    const finish = (o: Outcome): void => {
      if (settled) return
      settled = true
      unhook()
      socket.destroy()
      resolve(o)
    }
    const unhook = onAbort(signal, () => finish(down('timeout', 'aborted')))
    socket.on('error', (err) => finish(fromError(err)))
    socket.on('connect', () => {
      const connected = (): void => finish(up('connected'))
      if (x.request) socket.write(x.request({ address: socket.localAddress ?? '', port: socket.localPort ?? 0 }), x.onData ? undefined : connected)
      else if (!x.onData) connected()
    })
    socket.on('data', (chunk: Buffer) => {
      if (!x.onData) return
      received = Buffer.concat([received, chunk])
      if (received.length >= maxBytes) return finish((x.onEnd ?? endless)(received.subarray(0, maxBytes)))
      const o = x.onData(received)
      if (o) finish(o)
    })
    socket.on('end', () => finish((x.onEnd ?? endless)(received)))
    socket.on('close', () => finish(down('reset', 'connection closed')))
  })
}

function endless(received: Buffer): Outcome {
  return down('bad-reply', received.length ? 'reply not recognised' : 'closed without a reply')
}
