// The sync daemon's role through the real Ipvsadm wrapper and a fake Exec that keeps the kernel's daemons: the argv
// sequence of each switch, idempotence, ownership (never stopping a daemon this director did not start), the crash
// clean-up, and conflicts. The real kernel's part is proved in the lab.
import t from 'tap'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Exec } from '../../src/exec.js'
import { Ipvsadm } from '../../src/ipvs/ipvsadm.js'
import { openSyncDaemonRole, sameSettings, SYNC_DAEMON_STATE_FILE, type SyncDaemonLog } from '../../src/ha/sync-daemon.js'

/** A kernel's sync daemons behind ipvsadm's argv; `calls` lists every argv but the reads. */
function fakeKernel(initial: Record<string, string> = {}) {
  const daemons = new Map<string, string>(Object.entries(initial)) // state → "mcast=eth0, syncid=7"
  const calls: string[][] = []
  let failStart = false
  const exec: Exec = async (_file, argv) => {
    const ok = (stdout = '') => ({ code: 0, stdout, stderr: '' })
    if (argv[0] === '-Ln' && argv[1] === '--daemon') {
      return ok([...daemons].map(([s, fields]) => `${s} sync daemon (${fields})\n`).join(''))
    }
    calls.push(argv)
    if (argv[0] === '--start-daemon') {
      if (failStart) return { code: 2, stdout: '', stderr: 'Memory allocation problem\n' }
      const state = argv[1]!
      if (daemons.has(state)) return { code: 2, stdout: '', stderr: 'Daemon has already run\n' }
      daemons.set(state, `mcast=${argv[argv.indexOf('--mcast-interface') + 1]}, syncid=${argv[argv.indexOf('--syncid') + 1]}`)
      return ok()
    }
    if (argv[0] === '--stop-daemon') {
      if (!daemons.delete(argv[1]!)) return { code: 2, stdout: '', stderr: 'No such process\n' }
      return ok()
    }
    return { code: 2, stdout: '', stderr: `unexpected ${argv.join(' ')}` }
  }
  return { exec, calls, daemons, failStart: (v: boolean) => void (failStart = v) }
}

const settings = { mcastInterface: 'eth0', syncid: 7 }
const start = (state: string) => ['--start-daemon', state, '--mcast-interface', 'eth0', '--syncid', '7']
const stop = (state: string) => ['--stop-daemon', state]

function logSink() {
  const lines: { msg: string; obj: object }[] = []
  const log: SyncDaemonLog = { info: (obj, msg) => void lines.push({ msg, obj }), warn: (obj, msg) => void lines.push({ msg, obj }) }
  return { log, lines }
}

t.test('backup, then master (the backup kept), back to backup (the master lingers), then none; each switch idempotent', async (t) => {
  const k = fakeKernel()
  const stateDir = t.testdir()
  const role = await openSyncDaemonRole({ ipvsadm: new Ipvsadm({ exec: k.exec }), daemon: settings, stateDir, masterLingerMs: 60_000 })
  t.same(k.calls, [], 'nothing to do at open')

  await role.setRole('backup')
  await role.setRole('backup')
  t.same(k.calls, [start('backup')], 'started once')
  t.same(role.owned(), ['backup'])
  t.same(JSON.parse(await readFile(join(stateDir, SYNC_DAEMON_STATE_FILE), 'utf8')), { version: 1, started: ['backup'] })

  k.calls.length = 0
  await role.setRole('master')
  await role.setRole('master')
  t.same(k.calls, [start('master')], 'master started; the backup goes on receiving (a switchover: the old active still sends)')
  t.equal(role.role(), 'master')
  t.same(role.owned(), ['master', 'backup'])

  k.calls.length = 0
  await role.setRole('backup')
  t.same(k.calls, [], 'back to backup: the master lingers (its last connections are still to go out)')
  await role.setRole('master')
  t.same(k.calls, [], 'a takeover within the linger: the master was never stopped')

  k.calls.length = 0
  await role.close()
  await role.close()
  t.same(k.calls, [stop('master'), stop('backup')], 'close stops both at once, linger or not')
  t.same([...k.daemons.keys()], [])
  t.same(JSON.parse(await readFile(join(stateDir, SYNC_DAEMON_STATE_FILE), 'utf8')).started, [])
})

