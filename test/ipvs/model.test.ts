// The model validates every value before it can become an ipvsadm argument, and gives canonical identities.
import t, { type Test } from 'tap'
import { parseTable, serviceKey, destinationKey } from '../../src/ipvs/model.js'

const web = (over: Record<string, unknown> = {}, dest: Record<string, unknown> = {}) => ({
  services: [{
    protocol: 'tcp', address: '192.0.2.100', port: 80, scheduler: 'wrr',
    destinations: [{ address: '192.0.2.11', ...dest }],
    ...over,
  }],
})

function rejects(t: Test, input: unknown, path: string, pattern: RegExp) {
  try {
    parseTable(input)
    t.fail(`accepted ${JSON.stringify(input)}`)
  } catch (err) {
    const e = err as Error & { code: string; path: string }
    t.equal(e.code, 'LVS_ERR_INVALID_VALUE', e.message)
    t.equal(e.path, path, `names ${path}`)
    t.match(e.message, pattern)
  }
}

t.test('defaults: wlc is not forced when a scheduler is given, dr, weight 1, service port', async (t) => {
  const table = parseTable(web())
  const s = table.services[0]!
  t.same(s.destinations[0], { address: '192.0.2.11', port: 80, forwarding: 'dr', weight: 1, upperThreshold: 0, lowerThreshold: 0 })
  t.equal(s.scheduler, 'wrr')
  t.equal(s.family, 'inet')
  t.equal(parseTable({ services: [{ protocol: 'udp', address: '192.0.2.1', port: 53 }] }).services[0]!.scheduler, 'wlc')
})

t.test('IPv6 addresses have one canonical key whatever their spelling', async (t) => {
  const a = parseTable({ services: [{ protocol: 'tcp', address: '2001:DB8::1', port: 443, destinations: [{ address: '2001:0db8:0:0::11' }] }] })
  const b = parseTable({ services: [{ protocol: 'tcp', address: '2001:db8:0::1', port: 443 }] })
  t.equal(serviceKey(a.services[0]!), 'tcp/[2001:db8::1]:443')
  t.equal(serviceKey(a.services[0]!), serviceKey(b.services[0]!))
  t.equal(destinationKey(a.services[0]!.destinations[0]!), '[2001:db8::11]:443')
})

t.test('fwmark services carry a family; keys differ per family', async (t) => {
  const table = parseTable({ services: [
    { protocol: 'fwmark', fwmark: 7, destinations: [{ address: '192.0.2.11' }] },
    { protocol: 'fwmark', fwmark: 7, family: 'inet6', destinations: [{ address: '2001:db8::11' }] },
  ] })
  t.same(table.services.map(serviceKey), ['fwmark/7', 'fwmark6/7'])
  t.equal(table.services[0]!.destinations[0]!.port, 0, 'fwmark real servers default to port 0')
})

t.test('scheduler flags are canonicalised per scheduler', async (t) => {
  const sh = parseTable(web({ scheduler: 'sh', flags: ['sh-port', 'flag-1'] })).services[0]!
  t.same(sh.flags, ['sh-fallback', 'sh-port'])
  const mh = parseTable(web({ scheduler: 'mh', flags: ['mh-fallback'] })).services[0]!
  t.same(mh.flags, ['mh-fallback'])
})

t.test('persistence: default netmask dropped, v4 dotted and v6 prefix kept', async (t) => {
  t.equal(parseTable(web({ persistent: 300, netmask: '255.255.255.255' })).services[0]!.netmask, undefined)
  t.equal(parseTable(web({ persistent: 300, netmask: '255.255.255.0' })).services[0]!.netmask, '255.255.255.0')
  const v6 = parseTable({ services: [{ protocol: 'udp', address: '2001:db8::5', port: 5060, persistent: 600, netmask: 64, pe: 'sip' }] })
  t.equal(v6.services[0]!.netmask, 64)
  t.equal(v6.services[0]!.pe, 'sip')
})

