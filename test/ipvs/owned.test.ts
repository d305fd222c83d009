// The owned-set state file: missing = empty, corrupt = coded error, atomic writes; and how it follows a plan.
import t from 'tap'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadOwned, nextOwned, saveOwned } from '../../src/ipvs/owned.js'
import { parseTable } from '../../src/ipvs/model.js'
import type { Op } from '../../src/ipvs/commands.js'

t.test('state file round trip', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lvs-owned-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'sub', 'owned.json')
  t.same(await loadOwned(path), new Set(), 'a missing file is an empty set')
  await saveOwned(path, new Set(['tcp/192.0.2.100:80', 'fwmark/7']))
  t.same(await loadOwned(path), new Set(['fwmark/7', 'tcp/192.0.2.100:80']))
  t.same(JSON.parse(await readFile(path, 'utf8')), { version: 1, entries: ['fwmark/7', 'tcp/192.0.2.100:80'] })
  t.same(await readdir(join(dir, 'sub')), ['owned.json'], 'no temporary file left behind')
  await writeFile(path, '{"version": 1, "entries": [')
  await t.rejects(loadOwned(path), { code: 'LVS_ERR_STATE_FILE', message: new RegExp(path) })
  await writeFile(path, '{"entries": {}}')
  await t.rejects(loadOwned(path), { code: 'LVS_ERR_STATE_FILE', message: /not an owned-set file/ })
  await t.rejects(saveOwned(join(path, 'below-a-file.json'), new Set()), { code: 'LVS_ERR_STATE_FILE' })
})

t.test('nextOwned adds what was created or adopted and drops what the kernel no longer holds', async (t) => {
  const table = parseTable({ services: [{ protocol: 'tcp', address: '192.0.2.100', port: 80, destinations: [{ address: '192.0.2.11' }, { address: '192.0.2.12' }] }] })
  const service = table.services[0]!
  const ops: Op[] = [{ kind: 'add-dest', service, dest: service.destinations[0]! }]
  const next = nextOwned(new Set(['tcp/192.0.2.100:80', 'udp/192.0.2.1:53']), ['tcp/192.0.2.100:80 -> 192.0.2.12:80'], ops, table)
  t.same([...next].sort(), ['tcp/192.0.2.100:80', 'tcp/192.0.2.100:80 -> 192.0.2.11:80', 'tcp/192.0.2.100:80 -> 192.0.2.12:80'])
})

t.test('nextOwned against a table read back (equal objects, not the ops\' own), small and large services alike', async (t) => {
  const addresses = (n: number) => Array.from({ length: n }, (_, i) => ({ address: `192.0.2.${i + 1}` }))
  for (const n of [3, 40]) { // compared one by one, or looked up by key
    const desired = parseTable({ services: [{ protocol: 'udp', address: '198.51.100.1', port: 5060, destinations: addresses(n) }] })
    const service = desired.services[0]!
    const ops: Op[] = [{ kind: 'add-service', service }, ...service.destinations.map((dest): Op => ({ kind: 'add-dest', service, dest }))]
    // The kernel as read: new objects; the first real server is gone (another tool removed it), IPv4 port 5060 as given.
    const read = structuredClone(desired)
    read.services[0]!.destinations.shift()
    const next = nextOwned(new Set(['udp/198.51.100.1:5060 -> 192.0.2.2:5060', 'udp/198.51.100.1:5060 -> 192.0.2.99:5060']), [], ops, read)
    t.equal(next.size, n, `${n} real servers: the service and all but the removed one`)
    t.ok(next.has('udp/198.51.100.1:5060'))
    t.notOk(next.has('udp/198.51.100.1:5060 -> 192.0.2.1:5060'), 'the removed one is not owned')
    t.notOk(next.has('udp/198.51.100.1:5060 -> 192.0.2.99:5060'), 'a stale key of the state file goes')
    t.ok(next.has(`udp/198.51.100.1:5060 -> 192.0.2.${n}:5060`))
  }
})
