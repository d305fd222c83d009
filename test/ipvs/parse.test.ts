// Restore lines built from a table parse back (as -Sn) to the same table, and -Ln listings parse field by field.
// The fixtures are laid out with ipvsadm 1.31's own printf formats; test/lab checks the parser on real output.
import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { parseTable, type Table } from '../../src/ipvs/model.js'
import { restoreLine, tableOps } from '../../src/ipvs/commands.js'
import { listedService, parseDaemons, parseList, parseSave, withThresholds } from '../../src/ipvs/parse.js'
import { formatListing, mergeListings } from '../../src/ipvs/format.js'

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')

function roundTrip(t: Test, name: string, input: unknown) {
  t.test(name, async (t) => {
    const table = parseTable(input)
    const lines = tableOps(table).map(restoreLine)
    t.same(parseSave(lines.join('\n') + '\n'), table, lines.join(' | '))
  })
}

const svc = (over: Record<string, unknown>, dests: Array<Record<string, unknown>> = []) => ({
  services: [{ protocol: 'tcp', address: '192.0.2.100', port: 80, ...over, destinations: dests }],
})

roundTrip(t, 'a web VIP with three DR real servers', svc({ scheduler: 'wrr' }, [
  { address: '192.0.2.11', weight: 3 }, { address: '192.0.2.12' }, { address: '192.0.2.13', weight: 0 },
]))
roundTrip(t, 'each forwarding method', svc({ scheduler: 'rr' }, [
  { address: '192.0.2.11', forwarding: 'dr' },
  { address: '192.0.2.12', forwarding: 'nat', port: 8080 },
  { address: '192.0.2.13', forwarding: 'tun' },
  { address: '192.0.2.14', forwarding: 'tun', tunType: 'gue', tunPort: 6080, tunChecksum: 'remcsum' },
  { address: '192.0.2.15', forwarding: 'tun', tunType: 'gre', tunChecksum: 'csum' },
]))
roundTrip(t, 'thresholds', svc({}, [{ address: '192.0.2.11', upperThreshold: 500, lowerThreshold: 100 }]))
roundTrip(t, 'persistence with a netmask', svc({ persistent: 3600, netmask: '255.255.255.0' }, [{ address: '192.0.2.11' }]))
roundTrip(t, 'SIP: udp, persistence engine sip, one-packet scheduling', {
  services: [{ protocol: 'udp', address: '192.0.2.100', port: 5060, scheduler: 'sh', flags: ['sh-fallback'],
    persistent: 900, pe: 'sip', ops: true, destinations: [{ address: '192.0.2.21' }] }],
})
roundTrip(t, 'IPv6 with a prefix netmask', {
  services: [{ protocol: 'tcp', address: '2001:db8::100', port: 443, persistent: 300, netmask: 64,
    destinations: [{ address: '2001:db8::11' }, { address: '2001:db8::12', forwarding: 'nat', port: 8443 }] }],
})
roundTrip(t, 'fwmark v4 and v6', {
  services: [
    { protocol: 'fwmark', fwmark: 7, scheduler: 'mh', flags: ['mh-port', 'mh-fallback'], destinations: [{ address: '192.0.2.31' }] },
    { protocol: 'fwmark', fwmark: 8, family: 'inet6', scheduler: 'wlc', ops: true, persistent: 60, netmask: 48,
      destinations: [{ address: '2001:db8::31', port: 80 }] },
  ],
})
roundTrip(t, 'a port-0 persistent service (all ports), v4 and v6', {
  services: [
    { protocol: 'tcp', address: '192.0.2.100', port: 0, scheduler: 'rr', persistent: 300,
      destinations: [{ address: '192.0.2.11' }, { address: '192.0.2.12', forwarding: 'tun' }] },
    { protocol: 'udp', address: '2001:db8::100', port: 0, persistent: 60, destinations: [{ address: '2001:db8::11' }] },
  ],
})
roundTrip(t, 'generic flags', svc({ scheduler: 'wlc', flags: ['flag-3', 'flag-1'] }))

