// The ipvsadm wrapper: coded errors, one process at a time, deadlines that kill; against a fake Exec, a fake
// ipvsadm script spawned for real, and the real ipvsadm binary of this host (whose kernel has no ip_vs).
import t from 'tap'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inputText, nodeExec, type Exec } from '../../src/exec.js'
import { Ipvsadm } from '../../src/ipvs/ipvsadm.js'

const ok = (stdout = '') => ({ code: 0, stdout, stderr: '' })

t.test('ENOENT is LVS_ERR_IPVSADM_MISSING', async (t) => {
  const exec: Exec = async () => { throw Object.assign(new Error('spawn ipvsadm ENOENT'), { code: 'ENOENT' }) }
  await t.rejects(new Ipvsadm({ exec }).preflight(), { code: 'LVS_ERR_IPVSADM_MISSING', message: /apt-get install ipvsadm/ })
})

t.test("ipvsadm's no-IPVS message is LVS_ERR_IPVS_UNAVAILABLE on every call", async (t) => {
  const stderr = "Can't initialize ipvs: Protocol not available\nAre you sure that IP Virtual Server is built in the kernel or as module?\n"
  const exec: Exec = async () => ({ code: 2, stdout: '', stderr })
  const ipvs = new Ipvsadm({ exec, exists: () => false })
  await t.rejects(ipvs.preflight(), { code: 'LVS_ERR_IPVS_UNAVAILABLE', message: /the kernel has no IPVS \(no \/proc\/net\/ip_vs; ipvsadm: Can't initialize ipvs: Protocol not available\): run "modprobe ip_vs"/ })
  await t.rejects(ipvs.save(), { code: 'LVS_ERR_IPVS_UNAVAILABLE' })
  await t.rejects(ipvs.restore(['-A -t 192.0.2.1:80 -s rr']), { code: 'LVS_ERR_IPVS_UNAVAILABLE' })
})

t.test('other failures are LVS_ERR_IPVSADM_FAILED with the stderr; timeouts LVS_ERR_IPVSADM_TIMEOUT', async (t) => {
  const failing = new Ipvsadm({ exec: async () => ({ code: 255, stdout: '', stderr: 'No daemon is running\n' }) })
  await t.rejects(failing.stopDaemon('master'), { code: 'LVS_ERR_IPVSADM_FAILED', message: /--stop-daemon master failed: No daemon is running/, stderr: 'No daemon is running\n', exitCode: 255 })
  const slow = new Ipvsadm({ exec: async () => ({ code: null, signal: 'SIGKILL', stdout: '', stderr: '', timedOut: true }), timeoutMs: 50 })
  await t.rejects(slow.save(), { code: 'LVS_ERR_IPVSADM_TIMEOUT', message: /-Sn timed out after 50 ms/ })
})

t.test('restore sends the lines on stdin to ipvsadm -R and reports code and stderr without throwing', async (t) => {
  const calls: Array<[string, string[], string | undefined]> = []
  const exec: Exec = async (file, argv, o) => { calls.push([file, argv, inputText(o.input)]); return { code: 255, stdout: '', stderr: 'Service not defined\n' } }
  const res = await new Ipvsadm({ exec, path: '/usr/sbin/ipvsadm' }).restore(['-A -t 192.0.2.1:80 -s rr', '-D -t 192.0.2.1:81'])
  t.same(calls, [['/usr/sbin/ipvsadm', ['-R'], '-A -t 192.0.2.1:80 -s rr\n-D -t 192.0.2.1:81\n']])
  t.same(res, { code: 255, stderr: 'Service not defined\n' })
})

t.test('read merges -Sn with -Ln --thresholds; list parses --exact --stats and --rate', async (t) => {
  const argvs: string[][] = []
  const exec: Exec = async (_f, argv) => {
    argvs.push(argv)
    if (argv[0] === '-Sn') return ok('-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 3\n')
    if (argv.includes('--thresholds')) {
      return ok('IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn\n' +
        '  -> RemoteAddress:Port\nTCP  192.0.2.1:80 rr\n  -> 192.0.2.11:80                 50         5          0          0         \n')
    }
    return ok('')
  }
  const ipvs = new Ipvsadm({ exec })
  const table = await ipvs.read()
  t.same(table.services[0]!.destinations[0], { address: '192.0.2.11', port: 80, forwarding: 'dr', weight: 3, upperThreshold: 50, lowerThreshold: 5 })
  await ipvs.list({ stats: true })
  await ipvs.list({ rate: true })
  t.same(argvs, [['-Sn'], ['-Ln', '--exact', '--thresholds'], ['-Ln', '--exact', '--stats'], ['-Ln', '--exact', '--rate']])
})

t.test('read over netlink: no process, in turn with the processes; when it throws, the processes read', async (t) => {
  const order: string[] = []
  const exec: Exec = async (_f, argv) => {
    await new Promise((r) => setImmediate(r))
    order.push(argv.join(' '))
    return argv[0] === '-Sn' ? ok('-A -t 192.0.2.9:80 -s rr\n') : ok('')
  }
  const kernel = { services: [{ protocol: 'tcp', address: '192.0.2.1', port: 80, family: 'inet', scheduler: 'rr', flags: [], ops: false, destinations: [] }] }
  let fail = false
  const ipvs = new Ipvsadm({ exec, netlink: () => {
    if (fail) throw Object.assign(new Error('IPVS over generic netlink: No such file or directory'), { code: 'ENOENT' })
    order.push('netlink')
    return kernel as never
  } })
  const [, read] = await Promise.all([ipvs.restore(['a', 'b']), ipvs.read(), ipvs.restore(['c', 'd'])])
  t.same(read, kernel, 'the table netlink gave')
  t.same(order, ['-R', 'netlink', '-R'], 'after the restore queued before it, before the one queued after')
  fail = true
  t.same((await ipvs.read()).services.map((s) => s.address), ['192.0.2.9'], 'netlink failed: ipvsadm -Sn read it')
  t.same(order.slice(3), ['-Sn'], 'one process (no real servers: no thresholds to read)')
})

t.test('calls run one at a time, in order (queue per instance)', async (t) => {
  let running = 0
  let most = 0
  const order: string[] = []
  const exec: Exec = async (_f, argv) => {
    running++
    most = Math.max(most, running)
    await new Promise((r) => setImmediate(r))
    order.push(argv.join(' '))
    running--
    return argv[0] === '-R' ? { code: 255, stdout: '', stderr: 'x\n' } : ok('Timeout (tcp tcpfin udp): 900 120 300\n')
  }
  const ipvs = new Ipvsadm({ exec })
  await Promise.all([ipvs.restore(['a', 'b']), ipvs.setTimeouts({ tcp: 1 }), ipvs.timeouts(), ipvs.restore(['c', 'd'])])
  t.equal(most, 1)
  t.same(order, ['-R', '--set 1 0 0', '-Ln --timeout', '-R'])
})

t.test('with a fake ipvsadm script spawned for real', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lvs-ipvsadm-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const log = join(dir, 'log')
  const script = join(dir, 'ipvsadm')
  // Logs start/end around a short sleep, copies stdin for -R, sleeps long for --sleep.
  await writeFile(script, `#!/bin/sh
echo "start $*" >> ${log}
case "$1" in
  -R) cat >> ${log} ;;
  --sleep) sleep 30 ;;
  *) sleep 0.1 ;;
esac
echo "end $*" >> ${log}
[ "$1" = "-Ln" ] && echo "Timeout (tcp tcpfin udp): 900 120 300"
exit 0
`)
  await chmod(script, 0o755)

  t.test('stdin reaches -R, one line runs as the command itself, and processes never overlap', async (t) => {
    const ipvs = new Ipvsadm({ exec: nodeExec, path: script, timeoutMs: 20_000 })
    await Promise.all([ipvs.timeouts(), ipvs.restore(['-A -t 192.0.2.1:80 -s rr', '-a -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 1']), ipvs.timeouts(), ipvs.restore(['-D -t 192.0.2.1:80'])])
    t.same((await readFile(log, 'utf8')).trim().split('\n'), [
      'start -Ln --timeout', 'end -Ln --timeout',
      'start -R', '-A -t 192.0.2.1:80 -s rr', '-a -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 1', 'end -R',
      'start -Ln --timeout', 'end -Ln --timeout',
      'start -D -t 192.0.2.1:80', 'end -D -t 192.0.2.1:80',
    ])
  })

  t.test('a process past its deadline is killed and reported', async (t) => {
    const ipvs = new Ipvsadm({ exec: nodeExec, path: script, timeoutMs: 300 })
    await t.rejects(ipvs.run(['--sleep']), { code: 'LVS_ERR_IPVSADM_TIMEOUT', message: /--sleep timed out after 300 ms/ })
    const slow = nodeExec(script, ['--sleep'], { timeoutMs: 300 })
    const res = await slow
    t.equal(res.timedOut, true)
    t.equal(res.signal, 'SIGKILL')
  })

  t.test('a missing program is LVS_ERR_IPVSADM_MISSING', async (t) => {
    await t.rejects(new Ipvsadm({ exec: nodeExec, path: join(dir, 'nope') }).preflight(), { code: 'LVS_ERR_IPVSADM_MISSING' })
  })
})

t.test('the real ipvsadm on this host', { skip: existsSync('/proc/net/ip_vs') ? 'this kernel has ip_vs' : !existsSync('/usr/sbin/ipvsadm') && 'no ipvsadm' }, async (t) => {
  const ipvs = new Ipvsadm({ exec: nodeExec, path: '/usr/sbin/ipvsadm', exists: existsSync })
  await t.rejects(ipvs.preflight(), {
    code: 'LVS_ERR_IPVS_UNAVAILABLE',
    message: /no \/proc\/net\/ip_vs; ipvsadm: .*Can't initialize ipvs: Protocol not available.*modprobe ip_vs/,
  })
  await t.rejects(ipvs.save(), { code: 'LVS_ERR_IPVS_UNAVAILABLE' })
})
