// The plain TCP connect of a health check (no request, no reply to read: keepalived's TCP_CHECK) through the
// native module (native/connect.c): a non-blocking connect watched on Node's event loop, without a net.Socket.
// The connect check uses it when the module is built and the address is numeric without a zone; else tcpExchange.
import { isIP } from 'node:net'
import { constants } from 'node:os'
import { lvsPacket, type LvsPacket } from '../src/native.js'
import { down, fromError, onAbort, up, type Outcome } from './probe.js'

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]))
const pending = new Map<number, (errno: number) => void>()
let native: LvsPacket | null | undefined

function load(): LvsPacket | null {
  if (native !== undefined) return native
  try {
    native = lvsPacket()
    native.onConnected((id, errno) => {
      const done = pending.get(id)
      pending.delete(id)
      done?.(errno)
    })
  } catch {
    native = null // not built: the caller falls back to a net.Socket
  }
  return native
}

/** A connect to `address:port` ended by `signal` (its timeout); undefined when the native path cannot take it. */
export function nativeConnect(address: string, port: number, signal: AbortSignal): Promise<Outcome> | undefined {
  const family = address.includes('%') ? 0 : isIP(address)
  const m = family === 0 ? null : load()
  if (!m) return undefined
  return new Promise((resolve) => {
    let id: number
    try {
      id = m.connect(family as 4 | 6, address, port)
    } catch (err) {
      resolve(fromError(err))
      return
    }
    const unhook = onAbort(signal, () => {
      pending.delete(id)
      m.cancel(id)
      resolve(down('timeout', 'aborted'))
    })
    pending.set(id, (errno) => {
      unhook()
      resolve(errno === 0 ? up('connected') : fromError({ code: ERRNO_NAMES.get(errno) ?? `errno ${errno}` }))
    })
  })
}
