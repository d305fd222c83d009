// The memory the main thread and the heartbeat worker share: the main loop's last ping, and per path the time last
// heard and the counters, so reading them costs no message. Times are process.hrtime in ns: one monotonic clock for
// every thread of the process (performance.now() has a different origin in each thread).
import type { HeartbeatConfig, HeartbeatState } from './heartbeat-config.js'

/** Slot of the main thread's last ping (hrtime ns). */
export const PING = 0
/** Slot set to 1 while heartbeats are stopped because the main loop is stuck. */
export const STALLED = 1
const GLOBAL_SLOTS = 2

/** Per-path slots, from the path's base. */
export const Slot = {
  /** hrtime ns of the last valid heartbeat (0: never). */
  LastHeard: 0,
  /** 1 while the path is alive. */
  Alive: 1,
  Received: 2,
  Sent: 3,
  Forged: 4,
  Replayed: 5,
  Unconfirmed: 6,
  SendErrors: 7,
} as const
/** One of the per-path slots. */
export type Slot = (typeof Slot)[keyof typeof Slot]
const PATH_SLOTS = 8

/** Index of a path's slot. */
export const slot = (path: number, s: Slot): number => GLOBAL_SLOTS + path * PATH_SLOTS + s

/** Shared memory for `paths` paths, zeroed. */
export function sharedCounters(paths: number): BigInt64Array {
  return new BigInt64Array(new SharedArrayBuffer((GLOBAL_SLOTS + paths * PATH_SLOTS) * BigInt64Array.BYTES_PER_ELEMENT))
}

/** Now on the shared clock, in ns. */
export const hrNow = (): bigint => process.hrtime.bigint()

/** What the main thread hands the worker at its start. */
export interface WorkerData {
  config: HeartbeatConfig
  /** Our boot id. */
  boot: Uint8Array
  shared: BigInt64Array
}

/** Messages of the main thread to the worker. */
export type ToWorker =
  | { type: 'state'; payload: string }
  | { type: 'close' }

/** Messages of the worker to the main thread: only changes, never one per heartbeat. */
export type FromWorker =
  /** Every path is bound (`ports`: the local ports, in path order); heartbeats are going out. */
  | { type: 'ready'; ports: number[] }
  /** A path could not bind; the worker has closed everything and ends. */
  | { type: 'failed'; path: string; message: string }
  /** A path went alive or silent, or the peer's state or boot changed on it. */
  | { type: 'peer'; path: number; alive: boolean; state?: HeartbeatState; boot?: string }
  /** Heartbeats stopped (the main loop's ping is `pingAgeMs` old) or resumed. */
  | { type: 'stall'; stalled: boolean; pingAgeMs: number }
