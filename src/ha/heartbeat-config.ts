// The heartbeat's settings and payload: options checked once, before a socket or thread exists, into a plain
// config that crosses to the worker thread as it is.
import { readFile } from 'node:fs/promises'
import { parseHostPort, type HostPort } from '../address.js'
import { ERR_FILE_READ, ERR_HEARTBEAT_CONFIG, ERR_HEARTBEAT_KEY, ERR_HEARTBEAT_STATE } from '../errors.js'
import { MAX_NAME, stateProblem, type HeartbeatState } from './heartbeat-state.js'

export type { HeartbeatState } from './heartbeat-state.js'

/** One path: a local address to bind and the peer's address to send to. */
export interface HeartbeatPathOptions {
  /** Shown in events and stats. @default `<local>-><peer>` */
  name?: string
  /** `addr` or `addr:port` (`[v6]:port`) to bind. @default port 694 */
  local: string
  /** `addr:port` of the peer's path. @default port 694 */
  peer: string
}

/** Options of startHeartbeat. */
export interface HeartbeatOptions {
  /** One or more paths, typically one on the VIP's own segment (at most 8). */
  paths: HeartbeatPathOptions[]
  /** The secret both directors share: text (its UTF-8 bytes) or bytes (a key file's contents); at least 16 bytes. */
  key: string | Uint8Array
  /** Names the pair: a heartbeat of another cluster is dropped, even with the same key. @default 'lvs-director' */
  cluster?: string
  /** What the heartbeats say until setState() changes it. */
  state: HeartbeatState
  /** Milliseconds between heartbeats on each path. @default 50 */
  intervalMs?: number
  /** A path is silent after this many ms without a valid heartbeat. @default 3 x intervalMs */
  deadIntervalMs?: number
  /** Heartbeats stop while the main event loop has been stuck this long (ms), so a hung director is replaced. @default 2000 */
  stallLimitMs?: number
}

/** A path as the worker uses it: canonical addresses and ports. */
export interface HeartbeatPath {
  name: string
  family: 'inet' | 'inet6'
  localAddress: string
  localPort: number
  peerAddress: string
  peerPort: number
}

/** Checked options with defaults applied; structured-cloneable (it is the worker's workerData). */
export interface HeartbeatConfig {
  paths: HeartbeatPath[]
  key: Uint8Array
  cluster: string
  state: HeartbeatState
  intervalMs: number
  deadIntervalMs: number
  stallLimitMs: number
}

/** Linux-HA heartbeat's UDP port, taken when an address has none. */
export const DEFAULT_HEARTBEAT_PORT = 694
/** Shortest key accepted, in bytes. */
export const MIN_KEY_BYTES = 16
const MAX_PATHS = 8

const bad = (field: string, why: string) => new ERR_HEARTBEAT_CONFIG(field, why)

function integerIn(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw bad(field, `${JSON.stringify(value)} is not an integer in ${min}..${max}`)
  return value
}

function endpoint(text: unknown, field: string): HostPort & { port: number } {
  if (typeof text !== 'string') throw bad(field, 'an address (text) is required')
  try {
    return parseHostPort(text, { defaultPort: DEFAULT_HEARTBEAT_PORT }) as HostPort & { port: number }
  } catch (err) {
    throw bad(field, (err as { detail?: string }).detail ?? String(err))
  }
}