t.test('ipvsadm -Sn output as ipvsadm prints it (leading ipvsadm words allowed, -b names by scheduler)', async (t) => {
  const text = [
    '-A -t 192.0.2.100:80 -s wrr',
    '-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1',
    'ipvsadm -A -u [2001:db8::5]:5060 -s sh -p 900 -M 64 --pe sip -o -b sh-fallback,flag-3',
    '-a -u [2001:db8::5]:5060 -r [2001:db8::21]:5060 -i -w 5 --tun-type gue --tun-port 6080 --tun-csum',
    '-A -f 9 -6 -s rr',
    '-a -f 9 -6 -r [2001:db8::31]:0 -m -w 2',
    '',
  ].join('\n')
  const table = parseSave(text)
  t.same(table.services.map((s) => [s.protocol, s.address ?? s.fwmark, s.family]), [
    ['tcp', '192.0.2.100', 'inet'], ['udp', '2001:db8::5', 'inet6'], ['fwmark', 9, 'inet6'],
  ])
  const sip = table.services[1]!
  t.same([sip.persistent, sip.netmask, sip.pe, sip.ops, sip.flags], [900, 64, 'sip', true, ['sh-fallback', 'flag-3']])
  t.same(sip.destinations[0], {
    address: '2001:db8::21', port: 5060, forwarding: 'tun', weight: 5, upperThreshold: 0, lowerThreshold: 0,
    tunType: 'gue', tunPort: 6080, tunChecksum: 'csum',
  })
  t.equal(table.services[2]!.destinations[0]!.forwarding, 'nat')
})

t.test('a garbled -Sn line is LVS_ERR_IPVS_PARSE with its line number', async (t) => {
  t.throws(() => parseSave('-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r nonsense -g -w 1\n'),
    { code: 'LVS_ERR_IPVS_PARSE', message: /line 2/ })
  t.throws(() => parseSave('-a -t 192.0.2.1:80 -r 192.0.2.2:80 -g -w 1\n'), { code: 'LVS_ERR_IPVS_PARSE', message: /unknown service/ })
})

t.test('-Ln --exact --stats: full numbers, IPv6 and fwmark services', async (t) => {
  const l = parseList(fixture('synthetic-list-stats-exact.txt'))
  t.equal(l.format, 'stats')
  t.equal(l.version, '1.2.1')
  t.same(l.services.map((s) => s.key), ['tcp/192.0.2.100:80', 'udp/192.0.2.100:5060', 'tcp/[2001:db8::100]:443', 'fwmark/7', 'fwmark6/8'])
  t.same(l.services[0]!.stats, { conns: 1001, inPkts: 123456789012, outPkts: 0, inBytes: 98765432109876, outBytes: 5 })
  t.same(l.services[4]!.stats!.inBytes, 1086419753208636)
  t.same(l.services[0]!.destinations.map((d) => [d.address, d.port, d.stats!.conns, d.stats!.inBytes]),
    [['192.0.2.11', 80, 2, 3000], ['192.0.2.12', 80, 3, 4500], ['192.0.2.13', 80, 4, 6000]])
  t.same(l.services[4]!.destinations[0], { address: '2001:db8::31', port: 0, stats: { conns: 12, inPkts: 120, outPkts: 0, inBytes: 18000, outBytes: 0 } })
})

t.test('-Ln --stats without --exact: K/M/G/T rounded counters', async (t) => {
  const l = parseList(fixture('synthetic-list-stats-rounded.txt'))
  t.equal(l.services[0]!.stats!.inPkts, 123e9)
  t.equal(l.services[0]!.stats!.inBytes, 98765e9)
})

t.test('-Ln --exact --rate', async (t) => {
  const l = parseList(fixture('synthetic-list-rate-exact.txt'))
  t.equal(l.format, 'rate')
  t.same(l.services[1]!.rate, { cps: 5, inPps: 35, outPps: 0, inBps: 35000, outBps: 0 })
  t.same(l.services[3]!.destinations[0]!.rate, { cps: 10, inPps: 30, outPps: 0, inBps: 30000, outBps: 0 })
})

t.test('-Ln: scheduler, flags, persistence, mask, pe, ops, forwarding, weights and connections', async (t) => {
  const l = parseList(fixture('synthetic-list-plain.txt'))
  const sip = l.services[1]!
  t.same([sip.scheduler, sip.flags, sip.persistent, sip.netmask, sip.pe, sip.ops], ['sh', ['sh-fallback', 'sh-port'], 900, '255.255.255.0', 'sip', true])
  t.same([l.services[2]!.netmask, l.services[4]!.family, l.services[4]!.flags], [64, 'inet6', ['mh-port']])
  t.same(l.services[0]!.destinations.map((d) => [d.forwarding, d.weight, d.activeConns, d.inactiveConns]),
    [['dr', 1, 0, 0], ['dr', 2, 2, 3], ['nat', 3, 4, 6]])
  t.equal(sip.destinations[0]!.forwarding, 'tun')
  t.equal(l.services[2]!.destinations[0]!.forwarding, 'local')
})

