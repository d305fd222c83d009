// applyPlan sends one batch, and when lines fail it names each failed entry with ipvsadm's message, applies the
// rest, and returns a kernel view and owned set that match the kernel.
import t from 'tap'
import { applyPlan, applyPlanInPlace, type ApplyError } from '../../src/ipvs/apply.js'
import { trimOwned } from '../../src/ipvs/owned.js'
import { TableView } from '../../src/ipvs/table-view.js'
import { diff } from '../../src/ipvs/diff.js'
import { opKey } from '../../src/ipvs/commands.js'
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
    '-A -u 192.0.2.100:5060 -s sh -p 900 --pe sip',
    '-a -u 192.0.2.100:5060 -r 192.0.2.21:5060 -g -w 1',
  ], 'only the lines that never ran (a service, then its real servers)')
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

// The plan's keys in its order (both services, then the real servers); a timeout after 3 lines took the first 3.
const PLAN_KEYS = diff(desired, { services: [] }, new Set()).ops.map(opKey)
const ALL_KEYS = [...PLAN_KEYS].sort()
const TOOK = PLAN_KEYS.slice(0, 3).sort()

t.test('ipvsadm killed at its deadline mid-batch: the table is read back and what took is owned', async (t) => {
  const kernel = new FakeKernel()
  kernel.timeoutAfter = 3
  const res = await applyPlan(kernel, diff(desired, kernel.table, new Set()), { services: [] }, new Set())
  t.equal(kernel.reads, 1)
  t.equal(kernel.batches.length, 1, 'a timeout is not retried at once')
  t.same([...res.owned].sort(), TOOK, 'the three lines the kernel took are owned')
  t.same(res.failed.map((f) => [f.key, f.error]), PLAN_KEYS.slice(3).map((k) => [k, 'ipvsadm -R timed out after 120000 ms']))
  t.same(res.kernel, kernel.table)
  t.same(diff(desired, kernel.table, res.owned).conflicts, [], 'nothing we created became foreign')
})

t.test('the same, in place: the owned delta names what took', async (t) => {
  const kernel = new FakeKernel()
  kernel.timeoutAfter = 3
  const view = new TableView()
  const owned = new Set<string>()
  const res = await applyPlanInPlace(kernel, diff(desired, kernel.table, owned), view, owned)
  t.same([...owned].sort(), TOOK)
  t.same(res.ownedDelta.added.sort(), TOOK)
  t.same(view.toTable(), kernel.table)
})

t.test('ipvsadm killed and the read failing too: the error propagates, the owned set keeps every add that may have taken', async (t) => {
  const kernel = new FakeKernel()
  kernel.timeoutAfter = 3
  kernel.failReads = 1
  const plan = diff(desired, kernel.table, new Set())
  const err = await applyPlan(kernel, plan, { services: [] }, new Set()).catch((e: ApplyError) => e)
  t.equal((err as ApplyError).code, 'LVS_ERR_IPVSADM_TIMEOUT', 'the timeout, not the read error')
  t.same([...(err as ApplyError).owned!].sort(), ALL_KEYS)

  const kernel2 = new FakeKernel()
  kernel2.timeoutAfter = 3
  kernel2.failReads = 1
  const view = new TableView()
  const owned = new Set<string>()
  const err2 = await applyPlanInPlace(kernel2, plan, view, owned).catch((e: ApplyError) => e) as ApplyError
  t.equal(err2.code, 'LVS_ERR_IPVSADM_TIMEOUT')
  t.same([...owned].sort(), ALL_KEYS, 'owned in place')
  t.same(err2.ownedDelta!.added.sort(), ALL_KEYS, 'and the delta to journal')
  t.ok(view.stale, 'the view is marked stale: the next run reads first')
  view.reset(await kernel2.read())
  t.notOk(view.stale)
  trimOwned(owned, view)
  t.same([...owned].sort(), TOOK, 'after the read, the owned set is what took')
})

t.test('an add that meets an entry another tool created meanwhile is not taken as owned, and messages go to their own lines', async (t) => {
  const have = parseTable({ services: [{ ...desired.services[0]!, destinations: [{ address: '192.0.2.11' }] }] })
  const kernel = new FakeKernel(have)
  const owned = new Set(['tcp/192.0.2.100:80', 'tcp/192.0.2.100:80 -> 192.0.2.11:80'])
  // Between our diff and our -R, another tool adds real server .12 with the same attributes as ours.
  kernel.meanwhile = () => kernel.run('-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 1')
  kernel.rules.push({ match: '-r 192.0.2.13:80', message: NOT_UNICAST })
  const plan = diff(desired, have, owned)
  t.same(plan.ops.map(opKey), ['tcp/192.0.2.100:80 -> 192.0.2.12:80', 'tcp/192.0.2.100:80 -> 192.0.2.13:80',
    'udp/192.0.2.100:5060', 'udp/192.0.2.100:5060 -> 192.0.2.21:5060'])
  const res = await applyPlan(kernel, plan, have, owned)
  t.notOk(res.owned.has('tcp/192.0.2.100:80 -> 192.0.2.12:80'), "the other tool's real server is not ours")
  t.ok(res.owned.has('udp/192.0.2.100:5060 -> 192.0.2.21:5060'), 'ours is')
  t.ok(res.owned.has('udp/192.0.2.100:5060'), 'a service add is another kind: ours')
  t.same(res.failed.map((f) => [f.key, f.error]), [
    ['tcp/192.0.2.100:80 -> 192.0.2.12:80', 'Destination already exists (created by another tool; not taken as owned)'],
    ['tcp/192.0.2.100:80 -> 192.0.2.13:80', NOT_UNICAST],
  ], 'the failed line gets its own message, not the one before it by position')
  t.same(diff(desired, kernel.table, res.owned).conflicts, ['tcp/192.0.2.100:80 -> 192.0.2.12:80'], 'the next diff shows it as a conflict')
})

