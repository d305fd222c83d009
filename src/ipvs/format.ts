// Prints a parsed `ipvsadm -Ln` listing as ipvsadm does, with the counters of --stats or --rate on the same lines.
import type { Counters, ListedService, Listing, Rates } from './parse.js'
import { hostPort } from './model.js'

const FORWARD = { dr: 'Route', nat: 'Masq', tun: 'Tunnel', local: 'Local' } as const

/** A plain listing with the stats (or rates) of a second listing of the same table merged in by key. */
export function mergeListings(plain: Listing, extra?: Listing): ListedService[] {
  const byKey = new Map((extra?.services ?? []).map((s) => [s.key, s]))
  return plain.services.map((s) => {
    const e = byKey.get(s.key)
    return {
      ...s,
      ...(e?.stats && { stats: e.stats }),
      ...(e?.rate && { rate: e.rate }),
      destinations: s.destinations.map((d) => {
        const ed = e?.destinations.find((x) => x.address === d.address && x.port === d.port)
        return { ...d, ...(ed?.stats && { stats: ed.stats }), ...(ed?.rate && { rate: ed.rate }) }
      }),
    }
  })
}

function name(s: ListedService): string {
  if (s.protocol === 'fwmark') return `FWM  ${s.fwmark}${s.family === 'inet6' ? ' IPv6' : ''}`
  return `${s.protocol.toUpperCase()}  ${hostPort(s.address ?? '', s.port ?? 0)}`
}

function describe(s: ListedService): string {
  const parts = [s.scheduler ?? '']
  if (s.flags?.length) parts.push(`(${s.flags.join(',')})`)
  if (s.persistent !== undefined) parts.push(`persistent ${s.persistent}`)
  if (s.netmask !== undefined) parts.push(`mask ${s.netmask}`)
  if (s.pe) parts.push(`pe ${s.pe}`)
  if (s.ops) parts.push('ops')
  return parts.join(' ')
}

function numbers(c: Counters | Rates | undefined): string {
  if (!c) return ''
  return Object.values(c).map((n: number) => ` ${String(n).padStart(10)}`).join('')
}

/** Text like `ipvsadm -Ln`, plus counter columns when the services carry stats or rates. */
export function formatListing(services: ListedService[], counters?: 'stats' | 'rate'): string {
  const heads = counters === 'stats' ? ['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes']
    : counters === 'rate' ? ['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'] : []
  const cols = heads.map((h) => ` ${h.padStart(10)}`).join('')
  const lines = [
    `${'Prot LocalAddress:Port'.padEnd(33)} ${'Scheduler Flags'.padEnd(35)}${cols}`,
    `  -> ${'RemoteAddress:Port'.padEnd(28)} ${'Forward'.padEnd(7)} ${'Weight'.padStart(6)} ${'ActiveConn'.padStart(10)} ${'InActConn'.padStart(9)}`,
  ]
  for (const s of services) {
    lines.push(`${name(s).padEnd(33)} ${describe(s).padEnd(35)}${numbers(counters === 'rate' ? s.rate : s.stats)}`.trimEnd())
    for (const d of s.destinations) {
      const fwd = d.forwarding ? FORWARD[d.forwarding] : ''
      lines.push((`  -> ${hostPort(d.address, d.port).padEnd(28)} ${fwd.padEnd(7)} ${String(d.weight ?? '').padStart(6)} ` +
        `${String(d.activeConns ?? '').padStart(10)} ${String(d.inactiveConns ?? '').padStart(9)}` +
        numbers(counters === 'rate' ? d.rate : d.stats)).trimEnd())
    }
  }
  return lines.join('\n') + '\n'
}