t.test('-Ln --thresholds fills the thresholds -Sn leaves out', async (t) => {
  const table: Table = parseSave('-A -t 192.0.2.100:80 -s wrr\n-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 1\n')
  const merged = withThresholds(table, parseList(fixture('synthetic-list-thresholds.txt')))
  t.same([merged.services[0]!.destinations[0]!.upperThreshold, merged.services[0]!.destinations[0]!.lowerThreshold], [100, 10])
})

t.test('real ipvsadm 1.31 output captured in the lab', async (t) => {
  const save = parseSave(fixture('real-save.txt'))
  const table = withThresholds(save, parseList(fixture('real-list-thresholds.txt')))
  const expected = parseTable({ services: [
    { protocol: 'tcp', address: '192.0.2.100', port: 80, scheduler: 'wrr', destinations: [
      { address: '192.0.2.11', weight: 1, upperThreshold: 500, lowerThreshold: 100 },
      { address: '192.0.2.12', weight: 2 },
      { address: '192.0.2.13', weight: 0, forwarding: 'tun', tunType: 'gue', tunPort: 6080, tunChecksum: 'csum' },
      { address: '192.0.2.13', port: 8080, weight: 3, forwarding: 'nat' },
    ] },
    { protocol: 'udp', address: '192.0.2.100', port: 5060, scheduler: 'sh', flags: ['sh-fallback', 'sh-port'], persistent: 900,
      netmask: '255.255.255.0', pe: 'sip', ops: true, destinations: [{ address: '192.0.2.11' }, { address: '192.0.2.12', forwarding: 'tun' }] },
    { protocol: 'tcp', address: '2001:db8::100', port: 80, scheduler: 'mh', flags: ['mh-fallback', 'mh-port'], persistent: 300, netmask: 64,
      destinations: [{ address: '2001:db8::11' }, { address: '2001:db8::12', weight: 4 }] },
    { protocol: 'fwmark', fwmark: 7, scheduler: 'wlc', destinations: [{ address: '192.0.2.13' }] },
    { protocol: 'fwmark', fwmark: 8, family: 'inet6', scheduler: 'rr', flags: ['flag-3'], destinations: [{ address: '2001:db8::13' }] },
  ] })
  t.same(table, expected, '-Sn plus -Ln --thresholds is the whole table')

  for (const name of ['real-list.txt', 'real-list-stats-exact.txt', 'real-list-stats.txt', 'real-list-rate-exact.txt',
    'real-list-thresholds.txt', 'real-list-tun-info.txt', 'real-list-persistent.txt']) {
    const l = parseList(fixture(name))
    t.same(l.services.map((s) => s.key), ['tcp/192.0.2.100:80', 'udp/192.0.2.100:5060', 'tcp/[2001:db8::100]:80', 'fwmark/7', 'fwmark6/8'], name)
    t.same(l.services.map((s) => s.destinations.length), [4, 2, 2, 1, 1], `${name}: real servers`)
  }
  const stats = parseList(fixture('real-list-stats-exact.txt'))
  t.same(stats.services[0]!.stats, { conns: 7, inPkts: 26, outPkts: 0, inBytes: 1616, outBytes: 0 }, 'DR: OutPkts 0')
  t.same(stats.services[0]!.destinations.map((d) => d.stats!.conns), [1, 2, 0, 4])
  t.same(stats.services[2]!.destinations[0]!.stats, { conns: 3, inPkts: 18, outPkts: 0, inBytes: 1500, outBytes: 0 })
  const rate = parseList(fixture('real-list-rate-exact.txt'))
  t.same(rate.services[2]!.rate, { cps: 0, inPps: 1, outPps: 0, inBps: 99, outBps: 0 })
  const plain = parseList(fixture('real-list.txt'))
  t.same(plain.services[0]!.destinations.map((d) => [d.forwarding, d.weight]), [['dr', 1], ['dr', 2], ['tun', 0], ['nat', 3]])
  t.same([plain.services[4]!.family, plain.services[4]!.flags], ['inet6', ['flag-3']])
  const tun = parseList(fixture('real-list-tun-info.txt'))
  t.same(tun.services[0]!.destinations.map((d) => [d.forwarding, d.weight]), [['dr', 1], ['dr', 2], ['tun', 0], ['nat', 3]], 'TunnelInfo column skipped')
  const persist = parseList(fixture('real-list-persistent.txt'))
  t.same(persist.services[2]!.destinations.map((d) => [d.weight, d.persistConns]), [[1, 1], [4, 0]], 'the IPv6 client persisted on one server')
})

