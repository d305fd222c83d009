// A reload (or a restart with an edited config) as a three-way merge: what the config changed since it was last
// loaded is applied to the desired table; what the API changed and the config did not is kept. So an API-added
// real server, a drain or a weight set through the API survive a reload, and a line edited in the file wins.
import { realKey, sameContent as same } from './desired-table.js'
import type { DesiredService } from '../config/service.js'
import type { RealConfig } from '../config/schema.js'

const attrs = ({ destinations: _d, ...rest }: DesiredService) => rest

/**
 * The desired table after a config moves from `base` to `next`, given the `current` table. Per service: one the
 * config added is added (replacing one of that name), one it removed is removed, one it changed takes the
 * config's attributes. Per real server likewise. Services and real servers the config never had are kept.
 */
export function mergeConfig(base: readonly DesiredService[], next: readonly DesiredService[], current: readonly DesiredService[]): DesiredService[] {
  const baseBy = new Map(base.map((s) => [s.name, s]))
  const nextBy = new Map(next.map((s) => [s.name, s]))
  const out: DesiredService[] = []
  for (const cur of current) {
    const was = baseBy.get(cur.name)
    const now = nextBy.get(cur.name)
    if (!now) {
      if (!was) out.push(cur) // the API's own service
      continue // the config removed it
    }
    if (!was) {
      out.push(now) // the config now names a service the API created: the file wins
      continue
    }
    out.push(mergeService(was, now, cur))
  }
  const have = new Set(out.map((s) => s.name))
  const removedByApi = new Set(base.filter((s) => !current.some((c) => c.name === s.name)).map((s) => s.name))
  for (const s of next) {
    if (have.has(s.name)) continue
    // Deleted through the API and unchanged in the file: it stays deleted.
    if (removedByApi.has(s.name) && same(baseBy.get(s.name), s)) continue
    out.push(s)
  }
  return out
}

function mergeService(was: DesiredService, now: DesiredService, cur: DesiredService): DesiredService {
  const head = same(attrs(was), attrs(now)) ? attrs(cur) : attrs(now)
  const wasBy = new Map(was.destinations.map((r) => [realKey(r), r]))
  const nowBy = new Map(now.destinations.map((r) => [realKey(r), r]))
  const reals: RealConfig[] = []
  for (const r of cur.destinations) {
    const key = realKey(r)
    const w = wasBy.get(key)
    const n = nowBy.get(key)
    if (!w) reals.push(n ?? r) // added through the API (or by both: the file wins)
    else if (n) reals.push(same(w, n) ? r : n)
    // else: in the old config, gone from the new one: removed
  }
  const have = new Set(reals.map(realKey))
  for (const [key, n] of nowBy) {
    if (have.has(key)) continue
    const w = wasBy.get(key)
    if (w && same(w, n)) continue // removed through the API, unchanged in the file
    reals.push(n)
  }
  return { ...head, destinations: reals } as DesiredService
}
