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