t.test('when several adds could have met the existing entry, none of them is taken as owned', async (t) => {
  const kernel = new FakeKernel()
  kernel.meanwhile = () => kernel.run('-A -t 192.0.2.100:80 -s wrr')
  const res = await applyPlan(kernel, diff(desired, { services: [] }, new Set()), { services: [] }, new Set())
  t.same(res.failed.map((f) => [f.key, f.error]), [
    ['tcp/192.0.2.100:80', 'Service already exists for 1 of 2 adds here (created by another tool; none of them taken as owned)'],
    ['udp/192.0.2.100:5060', 'Service already exists for 1 of 2 adds here (created by another tool; none of them taken as owned)'],
  ])
  t.notOk(res.owned.has('tcp/192.0.2.100:80'))
  t.equal(res.applied.length, 4, 'the real servers are ours')
})

t.test('an add failing on an entry that exists with other attributes takes that message', async (t) => {
  const kernel = new FakeKernel()
  kernel.meanwhile = () => kernel.run('-A -t 192.0.2.100:80 -s rr')
  kernel.rules.push({ match: '-r 192.0.2.13:80', message: NOT_UNICAST })
  const res = await applyPlan(kernel, diff(desired, { services: [] }, new Set()), { services: [] }, new Set())
  t.same(res.failed.map((f) => [f.key, f.error]), [
    ['tcp/192.0.2.100:80', 'Service already exists'],
    ['tcp/192.0.2.100:80 -> 192.0.2.13:80', NOT_UNICAST],
  ])
  t.notOk(res.owned.has('tcp/192.0.2.100:80'))
})

/** A save that records each set it is given, and how many saves ran at once at most. */
function recordingSave() {
  const saved: string[][] = []
  let running = 0
  let most = 0
  const save = async (owned: Set<string>) => {
    most = Math.max(most, ++running)
    await new Promise((resolve) => setImmediate(resolve))
    saved.push([...owned].sort())
    running--
  }
  return { saved, save, most: () => most }
}

t.test('save: a clean batch saves its owned set once, while ipvsadm runs', async (t) => {
  const kernel = new FakeKernel()
  const { saved, save } = recordingSave()
  // The fake ipvsadm finishes only once the save has begun: the save is beside the process, not after it.
  let began!: () => void
  const saveBegan = new Promise<void>((resolve) => (began = resolve))
  const restore = kernel.restore.bind(kernel)
  kernel.restore = async (lines) => {
    await saveBegan
    return restore(lines)
  }
  const res = await applyPlan(kernel, diff(desired, kernel.table, new Set()), { services: [] }, new Set(), {
    save: (owned) => { began(); return save(owned) },
  })
  t.same(saved, [[...res.owned].sort()], 'one save, of the result')
  t.equal(res.owned.size, 6)
})

t.test('save: a failed line makes a second save, of what the kernel took; never two at once', async (t) => {
  const kernel = new FakeKernel()
  kernel.rules.push({ match: '-r 192.0.2.12:80', message: NOT_UNICAST })
  const { saved, save, most } = recordingSave()
  const res = await applyPlan(kernel, diff(desired, kernel.table, new Set()), { services: [] }, new Set(), { save })
  t.equal(saved.length, 2)
  t.equal(saved[0]!.length, 6, 'first the clean outcome, while ipvsadm ran')
  t.same(saved[1], [...res.owned].sort(), 'then the outcome, without the failed real server')
  t.notOk(saved[1]!.includes('tcp/192.0.2.100:80 -> 192.0.2.12:80'))
  t.same(res.kernel, kernel.table)
  t.equal(most(), 1)
})

t.test('save: ipvsadm killed and the read failing: the widened set is saved last, then the error', async (t) => {
  const kernel = new FakeKernel()
  kernel.timeoutAfter = 3
  kernel.failReads = 1
  const { saved, save, most } = recordingSave()
  const err = await applyPlan(kernel, diff(desired, kernel.table, new Set()), { services: [] }, new Set(), { save }).catch((e: ApplyError) => e)
  t.equal((err as ApplyError).code, 'LVS_ERR_IPVSADM_TIMEOUT')
  t.same(saved.at(-1), ALL_KEYS)
  t.equal(most(), 1)
})
