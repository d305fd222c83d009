// applyPlanInPlace keeps the director's kernel view and owned set up to date without copying them: after a clean
// batch they equal what the whole rebuild (applyOps of the table, nextOwned) gives and what the kernel holds; after
// a failed batch it takes the careful path (one read); applyPlan's arguments keep their values.
import t from 'tap'
import { applyPlan, applyPlanInPlace } from '../../src/ipvs/apply.js'
import { diff, diffServices } from '../../src/ipvs/diff.js'
import { parseTable, serviceKey, type Table } from '../../src/ipvs/model.js'
import { nextOwned, trimOwned } from '../../src/ipvs/owned.js'
import { TableView } from '../../src/ipvs/table-view.js'
import type { Op } from '../../src/ipvs/commands.js'
import { FakeKernel } from './fake-kernel.js'

const svc = (port: number, dests: Array<string | Record<string, unknown>>, over: Record<string, unknown> = {}) =>
  ({ protocol: 'tcp', address: '192.0.2.100', port, scheduler: 'wrr', destinations: dests.map((a) => (typeof a === 'string' ? { address: a } : a)), ...over })
const table = (...services: unknown[]): Table => parseTable({ services })
const keysOf = (tb: Table) => tb.services.flatMap((s) => [serviceKey(s), ...s.destinations.map((d) => `${serviceKey(s)} -> ${d.address}:${d.port}`)])
const sorted = (tb: Table) => [...tb.services].map((s) => ({ ...s, destinations: [...s.destinations].sort((a, b) => a.address.localeCompare(b.address)) }))
  .sort((a, b) => serviceKey(a).localeCompare(serviceKey(b)))

const have = table(
  svc(80, ['192.0.2.11', '192.0.2.12', '192.0.2.13']), svc(81, ['192.0.2.11']), svc(82, ['192.0.2.11']),
  svc(83, ['192.0.2.11', '192.0.2.12']), { protocol: 'udp', address: '192.0.2.200', port: 53, destinations: [{ address: '192.0.2.53' }] },
)
// Ours: all but service 82 and udp/53, and not real server .13 of 80.
const owned = new Set(keysOf(have).filter((k) => !k.includes(':82') && !k.includes('udp/') && !k.endsWith('192.0.2.13:80')))

const cases: Array<{ name: string; want: Table; adopt?: boolean }> = [
  { name: 'add one real server', want: table(svc(80, ['192.0.2.11', '192.0.2.12', '192.0.2.13', '192.0.2.14']), svc(81, ['192.0.2.11']), svc(82, ['192.0.2.11']), svc(83, ['192.0.2.11', '192.0.2.12'])) },
  {
    name: 'edits, deletes, a new service, a deleted service, a conflict',
    want: table(svc(80, [{ address: '192.0.2.11', weight: 3 }, '192.0.2.15'], { scheduler: 'lc' }), svc(82, ['192.0.2.11', '192.0.2.16']), svc(85, ['192.0.2.11', '192.0.2.12'])),
  },
  { name: 'adopting a service and a real server', adopt: true, want: table(svc(80, ['192.0.2.11', '192.0.2.13']), svc(82, ['192.0.2.11', '192.0.2.17'])) },
  { name: 'everything goes', want: table() },
]

for (const c of cases) {
  t.test(`${c.name}: in place equals the whole rebuild and the kernel`, async (t) => {
    const kernel = new FakeKernel(have)
    const plan = diff(c.want, have, owned, { adopt: c.adopt })
    const view = new TableView(have)
    const mine = new Set(owned)
    const haveBefore = structuredClone(have)
    const out = await applyPlanInPlace(kernel, plan, view, mine)
    t.equal(out.batches, 1)
    t.equal(out.reads, 0, 'a clean batch reads nothing')
    t.same(out.failed, [])
    t.same(sorted(view.toTable()), sorted(kernel.table), 'the view is what the kernel holds')
    t.same(mine, nextOwned(owned, plan.adopted, plan.ops, kernel.table), 'the owned set is the one the whole rebuild gives')
    t.same(new Set([...[...owned].filter((k) => !out.ownedDelta.removed.includes(k)), ...out.ownedDelta.added]), mine, 'before + delta = after')
    t.same(have, haveBefore, 'the table the view was made from kept its value')
    t.same(diff(c.want, view.toTable(), mine, { adopt: c.adopt }).ops, [], 'nothing left to do')
    // The value form gives the same, leaving its arguments alone.
    const kernel2 = new FakeKernel(have)
    const ownedBefore = new Set(owned)
    const res = await applyPlan(kernel2, plan, have, owned)
    t.same(res.kernel, view.toTable(), 'applyPlan: the same view')
    t.same(res.owned, mine, 'applyPlan: the same owned set')
    t.same(owned, ownedBefore, 'applyPlan left the owned set it was given alone')
  })
}

