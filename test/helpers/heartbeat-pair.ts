// Helpers of the heartbeat tests: free UDP ports, a mirrored pair of options, and waits on events with a bound.
import { createSocket } from 'node:dgram'
import type { Heartbeat, HeartbeatOptions, PeerEvent } from '../../src/ha/heartbeat.js'

export const KEY = 'a shared secret of 32 bytes long'

/** A UDP port free on `address` now (bound to 0, read, released). */
export async function freePort(address: string): Promise<number> {
  const socket = createSocket(address.includes(':') ? 'udp6' : 'udp4')
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(0, address, () => resolve())
  })
  const { port } = socket.address()
  await new Promise<void>((resolve) => socket.close(() => resolve()))
  return port
}

/** Ports of both ends of a pair on loopback: a v4 path and a v6 path. */
export interface PairPorts {
  a4: number
  b4: number
  a6: number
  b6: number
}

/** Four free ports. */
export async function pairPorts(): Promise<PairPorts> {
  return { a4: await freePort('127.0.0.1'), b4: await freePort('127.0.0.1'), a6: await freePort('::1'), b6: await freePort('::1') }
}

/** Options of director `side` of a pair: paths `v4` and `v6` to the other side. */
export function pairOptions(side: 'a' | 'b', ports: PairPorts, over: Partial<HeartbeatOptions> = {}): HeartbeatOptions {
  const [me4, peer4, me6, peer6] = side === 'a' ? [ports.a4, ports.b4, ports.a6, ports.b6] : [ports.b4, ports.a4, ports.b6, ports.a6]
  return {
    paths: [
      { name: 'v4', local: `127.0.0.1:${me4}`, peer: `127.0.0.1:${peer4}` },
      { name: 'v6', local: `[::1]:${me6}`, peer: `[::1]:${peer6}` },
    ],
    key: KEY,
    cluster: 'test',
    state: { node: side, role: side === 'a' ? 'active' : 'standby', epoch: 1, priority: side === 'a' ? 200 : 100 },
    ...over,
  }
}

/** A path as tests judge it. */
export type PathView = Pick<PeerEvent, 'alive' | 'state' | 'boot'>

/**
 * Resolves once every path of `hb` satisfies `ok`: judged first from stats(), then from each event. Rejects after
 * `limitMs`, a bound against hanging, never the condition itself.
 */
export function untilPaths(hb: Heartbeat, ok: (p: PathView) => boolean, limitMs = 10_000): Promise<PeerEvent[]> {
  const last = new Map<string, PeerEvent>()
  const pending = new Set<string>()
  for (const p of hb.stats().paths) {
    const view = { alive: p.alive, state: p.state, boot: p.boot }
    if (ok(view)) last.set(p.name, { path: p.name, ...view })
    else pending.add(p.name)
  }
  if (pending.size === 0) return Promise.resolve([...last.values()])
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`paths ${[...pending].join(', ')} did not get there in ${limitMs} ms: ${JSON.stringify(hb.stats())}`))
    }, limitMs)
    const off = hb.onPeer((e) => {
      if (ok(e)) {
        pending.delete(e.path)
        last.set(e.path, e)
      } else pending.add(e.path)
      if (pending.size > 0) return
      off()
      clearTimeout(timer)
      resolve([...last.values()])
    })
  })
}

/** Resolves once `ok()` holds, checked every 10 ms; rejects after `limitMs`. For counters, which have no event. */
export async function until(ok: () => boolean, what: string, limitMs = 5000): Promise<void> {
  for (let waited = 0; !ok(); waited += 10) {
    if (waited >= limitMs) throw new Error(`${what}: not within ${limitMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Keeps this thread busy (a long synchronous reconcile, or a hang) for `ms`. */
export function blockMainThread(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) {
    // busy
  }
}
