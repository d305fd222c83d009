// The VIPs against a real network namespace (a director joined to a peer by a veth pair), the director's own
// rtnetlink calls (native/packet.c) made there: added and removed, IPv6 without DAD and never preferred, an
// operator's address left alone, the crash clean-up, idempotence.
import t, { type Test } from 'tap'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { checkVip, createVips, openVips, VIP_STATE_FILE, type AddressTable, type VipLog } from '../../src/ha/vips.js'
import { createNetns, ip, nsAddresses } from '../helpers/netns.js'

const V4 = '192.0.2.10'
const V6 = '2001:db8:10::10'

interface AddrInfo { family: string; local: string; prefixlen: number; label?: string; nodad?: boolean; preferred_life_time?: number; deprecated?: boolean }

/** No address at all (for tests that never reach the kernel). */
const noAddresses: AddressTable = { list: async () => [], add: async () => {}, remove: async () => {} }

async function pair(t: Test) {
  const dir = await createNetns(t, 'lvsv-dir')
  const peer = await createNetns(t, 'lvsv-peer')
  await ip('link', 'add', 'eth0', 'netns', dir, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer)
  await ip('-n', dir, 'addr', 'add', '192.0.2.1/24', 'dev', 'eth0')
  await ip('-n', peer, 'addr', 'add', '192.0.2.2/24', 'dev', 'eth0')
  await ip('-n', dir, 'link', 'set', 'eth0', 'up')
  await ip('-n', peer, 'link', 'set', 'eth0', 'up')
  return { dir, peer }
}

async function addrs(ns: string, dev = 'eth0'): Promise<AddrInfo[]> {
  const links = JSON.parse(await ip('-n', ns, '-j', 'addr', 'show', 'dev', dev)) as { addr_info: AddrInfo[] }[]
  return links.flatMap((l) => l.addr_info)
}
const has = (list: AddrInfo[], address: string, prefixlen?: number) => list.some((a) => a.local === address && (prefixlen === undefined || a.prefixlen === prefixlen))

function logSink() {
  const lines: { level: string; msg: string; obj: object }[] = []
  const log: VipLog = {
    info: (obj, msg) => void lines.push({ level: 'info', msg, obj }),
    warn: (obj, msg) => void lines.push({ level: 'warn', msg, obj }),
  }
  return { log, lines }
}

t.test('checkVip canonicalises and refuses bad input', async (t) => {
  t.same(checkVip({ address: '2001:DB8:0::1', interface: 'eth0' }), { address: '2001:db8::1', interface: 'eth0', family: 6, prefix: 128 })
  t.same(checkVip({ address: V4, interface: 'eth0', label: 'eth0:vip' }).label, 'eth0:vip')
  t.throws(() => checkVip({ address: '192.0.2.300', interface: 'eth0' }), { code: 'LVS_ERR_INVALID_VALUE' })
  t.throws(() => checkVip({ address: V4, interface: 'eth0 up' }), { code: 'LVS_ERR_INVALID_VALUE' }, 'no space can reach ip -batch')
  t.throws(() => checkVip({ address: V4, interface: 'eth0\nlink del eth0' }), { code: 'LVS_ERR_INVALID_VALUE' })
  t.throws(() => checkVip({ address: V4, interface: 'eth0', label: 'lo:x' }), { code: 'LVS_ERR_INVALID_VALUE' }, 'a label starts with the interface')
  t.throws(() => checkVip({ address: V6, interface: 'eth0', label: 'eth0:x' }), { code: 'LVS_ERR_INVALID_VALUE' }, 'no IPv6 labels')
})

t.test('VIPs are added (IPv6 with nodad and preferred_lft 0) and removed, recorded before they are added', async (t) => {
  const { dir } = await pair(t)
  const stateDir = t.testdir()
  const { log, lines } = logSink()
  const vips = await openVips({ addresses: nsAddresses(t, dir), stateDir, log })
  t.teardown(() => vips.close())

  const added = await vips.add([{ address: V4, interface: 'eth0', label: 'eth0:vip' }, { address: V6, interface: 'eth0' }])
  t.same(added.changed.map((v) => v.address), [V4, V6])
  t.same(added.failed, [])
  const during = await addrs(dir)
  const v4 = during.find((a) => a.local === V4)
  const v6 = during.find((a) => a.local === V6)
  t.match(v4, { prefixlen: 32, label: 'eth0:vip' })
  t.match(v6, { prefixlen: 128, nodad: true, preferred_life_time: 0, deprecated: true }, 'never chosen as a source address')
  const recorded = JSON.parse(await readFile(join(stateDir, VIP_STATE_FILE), 'utf8')) as { vips: { address: string }[] }
  t.same(recorded.vips.map((v) => v.address), [V4, V6])
  t.same(vips.held().map((v) => v.address), [V4, V6])
  t.ok(lines.some((l) => l.msg === 'VIP added'))

  const removed = await vips.removeAll()
  t.same(removed.changed.map((v) => v.address), [V4, V6])
  const after = await addrs(dir)
  t.notOk(has(after, V4) || has(after, V6), 'both gone')
  t.ok(has(after, '192.0.2.1', 24), "the interface's own address stays")
  t.same(vips.held(), [])
  t.same((JSON.parse(await readFile(join(stateDir, VIP_STATE_FILE), 'utf8')) as { vips: unknown[] }).vips, [])
})

