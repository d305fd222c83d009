// applyRecorded: the owned set's state file follows every apply, with the adds journaled while ipvsadm runs (a
// real OwnedStore on a temporary directory, reloaded as a restart would; the kernel is the fake one).
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { applyRecorded, mayOwn, type OwnedRecorder } from '../../src/ipvs/apply-recorded.js'
import { diff } from '../../src/ipvs/diff.js'
import { parseTable, serviceKey, type Table } from '../../src/ipvs/model.js'
import { loadOwned, OwnedStore } from '../../src/ipvs/owned.js'
import { TableView } from '../../src/ipvs/table-view.js'
import { FakeKernel } from './fake-kernel.js'

const svc = (port: number, dests: string[]) => ({ protocol: 'tcp', address: '192.0.2.100', port, scheduler: 'wrr', destinations: dests.map((address) => ({ address })) })
const table = (...services: unknown[]): Table => parseTable({ services })
const keysOf = (tb: Table) => tb.services.flatMap((s) => [serviceKey(s), ...s.destinations.map((d) => `${serviceKey(s)} -> ${d.address}:${d.port}`)])
const have = table(svc(80, ['192.0.2.11', '192.0.2.12']), svc(81, ['192.0.2.11']))

/** A director's state: the kernel, its view, the owned set and its store, the store's calls in order with the kernel's. */
async function director(t: Test) {
  const path = join(t.testdir(), 'owned.json')
  const kernel = new FakeKernel(have)
  const owned = new Set(keysOf(have))
  const { store } = await OwnedStore.open(path)
  await store.compact(owned)
  t.teardown(() => store.close())
  const events: string[] = []
  const recorder: OwnedRecorder = {
    record: async (o, delta) => {
      events.push(`record +${delta.added.length} -${delta.removed.length}`)
      await store.record(o, delta)
      events.push('recorded')
    },
    compact: (o) => store.compact(o),
  }
  const restore = kernel.restore.bind(kernel)
  kernel.restore = async (lines) => {
    events.push('ipvsadm start')
    await new Promise((r) => setTimeout(r, 20)) // the process takes a while
    const res = await restore(lines)
    events.push('ipvsadm exit')
    return res
  }
  return { path, kernel, owned, view: new TableView(have), recorder, events }
}

t.test('a clean add: journaled while ipvsadm runs, and nothing written after it', async (t) => {
  const d = await director(t)
  const want = table(svc(80, ['192.0.2.11', '192.0.2.12', '192.0.2.13']), svc(81, ['192.0.2.11']))
  const plan = diff(want, have, d.owned)
  t.same(mayOwn(plan), ['tcp/192.0.2.100:80 -> 192.0.2.13:80'])
  const out = await applyRecorded(d.kernel, plan, d.view, d.owned, d.recorder)
  t.equal(out.applied.length, 1)
  const exit = d.events.indexOf('ipvsadm exit')
  t.same(d.events.slice(0, exit + 1), ['ipvsadm start', 'record +1 -0', 'recorded', 'ipvsadm exit'], 'the journal line was written while the process ran')
  t.same(d.events.slice(exit + 1).filter((e) => e.startsWith('record +') && e !== 'record +0 -0'), [], 'nothing to write after it')
  t.same(await loadOwned(d.path), d.owned, 'a restart reads the set the director holds')
  t.ok(d.owned.has('tcp/192.0.2.100:80 -> 192.0.2.13:80'))
})

t.test('a delete is journaled after the kernel dropped the entry', async (t) => {
  const d = await director(t)
  const plan = diff(table(svc(80, ['192.0.2.11'])), have, d.owned)
  await applyRecorded(d.kernel, plan, d.view, d.owned, d.recorder)
  t.same(d.events[0], 'ipvsadm start', 'nothing written ahead of a pure removal')
  t.ok(d.events.indexOf('record +0 -3') > d.events.indexOf('ipvsadm exit'))
  const reloaded = await loadOwned(d.path)
  t.same(reloaded, d.owned)
  t.notOk(reloaded.has('tcp/192.0.2.100:81'))
})

t.test('an add that met another tool\'s entry is taken back on disk', async (t) => {
  const d = await director(t)
  const want = table(svc(80, ['192.0.2.11', '192.0.2.12', '192.0.2.13']), svc(81, ['192.0.2.11']))
  const plan = diff(want, have, d.owned)
  // Another tool adds .13 just before our batch: ours fails with "already exists"; the entry is not ours.
  d.kernel.meanwhile = () => d.kernel.run('-a -t 192.0.2.100:80 -r 192.0.2.13:80 -g -w 1')
  const out = await applyRecorded(d.kernel, plan, d.view, d.owned, d.recorder)
  t.equal(out.failed.length, 1)
  const reloaded = await loadOwned(d.path)
  t.notOk(reloaded.has('tcp/192.0.2.100:80 -> 192.0.2.13:80'), 'not owned after a restart either')
  t.same(reloaded, d.owned)
})

t.test('ipvsadm killed and the read failing: every add that may have taken stays owned on disk', async (t) => {
  const d = await director(t)
  const want = table(svc(80, ['192.0.2.11', '192.0.2.12', '192.0.2.13']), svc(81, ['192.0.2.11']), svc(82, ['192.0.2.11']))
  const plan = diff(want, have, d.owned)
  d.kernel.timeoutAfter = 1
  d.kernel.failReads = 1
  await t.rejects(applyRecorded(d.kernel, plan, d.view, d.owned, d.recorder), { code: 'LVS_ERR_IPVSADM_TIMEOUT' })
  const reloaded = await loadOwned(d.path)
  for (const k of mayOwn(plan)) t.ok(reloaded.has(k), `${k} owned on disk`)
  t.same(reloaded, d.owned)
})

t.test('the state file failing ahead: the line after carries the whole change', async (t) => {
  const d = await director(t)
  let calls = 0
  const flaky: OwnedRecorder = {
    record: (o, delta) => (++calls === 1 ? Promise.reject(new Error('disk full')) : d.recorder.record(o, delta)),
    compact: d.recorder.compact,
  }
  const want = table(svc(80, ['192.0.2.11', '192.0.2.12', '192.0.2.13']), svc(81, ['192.0.2.11']))
  await applyRecorded(d.kernel, diff(want, have, d.owned), d.view, d.owned, flaky)
  t.ok((await loadOwned(d.path)).has('tcp/192.0.2.100:80 -> 192.0.2.13:80'))
})
