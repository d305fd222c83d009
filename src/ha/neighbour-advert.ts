// Unsolicited IPv6 neighbour advertisements (RFC 4861 §7.2.6) through a raw ICMPv6 socket: the packet, and a
// socket bound to one interface that sends it to all nodes (ff02::1) with hop limit 255.
import { readFile } from 'node:fs/promises'
import ipaddr from 'ipaddr.js'
import type { Socket } from 'raw-socket'

/** Sends advertisements out of one interface; close() releases the socket. */
export interface NaSocket {
  /** Sends one unsolicited advertisement (Override set) of `target` with the interface's MAC. */
  send(target: string): Promise<void>
  close(): void
}

/** Opens an NaSocket on an interface (the announcer's seam: tests pass a fake). */
export type OpenNaSocket = (iface: string) => Promise<NaSocket>

const ND_NEIGHBOR_ADVERT = 136
const NA_FLAG_OVERRIDE = 0x20 // first byte of the flags word: R 0x80, S 0x40, O 0x20
const OPT_TARGET_LLADDR = 2
// Socket options (linux/in6.h, asm-generic/socket.h); raw-socket exports only a few of them.
const SOL_SOCKET = 1
const SO_BINDTODEVICE = 25
const IPPROTO_IPV6 = 41
const IPV6_MULTICAST_IF = 17
const IPV6_MULTICAST_HOPS = 18
/** All nodes on the link. */
export const ALL_NODES = 'ff02::1'

/**
 * The ICMPv6 message of an unsolicited neighbour advertisement: type 136, Override set (Solicited and Router
 * clear), the target, and a Target Link-Layer Address option with `mac`. The checksum is left 0: for ICMPv6 raw
 * sockets the kernel computes it (RFC 3542 §3.1), over the pseudo-header it alone knows.
 */
export function neighbourAdvert(target: string, mac: string): Buffer {
  const bytes = mac.split(':').map((h) => Number.parseInt(h, 16))
  if (bytes.length !== 6 || bytes.some((b) => !(b >= 0 && b <= 255))) throw new TypeError(`not a MAC address: ${mac}`)
  const msg = Buffer.alloc(32)
  msg[0] = ND_NEIGHBOR_ADVERT
  msg[4] = NA_FLAG_OVERRIDE
  Buffer.from(ipaddr.IPv6.parse(target).toByteArray()).copy(msg, 8)
  msg[24] = OPT_TARGET_LLADDR
  msg[25] = 1 // option length in units of 8 bytes
  Buffer.from(bytes).copy(msg, 26)
  return msg
}

/** The interface's MAC and index, from sysfs (of the network namespace the process runs in). */
export async function interfaceInfo(iface: string): Promise<{ mac: string; index: number }> {
  const base = `/sys/class/net/${iface}`
  const [mac, index] = await Promise.all([readFile(`${base}/address`, 'utf8'), readFile(`${base}/ifindex`, 'utf8')])
  return { mac: mac.trim(), index: Number(index.trim()) }
}

// The parts of raw-socket's Socket used here that its typings (healthchecks/raw-socket.d.ts) leave out.
type FullSocket = Socket & {
  pauseRecv(): Socket
  setOption(level: number, option: number, value: Buffer, length: number): void
}

/**
 * Opens a raw ICMPv6 socket bound to `iface` (SO_BINDTODEVICE and IPV6_MULTICAST_IF), with multicast hop limit 255
 * (receivers drop neighbour discovery with any other, RFC 4861 §7.1.2). Needs CAP_NET_RAW. It never reads: receive
 * is paused, so ICMPv6 traffic does not queue up on it.
 */
export const openNaSocket: OpenNaSocket = async (iface) => {
  const { mac, index } = await interfaceInfo(iface)
  // Loaded here, not at import: a native module that failed to build costs the IPv6 announcements, not the daemon.
  const { default: raw } = await import('raw-socket')
  const socket = raw.createSocket({ addressFamily: raw.AddressFamily.IPv6, protocol: raw.Protocol.ICMPv6 }) as FullSocket
  let failure: Error | undefined
  socket.on('error', (err) => { failure = err }) // raw-socket closes the socket after an error
  try {
    socket.pauseRecv()
    socket.setOption(SOL_SOCKET, SO_BINDTODEVICE, Buffer.from(iface), Buffer.byteLength(iface))
    socket.setOption(IPPROTO_IPV6, IPV6_MULTICAST_IF, index)
    socket.setOption(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255)
  } catch (err) {
    socket.close()
    throw err
  }
  let closed = false
  return {
    send(target) {
      const msg = neighbourAdvert(target, mac)
      return new Promise((resolve, reject) => {
        if (closed || failure) return reject(failure ?? new Error('socket closed'))
        socket.send(msg, 0, msg.length, ALL_NODES, null, (err) => (err ? reject(err) : resolve()))
      })
    },
    close() {
      if (closed) return
      closed = true
      socket.close()
    },
  }
}
