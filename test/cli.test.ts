// The lvs-director command as a user runs it: one coded line and exit 1 on bad input (before any ipvsadm runs),
// LVS_ERR_IPVS_UNAVAILABLE from the real ipvsadm on this host, and apply/dry-run against a fake ipvsadm script.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
// Run src/cli-main.ts with the TypeScript loader tap runs this test with.
const loader = process.execArgv.filter((a) => a.includes('typescript'))

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [...loader, join(root, 'src/cli-main.ts'), ...args], { encoding: 'utf8', cwd: root })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

t.test('CLI', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lvs-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const calls = join(dir, 'calls')
  const kernel = join(dir, 'kernel')
  await writeFile(kernel, '')
  // A stand-in ipvsadm: logs each call; -Sn prints what -R received so far (adds only); lists are empty;
  // like the kernel with a real server off every connected route, a line naming 192.0.2.99 fails (and -R goes on).
  const fake = join(dir, 'ipvsadm')
  await writeFile(fake, `#!/bin/sh
echo "$*" >> ${calls}
case "$1" in
  -Sn) cat ${kernel} ;;
  -R) while read -r line; do
        case "$line" in
          *192.0.2.99*) echo "Invalid operation.  Possibly wrong module version, address not unicast, ..." >&2 ;;
          *) echo "$line" >> ${kernel} ;;
        esac
      done ;;
  -Ln) echo "IP Virtual Server version 1.2.1 (size=4096)"; echo "Prot LocalAddress:Port Scheduler Flags" ;;
  -[AEDaed]) case "$*" in
        *192.0.2.99*) echo "Invalid operation.  Possibly wrong module version, address not unicast, ..." >&2; exit 255 ;;
        *) echo "$*" >> ${kernel} ;;
      esac ;;
esac
`)
  await chmod(fake, 0o755)
  const state = join(dir, 'owned.json')
  const bad = join(dir, 'bad.yaml')
  await writeFile(bad, 'services:\n  - protocol: tcp\n    port: 80\n    address: "1.2.3.4; reboot"\n')

  t.test('a VIP with a shell command in it: one coded line naming file, line and field; no ipvsadm run', async (t) => {
    const r = cli('apply', bad, '--ipvsadm', fake, '--state', state)
    t.equal(r.code, 1)
    t.equal(r.stdout, '')
    t.equal(r.stderr, `lvs-director: LVS_ERR_INVALID_CONFIG: invalid config ${bad}:4: /services/0/address: "1.2.3.4; reboot" is not an IPv4 or IPv6 address\n`)
    t.notOk(existsSync(calls), 'ipvsadm never ran')
  })

  t.test('port 70000, a YAML syntax error and a missing file', async (t) => {
    const port = join(dir, 'port.yaml')
    await writeFile(port, 'services:\n  - protocol: tcp\n    address: 192.0.2.1\n    port: 70000\n')
    const r1 = cli('apply', port, '--ipvsadm', fake)
    t.equal(r1.code, 1)
    t.match(r1.stderr, /^lvs-director: LVS_ERR_INVALID_CONFIG: invalid config .*port\.yaml:4: \/services\/0\/port: 70000: Expected integer to be less or equal to 65535\n$/)
    const syntax = join(dir, 'syntax.yaml')
    await writeFile(syntax, 'services:\n  - protocol: tcp\n   address: [\n')
    const r2 = cli('apply', syntax, '--ipvsadm', fake)
    t.equal(r2.code, 1)
    t.match(r2.stderr, /^lvs-director: LVS_ERR_INVALID_CONFIG: invalid config .*syntax\.yaml:\d+: .+\n$/)
    const r3 = cli('apply', join(dir, 'nope.yaml'))
    t.equal(r3.code, 1)
    t.match(r3.stderr, /^lvs-director: LVS_ERR_FILE_READ: cannot read .*nope\.yaml: ENOENT.*\n$/)
    t.notOk(existsSync(calls), 'ipvsadm never ran')
  })

  t.test('the real ipvsadm on a kernel without ip_vs', { skip: existsSync('/proc/net/ip_vs') || !existsSync('/usr/sbin/ipvsadm') }, async (t) => {
    for (const args of [['show', '--stats'], ['apply', join(root, 'etc/web.yaml'), '--state', state]]) {
      const r = cli(...args)
      t.equal(r.code, 1, args.join(' '))
      t.match(r.stderr, /^lvs-director: LVS_ERR_IPVS_UNAVAILABLE: the kernel has no IPVS \(no \/proc\/net\/ip_vs; ipvsadm: Can't initialize ipvs: Protocol not available\): run "modprobe ip_vs".*\n$/)
      t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
    }
    const run = cli('run', join(root, 'etc/director.yaml'))
    t.equal(run.code, 1, 'run stops at once')
    t.match(run.stderr, /^lvs-director: LVS_ERR_IPVS_UNAVAILABLE: .*npm run demo.*\n$/, 'one line pointing at the lab demo')
    const dry = cli('apply', join(root, 'etc/web.yaml'), '--dry-run', '--state', state)
    t.equal(dry.code, 0, 'apply --dry-run works without IPVS')
    t.match(dry.stderr, /no IPVS here .*planning against an empty table/)
    t.match(dry.stdout, /^-A -t 192\.0\.2\.100:80 -s wrr$/m)
  })

  t.test('apply --dry-run prints ipvsadm lines and changes nothing; apply then converges', async (t) => {
    const web = join(root, 'etc/web.yaml')
    const dry = cli('apply', web, '--dry-run', '--ipvsadm', fake, '--state', state)
    t.equal(dry.code, 0, dry.stderr)
    t.same(dry.stdout.trim().split('\n'), [
      '-A -t 192.0.2.100:80 -s wrr',
      '-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1',
      '-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 1',
      '-a -t 192.0.2.100:80 -r 192.0.2.13:80 -g -w 2',
      '-A -t 192.0.2.100:443 -s wlc -p 300',
      '-a -t 192.0.2.100:443 -r 192.0.2.11:443 -g -w 1',
      '-a -t 192.0.2.100:443 -r 192.0.2.12:443 -g -w 1',
      '-a -t 192.0.2.100:443 -r 192.0.2.13:443 -g -w 1 -x 2000 -y 1500',
    ])
    t.equal(await readFile(kernel, 'utf8'), '', 'nothing applied')
    t.notOk(existsSync(state), 'no state written')

    const first = cli('apply', web, '--ipvsadm', fake, '--state', state)
    t.equal(first.code, 0, first.stderr)
    t.match(first.stdout, /^applied 8 change\(s\) with 1 ipvsadm -R/)
    t.equal((await readFile(kernel, 'utf8')).trim().split('\n').length, 8)
    t.equal(JSON.parse(await readFile(state, 'utf8')).entries.length, 8, 'two services and six real servers owned')
    const again = cli('apply', web, '--ipvsadm', fake, '--state', state, '--json')
    t.equal(again.code, 0, again.stderr)
    t.same(JSON.parse(again.stdout).applied, [], 'the second apply changes nothing')
  })

  t.test('a real server the kernel refuses: the rest applied, the entry named, exit 2', async (t) => {
    const table = join(dir, 'partial.yaml')
    await writeFile(table, 'services:\n  - protocol: udp\n    address: 192.0.2.110\n    port: 5060\n    destinations:\n' +
      '      - { address: 192.0.2.98 }\n      - { address: 192.0.2.99 }\n')
    const partialState = join(dir, 'partial-owned.json')
    const r = cli('apply', table, '--ipvsadm', fake, '--state', partialState)
    t.equal(r.code, 2)
    t.match(r.stdout, /^applied 2 change\(s\) with 1 ipvsadm -R/)
    t.same(r.stderr.trim().split('\n'), [
      'lvs-director: LVS_ERR_IPVSADM_FAILED: ipvsadm -R line "-a -u 192.0.2.110:5060 -r 192.0.2.99:5060 -g -w 1" failed: ' +
        'udp/192.0.2.110:5060 -> 192.0.2.99:5060: Invalid operation.  Possibly wrong module version, address not unicast, ...',
      'lvs-director: LVS_ERR_APPLY_PARTIAL: 1 of 3 changes failed: udp/192.0.2.110:5060 -> 192.0.2.99:5060',
    ])
    t.same(JSON.parse(await readFile(partialState, 'utf8')).entries, ['udp/192.0.2.110:5060', 'udp/192.0.2.110:5060 -> 192.0.2.98:5060'])
  })
})