t.test('-Ln --daemon', async (t) => {
  t.same(parseDaemons('master sync daemon (mcast=eth0, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\nbackup sync daemon (mcast=eth1, syncid=0)\n'), [
    { state: 'master', mcastInterface: 'eth0', syncid: 7, syncMaxlen: 1472, mcastGroup: '224.0.0.81', mcastPort: 8848, mcastTtl: 1 },
    { state: 'backup', mcastInterface: 'eth1', syncid: 0 },
  ])
  t.same(parseDaemons(''), [])
  t.throws(() => parseDaemons('nonsense\n'), { code: 'LVS_ERR_IPVS_PARSE' })
})

t.test("another tool's SCTP and ICMP services are skipped with their real servers, and listed", async (t) => {
  const save = parseSave([
    '-A -t 192.0.2.100:80 -s wrr',
    '-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1',
    '-A --sctp-service 192.0.2.1:80 -s rr',
    '-a --sctp-service 192.0.2.1:80 -r 192.0.2.11:80 -g -w 1',
    '-A -q 192.0.2.2 -s rr',
    '-a -q 192.0.2.2 -r 192.0.2.12 -g -w 1',
    '',
  ].join('\n'))
  t.same(save.services.map((s) => [s.protocol, s.address, s.destinations.length]), [['tcp', '192.0.2.100', 1]])
  t.same(save.skipped, ['sctp/192.0.2.1:80', 'sctp/192.0.2.1:80 -> 192.0.2.11:80', 'icmp/192.0.2.2', 'icmp/192.0.2.2 -> 192.0.2.12'])
  t.notOk('skipped' in parseSave('-A -t 192.0.2.100:80 -s wrr\n'), 'a table without them is a plain table')

  const list = parseList([
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    'SCTP  192.0.2.1:80 rr',
    '  -> 192.0.2.11:80                Route   1      0          0         ',
    'TCP  192.0.2.100:80 wrr',
    '  -> 192.0.2.11:80                Route   1      0          1         ',
    'ICMP  192.0.2.2:0 rr',
    '  -> 192.0.2.12:0                 Route   1      0          0         ',
    '',
  ].join('\n'))
  t.same(list.services.map((s) => [s.key, s.destinations.length]), [['tcp/192.0.2.100:80', 1]])
  t.same(list.skipped, ['sctp/192.0.2.1:80', 'sctp/192.0.2.1:80 -> 192.0.2.11:80', 'icmp/192.0.2.2:0', 'icmp/192.0.2.2:0 -> 192.0.2.12:0'])
})

t.test('a port-0 persistent service in -Sn and -Ln as ipvsadm prints it', async (t) => {
  const save = parseSave('-A -t 192.0.2.100:0 -s rr -p 300\n-a -t 192.0.2.100:0 -r 192.0.2.11:0 -g -w 1\n')
  t.same(save, parseTable({ services: [{ protocol: 'tcp', address: '192.0.2.100', port: 0, scheduler: 'rr', persistent: 300,
    destinations: [{ address: '192.0.2.11' }] }] }))
  const list = parseList([
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    'TCP  192.0.2.100:0 rr persistent 300',
    '  -> 192.0.2.11:0                 Route   1      0          0         ',
    '',
  ].join('\n'))
  t.same(list.services.map((s) => [s.key, s.persistent, s.destinations.map((d) => d.port)]), [['tcp/192.0.2.100:0', 300, [0]]])
  t.match(formatListing(mergeListings(list)), /\nTCP  192\.0\.2\.100:0\s+rr persistent 300\n  -> 192\.0\.2\.11:0\s+Route\s+1\s+0\s+0\n/)
})

t.test('one service as -Ln -t and --thresholds show it, in the model form', async (t) => {
  const plain = parseList(`IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
UDP  192.0.2.110:5060 rr persistent 900 pe sip
  -> 192.0.2.21:5060              Route   1      0          3
  -> 192.0.2.22:5060              Masq    0      0          0
`).services[0]!
  const thresholds = parseList(`IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn
  -> RemoteAddress:Port
UDP  192.0.2.110:5060 rr persistent 900 pe sip
  -> 192.0.2.21:5060              2000       1500       0          3
  -> 192.0.2.22:5060              0          0          0          0
`).services[0]!
  t.same(listedService(plain, thresholds), {
    protocol: 'udp', address: '192.0.2.110', port: 5060, family: 'inet', scheduler: 'rr', flags: [], persistent: 900, pe: 'sip', ops: false,
    destinations: [
      { address: '192.0.2.21', port: 5060, forwarding: 'dr', weight: 1, upperThreshold: 2000, lowerThreshold: 1500 },
      { address: '192.0.2.22', port: 5060, forwarding: 'nat', weight: 0, upperThreshold: 0, lowerThreshold: 0 },
    ],
  })
})
