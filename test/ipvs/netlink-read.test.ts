// The netlink read's mapping (src/ipvs/netlink-read.ts): the kernel's numbers become the table that `ipvsadm -Sn`
// plus `-Ln --thresholds` would give for the same kernel state (parse.ts is the reference). The read itself, against
// the real kernel beside ipvsadm's, is a lab scenario (test/lab/ipvs.scenario.ts).
import t from 'tap'
import { tableFromNetlink } from '../../src/ipvs/netlink-read.js'
import { parseSave } from '../../src/ipvs/parse.js'
import type { NativeIpvsDestination, NativeIpvsService } from '../../src/native.js'

const AF_INET = 2
const AF_INET6 = 10
const svc = (o: Partial<NativeIpvsService>): NativeIpvsService =>
  ({ af: AF_INET, protocol: 6, port: 0, fwmark: 0, scheduler: 'wlc', flags: 0x2, timeout: 0, netmask: 0xffffffff, destinations: [], ...o })
const dest = (o: Partial<NativeIpvsDestination>): NativeIpvsDestination =>
  ({ af: AF_INET, port: 80, fwd: 3, weight: 1, upper: 0, lower: 0, tunType: 0, tunPort: 0, tunFlags: 0, ...o })

t.test('every feature maps as ipvsadm -Sn (with thresholds) reads it', async (t) => {
  const raw = [
    svc({ address: '10.0.0.1', port: 80, scheduler: 'wrr', destinations: [
      dest({ address: '192.0.2.11', upper: 500, lower: 100 }),
      dest({ address: '192.0.2.12', port: 8080, fwd: 0, weight: 2 }),
      dest({ address: '192.0.2.13', fwd: 2, weight: 0 }),
      dest({ address: '192.0.2.14', fwd: 1 }), // LOCALNODE: ipvsadm prints -g
      dest({ address: '192.0.2.15', fwd: 2, tunType: 1, tunPort: 6080, tunFlags: 1 }),
      dest({ address: '192.0.2.16', fwd: 2, tunType: 2 }),
      dest({ address: '192.0.2.17', fwd: 2, tunType: 1, tunPort: 6081, tunFlags: 2 }),
    ] }),
    svc({ protocol: 17, address: '10.0.0.1', port: 5060, scheduler: 'sh', flags: 0x1 | 0x2 | 0x4 | 0x8 | 0x10, timeout: 900,
      netmask: 0xffffff00, pe: 'sip', destinations: [dest({ address: '192.0.2.11', port: 5060 })] }),
    svc({ af: AF_INET6, address: '2001:0db8:0:0:0:0:0:0001', port: 443, flags: 0x3, timeout: 300, netmask: 64,
      destinations: [dest({ af: AF_INET6, address: '2001:db8::11', port: 443, weight: 7 })] }),
    svc({ af: AF_INET6, address: '2001:db8::2', port: 444, flags: 0x3, timeout: 60, netmask: 128 }),
    svc({ address: '10.0.0.2', port: 81, flags: 0x3, timeout: 30, netmask: 0xffffffff }),
    svc({ protocol: 0, fwmark: 7, scheduler: 'mh', flags: 0x2 | 0x8 | 0x10 | 0x20, destinations: [dest({ address: '192.0.2.11', port: 0 })] }),
    svc({ af: AF_INET6, protocol: 0, fwmark: 8, scheduler: 'rr', flags: 0x3, timeout: 60, netmask: 128, destinations: [dest({ af: 0, address: '2001:db8::12', port: 0 })] }),
    svc({ scheduler: 'rr', address: '10.0.0.3', port: 82, flags: 0x2 | 0x20 }),
  ]
  const expected = parseSave([
    '-A -t 10.0.0.1:80 -s wrr',
    '-a -t 10.0.0.1:80 -r 192.0.2.11:80 -g -w 1',
    '-a -t 10.0.0.1:80 -r 192.0.2.12:8080 -m -w 2',
    '-a -t 10.0.0.1:80 -r 192.0.2.13:80 -i -w 0',
    '-a -t 10.0.0.1:80 -r 192.0.2.14:80 -g -w 1',
    '-a -t 10.0.0.1:80 -r 192.0.2.15:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum',
    '-a -t 10.0.0.1:80 -r 192.0.2.16:80 -i -w 1 --tun-type gre --tun-nocsum',
    '-a -t 10.0.0.1:80 -r 192.0.2.17:80 -i -w 1 --tun-type gue --tun-port 6081 --tun-remcsum',
    '-A -u 10.0.0.1:5060 -s sh -b sh-fallback,sh-port -p 900 -M 255.255.255.0 --pe sip -o',
    '-a -u 10.0.0.1:5060 -r 192.0.2.11:5060 -g -w 1',
    '-A -t [2001:db8::1]:443 -s wlc -p 300 -M 64',
    '-a -t [2001:db8::1]:443 -r [2001:db8::11]:443 -g -w 7',
    '-A -t [2001:db8::2]:444 -s wlc -p 60',
    '-A -t 10.0.0.2:81 -s wlc -p 30',
    '-A -f 7 -s mh -b mh-fallback,mh-port,flag-3',
    '-a -f 7 -r 192.0.2.11:0 -g -w 1',
    '-A -f 8 -6 -s rr -p 60',
    '-a -f 8 -6 -r [2001:db8::12]:0 -g -w 1',
    '-A -t 10.0.0.3:82 -s rr -b flag-3',
  ].join('\n'))
  expected.services[0]!.destinations[0]!.upperThreshold = 500 // -Sn omits thresholds: -Ln --thresholds adds them
  expected.services[0]!.destinations[0]!.lowerThreshold = 100
  t.same(tableFromNetlink(raw), expected)
  t.strictSame(tableFromNetlink(raw), expected, 'no field more or less')
})

t.test('services of other protocols are skipped with their real servers, as parse.ts lists them', async (t) => {
  const raw = [
    svc({ protocol: 132, address: '10.0.0.1', port: 3868, destinations: [dest({ address: '192.0.2.11', port: 3868 })] }),
    svc({ af: AF_INET6, protocol: 132, address: '2001:db8::1', port: 3868 }),
    svc({ address: '10.0.0.1', port: 80 }),
  ]
  const read = tableFromNetlink(raw)
  t.same(read.skipped, ['sctp/10.0.0.1:3868', 'sctp/10.0.0.1:3868 -> 192.0.2.11:3868', 'sctp/[2001:db8::1]:3868'])
  t.same(read.skipped, parseSave([
    '-A --sctp-service 10.0.0.1:3868 -s wlc',
    '-a --sctp-service 10.0.0.1:3868 -r 192.0.2.11:3868 -g -w 1',
    '-A --sctp-service [2001:db8::1]:3868 -s wlc',
  ].join('\n')).skipped)
  t.same(read.services.map((s) => `${s.address}:${s.port}`), ['10.0.0.1:80'])
  t.same(tableFromNetlink([]), { services: [] }, 'an empty table has no skipped list')
})
