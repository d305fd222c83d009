import t from 'tap'
import { parseConfigText } from '../../src/config/load.js'

const good = `
director:
  api: { listen: 127.0.0.1:9410 }
  checks: { interval: 2 }
services:
  - profile: web
    address: 192.0.2.100
    destinations:
      - { address: 192.0.2.11 }
      - { address: 192.0.2.12, weight: 3, admin: draining }
  - profile: sip
    name: sip-farm
    address: 192.0.2.100
    check: { kind: sip, timeout: 1 }
    fallback: { address: 192.0.2.99 }
  - protocol: tcp
    address: 2001:db8::100
    port: 15001
`

t.test('a config is normalised: names derived, profiles applied, checks resolved with the director defaults', async (t) => {
  const c = parseConfigText(good, 'x.yaml')
  t.equal(c.director.api.listen, '127.0.0.1:9410')
  t.equal(c.director.driftInterval, 60, 'defaults filled in')
  const [web, sip, pbs] = c.services
  t.equal(web!.name, 'tcp-192.0.2.100-80')
  t.equal(web!.check.kind, 'http', 'web profile check')
  t.equal(web!.check.interval, 2, 'director check default applied')
  t.equal(web!.quiescent, true)
  t.same(web!.destinations.map((d) => [d.address, d.port, d.weight, d.admin]), [['192.0.2.11', 80, 1, 'enabled'], ['192.0.2.12', 80, 3, 'draining']])
  t.equal(sip!.name, 'sip-farm')
  t.equal(sip!.persistent, 900)
  t.equal(sip!.check.timeout, 1)
  t.same(sip!.fallback, { address: '192.0.2.99', port: 5060, forwarding: 'dr', weight: 1 })
  t.equal(pbs!.name, 'tcp-2001-db8--100-15001')
  t.equal(pbs!.check.kind, 'pbs', 'check guessed from the port as ldirectord does')
  t.ok(Object.isFrozen(c.services[0]), 'frozen')
})

t.test('a table file is a valid config', async (t) => {
  const c = parseConfigText('services:\n  - { protocol: udp, address: 192.0.2.1, port: 53, destinations: [{ address: 192.0.2.2 }] }\n', 't.yaml')
  t.equal(c.services[0]!.check.kind, 'connect', 'no check named: connect')
})

t.test('errors name the file, the line and the field', async (t) => {
  const cases: Array<[string, RegExp]> = [
    [good.replace('192.0.2.11', '10.0.0.300'), /^invalid config x\.yaml:9: \/services\/0\/destinations\/0\/address: "10\.0\.0\.300" is not/],
    [good.replace('timeout: 1', 'timeout: -1'), /^invalid config x\.yaml:14: \/services\/1\/check\/timeout: /],
    [good.replace('admin: draining', 'admin: sleepy'), /x\.yaml:10: \/services\/0\/destinations\/1\/admin: "sleepy" is not one of enabled, draining, disabled/],
    [good.replace('profile: sip', 'profile: web'), /x\.yaml:11: \/services\/1: service tcp\/192\.0\.2\.100:80 appears twice/],
    [good.replace('name: sip-farm', 'name: tcp-192.0.2.100-80'), /\/services\/1\/name: name tcp-192\.0\.2\.100-80 is used twice/],
    [good.replace('name: sip-farm', 'name: "a b"'), /\/services\/1\/name: /],
    [good.replace('listen: 127.0.0.1:9410', 'listen: 0.0.0.0:9410'), /\/director\/api\/listen: 0\.0\.0\.0 is not a loopback address/],
    [good.replace('fallback: { address: 192.0.2.99 }', 'fallback: { address: 2001:db8::9 }'), /\/services\/1\/fallback\/address: 2001:db8::9 is not of the service's family/],
    [good + 'extra: 1\n', /\/extra: unknown field/],
    ['services: [\n', /^invalid config x\.yaml:2: /],
  ]
  for (const [text, re] of cases) {
    t.throws(() => parseConfigText(text, 'x.yaml'), { code: 'LVS_ERR_INVALID_CONFIG', message: re })
  }
})

t.test('redis: one way to find Redis, one way to give each secret, defaults for the rest', async (t) => {
  const withRedis = (redis: string) => good.replace('  checks: { interval: 2 }\n', `  checks: { interval: 2 }\n  redis: ${redis}\n`)
  const ok = parseConfigText(withRedis('{ host: 192.0.2.60, port: 6379, passwordFile: /etc/lvs/redis.pass }'), 'x.yaml')
  t.match(ok.director.redis, { host: '192.0.2.60', port: 6379, cluster: 'lvs', replicas: 0, waitTimeout: 1, commandTimeout: 2, streamMaxLen: 10000 })
  t.match(parseConfigText(withRedis('{ sentinels: [{ host: 192.0.2.61, port: 26379 }], name: lvs-master, tls: true }'), 'x.yaml').director.redis, { name: 'lvs-master', tls: true })
  const cases: Array<[string, RegExp]> = [
    ['{ host: a, url: "redis://a" }', /\/director\/redis: name Redis one way/],
    ['{ cluster: web }', /\/director\/redis: name Redis one way/],
    ['{ sentinels: [{ host: a, port: 26379 }] }', /\/director\/redis\/name: the Sentinels' master name is required/],
    ['{ url: "redis://a", port: 6380 }', /\/director\/redis\/port: port goes with host/],
    ['{ host: a, password: x, passwordFile: /p }', /\/director\/redis\/passwordFile: give password or passwordFile/],
    ['{ host: a, cluster: "a{b}" }', /\/director\/redis\/cluster: /],
    ['{ url: "http://a" }', /\/director\/redis\/url: /],
    ['{ host: a, replicas: -1 }', /\/director\/redis\/replicas: /],
  ]
  for (const [redis, re] of cases) t.throws(() => parseConfigText(withRedis(redis), 'x.yaml'), { code: 'LVS_ERR_INVALID_CONFIG', message: re }, redis)
})