t.test('adding twice and removing twice are no-ops; a VIP removed behind our back is added again', async (t) => {
  const { dir } = await pair(t)
  const vips = await openVips({ addresses: nsAddresses(t, dir), stateDir: t.testdir() })
  t.teardown(() => vips.close())
  const spec = [{ address: V4, interface: 'eth0' }, { address: V6, interface: 'eth0' }]
  await vips.add(spec)
  const again = await vips.add(spec)
  t.same(again.changed, [])
  t.same(again.unchanged.map((v) => v.address), [V4, V6])
  t.equal((await addrs(dir)).filter((a) => a.local === V4).length, 1, 'one address, not two')

  await ip('-n', dir, 'addr', 'del', `${V4}/32`, 'dev', 'eth0')
  const readd = await vips.add(spec)
  t.same(readd.changed.map((v) => v.address), [V4])
  t.ok(has(await addrs(dir), V4, 32))

  await vips.remove(spec)
  const twice = await vips.remove(spec)
  t.same(twice.changed, [])
  t.same(twice.foreign.map((v) => v.address), [V4, V6], 'no longer ours: not touched')
  t.same(await vips.removeAll(), { changed: [], unchanged: [], foreign: [], failed: [] })
})

t.test("an operator's address is left alone, whatever its prefix", async (t) => {
  const { dir } = await pair(t)
  await ip('-n', dir, 'addr', 'add', `${V4}/24`, 'dev', 'eth0')
  await ip('-n', dir, '-6', 'addr', 'add', `${V6}/128`, 'dev', 'eth0', 'nodad')
  const { log, lines } = logSink()
  const vips = await openVips({ addresses: nsAddresses(t, dir), stateDir: t.testdir(), log })
  t.teardown(() => vips.close())
  const r = await vips.add([{ address: V4, interface: 'eth0' }, { address: V6, interface: 'eth0' }])
  t.same(r.changed, [])
  t.same(r.foreign.map((v) => v.address), [V4, V6])
  t.ok(lines.some((l) => /not added by this director/.test(l.msg)), 'noted in the log')
  t.same(vips.held(), [])
  await vips.removeAll()
  await vips.remove([{ address: V4, interface: 'eth0' }])
  const after = await addrs(dir)
  t.ok(has(after, V4, 24) && has(after, V6, 128), 'both still there')
})

t.test('a crashed run holding VIPs: its state file is read at open and the VIPs go; others stay', async (t) => {
  const { dir } = await pair(t)
  const stateDir = t.testdir()
  // The crashed run: a handle that added the VIPs and was never closed.
  const crashed = createVips({ addresses: nsAddresses(t, dir), stateDir })
  await crashed.add([{ address: V4, interface: 'eth0' }, { address: V6, interface: 'eth0' }])
  await ip('-n', dir, 'addr', 'add', '192.0.2.20/32', 'dev', 'eth0') // an operator's
  t.ok(has(await addrs(dir), V4, 32))

  const { log, lines } = logSink()
  const vips = await openVips({ addresses: nsAddresses(t, dir), stateDir, log })
  t.teardown(() => vips.close())
  const after = await addrs(dir)
  t.notOk(has(after, V4) || has(after, V6), 'the crashed run’s VIPs are gone')
  t.ok(has(after, '192.0.2.20', 32), "the operator's address stays")
  t.ok(lines.some((l) => l.msg === 'removing VIPs left by an earlier run'))
  t.same(vips.held(), [])
})

t.test('a state file naming a VIP that is not there (crash between record and add) is cleaned quietly', async (t) => {
  const { dir } = await pair(t)
  const stateDir = t.testdir()
  await writeFile(join(stateDir, VIP_STATE_FILE), JSON.stringify({ version: 1, vips: [{ address: V4, interface: 'eth0' }] }))
  const vips = await openVips({ addresses: nsAddresses(t, dir), stateDir })
  t.teardown(() => vips.close())
  t.same(vips.held(), [])
})

