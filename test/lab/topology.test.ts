// The lab topology's generated set-up and its table in docs/lab.md agree with test/lab/topology.ts.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { hosts, topologyEnv, topologyScript, vip } from './topology.js'

t.test('docs/lab.md lists every namespace with its role and addresses', async (t) => {
  const doc = readFileSync(new URL('../../docs/lab.md', import.meta.url), 'utf8')
  const rows = [...doc.matchAll(/^\| `([a-z0-9-]+)` \| ([a-z-]+) \| ([0-9.]+) \| ([0-9a-f:]+) \|$/gm)].map((m) => m.slice(1, 5))
  t.same(rows, hosts.map((h) => [h.ns, h.role, h.ip4, h.ip6]))
  t.ok(doc.includes(`${vip.ip4} and ${vip.ip6}`), 'the doc names the VIPs')
})

t.test('the set-up script creates every namespace and puts the VIP on each real server', async (t) => {
  const script = topologyScript()
  for (const h of hosts) t.match(script, new RegExp(`^netns add ${h.ns}$`, 'm'), `creates ${h.ns}`)
  const vipOnLo = script.match(new RegExp(`^addr add ${vip.ip4.replaceAll('.', '\\.')}/32 dev lo$`, 'gm')) ?? []
  t.equal(vipOnLo.length, hosts.filter((h) => h.role === 'real-server').length, 'one VIP on lo per real server')
})

t.test('scripts get every address as a shell variable', async (t) => {
  const env = topologyEnv()
  t.match(env, `export VIP4=${vip.ip4}\n`)
  t.match(env, 'export DIR_A_IP4=192.0.2.1\n')
  t.match(env, 'export RS3_IP6=2001:db8::13\n')
})
