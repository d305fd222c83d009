// Gratuitous ARP (RFC 5227's ARP announcement) sent from the director's own process through a packet socket, as
// keepalived does: no process to start on a takeover's critical path. The socket comes from native/packet.c
// (src/native.ts); the frame is made here.
import ipaddr from 'ipaddr.js'
import { lvsPacket } from '../native.js'
import { interfaceInfo } from './neighbour-advert.js'

/** Sends announcements of IPv4 addresses out of one interface; close() releases the socket. */
export interface ArpSocket {
  /** Sends one gratuitous ARP request for `address` (sender and target both `address`, sender MAC the interface's). */
  send(address: string): Promise<void>
  close(): void
}

/** Opens an ArpSocket on an interface (the announcer's seam: tests pass a fake). */
export type OpenArpSocket = (iface: string) => Promise<ArpSocket>

const ETH_P_ARP = 0x0806
const ETH_P_IP = 0x0800
const ARPHRD_ETHER = 1
const ARPOP_REQUEST = 1
const FRAME_BYTES = 60 // the Ethernet minimum without its FCS: 42 bytes of headers and ARP, padded with zeros

/**
 * The Ethernet frame of a gratuitous ARP request for `address` from `mac`: broadcast, sender and target protocol
 * addresses both `address`, target hardware address zero (RFC 5227 §2.3; Linux neighbours update an existing entry
 * from it). A request, not a reply: every host takes it, as with `arping -U` and keepalived.
 */
export function gratuitousArp(address: string, mac: string): Buffer {
  const hw = mac.split(':').map((h) => Number.parseInt(h, 16))
  if (hw.length !== 6 || hw.some((b) => !(b >= 0 && b <= 255))) throw new TypeError(`not a MAC address: ${mac}`)
  const ip = ipaddr.IPv4.parse(address).toByteArray()
  const f = Buffer.alloc(FRAME_BYTES)
  f.fill(0xff, 0, 6)
  Buffer.from(hw).copy(f, 6)
  f.writeUInt16BE(ETH_P_ARP, 12)
  f.writeUInt16BE(ARPHRD_ETHER, 14)
  f.writeUInt16BE(ETH_P_IP, 16)
  f[18] = 6
  f[19] = 4
  f.writeUInt16BE(ARPOP_REQUEST, 20)
  Buffer.from(hw).copy(f, 22)
  Buffer.from(ip).copy(f, 28)
  Buffer.from(ip).copy(f, 38)
  return f
}

/** Opens a packet socket bound to `iface` that sends gratuitous ARP with the interface's MAC. Needs CAP_NET_RAW. */
export const openArpSocket: OpenArpSocket = async (iface) => {
  const native = lvsPacket()
  const { mac } = await interfaceInfo(iface)
  let fd: number | undefined = native.open(iface)
  return {
    async send(address) {
      if (fd === undefined) throw new Error('socket closed')
      native.send(fd, gratuitousArp(address, mac))
    },
    close() {
      if (fd === undefined) return
      native.close(fd)
      fd = undefined
    },
  }
}
