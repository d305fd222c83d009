// The lab's network topology: every namespace, address and the VIP, in one place. The guest's set-up
// commands, the shell variables for scripts and the scenarios' addresses are all generated from here.

/** What a namespace plays in the lab. */
export type Role = 'director' | 'real-server' | 'client' | 'redis'

/** One network namespace: its veth `eth0` joins the bridge; addresses are without prefix length. */
export interface Host {
  readonly ns: string
  readonly role: Role
  readonly ip4: string
  readonly ip6: string
}

/** The bridge in the guest's root namespace that joins every namespace. */
export const bridge = 'br0'
/** Prefix lengths of the lab network (192.0.2.0/24, 2001:db8::/64). */
export const prefix4 = 24
export const prefix6 = 64

/** The virtual IPs: on every real server's `lo`, and on dir-a's `eth0` at start. */
export const vip = { ip4: '192.0.2.100', ip6: '2001:db8::100' } as const

/** Every namespace of the lab, in the order they are created. */
export const hosts: readonly Host[] = [
  { ns: 'dir-a', role: 'director', ip4: '192.0.2.1', ip6: '2001:db8::1' },
  { ns: 'dir-b', role: 'director', ip4: '192.0.2.2', ip6: '2001:db8::2' },
  { ns: 'rs1', role: 'real-server', ip4: '192.0.2.11', ip6: '2001:db8::11' },
  { ns: 'rs2', role: 'real-server', ip4: '192.0.2.12', ip6: '2001:db8::12' },
  { ns: 'rs3', role: 'real-server', ip4: '192.0.2.13', ip6: '2001:db8::13' },
  { ns: 'client', role: 'client', ip4: '192.0.2.50', ip6: '2001:db8::50' },
  { ns: 'redis', role: 'redis', ip4: '192.0.2.60', ip6: '2001:db8::60' },
]

/** The namespace that holds the VIP when the lab starts (and after each reset). */
export const initialVipHolder = 'dir-a'

/** The host entry of a namespace; throws on an unknown name (a typo in a scenario). */
export function host(ns: string): Host {
  const h = hosts.find((x) => x.ns === ns)
  if (!h) throw new Error(`no namespace "${ns}" in the lab topology (have: ${hosts.map((x) => x.ns).join(', ')})`)
  return h
}

/** The namespaces playing one role, in topology order. */
export function byRole(role: Role): Host[] {
  return hosts.filter((h) => h.role === role)
}

// The bridge-side end of a namespace's veth; IFNAMSIZ allows 15 characters.
function peerName(ns: string): string {
  return `v-${ns}`.slice(0, 15)
}

/** The shell script that builds the topology inside the guest (run once, as root, before any job). */
export function topologyScript(): string {
  // Few processes: each costs tens of milliseconds under emulation. New namespaces inherit the root's
  // IPv6 settings (devconf_inherit_init_net=1), so DAD is off everywhere and addresses work at once.
  const root = [`link add ${bridge} type bridge mcast_snooping 0`, `link set ${bridge} up`]
  for (const h of hosts) {
    root.push(`netns add ${h.ns}`, `link add ${peerName(h.ns)} type veth peer name eth0 netns ${h.ns}`, `link set ${peerName(h.ns)} master ${bridge} up`)
  }
  const lines = [
    '#!/bin/sh',
    '# Generated from test/lab/topology.ts: builds the lab network inside the guest.',
    'set -eu',
    'sysctl -qw net.core.devconf_inherit_init_net=1 net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0',
    'ip -batch - <<EOF',
    ...root,
    'EOF',
  ]
  for (const h of hosts) {
    const rs = h.role === 'real-server'
    const vipHere = h.ns === initialVipHolder
    // The DR ARP sysctls keep real servers from answering for the VIP they hold on lo.
    if (rs) lines.push(`ip netns exec ${h.ns} sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2`)
    lines.push(
      `ip -n ${h.ns} -batch - <<EOF`,
      'link set lo up',
      `addr add ${h.ip4}/${prefix4} dev eth0`,
      `addr add ${h.ip6}/${prefix6} dev eth0 nodad`,
      ...(rs ? [`addr add ${vip.ip4}/32 dev lo`, `addr add ${vip.ip6}/128 dev lo`] : []),
      ...(vipHere ? [`addr add ${vip.ip4}/32 dev eth0`, `addr add ${vip.ip6}/128 dev eth0 nodad`] : []),
      'link set eth0 up',
      'EOF',
    )
  }
  return lines.join('\n') + '\n'
}

/** Shell variable assignments (VIP4, VIP6, DIR_A_IP4, RS1_IP6, ...) for scripts run in the lab. */
export function topologyEnv(): string {
  const name = (ns: string) => ns.toUpperCase().replace(/[^A-Z0-9]/g, '_')
  const lines = [`VIP4=${vip.ip4}`, `VIP6=${vip.ip6}`, `LAB_NAMESPACES="${hosts.map((h) => h.ns).join(' ')}"`]
  for (const h of hosts) lines.push(`${name(h.ns)}_IP4=${h.ip4}`, `${name(h.ns)}_IP6=${h.ip6}`)
  return lines.map((l) => `export ${l}`).join('\n') + '\n'
}
