// The project's native module, native/packet.c, connect.c, ipvs.c, feed.c, memory.c and spawn.c (build/Release/lvs_packet.node, built
// by `npm ci` with node-gyp as raw-socket is): the takeover's host changes done in-process (gratuitous ARP, VIP
// addresses over rtnetlink), the engine of plain TCP connect checks, the IPVS table read over generic netlink, and
// a child's stdin written by a thread of its own, the C allocator's free memory handed back, and children started
// without a fork.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** An address of the network namespace, as rtnetlink lists it. */
export interface NativeAddress {
  interface: string
  family: 4 | 6
  address: string
  prefix: number
}

/** What the module exports; every call but the feeder's writes is synchronous and throws an Error whose `code` is the errno's name. */
export interface LvsPacket {
  /** A packet socket bound to `iface` that receives nothing. */
  open(iface: string): number
  /** Sends one whole Ethernet frame. */
  send(fd: number, frame: Buffer): void
  close(fd: number): void
  /** Every IPv4 and IPv6 address of the network namespace. */
  addresses(): NativeAddress[]
  /** RTM_NEWADDR (exclusive: EEXIST when there) or RTM_DELADDR; `label` '' for none; `ipv6Quiet`: no DAD, preferred lifetime 0. */
  changeAddress(add: boolean, iface: string, family: 4 | 6, address: string, prefix: number, label: string, ipv6Quiet: boolean): void
  /**
   * An engine of TCP connect probes (keepalived's TCP_CHECK) on Node's loop: `fn` gets every batch of results as
   * [id, errno, micros, ...] (errno 0: connected, -1: no answer within the timeout). Closed by `tcpClose`.
   */
  tcpOpen(fn: (results: Float64Array) => void, maxInFlight: number): NativeTcpEngine
  /** A target probed first after `firstMs`, then every `intervalMs` (0: once); `timeoutMs` 0: none. Returns its id. */
  tcpAdd(engine: NativeTcpEngine, family: 4 | 6, address: string, port: number, intervalMs: number, timeoutMs: number, firstMs: number): number
  /** Stops a target without a result; false when it is already gone. */
  tcpRemove(engine: NativeTcpEngine, id: number): boolean
  /** [started, completed, timeouts, late, inFlight, queued, targets] */
  tcpStats(engine: NativeTcpEngine): number[]
  tcpClose(engine: NativeTcpEngine): void
  /**
   * A child's stdin written by a thread of its own (native/feed.c): the read end of a new pipe (close-on-exec; close
   * it after the spawn) and its writer. `feedWrite` queues text, written in order; after `feedEnd` the write end is
   * closed once the queue is written (or the reader is gone), then `done` is called on the loop.
   */
  feedOpen(done: () => void): [number, NativeFeeder]
  feedWrite(feeder: NativeFeeder, text: string): void
  feedEnd(feeder: NativeFeeder): void
  /** The network namespace's IPVS table over generic netlink (native/ipvs.c); ENOENT when the kernel has no IPVS. */
  ipvsRead(): NativeIpvsService[]
  /** glibc's malloc_trim(0) (native/memory.c): the allocator's free pages back to the system; true when some went. */
  mallocTrim(): boolean
  /**
   * A child started with posix_spawn (native/spawn.c: no copy of this process's page tables, as Node's fork makes):
   * [pid, stdoutFd, stderrFd], the read ends of new pipes. `env` null: this process's; `cwd` null: this one's.
   * `onExit(code, signal)` once, on the loop, after the child was waited for (code -1 when killed; signal 0 when it
   * exited). Throws (code ENOENT, EACCES...) when the program cannot start.
   */
  spawn(file: string, argv: string[], env: string[] | null, cwd: string | null, stdinFd: number, newSession: boolean, onExit: (code: number, signal: number) => void): [number, number, number]
}

/** A virtual service as the kernel sends it over netlink: its numbers (include/uapi/linux/ip_vs.h), unmapped. */
export interface NativeIpvsService {
  af: number
  protocol: number
  /** Absent for a firewall-mark service. */
  address?: string
  port: number
  fwmark: number
  scheduler?: string
  pe?: string
  /** IP_VS_SVC_F_* bits. */
  flags: number
  /** Persistence timeout, seconds. */
  timeout: number
  /** IPv4: the mask as a number; IPv6: a prefix length. */
  netmask: number
  destinations: NativeIpvsDestination[]
}

/** A real server as the kernel sends it over netlink. */
export interface NativeIpvsDestination {
  /** 0 on kernels that do not send it (the service's family then). */
  af: number
  address?: string
  port: number
  /** IP_VS_CONN_F_MASQ 0, LOCALNODE 1, TUNNEL 2, DROUTE 3. */
  fwd: number
  weight: number
  upper: number
  lower: number
  /** IPIP 0, GUE 1, GRE 2. */
  tunType: number
  tunPort: number
  /** bit 0: csum, bit 1: remcsum. */
  tunFlags: number
}

/** A feeder's handle (an external value). */
export type NativeFeeder = { readonly __brand: 'NativeFeeder' }

/** An engine's handle (an external value). */
export type NativeTcpEngine = { readonly __brand: 'NativeTcpEngine' }

let loaded: LvsPacket | undefined

/** The module (of the package this file is in, run from src/ or dist/src/); throws when it was not built. */
export function lvsPacket(): LvsPacket {
  if (loaded) return loaded
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    if (dirname(dir) === dir) throw new Error('lvs_packet: no package.json above this module')
    dir = dirname(dir)
  }
  const file = join(dir, 'build', 'Release', 'lvs_packet.node')
  if (!existsSync(file)) throw new Error(`lvs_packet: ${file} is missing: run \`npm ci\` (or \`npm rebuild\`) to build it`)
  loaded = createRequire(import.meta.url)(file) as LvsPacket
  return loaded
}
