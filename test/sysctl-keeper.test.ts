// The keeper of kernel settings: the value from before is put back on restore, also by a run that starts after a
// crashed one, and a setting no longer wanted is put back at once. `sysctl` is a map here; the DR guard's test
// (test/healthchecks/dr-guard.test.ts) runs the real one.
import t from 'tap'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { keepSysctls, type RunSysctl } from '../src/sysctl-keeper.js'

const NODEST = 'net.ipv4.vs.expire_nodest_conn'
const TEMPLATE = 'net.ipv4.vs.expire_quiescent_template'

function kernel(values: Record<string, string>) {
  const calls: string[][] = []
  const run: RunSysctl = async (_file, args) => {
    calls.push(args)
    if (args[0] === '-n') {
      if (!(args[1]! in values)) throw new Error(`sysctl: cannot stat ${args[1]}`)
      return `${values[args[1]!]}\n`
    }
    const [name, value] = args[1]!.split('=') as [string, string]
    values[name] = value
    return ''
  }
  return { values, calls, run }
}

t.test('set, then restore: the earlier value comes back and the file goes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sysctl-keeper-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'state', 'sysctls.json')
  const k = kernel({ [NODEST]: '0' })
  const keeper = keepSysctls(k.run, file)
  await keeper.set({ [NODEST]: '1' })
  t.equal(k.values[NODEST], '1', 'set')
  t.same(JSON.parse(await readFile(file, 'utf8')), { [NODEST]: '0' }, 'the earlier value is in the file')
  await keeper.set({ [NODEST]: '1' })
  t.same(JSON.parse(await readFile(file, 'utf8')), { [NODEST]: '0' }, 'a second set keeps the first earlier value, not its own')
  await keeper.restore()
  t.equal(k.values[NODEST], '0', 'restored')
  await t.rejects(readFile(file), { code: 'ENOENT' }, 'the file is gone')
  k.calls.length = 0
  await keeper.restore()
  t.same(k.calls, [], 'a second restore changes nothing')
})

t.test('a start after a crash keeps the original, and puts back what it no longer wants', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sysctl-keeper-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'sysctls.json')
  const k = kernel({ [NODEST]: '0', [TEMPLATE]: '0' })
  await keepSysctls(k.run, file).set({ [NODEST]: '1', [TEMPLATE]: '1' }) // then the process dies: no restore
  const next = keepSysctls(k.run, file)
  await next.set({ [NODEST]: '1' })
  t.equal(k.values[TEMPLATE], '0', 'the setting the new run does not want is back at its original')
  t.same(JSON.parse(await readFile(file, 'utf8')), { [NODEST]: '0' }, 'the original of the one it keeps, not the crashed run\'s 1')
  await next.set({})
  t.same(k.values, { [NODEST]: '0', [TEMPLATE]: '0' }, 'wanting nothing puts everything back')
  await t.rejects(readFile(file), { code: 'ENOENT' }, 'and leaves no file')
})

t.test('a setting the kernel lacks is left out and returned, the others set; a torn or foreign file puts nothing back', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sysctl-keeper-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'sysctls.json')
  const k = kernel({})
  const missing = await keepSysctls(k.run, file).set({ [NODEST]: '1' })
  t.match(missing, [{ name: NODEST, err: /cannot stat/ }], 'no IPVS: the read fails, and says so')
  t.same(k.values, {}, 'nothing written')
  await t.rejects(readFile(file), { code: 'ENOENT' }, 'no file')
  const ARP = 'net.ipv4.conf.eth0.arp_announce'
  k.values[ARP] = '0'
  const keeper = keepSysctls(k.run, file)
  t.match(await keeper.set({ [NODEST]: '1', [ARP]: '2' }), [{ name: NODEST }], 'only the one it lacks')
  t.equal(k.values[ARP], '2', 'the other is set')
  t.same(JSON.parse(await readFile(file, 'utf8')), { [ARP]: '0' }, 'and only it is in the file')
  await keeper.restore()
  t.same(k.values, { [ARP]: '0' })
  for (const text of ['{"net.ipv4.vs.expire_nodest_conn": "0', '["0"]', '{"x": "1; reboot", "y": 3}']) {
    await writeFile(file, text)
    k.calls.length = 0
    await keepSysctls(k.run, file).restore()
    t.same(k.calls, [], `nothing put back from ${text}`)
  }
})
