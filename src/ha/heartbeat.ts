// The heartbeat transport of the director pair, as the main thread sees it: start it, say what the heartbeats
// carry, hear of the peer's paths going alive or silent, read counters. The sockets live in a worker thread
// (heartbeat-worker.ts); this side keeps it fed with a ping, so a main loop stuck past the stall limit goes silent.
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { ERR_HEARTBEAT_CLOSED, ERR_HEARTBEAT_START } from '../errors.js'
import { checkState, heartbeatConfig, type HeartbeatOptions, type HeartbeatState } from './heartbeat-config.js'
import { hrNow, PING, sharedCounters, Slot, slot, STALLED, type FromWorker, type ToWorker, type WorkerData } from './heartbeat-shared.js'
import { BOOT_ID_BYTES } from './heartbeat-wire.js'

export type { HeartbeatOptions, HeartbeatPathOptions, HeartbeatState } from './heartbeat-config.js'
export { readHeartbeatKey } from './heartbeat-config.js'

/** A change on one path: it went alive or silent, or the peer's state (or boot) on it changed. */
export interface PeerEvent {
  /** The path's name. */
  path: string
  alive: boolean
  /** What the peer said last on this path (absent when silent). */
  state?: HeartbeatState
  /** The peer's boot id (hex): it changes when the peer restarts. */
  boot?: string
}

/** Heartbeats stopped because the main loop was stuck past the stall limit, or resumed. */
export interface StallEvent {
  stalled: boolean
  /** Age of the main loop's last ping when the worker noticed, ms. */
  pingAgeMs: number
}

/** Counters and liveness of one path. */
export interface PathStats {
  name: string
  /** `addr:port` bound. */
  local: string
  /** `addr:port` sent to. */
  peer: string
  alive: boolean
  /** When a valid heartbeat last came, on this thread's performance.now() scale (ms); absent: never. */
  lastHeardMs?: number
  /** What the peer said last on this path (absent when silent). */
  state?: HeartbeatState
  /** The peer's boot id (hex) heard on this path (absent when silent). */
  boot?: string
  /** Valid heartbeats received. */
  received: number
  sent: number
  /** Dropped: not a heartbeat of this cluster with this key (bad MAC, cluster, version, shape, our own). */
  forged: number
  /** Dropped: authentic but seen before, too old, of a stale boot, or sent to another path. */
  replayed: number
  /** Dropped: authentic, but echoing none of our recent heartbeats (normal for one or two at a start; steady: the peer does not hear us). */
  unconfirmed: number
  sendErrors: number
}

/** A snapshot of the heartbeat. */
export interface HeartbeatStats {
  /** Our boot id (hex). */
  boot: string
  /** Heartbeats are stopped: the main loop was stuck past the stall limit. */
  stalled: boolean
  paths: PathStats[]
}

/** A running heartbeat. */
export interface Heartbeat {
  /** Our boot id (hex), random per start. */
  readonly boot: string
  /** What the next heartbeats say. Throws LVS_ERR_HEARTBEAT_STATE on a bad state, LVS_ERR_HEARTBEAT_CLOSED after close(). */
  setState(state: HeartbeatState): void
  /** Calls `listener` on each path change; returns the unsubscribe function. */
  onPeer(listener: (event: PeerEvent) => void): () => void
  /** Calls `listener` when heartbeats stop for a stuck main loop and when they resume. */
  onStall(listener: (event: StallEvent) => void): () => void
  /** Calls `listener` when the worker thread fails (heartbeats have stopped: the peer will take over). */
  onError(listener: (err: Error) => void): () => void
  /** Counters and liveness, read from shared memory (no message). */
  stats(): HeartbeatStats
  /** Stops the heartbeats, closes the sockets and ends the worker. Idempotent. */
  close(): Promise<void>
}

/** How long close() waits for the worker to end by itself before terminating it (ms). */
const CLOSE_GRACE_MS = 1000

// Compiled, the worker is heartbeat-worker.js beside this file; run from source (tap's TypeScript loader, which the
// worker inherits through execArgv), it is the .ts.
function workerUrl(): URL {
  const js = new URL('./heartbeat-worker.js', import.meta.url)
  return existsSync(fileURLToPath(js)) ? js : new URL('./heartbeat-worker.ts', import.meta.url)
}