t.test('bad values are rejected with the path of the field', async (t) => {
  rejects(t, web({ address: '1.2.3.4; reboot' }), '/services/0/address', /not an IPv4 or IPv6 address/)
  rejects(t, web({ port: 70000 }), '/services/0/port', /65535/)
  rejects(t, web({}, { weight: -1 }), '/services/0/destinations/0/weight', /0/)
  rejects(t, web({ scheduler: 'fastest' }), '/services/0/scheduler', /"fastest" is not one of rr, wrr, lc/)
  rejects(t, { services: [{ protocol: 'tcp', address: '2001:db8::1', port: 80, persistent: 60, netmask: 200 }] },
    '/services/0/netmask', /1\.\.128/)
  rejects(t, web({ persistent: 60, netmask: '255.0.255.0' }), '/services/0/netmask', /netmask/)
  rejects(t, web({ netmask: '255.255.0.0' }), '/services/0/netmask', /needs persistent/)
  rejects(t, web({ pe: 'sip' }), '/services/0/pe', /needs persistent/)
  rejects(t, web({ ops: true }), '/services/0/ops', /udp and fwmark/)
  rejects(t, web({ scheduler: 'wrr', flags: ['sh-port'] }), '/services/0/flags/0', /needs scheduler sh/)
  rejects(t, web({}, { address: '2001:db8::11' }), '/services/0/destinations/0/address', /family/)
  rejects(t, web({}, { port: 8080 }), '/services/0/destinations/0/port', /only nat/)
  rejects(t, web({}, { forwarding: 'tun', tunType: 'gue' }), '/services/0/destinations/0/tunPort', /needs tunPort/)
  rejects(t, web({}, { tunType: 'gre' }), '/services/0/destinations/0/tunType', /need forwarding tun/)
  rejects(t, web({ address: '224.0.0.1' }), '/services/0/address', /multicast/)
  rejects(t, web({ address: 'fe80::1%eth0' }), '/services/0/address', /not an IPv4/)
  rejects(t, web({ extra: 1 }), '/services/0/extra', /Unexpected property/)
  rejects(t, { services: [web().services[0], web().services[0]] }, '/services/1', /appears twice/)
  rejects(t, { services: [{ protocol: 'fwmark', fwmark: 0 }] }, '/services/0/fwmark', /1/)
  rejects(t, { services: [{ protocol: 'fwmark', address: '192.0.2.1', fwmark: 3 }] }, '/services/0/address', /no address/)
})

t.test('nat may map the port; tun types keep their options', async (t) => {
  const nat = parseTable(web({}, { forwarding: 'nat', port: 8080 })).services[0]!.destinations[0]!
  t.equal(nat.port, 8080)
  const gue = parseTable(web({}, { forwarding: 'tun', tunType: 'gue', tunPort: 6080 })).services[0]!.destinations[0]!
  t.same([gue.tunType, gue.tunPort, gue.tunChecksum], ['gue', 6080, 'nocsum'])
})

t.test('port 0 ("all ports") is a persistent tcp/udp service, its real servers at port 0', async (t) => {
  const s = parseTable(web({ port: 0, persistent: 300, scheduler: 'rr' }, { forwarding: 'tun' })).services[0]!
  t.equal(serviceKey(s), 'tcp/192.0.2.100:0')
  t.same(s.destinations.map((d) => [destinationKey(d), d.forwarding]), [['192.0.2.11:0', 'tun']])
  t.equal(parseTable({ services: [{ protocol: 'udp', address: '192.0.2.1', port: 0, persistent: 60 }] }).services[0]!.port, 0)
  rejects(t, web({ port: 0 }), '/services/0/port', /0 only with persistent/)
  rejects(t, web({ port: 0, persistent: 300 }, { port: 80, forwarding: 'nat' }), '/services/0/destinations/0/port', /port 0/)
  rejects(t, { services: [{ protocol: 'tcp', address: '192.0.2.1' }] }, '/services/0/port', /needs port/)
})
