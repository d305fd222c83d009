// ICMP/ICMPv6 echo over one shared raw socket per address family, demultiplexed by echo identifier.
//
// Why one socket per family: every raw ICMP socket receives a copy of every ICMP packet the host gets, so a socket
// per probe costs O(probes²) copies at scale. One socket per family, with replies routed by identifier, costs one.
// The DR guard's per-real-server SO_MARK is set just before each send (raw-socket's beforeCallback), so marked and
// unmarked probes share the socket too.
import net from 'node:net'
import ipaddr from 'ipaddr.js'
import raw, { type Socket } from 'raw-socket'

/** 4 or 6. */
export type Family = 4 | 6

/** An echo reply, or an ICMP error quoting one of our echo requests. */
export interface IcmpMessage {
  kind: 'reply' | 'unreachable'
  /** For a reply, who answered; for an error, the destination of our request it quotes. */
  address: string
  id: number
  seq: number
}

/** One user's view of the transport: its own identifier, its own replies. */
export interface IcmpEndpoint {
  readonly family: Family
  /** The echo identifier, random and unique among open endpoints of this family. */
  readonly id: number
  /** Sends echo request `seq` to `address`, with SO_MARK `mark` (0 = none). Rejects with the socket error. */
  send(address: string, seq: number, mark?: number): Promise<void>
  /** Releases the identifier; the socket closes with its last endpoint. */
  close(): void
}

/** Opens endpoints on shared raw sockets. */
export interface IcmpTransport {
  /** Opens an endpoint; throws the socket error (e.g. EPERM when not root). */
  open(family: Family, onMessage: (message: IcmpMessage) => void): IcmpEndpoint
}

const SOL_SOCKET = 1
const SO_MARK = 36
const ECHO_REQUEST = { 4: 8, 6: 128 } as const
const ECHO_REPLY = { 4: 0, 6: 129 } as const
// Destination unreachable and time exceeded quote our request; both mean "no answer will come".
const ERRORS = { 4: new Set([3, 11]), 6: new Set([1, 3]) } as const

/** The address family of an IP literal, or undefined when it is not one. */
export function familyOf(address: string): Family | undefined {
  const v = net.isIP(address)
  return v === 4 || v === 6 ? v : undefined
}

/** True when two IP literals name the same address (`::1` and `0:0::1`). */
export function sameAddress(a: string, b: string): boolean {
  try {
    return ipaddr.process(a).toString() === ipaddr.process(b).toString()
  } catch {
    return false
  }
}

/** Builds an echo request. ICMPv4's checksum is ours to write; on raw ICMPv6 sockets the kernel writes it (RFC 3542). */
export function echoRequest(family: Family, id: number, seq: number): Buffer {
  const packet = Buffer.alloc(16)
  packet.writeUInt8(ECHO_REQUEST[family], 0)
  packet.writeUInt16BE(id, 4)
  packet.writeUInt16BE(seq, 6)
  packet.write('lvs-dir\0', 8, 'latin1')
  if (family === 4) raw.writeChecksum(packet, 2, raw.createChecksum(packet))
  return packet
}

/** Parses what a raw socket delivered (IPv4 includes the IP header; IPv6 does not). */
export function parseIcmp(family: Family, data: Buffer, source: string): IcmpMessage | undefined {
  const icmp = family === 4 ? data.subarray((data[0]! & 0x0f) * 4) : data
  if (icmp.length < 8) return undefined
  const type = icmp[0]!
  if (type === ECHO_REPLY[family]) {
    return { kind: 'reply', address: source, id: icmp.readUInt16BE(4), seq: icmp.readUInt16BE(6) }
  }
  if (!ERRORS[family].has(type)) return undefined
  // The error quotes our IP header and the first 8 bytes of our echo request.
  const quoted = icmp.subarray(8)
  let address: string
  let inner: Buffer
  if (family === 4) {
    if (quoted.length < 20) return undefined
    address = [...quoted.subarray(16, 20)].join('.')
    inner = quoted.subarray((quoted[0]! & 0x0f) * 4)
  } else {
    if (quoted.length < 48) return undefined
    address = ipaddr.fromByteArray([...quoted.subarray(24, 40)]).toString()
    inner = quoted.subarray(40)
  }
  if (inner.length < 8 || inner[0] !== ECHO_REQUEST[family]) return undefined
  return { kind: 'unreachable', address, id: inner.readUInt16BE(4), seq: inner.readUInt16BE(6) }
}