t.test('the master stops once its linger is over, if the role is still backup', async (t) => {
  const k = fakeKernel()
  const role = await openSyncDaemonRole({ ipvsadm: new Ipvsadm({ exec: k.exec }), daemon: settings, stateDir: t.testdir(), masterLingerMs: 20 })
  t.teardown(() => role.close())
  await role.setRole('master')
  k.calls.length = 0
  await role.setRole('backup')
  for (let i = 0; i < 400 && k.calls.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
  t.same(k.calls, [stop('master')], 'stopped after the linger')
  t.same(role.owned(), ['backup'])
})

t.test('the optional settings reach ipvsadm', async (t) => {
  const k = fakeKernel()
  const role = await openSyncDaemonRole({
    ipvsadm: new Ipvsadm({ exec: k.exec }),
    daemon: { mcastInterface: 'eth1', syncid: 3, mcastGroup: '224.0.0.82', mcastPort: 8849, mcastTtl: 1, syncMaxlen: 1400 },
    stateDir: t.testdir(),
  })
  await role.setRole('master')
  const args = ['--mcast-interface', 'eth1', '--syncid', '3', '--sync-maxlen', '1400', '--mcast-group', '224.0.0.82', '--mcast-port', '8849', '--mcast-ttl', '1']
  t.same(k.calls, [['--start-daemon', 'master', ...args], ['--start-daemon', 'backup', ...args]])
  await role.close()
})

t.test("a daemon someone else started is never stopped; with our settings it is used as it is", async (t) => {
  const k = fakeKernel({ backup: 'mcast=eth0, syncid=7' })
  const { log, lines } = logSink()
  const role = await openSyncDaemonRole({ ipvsadm: new Ipvsadm({ exec: k.exec }), daemon: settings, stateDir: t.testdir(), log })
  await role.setRole('backup')
  t.same(k.calls, [], 'not started again')
  t.ok(lines.some((l) => /used as it is/.test(l.msg)))
  await role.setRole('master')
  t.same(k.calls, [start('master')], 'the foreign backup goes on as it is')
  await role.close()
  t.same(k.calls, [start('master'), stop('master')])
  t.same([...k.daemons.keys()], ['backup'])
})

t.test('a foreign daemon of the wanted state with other settings is LVS_ERR_SYNC_DAEMON_CONFLICT; the rest is still done', async (t) => {
  const k = fakeKernel({ master: 'mcast=eth1, syncid=3' })
  const role = await openSyncDaemonRole({ ipvsadm: new Ipvsadm({ exec: k.exec }), daemon: settings, stateDir: t.testdir() })
  await role.setRole('backup')
  k.calls.length = 0
  await t.rejects(role.setRole('master'), { code: 'LVS_ERR_SYNC_DAEMON_CONFLICT', message: /mcastInterface=eth1, syncid=3/ })
  t.same(k.calls, [], 'the foreign master untouched; our backup goes on')
  t.same(role.owned(), ['backup'])
  await role.close()
})

t.test('a crashed run: the daemons its state file lists are stopped at open; a foreign one stays', async (t) => {
  const k = fakeKernel({ master: 'mcast=eth0, syncid=7', backup: 'mcast=eth0, syncid=7' })
  const stateDir = t.testdir()
  await writeFile(join(stateDir, SYNC_DAEMON_STATE_FILE), JSON.stringify({ version: 1, started: ['master'] }))
  const { log, lines } = logSink()
  const role = await openSyncDaemonRole({ ipvsadm: new Ipvsadm({ exec: k.exec }), daemon: settings, stateDir, log })
  t.same(k.calls, [stop('master')])
  t.same([...k.daemons.keys()], ['backup'])
  t.same(role.owned(), [])
  t.ok(lines.some((l) => l.msg === 'stopping sync daemons left by an earlier run'))
  await role.close()
})

t.test('a daemon of ours stopped behind our back is started again; a failed start is a coded error, not recorded', async (t) => {
  const k = fakeKernel()
  const stateDir = t.testdir()
  const role = await openSyncDaemonRole({ ipvsadm: new Ipvsadm({ exec: k.exec }), daemon: settings, stateDir })
  await role.setRole('master')
  k.daemons.clear()
  k.calls.length = 0
  await role.setRole('master')
  t.same(k.calls, [start('master'), start('backup')])

  await role.setRole('none')
  k.failStart(true)
  await t.rejects(role.setRole('backup'), { code: 'LVS_ERR_IPVSADM_FAILED' })
  t.same(role.owned(), [])
  t.same(JSON.parse(await readFile(join(stateDir, SYNC_DAEMON_STATE_FILE), 'utf8')).started, [])
  k.failStart(false)
  await role.setRole('backup')
  t.same(role.owned(), ['backup'], 'a later call succeeds: the queue goes on after a failure')
  await role.close()
})

t.test('a corrupt state file is LVS_ERR_STATE_FILE at open', async (t) => {
  const k = fakeKernel()
  const stateDir = t.testdir({ [SYNC_DAEMON_STATE_FILE]: '[' })
  await t.rejects(openSyncDaemonRole({ ipvsadm: new Ipvsadm({ exec: k.exec }), daemon: settings, stateDir }), { code: 'LVS_ERR_STATE_FILE' })
})

t.test('sameSettings compares what the listing shows', async (t) => {
  t.ok(sameSettings({ state: 'master', mcastInterface: 'eth0', syncid: 7 }, settings))
  t.notOk(sameSettings({ state: 'master', mcastInterface: 'eth0', syncid: 8 }, settings))
  t.ok(sameSettings({ state: 'master', mcastInterface: 'eth0', syncid: 7, mcastGroup: '224.0.0.81', mcastPort: 8848 }, settings), 'defaults shown, none configured')
  t.notOk(sameSettings({ state: 'master', mcastInterface: 'eth0', syncid: 7, mcastPort: 8848 }, { ...settings, mcastPort: 9000 }))
})
