// The kernel's IPVS table read in-process over generic netlink (native/ipvs.c), mapped onto the model exactly as
// `ipvsadm -Sn` plus `ipvsadm -Ln --thresholds` read it (src/ipvs/parse.ts): the same services, real servers, flags
// and skipped entries of other protocols, without the two processes. Ipvsadm.read() uses it when it is given one.
import { canonicalAddress, hostPort } from '../address.js'
import { lvsPacket, type LvsPacket, type NativeIpvsService } from '../native.js'
import { flagNames, type Destination, type Scheduler, type Service } from './model.js'
import type { SavedTable } from './parse.js'

const AF_INET6 = 10
const PROTOCOLS: Record<number, 'tcp' | 'udp'> = { 6: 'tcp', 17: 'udp' }
// Protocols outside the model, named as parse.ts names them in `skipped`.
const OTHER_PROTOCOLS: Record<number, string> = { 132: 'sctp', 1: 'icmp', 58: 'icmpv6' }
const IP_VS_SVC_F_PERSISTENT = 0x1
const IP_VS_SVC_F_ONEPACKET = 0x4
const SCHED_FLAG_SHIFT = 3 // IP_VS_SVC_F_SCHED1..3: 0x8, 0x10, 0x20
const FORWARDING: Record<number, Destination['forwarding']> = { 0: 'nat', 1: 'dr', 2: 'tun', 3: 'dr' } // LOCALNODE reads as -g
const TUN_TYPES = ['ipip', 'gue', 'gre'] as const
const IPV4_HOST_MASK = 0xffffffff

const text = (address: string | undefined): string => (address && canonicalAddress(address)?.address) ?? address ?? ''

function destinationOf(d: NativeIpvsService['destinations'][number]): Destination {
  const out: Destination = {
    address: text(d.address), port: d.port, forwarding: FORWARDING[d.fwd] ?? 'dr', weight: d.weight,
    upperThreshold: d.upper, lowerThreshold: d.lower,
  }
  if (out.forwarding === 'tun') {
    out.tunType = TUN_TYPES[d.tunType] ?? 'ipip'
    if (out.tunType === 'gue') out.tunPort = d.tunPort
    if (out.tunType !== 'ipip') out.tunChecksum = d.tunFlags & 2 ? 'remcsum' : d.tunFlags & 1 ? 'csum' : 'nocsum'
  }
  return out
}

/** The table the kernel sent, as parse.ts reads ipvsadm's: a SavedTable with `skipped` for other protocols. */
export function tableFromNetlink(raw: NativeIpvsService[]): SavedTable {
  const services: Service[] = []
  const skipped: string[] = []
  for (const r of raw) {
    const family = r.af === AF_INET6 ? 'inet6' : 'inet'
    const protocol = r.fwmark ? 'fwmark' : PROTOCOLS[r.protocol]
    if (!protocol) {
      const key = `${OTHER_PROTOCOLS[r.protocol] ?? `protocol-${r.protocol}`}/${hostPort(text(r.address), r.port)}`
      skipped.push(key, ...r.destinations.map((d) => `${key} -> ${hostPort(text(d.address), d.port)}`))
      continue
    }
    const scheduler = (r.scheduler ?? 'wlc') as Scheduler
    const bits = new Set([1, 2, 3].filter((i) => r.flags & (1 << (SCHED_FLAG_SHIFT + i - 1))))
    const svc = (protocol === 'fwmark'
      ? { protocol, fwmark: r.fwmark, family }
      : { protocol, address: text(r.address), port: r.port, family }) as Service
    Object.assign(svc, { scheduler, flags: flagNames(scheduler, bits), ops: (r.flags & IP_VS_SVC_F_ONEPACKET) !== 0 })
    if (r.flags & IP_VS_SVC_F_PERSISTENT) {
      svc.persistent = r.timeout
      // ipvsadm prints -M only for a mask other than a host's.
      if (family === 'inet' && r.netmask !== IPV4_HOST_MASK) svc.netmask = [24, 16, 8, 0].map((s) => (r.netmask >>> s) & 255).join('.')
      if (family === 'inet6' && r.netmask !== 128) svc.netmask = r.netmask
    }
    if (r.pe) svc.pe = r.pe as 'sip'
    svc.destinations = r.destinations.map(destinationOf)
    services.push(svc)
  }
  return skipped.length ? { services, skipped } : { services }
}

/**
 * The in-process read for Ipvsadm's `netlink` option, in this process's network namespace, or undefined when the
 * native module is not built. Only for an Ipvsadm that runs the real ipvsadm here too (not another namespace's, not
 * a stand-in): both must see the same table.
 */
export function netlinkReader(): (() => SavedTable) | undefined {
  let m: LvsPacket
  try {
    m = lvsPacket()
  } catch {
    return undefined
  }
  return () => tableFromNetlink(m.ipvsRead())
}
