// applyPlan sends one batch, and when lines fail it names each failed entry with ipvsadm's message, applies the
// rest, and returns a kernel view and owned set that match the kernel.
import t from 'tap'
import { applyPlan } from '../../src/ipvs/apply.js'
import { diff } from '../../src/ipvs/diff.js'
import { parseTable, type Table } from '../../src/ipvs/model.js'
import { FakeKernel } from './fake-kernel.js'

const desired: Table = parseTable({ services: [
  { protocol: 'tcp', address: '192.0.2.100', port: 80, scheduler: 'wrr',
    destinations: [{ address: '192.0.2.11' }, { address: '192.0.2.12' }, { address: '192.0.2.13' }] },
  { protocol: 'udp', address: '192.0.2.100', port: 5060, scheduler: 'sh', persistent: 900, pe: 'sip',
    destinations: [{ address: '192.0.2.21' }] },
] })
const NOT_UNICAST = 'Invalid operation.  Possibly wrong module version, address not unicast, ...'

t.test('a clean plan is one ipvsadm -R and no table read', async (t) => {
  const kernel = new FakeKernel()
  const plan = diff(desired, kernel.table, new Set())
  const res = await applyPlan(kernel, plan, { services: [] }, new Set())
  t.equal(kernel.batches.length, 1)
  t.equal(kernel.batches[0]!.length, 6)
  t.equal(kernel.reads, 0)
  t.same(res.failed, [])
  t.same(res.kernel, kernel.table, 'the director view is what the kernel holds')
  t.equal(res.owned.size, 6, 'two services and four real servers owned')
  t.same(diff(desired, kernel.table, res.owned).ops, [], 'nothing left to do')
})

t.test('one bad real server in the middle: the rest is applied and the bad one named', async (t) => {
  const kernel = new FakeKernel()
  kernel.rules.push({ match: '-r 192.0.2.12:80', message: NOT_UNICAST })
  const res = await applyPlan(kernel, diff(desired, kernel.table, new Set()), { services: [] }, new Set())
  t.equal(kernel.batches.length, 1, 'ipvsadm went on after the failed line')
  t.equal(kernel.reads, 1, 'one table read after the failed batch')
  t.same(res.failed.map((f) => [f.key, f.error]), [['tcp/192.0.2.100:80 -> 192.0.2.12:80', NOT_UNICAST]])
  t.equal(res.applied.length, 5)
  t.same(res.kernel, kernel.table)
  t.notOk(res.owned.has('tcp/192.0.2.100:80 -> 192.0.2.12:80'), 'the failed entry is not owned')
  t.ok(res.owned.has('udp/192.0.2.100:5060 -> 192.0.2.21:5060'))
  t.same(diff(desired, kernel.table, res.owned).ops.map((o) => o.kind), ['add-dest'], 'the next reconcile retries just that one')
})

t.test('a failed service add names the service and each of its real servers', async (t) => {
  const kernel = new FakeKernel()
  kernel.rules.push({ match: '-A -u 192.0.2.100:5060', message: 'Scheduler or persistence engine not found' })
  const res = await applyPlan(kernel, diff(desired, kernel.table, new Set()), { services: [] }, new Set())
  t.same(res.failed.map((f) => [f.key, f.error]), [
    ['udp/192.0.2.100:5060', 'Scheduler or persistence engine not found'],
    ['udp/192.0.2.100:5060 -> 192.0.2.21:5060', 'Service not defined'],
  ])
  t.equal(res.applied.length, 4)
})

t.test('a line that makes ipvsadm stop (exit 2): later lines are sent again, the bad one named', async (t) => {
  const kernel = new FakeKernel()
  kernel.rules.push({ match: '-r 192.0.2.12:80', message: "illegal weight specified", abort: true })
  const res = await applyPlan(kernel, diff(desired, kernel.table, new Set()), { services: [] }, new Set())
  t.equal(kernel.batches.length, 2)
  t.same(kernel.batches[1], [
    '-a -t 192.0.2.100:80 -r 192.0.2.13:80 -g -w 1',
    '-a -u 192.0.2.100:5060 -r 192.0.2.21:5060 -g -w 1',
  ], 'only the lines that never ran')
  t.same(res.failed.map((f) => f.key), ['tcp/192.0.2.100:80 -> 192.0.2.12:80'])
  t.same(res.kernel, kernel.table)
  t.equal(res.owned.size, 5)
})

t.test('a failed edit keeps the old attributes in the view', async (t) => {
  const kernel = new FakeKernel(desired)
  const owned = new Set(['tcp/192.0.2.100:80', 'tcp/192.0.2.100:80 -> 192.0.2.11:80', 'tcp/192.0.2.100:80 -> 192.0.2.12:80',
    'tcp/192.0.2.100:80 -> 192.0.2.13:80', 'udp/192.0.2.100:5060', 'udp/192.0.2.100:5060 -> 192.0.2.21:5060'])
  const want = structuredClone(desired)
  want.services[0]!.destinations[0]!.weight = 7
  want.services[0]!.destinations[1]!.weight = 8
  kernel.rules.push({ match: '-e -t 192.0.2.100:80 -r 192.0.2.11:80', message: 'No such destination' })
  const res = await applyPlan(kernel, diff(want, kernel.table, owned), kernel.table, owned)
  t.same(res.failed.map((f) => f.key), ['tcp/192.0.2.100:80 -> 192.0.2.11:80'])
  t.same(res.kernel.services[0]!.destinations.map((d) => d.weight), [1, 8, 1])
  t.same(res.owned, owned, 'nothing was lost from the owned set')
})
