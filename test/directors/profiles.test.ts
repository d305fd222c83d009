// A table's `profile:` fills in a web, SIP or PBS service's defaults; the table's own fields win.
import t from 'tap'
import { parseTableText } from '../../src/table-file.js'
import { profiles } from '../../directors/index.js'
import { parseCheckSpec } from '../../healthchecks/spec.js'

t.test('a SIP service needs only its VIP and real servers', async (t) => {
  const table = parseTableText(
    'services:\n  - profile: sip\n    address: 192.0.2.110\n    destinations: [{ address: 192.0.2.21 }, { address: 192.0.2.22, weight: 3 }]\n',
    'sip.yaml',
  )
  t.match(table.services[0], { protocol: 'udp', port: 5060, scheduler: 'rr', persistent: 900, pe: 'sip' })
  t.match(table.services[0]!.destinations, [
    { address: '192.0.2.21', port: 5060, forwarding: 'dr', weight: 1 },
    { address: '192.0.2.22', port: 5060, forwarding: 'dr', weight: 3 },
  ])
})

t.test("the table's own fields win over the profile's", async (t) => {
  const table = parseTableText(
    'services:\n  - profile: web\n    address: 192.0.2.100\n    port: 8080\n    scheduler: sh\n    destinations: [{ address: 192.0.2.11, port: 8081, forwarding: nat }]\n',
    'web.yaml',
  )
  t.match(table.services[0], { protocol: 'tcp', port: 8080, scheduler: 'sh' })
  t.match(table.services[0]!.destinations[0], { port: 8081, forwarding: 'nat' })
})

t.test('an unknown profile is a coded error naming the file, line and field', async (t) => {
  t.throws(
    () => parseTableText('services:\n  - address: 192.0.2.100\n    profile: ftp\n    destinations: []\n', 'x.yaml'),
    { code: 'LVS_ERR_INVALID_TABLE', message: /x\.yaml:3: \/services\/0\/profile: unknown profile "ftp"/ },
  )
})

t.test('every profile gives a valid service and a valid health check', async (t) => {
  for (const [name, profile] of Object.entries(profiles)) {
    const table = parseTableText(`services:\n  - { profile: ${name}, address: 192.0.2.100, destinations: [{ address: 192.0.2.11 }] }\n`, `${name}.yaml`)
    t.equal(table.services.length, 1, `${name} service`)
    t.equal(parseCheckSpec(profile.check).kind, profile.check.kind, `${name} check`)
  }
})