t.test('a failed add is a coded error for that VIP only, and is not recorded', async (t) => {
  const { dir } = await pair(t)
  const stateDir = t.testdir()
  const { log, lines } = logSink()
  const vips = await openVips({ addresses: nsAddresses(t, dir), stateDir, log })
  t.teardown(() => vips.close())
  const r = await vips.add([{ address: V4, interface: 'eth0' }, { address: '192.0.2.11', interface: 'nosuch0' }])
  t.same(r.changed.map((v) => v.address), [V4])
  t.equal(r.failed.length, 1)
  t.match(r.failed[0]!.err, { code: 'LVS_ERR_VIP_FAILED' })
  t.same(vips.held().map((v) => v.address), [V4])
  t.ok(lines.some((l) => l.level === 'warn' && l.msg === 'VIP add failed'))
  const recorded = JSON.parse(await readFile(join(stateDir, VIP_STATE_FILE), 'utf8')) as { vips: { address: string }[] }
  t.same(recorded.vips.map((v) => v.address), [V4])
})

t.test('an unreadable state file is LVS_ERR_STATE_FILE at open', async (t) => {
  const stateDir = t.testdir({ [VIP_STATE_FILE]: '{not json' })
  await t.rejects(openVips({ addresses: noAddresses, stateDir }), { code: 'LVS_ERR_STATE_FILE' })
})

t.test('after close() nothing is added (a late takeover during a stop)', async (t) => {
  const { dir } = await pair(t)
  const vips = await openVips({ addresses: nsAddresses(t, dir), stateDir: t.testdir() })
  await vips.add([{ address: V4, interface: 'eth0' }])
  await vips.close()
  t.notOk(has(await addrs(dir), V4), 'close removed it')
  await t.rejects(vips.add([{ address: V4, interface: 'eth0' }]), { code: 'LVS_ERR_VIP_FAILED' })
  t.notOk(has(await addrs(dir), V4))
})

t.test("the host's address table (rtnetlink from the director's process): the list, and errno codes for what the kernel refuses", async (t) => {
  const { dir } = await pair(t)
  const table = nsAddresses(t, dir)
  const v4 = checkVip({ address: V4, interface: 'eth0', label: 'eth0:vip' })
  t.same((await table.list()).filter((a) => a.interface === 'eth0' && a.family === 4), [{ interface: 'eth0', family: 4, address: '192.0.2.1', prefix: 24 }])
  await table.add(v4)
  t.match(await addrs(dir), [{ local: '192.0.2.1' }, { local: V4, prefixlen: 32, label: 'eth0:vip' }])
  t.ok((await table.list()).some((a) => a.address === V4 && a.prefix === 32), 'listed')
  await t.rejects(table.add(v4), { code: 'EEXIST' }, 'an exclusive add')
  await table.remove(v4)
  await t.rejects(table.remove(v4), { code: 'EADDRNOTAVAIL' })
  await t.rejects(table.add(checkVip({ address: V4, interface: 'nosuch0' })), { code: 'ENODEV' })
  t.notOk(has(await addrs(dir), V4))
})

t.test('the record waits on no fsync (a takeover would wait on the disk): it need outlive a crash of the director, not of the machine, which takes the addresses along', async (t) => {
  const { dir } = await pair(t)
  const fs = await import('node:fs/promises')
  let syncs = 0
  const open: typeof fs.open = async (...args) => {
    const fh = await fs.open(...args)
    return Object.assign(Object.create(fh) as typeof fh, { sync: () => (syncs++, fh.sync()) })
  }
  const atomic = await t.mockImport<typeof import('../../src/fs-atomic.js')>('../../src/fs-atomic.js', { 'node:fs/promises': { ...fs, open } })
  const { openVips: openMocked } = await t.mockImport<typeof import('../../src/ha/vips.js')>('../../src/ha/vips.js', { '../../src/fs-atomic.js': atomic })
  const stateDir = t.testdir()
  const vips = await openMocked({ addresses: nsAddresses(t, dir), stateDir })
  t.teardown(() => vips.close())
  await vips.add([{ address: V4, interface: 'eth0' }])
  await vips.removeAll()
  t.equal(syncs, 0, 'no fsync on add or remove')
  t.same(JSON.parse(await readFile(join(stateDir, VIP_STATE_FILE), 'utf8')), { version: 1, vips: [] }, 'the record is written all the same')
})

t.test('an empty state file (what a crash of the machine can leave of the unsynced record, the addresses gone too) is no VIPs', async (t) => {
  const vips = await openVips({ addresses: noAddresses, stateDir: t.testdir({ [VIP_STATE_FILE]: '' }) })
  t.same(vips.held(), [])
})