const hostPort = (a: string, port: number) => (a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`)

function listeners<T>() {
  const set = new Set<(value: T) => void>()
  return {
    add(fn: (value: T) => void) {
      set.add(fn)
      return () => void set.delete(fn)
    },
    emit: (value: T) => set.forEach((fn) => fn(value)),
  }
}

/**
 * Starts heartbeats on every path. Throws a coded error on bad options (LVS_ERR_HEARTBEAT_CONFIG, _KEY) before
 * anything starts, and LVS_ERR_HEARTBEAT_START when a path cannot bind (nothing is left running).
 */
export async function startHeartbeat(options: HeartbeatOptions): Promise<Heartbeat> {
  const config = heartbeatConfig(options)
  const shared = sharedCounters(config.paths.length)
  const bootId = randomBytes(BOOT_ID_BYTES)
  // The ping: the worker stops sending when it is older than the stall limit. A quarter of it at most, so a
  // merely busy loop never looks stuck.
  const ping = () => Atomics.store(shared, PING, hrNow())
  ping()
  const pinger = setInterval(ping, Math.min(50, Math.floor(config.stallLimitMs / 4)))
  const data: WorkerData = { config, boot: new Uint8Array(bootId), shared }
  const worker = new Worker(workerUrl(), { workerData: data })
  const send = (m: ToWorker) => worker.postMessage(m)
  const peers = listeners<PeerEvent>()
  const stalls = listeners<StallEvent>()
  const errors = listeners<Error>()
  // The last change reported per path, kept on this side: the state is not in shared memory.
  const heard: (PeerEvent | undefined)[] = config.paths.map(() => undefined)
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))

  // One handler from the first message on, so no change the worker reports right after 'ready' can be missed.
  let started: { resolve: (ports: number[]) => void; reject: (err: Error) => void } | undefined
  worker.on('message', (m: FromWorker) => {
    if (m.type === 'ready') started?.resolve(m.ports)
    else if (m.type === 'failed') started?.reject(new ERR_HEARTBEAT_START(m.path, m.message))
    else if (m.type === 'peer') {
      const event: PeerEvent = { path: config.paths[m.path]!.name, alive: m.alive, state: m.state, boot: m.boot }
      heard[m.path] = m.alive ? event : undefined
      peers.emit(event)
    } else if (m.type === 'stall') stalls.emit({ stalled: m.stalled, pingAgeMs: m.pingAgeMs })
  })
  let ports: number[]
  const onExit = (code: number) => started?.reject(new Error(`the worker exited with code ${code}`))
  try {
    ports = await new Promise<number[]>((resolve, reject) => {
      started = { resolve, reject }
      worker.once('error', reject)
      worker.once('exit', onExit)
    })
  } catch (err) {
    clearInterval(pinger)
    await worker.terminate()
    throw (err as { code?: string }).code === 'LVS_ERR_HEARTBEAT_START' ? err : new ERR_HEARTBEAT_START('its worker thread', (err as Error).message)
  } finally {
    worker.off('error', started!.reject)
    worker.off('exit', onExit)
    started = undefined
  }
  worker.on('error', (err) => errors.emit(err))

  let closing: Promise<void> | undefined
  const doClose = async () => {
    clearInterval(pinger)
    send({ type: 'close' })
    const grace = setTimeout(() => void worker.terminate(), CLOSE_GRACE_MS)
    await exited
    clearTimeout(grace)
  }

  return {
    boot: bootId.toString('hex'),
    setState(state) {
      if (closing) throw new ERR_HEARTBEAT_CLOSED()
      send({ type: 'state', payload: JSON.stringify(checkState(state)) })
    },
    onPeer: peers.add,
    onStall: stalls.add,
    onError: errors.add,
    stats() {
      // hrtime and performance.now() run at one rate: an age on one is an age on the other.
      const now = hrNow()
      const nowMs = performance.now()
      const read = (i: number, s: Slot) => Number(Atomics.load(shared, slot(i, s)))
      return {
        boot: bootId.toString('hex'),
        stalled: Atomics.load(shared, STALLED) === 1n,
        paths: config.paths.map((p, i) => {
          const heardNs = Atomics.load(shared, slot(i, Slot.LastHeard))
          const stats: PathStats = {
            name: p.name,
            local: hostPort(p.localAddress, ports[i]!),
            peer: hostPort(p.peerAddress, p.peerPort),
            alive: read(i, Slot.Alive) === 1,
            received: read(i, Slot.Received),
            sent: read(i, Slot.Sent),
            forged: read(i, Slot.Forged),
            replayed: read(i, Slot.Replayed),
            unconfirmed: read(i, Slot.Unconfirmed),
            sendErrors: read(i, Slot.SendErrors),
          }
          if (heardNs !== 0n) stats.lastHeardMs = nowMs - Number(now - heardNs) / 1e6
          const last = heard[i]
          if (last?.state) stats.state = last.state
          if (last?.boot) stats.boot = last.boot
          return stats
        }),
      }
    },
    close: () => (closing ??= doClose()),
  }
}
