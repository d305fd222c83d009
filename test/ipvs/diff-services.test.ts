// diffServices (and diff's `only`) over the services a change touched equals the full diff restricted to them:
// the same ops in the same order, the same foreign entries, conflicts and adoptions, whatever subset is touched.
import t from 'tap'
import { diff, diffServices, type Plan } from '../../src/ipvs/diff.js'
import { parseTable, serviceKey, type Service, type Table } from '../../src/ipvs/model.js'
import { TableView } from '../../src/ipvs/table-view.js'

const svc = (port: number, dests: Array<string | Record<string, unknown>>, over: Record<string, unknown> = {}) =>
  ({ protocol: 'tcp', address: '192.0.2.100', port, scheduler: 'wrr', destinations: dests.map((a) => (typeof a === 'string' ? { address: a } : a)), ...over })
const nat = (address: string, port?: number) => ({ address, forwarding: 'nat', ...(port && { port }) })
const table = (...services: unknown[]): Table => parseTable({ services })
const keysOf = (tb: Table) => tb.services.flatMap((s) => [serviceKey(s), ...s.destinations.map((d) => `${serviceKey(s)} -> ${d.address}:${d.port}`)])

// The kernel: 80 ours (3 real servers, .13 someone else's), 81 ours, 82 someone else's, 83 ours (to go),
// 84 ours, udp 53 someone else's (not wanted).
const have = table(
  svc(80, ['192.0.2.11', '192.0.2.12', '192.0.2.13']), svc(81, ['192.0.2.11']), svc(82, ['192.0.2.11']),
  svc(83, ['192.0.2.11', '192.0.2.12']), svc(84, [nat('192.0.2.11'), nat('192.0.2.12')]),
  { protocol: 'udp', address: '192.0.2.200', port: 53, destinations: [{ address: '192.0.2.53' }] },
)
const owned = new Set(keysOf(have).filter((k) => !k.includes(':82') && !k.includes('udp/') && !k.endsWith('192.0.2.13:80')))

const cases: Array<{ name: string; want: Table; adopt?: boolean }> = [
  { name: 'nothing changes', want: table(svc(80, ['192.0.2.11', '192.0.2.12', '192.0.2.13']), svc(81, ['192.0.2.11']), svc(82, ['192.0.2.11']), svc(83, ['192.0.2.11', '192.0.2.12']), svc(84, [nat('192.0.2.11'), nat('192.0.2.12')])) },
  {
    name: 'adds, edits, deletes, a new service, a conflict, a foreign real server',
    want: table(
      svc(80, ['192.0.2.11', '192.0.2.14'], { scheduler: 'lc' }), // -E, -a .14, -d .12, .13 foreign
      svc(81, [{ address: '192.0.2.11', weight: 5 }]), // -e
      svc(82, ['192.0.2.11', '192.0.2.15']), // conflict (not ours)
      svc(85, ['192.0.2.11']), // new: -A, -a
      // 83 not wanted: -D; udp/53 not wanted and foreign
      svc(84, [nat('192.0.2.11', 8084), nat('192.0.2.12')]), // identity change
    ),
  },
  {
    name: 'the same with adopt',
    adopt: true,
    want: table(svc(80, ['192.0.2.11', '192.0.2.13']), svc(82, ['192.0.2.11', '192.0.2.15'], { persistent: 60 }), svc(86, ['192.0.2.16'])),
  },
]

/** The full plan with only what concerns the services in `keys` (in the same order). */
function restrict(plan: Plan, keys: ReadonlySet<string>): Plan {
  const inKeys = (k: string) => keys.has(k.split(' -> ')[0]!)
  return {
    ops: plan.ops.filter((op) => keys.has(serviceKey(op.service))),
    foreign: plan.foreign.filter(inKeys), conflicts: plan.conflicts.filter(inKeys), adopted: plan.adopted.filter(inKeys),
  }
}

/** Every subset of `keys` (as ordered lists, order kept). */
function subsets(keys: string[]): string[][] {
  return keys.reduce<string[][]>((acc, k) => [...acc, ...acc.map((s) => [...s, k])], [[]])
}

for (const c of cases) {
  t.test(c.name, async (t) => {
    const full = diff(c.want, have, owned, { adopt: c.adopt })
    const wantMap = new Map(c.want.services.map((s): [string, Service] => [serviceKey(s), s]))
    // The full diff's order: wanted services in table order, then the kernel's others.
    const order = [...wantMap.keys(), ...have.services.map(serviceKey).filter((k) => !wantMap.has(k))]
    t.ok(full.ops.length + full.foreign.length > 0 || c.name === 'nothing changes', 'the case has something to find')
    let checked = 0
    for (const subset of subsets(order)) {
      const keys = new Set(subset)
      const expected = restrict(full, keys)
      const scoped = diffServices(wantMap, new TableView(have), owned, subset, { adopt: c.adopt })
      if (JSON.stringify(scoped) !== JSON.stringify(expected)) t.same(scoped, expected, `diffServices over ${subset.join(', ')}`)
      const only = diff(c.want, have, owned, { adopt: c.adopt, only: keys })
      if (JSON.stringify(only) !== JSON.stringify(expected)) t.same(only, expected, `diff only ${subset.join(', ')}`)
      checked++
    }
    t.equal(checked, 2 ** order.length, `all ${2 ** order.length} subsets of the touched services agree`)
    t.same(diffServices(wantMap, new TableView(have), owned, order, { adopt: c.adopt }), full, 'all services = the full diff')
  })
}

t.test('a key that neither table has is nothing to do', async (t) => {
  t.same(diffServices(new Map(), new TableView(have), owned, ['tcp/192.0.2.100:9999']), { ops: [], foreign: [], conflicts: [], adopted: [] })
})