const hostPort = (a: string, port: number) => (a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`)

/** One path checked, with canonical addresses and ports; throws LVS_ERR_HEARTBEAT_CONFIG naming `paths[i]`. */
export function heartbeatPath(p: HeartbeatPathOptions, i: number): HeartbeatPath {
  const field = `paths[${i}]`
  if (typeof p !== 'object' || p === null) throw bad(field, 'a path is { local, peer, name? }')
  const local = endpoint(p.local, `${field}.local`)
  const peer = endpoint(p.peer, `${field}.peer`)
  if (local.family !== peer.family) throw bad(field, `local ${local.address} and peer ${peer.address} are not of one family`)
  if (peer.address === '0.0.0.0' || peer.address === '::') throw bad(`${field}.peer`, 'the peer address cannot be unspecified')
  const name = p.name ?? `${hostPort(local.address, local.port)}->${hostPort(peer.address, peer.port)}`
  if (typeof name !== 'string' || name === '' || name.length > 128) throw bad(`${field}.name`, 'a name is 1..128 characters')
  return { name, family: local.family, localAddress: local.address, localPort: local.port, peerAddress: peer.address, peerPort: peer.port }
}

/** The key's bytes, refused (LVS_ERR_HEARTBEAT_KEY) when missing or shorter than 16 bytes. */
export function keyBytes(key: unknown): Uint8Array {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key instanceof Uint8Array ? key : undefined
  if (bytes === undefined || bytes.length === 0) throw new ERR_HEARTBEAT_KEY('no key given')
  if (bytes.length < MIN_KEY_BYTES) throw new ERR_HEARTBEAT_KEY(`${bytes.length} bytes, at least ${MIN_KEY_BYTES} needed`)
  return new Uint8Array(bytes) // a copy: the caller's buffer may change or be pooled
}

/** A heartbeat key from a file: its bytes without one trailing newline (so `echo secret > key` works). */
export async function readHeartbeatKey(path: string): Promise<Uint8Array> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw new ERR_FILE_READ(path, (err as Error).message)
  }
  let end = bytes.length
  if (bytes[end - 1] === 0x0a) end--
  if (bytes[end - 1] === 0x0d) end--
  return keyBytes(bytes.subarray(0, end))
}

/** A checked copy of `value` with its fields in one order (its JSON is what goes on the wire). */
export function checkState(value: unknown): HeartbeatState {
  const problem = stateProblem(value)
  if (problem !== undefined) throw new ERR_HEARTBEAT_STATE(problem)
  const s = value as HeartbeatState
  const copy: HeartbeatState = { node: s.node, role: s.role, epoch: s.epoch, priority: s.priority }
  if (s.handover !== undefined) copy.handover = s.handover
  return copy
}

/** Checks options and applies defaults; throws a coded error before anything starts. */
export function heartbeatConfig(options: HeartbeatOptions): HeartbeatConfig {
  if (typeof options !== 'object' || options === null) throw bad('options', 'not an object')
  if (!Array.isArray(options.paths) || options.paths.length === 0) throw bad('paths', 'at least one path is required')
  if (options.paths.length > MAX_PATHS) throw bad('paths', `at most ${MAX_PATHS} paths`)
  const paths = options.paths.map(heartbeatPath)
  const binds = new Set<string>()
  paths.forEach((p, i) => {
    const bind = hostPort(p.localAddress, p.localPort)
    if (binds.has(bind)) throw bad(`paths[${i}].local`, `${bind} is bound by another path`)
    binds.add(bind)
  })
  if (new Set(paths.map((p) => p.name)).size !== paths.length) throw bad('paths', 'two paths have one name')
  const key = keyBytes(options.key)
  const cluster = options.cluster ?? 'lvs-director'
  if (typeof cluster !== 'string' || cluster === '' || cluster.length > MAX_NAME) throw bad('cluster', `not a string of 1..${MAX_NAME} characters`)
  const intervalMs = integerIn(options.intervalMs ?? 50, 'intervalMs', 10, 10_000)
  const deadIntervalMs = integerIn(options.deadIntervalMs ?? 3 * intervalMs, 'deadIntervalMs', 2 * intervalMs, 600_000)
  const stallLimitMs = integerIn(options.stallLimitMs ?? 2000, 'stallLimitMs', 100, 600_000)
  let state: HeartbeatState
  try {
    state = checkState(options.state)
  } catch (err) {
    throw bad('state', (err as Error).message)
  }
  return { paths, key, cluster, state, intervalMs, deadIntervalMs, stallLimitMs }
}