t.test('one change through diffServices: one line, a view that matches the kernel, handed-out tables unchanged', async (t) => {
  const kernel = new FakeKernel(have)
  const view = new TableView(have)
  const mine = new Set(owned)
  const handedOut = view.toTable()
  const copy = structuredClone(handedOut)
  const key = 'tcp/192.0.2.100:81'
  const plan = diffServices(new Map([[key, table(svc(81, ['192.0.2.11', '192.0.2.19'])).services[0]!]]), view, mine, [key])
  t.same(kernel.batches, [])
  const out = await applyPlanInPlace(kernel, plan, view, mine)
  t.same(kernel.batches, [['-a -t 192.0.2.100:81 -r 192.0.2.19:81 -g -w 1']])
  t.same(out.ownedDelta, { added: ['tcp/192.0.2.100:81 -> 192.0.2.19:81'], removed: [] })
  t.same(sorted(view.toTable()), sorted(kernel.table))
  t.same(handedOut, copy, 'a table taken from the view earlier did not change')
})

t.test('a failed batch takes the careful path: one read, the owned set follows the kernel', async (t) => {
  const kernel = new FakeKernel(have)
  kernel.rules.push({ match: '-r 192.0.2.15:80', message: 'Invalid operation.  Possibly wrong module version, address not unicast, ...' })
  const want = cases[1]!.want
  const plan = diff(want, have, owned)
  const view = new TableView(have)
  const mine = new Set(owned)
  const out = await applyPlanInPlace(kernel, plan, view, mine)
  t.equal(out.reads, 1)
  t.same(out.failed.map((f) => f.key), ['tcp/192.0.2.100:80 -> 192.0.2.15:80'])
  t.same(sorted(view.toTable()), sorted(kernel.table))
  t.same(mine, nextOwned(owned, [], out.applied, kernel.table))
  t.notOk(mine.has('tcp/192.0.2.100:80 -> 192.0.2.15:80'))
})

t.test('with a per-service read, a failed batch reads back only the services it touched', async (t) => {
  const kernel = new FakeKernel(have)
  const serviceReads: string[][] = []
  const driver = {
    restoreOps: (ops: readonly Op[]) => kernel.restoreOps(ops),
    read: () => kernel.read(),
    readServices: async (services: Table['services']) => {
      const keys = services.map(serviceKey)
      serviceReads.push(keys)
      return { services: structuredClone(kernel.table.services.filter((s) => keys.includes(serviceKey(s)))) }
    },
  }
  kernel.rules.push({ match: '-r 192.0.2.19:81', message: 'Invalid operation.  Possibly wrong module version, address not unicast, ...' })
  const key = 'tcp/192.0.2.100:81'
  const view = new TableView(have)
  const mine = new Set(owned)
  const plan = diffServices(new Map([[key, table(svc(81, ['192.0.2.11', '192.0.2.19'])).services[0]!]]), view, mine, [key])
  const out = await applyPlanInPlace(driver, plan, view, mine)
  t.equal(kernel.reads, 0, 'no full table read')
  t.same(serviceReads, [[key]], 'one read of the touched service')
  t.same(out.failed.map((f) => f.key), ['tcp/192.0.2.100:81 -> 192.0.2.19:81'])
  t.same(sorted(view.toTable()), sorted(kernel.table), 'the view still matches the whole kernel')
})

t.test('trimOwned drops keys the kernel no longer holds', async (t) => {
  const mine = new Set([...owned, 'tcp/192.0.2.100:99', 'tcp/192.0.2.100:80 -> 192.0.2.99:80'])
  const delta = trimOwned(mine, new TableView(have))
  t.same(mine, owned)
  t.same(delta.removed.sort(), ['tcp/192.0.2.100:80 -> 192.0.2.99:80', 'tcp/192.0.2.100:99'])
})