interface Shared {
  family: Family
  /** Undefined between an error (the socket is then closed) and the next send, which opens a fresh one. */
  socket?: Socket
  /** The rejections of the sends still queued on `socket`: a socket closed under them never calls them back. */
  queued: Set<(err: Error) => void>
  endpoints: Map<number, (message: IcmpMessage) => void>
  mark: number
}

/** Creates a transport. Sockets open with the first endpoint of a family and close with the last. */
export function createIcmpTransport(options: { random?: () => number } = {}): IcmpTransport {
  const random = options.random ?? Math.random
  const shared = new Map<Family, Shared>()

  function socketOf(entry: Shared): Socket {
    if (entry.socket) return entry.socket
    const { family } = entry
    const socket = raw.createSocket({
      protocol: family === 4 ? raw.Protocol.ICMP : raw.Protocol.ICMPv6,
      addressFamily: family === 4 ? raw.AddressFamily.IPv4 : raw.AddressFamily.IPv6,
    })
    socket.on('message', (data, source) => {
      const message = parseIcmp(family, data, source)
      if (message) entry.endpoints.get(message.id)?.(message)
    })
    // raw-socket closes the socket on a poll error but not on a receive error: either way it is closed here, the
    // sends queued on it fail with the error (as a send the kernel refused does), and the next send opens a new one.
    socket.on('error', (err: Error) => {
      if (entry.socket === socket) drop(entry, err)
    })
    entry.socket = socket
    entry.mark = 0
    return socket
  }

  function drop(entry: Shared, err: Error): void {
    entry.socket?.close()
    entry.socket = undefined
    const queued = [...entry.queued]
    entry.queued.clear()
    for (const reject of queued) reject(err)
  }

  function entryFor(family: Family): Shared {
    let entry = shared.get(family)
    if (!entry) {
      entry = { family, endpoints: new Map(), queued: new Set(), mark: 0 }
      socketOf(entry) // opened now, so a missing permission shows at open()
      shared.set(family, entry)
    }
    return entry
  }

  return {
    open(family, onMessage) {
      const entry = entryFor(family)
      let id = Math.floor(random() * 0x10000)
      for (let tries = 0; entry.endpoints.has(id); tries++) {
        if (tries > 0xffff) throw new Error('no free ICMP echo identifier')
        id = (id + 1) & 0xffff
      }
      entry.endpoints.set(id, onMessage)
      let open = true
      return {
        family,
        id,
        send(address, seq, mark = 0) {
          const packet = echoRequest(family, id, seq & 0xffff)
          return new Promise<void>((resolve, reject) => {
            const socket = socketOf(entry)
            entry.queued.add(reject)
            socket.send(
              packet,
              0,
              packet.length,
              address,
              () => {
                // SO_MARK is read at send time, so setting it here marks exactly this packet.
                if (entry.mark !== mark) {
                  socket.setOption(SOL_SOCKET, SO_MARK, mark)
                  entry.mark = mark
                }
              },
              (err) => {
                entry.queued.delete(reject)
                if (err) reject(err)
                else resolve()
              },
            )
          })
        },
        close() {
          if (!open) return
          open = false
          entry.endpoints.delete(id)
          if (entry.endpoints.size === 0 && shared.get(family) === entry) {
            shared.delete(family)
            drop(entry, new Error('ICMP transport closed'))
          }
        },
      }
    },
  }
}
