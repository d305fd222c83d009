// One parser for addresses and `addr:port` text: canonical forms, the four spellings, and one error code.
import t from 'tap'
import { canonicalAddress, hostPort, parseHostPort } from '../src/address.js'
import { hostPort as modelHostPort } from '../src/ipvs/model.js'

t.test('the four spellings, canonical', async (t) => {
  t.same(parseHostPort('192.0.2.1'), { address: '192.0.2.1', family: 'inet' })
  t.same(parseHostPort('192.0.2.1:80'), { address: '192.0.2.1', family: 'inet', port: 80 })
  t.same(parseHostPort('2001:DB8:0::1'), { address: '2001:db8::1', family: 'inet6' })
  t.same(parseHostPort('[2001:db8::1]:80'), { address: '2001:db8::1', family: 'inet6', port: 80 })
  t.same(parseHostPort('[2001:db8::1]'), { address: '2001:db8::1', family: 'inet6' })
})

t.test('defaultPort fills a missing port; minPort lets 0 through', async (t) => {
  t.equal(parseHostPort('192.0.2.1', { defaultPort: 53 }).port, 53)
  t.equal(parseHostPort('2001:db8::1', { defaultPort: 53 }).port, 53)
  t.equal(parseHostPort('192.0.2.1:80', { defaultPort: 53 }).port, 80)
  t.equal(parseHostPort('192.0.2.1:0', { minPort: 0 }).port, 0)
})

t.test('anything else is LVS_ERR_INVALID_ADDRESS with a detail', async (t) => {
  for (const bad of ['host.example:80', '127.1', '192.0.2.1:', '192.0.2.1:0', '192.0.2.1:65536', '192.0.2.1:8a',
    '[192.0.2.1]:80', 'fe80::1%eth0', '', '1.2.3.4; reboot']) {
    t.throws(() => parseHostPort(bad), { code: 'LVS_ERR_INVALID_ADDRESS', detail: /address|port/ }, JSON.stringify(bad))
  }
})

t.test('canonicalAddress and hostPort (also from model.ts)', async (t) => {
  t.same(canonicalAddress('2001:0db8::0001'), { address: '2001:db8::1', family: 'inet6' })
  t.equal(canonicalAddress('127.1'), undefined)
  t.equal(hostPort('2001:db8::1', 80), '[2001:db8::1]:80')
  t.equal(modelHostPort, hostPort)
})
