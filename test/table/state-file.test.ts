// The desired table's file: a change is one journal line (the snapshot is not rewritten), a restart reads snapshot
// + journal back in table order with the drains of the touched services, concurrent changes all survive, a reload
// writes the whole table, and a file of the first format (no journal) still loads.
import t from 'tap'
import { appendFile, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { normalizeServiceConfig, type DesiredService } from '../../src/config/service.js'
import { StateFile, type PersistedTable } from '../../src/table/state-file.js'

const svc = (name: string, port: number, reals = ['192.0.2.11']): DesiredService =>
  normalizeServiceConfig({ name, protocol: 'tcp', address: '192.0.2.100', port, destinations: reals.map((address) => ({ address })) }, '', {})

/** A table kept the way the director keeps it: changed in memory first, then recorded. */
function liveTable(services: DesiredService[]) {
  const t: PersistedTable = { revision: 1, base: [services[0]!], services: [...services], drains: {} }
  return { t, whole: () => ({ ...t, services: [...t.services] }) }
}

t.test('a change is one journal line; a restart reads the table back in order, with drains', async (t) => {
  const dir = t.testdir()
  const file = new StateFile(dir)
  const { t: live, whole } = liveTable([svc('a', 80), svc('b', 81), svc('c', 82)])
  await file.compact(whole)
  const snapshot = await readFile(file.path, 'utf8')

  const b2 = svc('b', 81, ['192.0.2.11', '192.0.2.12'])
  live.services[1] = b2
  live.revision = 2
  live.drains['b|192.0.2.12:81'] = 1234
  await file.record({ revision: 2, services: { b: b2 }, drains: { b: { '192.0.2.12:81': 1234 } } }, whole)
  live.services.splice(0, 1)
  live.services.push(svc('d', 83))
  live.revision = 3
  await file.record({ revision: 3, services: { a: null, d: live.services.at(-1)! }, drains: { a: {}, d: {} } }, whole)

  t.equal(await readFile(file.path, 'utf8'), snapshot, 'the snapshot was not rewritten')
  t.equal((await readFile(`${file.path}.journal`, 'utf8')).trim().split('\n').length, 3, 'a header and two lines')
  await file.close()

  const back = await new StateFile(dir).load()
  t.equal(back?.revision, 3)
  t.same(back?.services.map((s) => s.name), ['b', 'c', 'd'], 'a replaced service keeps its place, a new one goes last')
  t.same(back?.services[0]?.destinations.map((d) => d.address), ['192.0.2.11', '192.0.2.12'])
  t.same(back?.drains, { 'b|192.0.2.12:81': 1234 })
  t.same(back?.base.map((s) => s.name), ['a'])

  // A drain that ended is gone after a change of its service.
  const again = new StateFile(dir)
  await again.compact(() => back!)
  await again.record({ revision: 4, services: { b: svc('b', 81) }, drains: { b: {} } }, () => ({ ...back!, revision: 4 }))
  await again.close()
  t.same((await new StateFile(dir).load())?.drains, {}, 'the drain is gone')
})

t.test('concurrent changes are all kept (they share writes)', async (t) => {
  const dir = t.testdir()
  const file = new StateFile(dir)
  const { t: live, whole } = liveTable([svc('a', 80)])
  await file.compact(whole)
  const writes: Array<Promise<void>> = []
  for (let i = 0; i < 200; i++) {
    const s = svc(`s${i}`, 1000 + i)
    live.services.push(s)
    live.revision++
    writes.push(file.record({ revision: live.revision, services: { [s.name]: s }, drains: { [s.name]: {} } }, whole))
  }
  await Promise.all(writes)
  await file.close()
  const back = await new StateFile(dir).load()
  t.equal(back?.services.length, 201)
  t.equal(back?.revision, live.revision)
})

t.test('a torn last line is ignored with a warning; a bad line before it is an error', async (t) => {
  const dir = t.testdir()
  const file = new StateFile(dir)
  const { whole } = liveTable([svc('a', 80)])
  await file.compact(whole)
  await file.close()
  await appendFile(`${file.path}.journal`, '{"revision":2,"services":{"a":nu')
  const warnings: string[] = []
  const back = await new StateFile(dir).load({}, (w) => warnings.push(w))
  t.same(back?.services.map((s) => s.name), ['a'], 'the cut change does not count')
  t.match(warnings, [/desired\.json\.journal: line 2 .*torn write/])
  await appendFile(`${file.path}.journal`, '\n{"revision":3,"services":{},"drains":{}}\n')
  await t.rejects(new StateFile(dir).load(), { code: 'LVS_ERR_STATE_FILE', message: /desired\.json\.journal: line 2/ })
})

t.test('a service in the file that is not valid names the file and the field', async (t) => {
  const dir = t.testdir()
  const file = new StateFile(dir)
  await file.compact(liveTable([svc('a', 80)]).whole)
  await file.record({ revision: 2, services: { a: { ...svc('a', 80), port: 70000 } }, drains: {} }, liveTable([svc('a', 80)]).whole)
  await file.close()
  await t.rejects(new StateFile(dir).load(), { code: 'LVS_ERR_STATE_FILE', message: /desired\.json.*\/services\/0\/port/ })
})

t.test('a file of the first format (one JSON document, no journal) loads', async (t) => {
  const dir = t.testdir()
  const s = svc('a', 80)
  await writeFile(join(dir, 'desired.json'), JSON.stringify({ version: 1, revision: 7, base: [s], services: [s], drains: { 'a|192.0.2.11:80': 5 } }))
  const back = await new StateFile(dir).load()
  t.equal(back?.revision, 7)
  t.same(back?.drains, { 'a|192.0.2.11:80': 5 })
  t.equal(await new StateFile(t.testdir()).load(), undefined, 'no file: no table')
})
