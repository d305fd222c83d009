// checkKey: services that probe the same thing the same way get one key, whatever their VIP or rise/fall.
import t from 'tap'
import { checkKey } from '../../healthchecks/check-key.js'
import { parseCheckSpec } from '../../healthchecks/spec.js'
import { resolveTarget, type VirtualEndpoint } from '../../healthchecks/target.js'

const timing = { interval: 5000, timeout: 3000 }
const real = { address: '192.0.2.20', port: 80 }
const web = { address: '198.51.100.1', port: 80, protocol: 'tcp' as const }
const alt = { address: '198.51.100.2', port: 8080, protocol: 'tcp' as const }

function key(spec: object, virtual: VirtualEndpoint = web, r = real): string {
  const parsed = parseCheckSpec(spec)
  return checkKey(parsed, resolveTarget(parsed, r, virtual), timing)
}

t.test('two services on other VIPs that check one real server the same way share a key', async (t) => {
  t.equal(key({ kind: 'http', path: '/health' }, web), key({ kind: 'http', path: '/health' }, alt))
  t.equal(key({ kind: 'connect' }, web), key({ kind: 'connect' }, alt))
})

t.test('rise and fall do not split a probe: each subscriber keeps its own', async (t) => {
  t.equal(key({ kind: 'http', fall: 5, rise: 1 }), key({ kind: 'http' }))
})

t.test('what changes the probe changes the key', async (t) => {
  t.not(key({ kind: 'http', path: '/a' }), key({ kind: 'http', path: '/b' }), 'another path')
  t.not(key({ kind: 'http' }), key({ kind: 'http' }, web, { address: '192.0.2.21', port: 80 }), 'another real server')
  t.not(key({ kind: 'http' }), key({ kind: 'http', interval: 1 }), 'another interval')
  t.not(key({ kind: 'connect' }), key({ kind: 'connect' }, { ...web, protocol: 'udp' }), 'another transport')
})

t.test('external and dr-guard read the virtual service, so other VIPs are other probes', async (t) => {
  const ext = { kind: 'external', command: ['/usr/local/bin/check'] }
  t.not(key(ext, web), key(ext, alt), 'the command gets the VIP and port as arguments')
  t.not(key({ kind: 'dr-guard' }, web), key({ kind: 'dr-guard' }, alt), 'the guard probes the VIP')
})

t.test('a check address shared by two real servers is one probe (the same thing is probed)', async (t) => {
  const spec = { kind: 'connect', address: '192.0.2.99', port: 5432 }
  t.equal(key(spec, web, real), key(spec, web, { address: '192.0.2.21', port: 80 }))
})
