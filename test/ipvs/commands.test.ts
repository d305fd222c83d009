// The argv built for each change and setting: every option, and values refused before any process starts.
import t from 'tap'
import { opArgs, restoreLine, type Op } from '../../src/ipvs/commands.js'
import { parseTable } from '../../src/ipvs/model.js'
import { startDaemonArgs, stopDaemonArgs, timeoutArgs } from '../../src/ipvs/settings.js'

const one = (svc: Record<string, unknown>, dest: Record<string, unknown> = { address: '192.0.2.11' }) => {
  const s = parseTable({ services: [{ ...svc, destinations: [dest] }] }).services[0]!
  return { service: s, dest: s.destinations[0]! }
}
const tcp = { protocol: 'tcp', address: '192.0.2.100', port: 80 }

t.test('service commands', async (t) => {
  const { service } = one({ ...tcp, scheduler: 'sh', flags: ['sh-port'], persistent: 60, netmask: '255.255.0.0' })
  t.same(opArgs({ kind: 'add-service', service }), ['-A', '-t', '192.0.2.100:80', '-s', 'sh', '-p', '60', '-M', '255.255.0.0', '-b', 'sh-port'])
  t.same(opArgs({ kind: 'edit-service', service })[0], '-E')
  t.same(opArgs({ kind: 'delete-service', service }), ['-D', '-t', '192.0.2.100:80'])
  const sip = one({ protocol: 'udp', address: '192.0.2.100', port: 5060, persistent: 900, pe: 'sip', ops: true }).service
  t.same(opArgs({ kind: 'add-service', service: sip }), ['-A', '-u', '192.0.2.100:5060', '-s', 'wlc', '-p', '900', '--pe', 'sip', '-o'])
  const v6 = one({ protocol: 'tcp', address: '2001:DB8::100', port: 443, persistent: 10, netmask: 64 }, { address: '2001:db8::11' })
  t.same(opArgs({ kind: 'add-service', service: v6.service }), ['-A', '-t', '[2001:db8::100]:443', '-s', 'wlc', '-p', '10', '-M', '64'])
  t.same(opArgs({ kind: 'delete-dest', ...v6 }), ['-d', '-t', '[2001:db8::100]:443', '-r', '[2001:db8::11]:443'])
  const fw6 = one({ protocol: 'fwmark', fwmark: 12, family: 'inet6', scheduler: 'mh', flags: ['mh-fallback', 'mh-port'] }, { address: '2001:db8::11' })
  t.same(opArgs({ kind: 'add-service', service: fw6.service }), ['-A', '-f', '12', '-6', '-s', 'mh', '-b', 'mh-fallback,mh-port'])
  t.same(opArgs({ kind: 'add-dest', ...fw6 }), ['-a', '-f', '12', '-6', '-r', '[2001:db8::11]:0', '-g', '-w', '1'])
})

t.test('a port-0 persistent service and its real server', async (t) => {
  const all = one({ ...tcp, port: 0, scheduler: 'rr', persistent: 300 })
  t.same(opArgs({ kind: 'add-service', service: all.service }), ['-A', '-t', '192.0.2.100:0', '-s', 'rr', '-p', '300'])
  t.same(opArgs({ kind: 'add-dest', ...all }), ['-a', '-t', '192.0.2.100:0', '-r', '192.0.2.11:0', '-g', '-w', '1'])
})

t.test('destination commands: forwarding, weight, thresholds, tunnels', async (t) => {
  const cases: Array<[Record<string, unknown>, string[]]> = [
    [{ address: '192.0.2.11' }, ['-g', '-w', '1']],
    [{ address: '192.0.2.11', forwarding: 'nat', port: 8080, weight: 0 }, ['-m', '-w', '0']],
    [{ address: '192.0.2.11', forwarding: 'tun', weight: 65535 }, ['-i', '-w', '65535']],
    [{ address: '192.0.2.11', upperThreshold: 1000, lowerThreshold: 800 }, ['-g', '-w', '1', '-x', '1000', '-y', '800']],
    [{ address: '192.0.2.11', forwarding: 'tun', tunType: 'gue', tunPort: 6080, tunChecksum: 'remcsum' },
      ['-i', '-w', '1', '--tun-type', 'gue', '--tun-port', '6080', '--tun-remcsum']],
    [{ address: '192.0.2.11', forwarding: 'tun', tunType: 'gre', tunChecksum: 'csum' }, ['-i', '-w', '1', '--tun-type', 'gre', '--tun-csum']],
  ]
  for (const [dest, tail] of cases) {
    const { service, dest: d } = one(tcp, dest)
    const argv = opArgs({ kind: 'add-dest', service, dest: d })
    t.same(argv.slice(0, 5), ['-a', '-t', '192.0.2.100:80', '-r', `192.0.2.11:${d.port}`])
    t.same(argv.slice(5), tail, JSON.stringify(dest))
  }
})

t.test('a restore line is the argv joined by single spaces, with no shell characters', async (t) => {
  const { service, dest } = one(tcp)
  const op: Op = { kind: 'edit-dest', service, dest }
  t.equal(restoreLine(op), opArgs(op).join(' '))
  t.notMatch(restoreLine(op), /[;&|`$<>"'\\]/)
})

t.test('timeouts and the sync daemon', async (t) => {
  t.same(timeoutArgs({ tcp: 900, tcpfin: 120, udp: 300 }), ['--set', '900', '120', '300'])
  t.same(timeoutArgs({ udp: 60 }), ['--set', '0', '0', '60'], '0 keeps the kernel value')
  t.same(startDaemonArgs({ state: 'master', mcastInterface: 'eth0', syncid: 7 }),
    ['--start-daemon', 'master', '--mcast-interface', 'eth0', '--syncid', '7'])
  t.same(startDaemonArgs({ state: 'backup', mcastInterface: 'eth1', syncid: 0, mcastGroup: '224.0.0.82', mcastPort: 8849, mcastTtl: 2, syncMaxlen: 1400 }),
    ['--start-daemon', 'backup', '--mcast-interface', 'eth1', '--syncid', '0', '--sync-maxlen', '1400', '--mcast-group', '224.0.0.82', '--mcast-port', '8849', '--mcast-ttl', '2'])
  t.same(stopDaemonArgs('backup'), ['--stop-daemon', 'backup'])
  t.throws(() => timeoutArgs({ tcp: -1 }), { code: 'LVS_ERR_INVALID_VALUE', message: /\/timeouts\/tcp/ })
  t.throws(() => startDaemonArgs({ state: 'master', mcastInterface: 'eth0; reboot', syncid: 1 }), { code: 'LVS_ERR_INVALID_VALUE', message: /mcastInterface/ })
  t.throws(() => startDaemonArgs({ state: 'master', mcastInterface: 'eth0', syncid: 256 }), { code: 'LVS_ERR_INVALID_VALUE', message: /syncid/ })
  t.throws(() => startDaemonArgs({ state: 'master', mcastInterface: 'eth0', syncid: 1, mcastGroup: '192.0.2.1' }), { code: 'LVS_ERR_INVALID_VALUE', message: /multicast/ })
  t.throws(() => stopDaemonArgs('primary' as 'master'), { code: 'LVS_ERR_INVALID_VALUE' })
})
