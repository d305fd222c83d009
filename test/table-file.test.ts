// Table files: YAML and JSON give the same table; every error is LVS_ERR_INVALID_TABLE naming the file, the
// field's path and, for YAML, its line.
import t from 'tap'
import { parseTableText } from '../src/table-file.js'

const yaml = `services:
  - protocol: tcp
    address: 2001:DB8::100
    port: 80
    destinations:
      - { address: "2001:db8:0::11", weight: 2 }
`
const json = JSON.stringify({ services: [{ protocol: 'tcp', address: '2001:db8::100', port: 80, destinations: [{ address: '2001:db8::11', weight: 2 }] }] })

t.test('a JSON table equals the same table in YAML', async (t) => {
  t.same(parseTableText(json, 'big.json'), parseTableText(yaml, 'small.yaml'))
})

t.test('YAML errors name the line of the bad field', async (t) => {
  t.throws(() => parseTableText(yaml.replace('weight: 2', 'weight: -1'), 'web.yaml'), {
    code: 'LVS_ERR_INVALID_TABLE',
    message: /web\.yaml:6: \/services\/0\/destinations\/0\/weight/,
  })
  t.throws(() => parseTableText('services: [\n', 'broken.yaml'), { code: 'LVS_ERR_INVALID_TABLE', message: /broken\.yaml:\d+/ })
})

t.test('JSON errors name the file and the path', async (t) => {
  t.throws(() => parseTableText('{"services": [', 'gen.json'), { code: 'LVS_ERR_INVALID_TABLE', message: /gen\.json/ })
  t.throws(() => parseTableText(json.replace('2001:db8::100', '1.2.3.4; reboot'), 'gen.json'), {
    code: 'LVS_ERR_INVALID_TABLE',
    message: /gen\.json: \/services\/0\/address: "1\.2\.3\.4; reboot" is not an IPv4 or IPv6 address/,
  })
})
