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

// Each counter column is as wide as its widest value (exact counters can run past 15 digits).
function numbers(c: Counters | Rates | undefined, widths: number[]): string {
  if (!c) return ''
  return Object.values(c).map((n: number, i) => ` ${String(n).padStart(widths[i] ?? 8)}`).join('')
}

/** Text like `ipvsadm -Ln`, plus counter columns when the services carry stats or rates. */
export function formatListing(services: ListedService[], counters?: 'stats' | 'rate'): string {
  const heads = counters === 'stats' ? ['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes']
    : counters === 'rate' ? ['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'] : []
  const pick = (x: { stats?: Counters; rate?: Rates }) => (counters === 'rate' ? x.rate : counters === 'stats' ? x.stats : undefined)
  const rows = services.flatMap((s) => [pick(s), ...s.destinations.map(pick)])
  const widths = heads.map((h, i) => Math.max(8, h.length, ...rows.map((r) => (r ? String(Object.values(r)[i]).length : 0))))
  const cols = heads.map((h, i) => ` ${h.padStart(widths[i]!)}`).join('')
  // The scheduler column is as wide as its longest text, and real-server lines are padded to match.
  const descW = Math.max(35, ...services.map((s) => describe(s).length))
  const lines = [
    `${'Prot LocalAddress:Port'.padEnd(33)} ${'Scheduler Flags'.padEnd(descW)}${cols}`,
    `  -> ${'RemoteAddress:Port'.padEnd(28)} ${'Forward'.padEnd(7)} ${'Weight'.padStart(6)} ${'ActiveConn'.padStart(10)} ${'InActConn'.padStart(9)}`,
  ]
  for (const s of services) {
    lines.push(`${name(s).padEnd(33)} ${describe(s).padEnd(descW)}${numbers(pick(s), widths)}`.trimEnd())
    for (const d of s.destinations) {
      const fwd = d.forwarding ? FORWARD[d.forwarding] : ''
      const left = `  -> ${hostPort(d.address, d.port).padEnd(28)} ${fwd.padEnd(7)} ${String(d.weight ?? '').padStart(6)} ` +
        `${String(d.activeConns ?? '').padStart(10)} ${String(d.inactiveConns ?? '').padStart(9)}`
      lines.push(`${left.padEnd(34 + descW)}${numbers(pick(d), widths)}`.trimEnd())
    }
  }
  return lines.join('\n') + '\n'
}
