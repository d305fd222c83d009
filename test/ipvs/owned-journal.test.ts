// The owned set's snapshot + journal: a change appends one line (the snapshot stays as it is), a reload gives the
// same set, a torn last line is ignored, a corrupt complete line is an error, the journal is folded into the
// snapshot once it outgrows it, and a journal that belongs to an older snapshot never counts.
import t from 'tap'
import { appendFile, copyFile, open, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { loadOwned, loadOwnedState, OwnedStore, saveOwned } from '../../src/ipvs/owned.js'

const key = (i: number) => `tcp/192.0.2.100:${10000 + i} -> 192.0.2.11:${10000 + i}`

t.test('a change is one journal line; a reload is snapshot + journal', async (t) => {
  const path = join(t.testdir(), 'owned.json')
  const { store, owned } = await OwnedStore.open(path)
  t.same(owned, new Set(), 'no file yet: empty')
  const snapshot = await readFile(path, 'utf8')
  owned.add('tcp/192.0.2.100:80').add(key(1))
  await store.record(owned, { added: ['tcp/192.0.2.100:80', key(1)], removed: [] })
  owned.delete(key(1))
  owned.add(key(2))
  await store.record(owned, { added: [key(2)], removed: [key(1)] })
  await store.record(owned, { added: [], removed: [] })
  t.equal(await readFile(path, 'utf8'), snapshot, 'the snapshot was not rewritten')
  const lines = (await readFile(`${path}.journal`, 'utf8')).split('\n')
  t.equal(lines.length, 4, 'a header, two changes (an empty one writes nothing), and the final newline')
  t.same(JSON.parse(lines[2]!), { add: [key(2)], remove: [key(1)] })
  t.same(await loadOwned(path), owned, 'loadOwned replays the journal')
  await store.close()
  const again = await OwnedStore.open(path)
  t.same(again.owned, owned, 'a restarted director gets the same set')
  t.same(JSON.parse(await readFile(path, 'utf8')).entries, [...owned].sort(), 'opening folds the journal into the snapshot')
  await again.store.close()
})

t.test('a torn last line is ignored, and a restarted store drops it', async (t) => {
  const path = join(t.testdir(), 'owned.json')
  const { store, owned } = await OwnedStore.open(path)
  owned.add(key(1))
  await store.record(owned, { added: [key(1)], removed: [] })
  await store.close()
  await appendFile(`${path}.journal`, `{"add":["${key(2)}"],"remo`) // a crash in the middle of a write
  t.same(await loadOwned(path), new Set([key(1)]), 'the cut line does not count')
  const again = await OwnedStore.open(path)
  t.same(again.owned, new Set([key(1)]))
  again.owned.add(key(3))
  await again.store.record(again.owned, { added: [key(3)], removed: [] })
  t.same(await loadOwned(path), new Set([key(1), key(3)]), 'lines after a restart are read (the torn one is gone)')
  await again.store.close()
  await appendFile(`${path}.journal`, 'not json\n{"add":[],"remove":[]}\n')
  await t.rejects(loadOwned(path), { code: 'LVS_ERR_STATE_FILE', message: /owned\.json\.journal/ }, 'a bad complete line is corruption, not a tear')
})

t.test('the journal is folded into a new snapshot once it outgrows it', async (t) => {
  const d = t.testdir()
  const path = join(d, 'owned.json')
  const { store, owned } = await OwnedStore.open(path)
  let folded = 0
  let journalBefore = 0
  let tooBig = 0
  for (let i = 0; i < 2000; i++) {
    owned.add(key(i))
    await store.record(owned, { added: [key(i)], removed: [] })
    const size = (await readFile(`${path}.journal`, 'utf8')).length
    if (size < journalBefore) folded++
    journalBefore = size
    // Folded as soon as it passes the snapshot's size (64 KiB at least): never more than one line over.
    if (size > Math.max(64 * 1024, (await readFile(path, 'utf8')).length) + 100) tooBig++
  }
  t.ok(folded >= 1, `folded ${folded} time(s)`)
  t.equal(tooBig, 0, 'the journal never outgrew the snapshot by more than a line')
  t.same(await loadOwned(path), owned, 'the set survives the folds')
  t.same((await readdir(d)).sort(), ['owned.json', 'owned.json.journal'], 'no temporary file left behind')
  await store.close()
})

t.test("a journal that is not the snapshot's never counts (saveOwned, or a crash during a fold)", async (t) => {
  const d = t.testdir()
  const path = join(d, 'owned.json')
  const { store, owned } = await OwnedStore.open(path)
  owned.add(key(1))
  await store.record(owned, { added: [key(1)], removed: [] })
  await copyFile(`${path}.journal`, join(d, 'old.journal'))
  await store.close()
  // The CLI writes a plain snapshot: the journal goes, and the set is the saved one.
  await saveOwned(path, new Set([key(5)]))
  t.same(await readdir(d).then((f) => f.sort()), ['old.journal', 'owned.json'])
  t.same(await loadOwned(path), new Set([key(5)]))
  // A journal left beside a newer snapshot (a crash right after the snapshot's rename) is not replayed.
  await copyFile(join(d, 'old.journal'), `${path}.journal`)
  t.same(await loadOwned(path), new Set([key(5)]), 'a plain snapshot ignores any journal')
  const again = await OwnedStore.open(path)
  await again.store.compact(new Set([key(6)]))
  await again.store.close()
  await copyFile(join(d, 'old.journal'), `${path}.journal`)
  t.same(await loadOwned(path), new Set([key(6)]), "another snapshot's journal is ignored")
  await writeFile(path, JSON.stringify({ version: 1, journal: 'x', entries: [key(7)] }))
  await rm(`${path}.journal`)
  t.same(await loadOwned(path), new Set([key(7)]), 'a snapshot whose journal was never created')
})

t.test('changes recorded without waiting for each other are all kept, across folds', async (t) => {
  const path = join(t.testdir(), 'owned.json')
  const { store, owned } = await OwnedStore.open(path)
  const writes: Array<Promise<void>> = []
  for (let i = 0; i < 1500; i++) {
    owned.add(key(i))
    writes.push(store.record(owned, { added: [key(i)], removed: [] }))
  }
  await Promise.all(writes)
  await store.close()
  t.equal((await loadOwned(path)).size, 1500)
  await t.rejects(store.record(owned, { added: ['x'], removed: [] }), { code: 'LVS_ERR_STATE_FILE' }, 'a closed store refuses changes')
})

t.test('a torn append (full disk) glued to a later line is ignored as the last line, with a warning', async (t) => {
  const path = join(t.testdir(), 'owned.json')
  const { store, owned } = await OwnedStore.open(path)
  owned.add(key(1))
  await store.record(owned, { added: [key(1)], removed: [] })
  await store.close()
  // Half a line, then a whole line appended after it: one complete line that is not JSON, at the end.
  await appendFile(`${path}.journal`, `{"add":["${key(2)}"],"re{"add":["${key(3)}"],"remove":[]}\n`)
  const state = await loadOwnedState(path)
  t.same(state.owned, new Set([key(1)]))
  t.equal(state.warnings.length, 1, 'one warning')
  t.match(state.warnings[0], /owned\.json\.journal: line 3 .*torn/)
  const again = await OwnedStore.open(path)
  t.same(again.owned, new Set([key(1)]), 'the next start does not refuse the state file')
  t.equal(again.warnings.length, 1)
  await again.store.close()
  t.same((await loadOwnedState(path)).warnings, [], 'opening folded the journal: the torn line is gone')
})

t.test('after a failed append the store writes a snapshot instead of appending to the torn journal', async (t) => {
  const path = join(t.testdir(), 'owned.json')
  const { store, owned } = await OwnedStore.open(path)
  const probe = await open(path, 'r')
  const proto = Object.getPrototypeOf(probe) as { write: (data: string) => Promise<unknown> }
  await probe.close()
  const write = proto.write
  t.teardown(() => { proto.write = write })
  // The disk fills up in the middle of the first append: half the line lands, then ENOSPC.
  proto.write = async function (this: unknown, data: string) {
    proto.write = write
    await write.call(this, data.slice(0, 10))
    throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
  }
  owned.add(key(1))
  await t.rejects(store.record(owned, { added: [key(1)], removed: [] }), { code: 'LVS_ERR_STATE_FILE' })
  owned.add(key(2))
  await store.record(owned, { added: [key(2)], removed: [] })
  const state = await loadOwnedState(path)
  t.same(state.owned, new Set([key(1), key(2)]), 'both changes are kept')
  t.same(state.warnings, [], 'no torn bytes left behind')
  await store.close()
})
