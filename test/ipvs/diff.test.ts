// diff(desired, kernel, owned) yields the smallest ordered plan, edits in place, and leaves foreign entries alone.
import t from 'tap'
import { restoreLine } from '../../src/ipvs/commands.js'
import { applyOps, diff } from '../../src/ipvs/diff.js'
import { parseTable, type Table } from '../../src/ipvs/model.js'

const web = (dests: Array<Record<string, unknown>>, over: Record<string, unknown> = {}) =>
  ({ protocol: 'tcp', address: '192.0.2.100', port: 80, scheduler: 'wrr', destinations: dests, ...over })
const table = (...services: unknown[]): Table => parseTable({ services })
const three: [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>] =
  [{ address: '192.0.2.11' }, { address: '192.0.2.12' }, { address: '192.0.2.13' }]
const ownedAll = (tb: Table) => new Set(tb.services.flatMap((s) => [
  `tcp/${s.address}:${s.port}`, ...s.destinations.map((d) => `tcp/${s.address}:${s.port} -> ${d.address}:${d.port}`),
]))
const lines = (p: { ops: Parameters<typeof restoreLine>[0][] }) => p.ops.map(restoreLine)

t.test('an empty kernel gets the service first, then its real servers', async (t) => {
  const plan = diff(table(web(three)), table(), new Set())
  t.same(lines(plan), [
    '-A -t 192.0.2.100:80 -s wrr',
    '-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1',
    '-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 1',
    '-a -t 192.0.2.100:80 -r 192.0.2.13:80 -g -w 1',
  ])
})

t.test('two new services: each is followed by its own real servers (ipvsadm -R finds a service just added first in its hash chain)', async (t) => {
  const plan = diff(table(web([three[0]]), web([three[1]], { port: 8080 })), table(), new Set())
  t.same(lines(plan), [
    '-A -t 192.0.2.100:80 -s wrr',
    '-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1',
    '-A -t 192.0.2.100:8080 -s wrr',
    '-a -t 192.0.2.100:8080 -r 192.0.2.12:8080 -g -w 1',
  ])
})

t.test('the same table twice is an empty plan (idempotent)', async (t) => {
  const want = table(web(three))
  t.same(diff(want, want, ownedAll(want)).ops, [])
})

t.test('a weight change is one -e line, never a delete and add', async (t) => {
  const have = table(web(three))
  const want = table(web([{ address: '192.0.2.11', weight: 5 }, three[1], three[2]]))
  t.same(lines(diff(want, have, ownedAll(have))), ['-e -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 5'])
})

t.test('threshold and forwarding changes are -e too', async (t) => {
  const have = table(web(three))
  const want = table(web([{ address: '192.0.2.11', upperThreshold: 100, lowerThreshold: 10 }, { address: '192.0.2.12', forwarding: 'tun' }, three[2]]))
  t.same(lines(diff(want, have, ownedAll(have))), [
    '-e -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1 -x 100 -y 10',
    '-e -t 192.0.2.100:80 -r 192.0.2.12:80 -i -w 1',
  ])
})

t.test('a scheduler or persistence change is one -E line carrying the whole service', async (t) => {
  const have = table(web(three))
  t.same(lines(diff(table(web(three, { scheduler: 'wlc' })), have, ownedAll(have))), ['-E -t 192.0.2.100:80 -s wlc'])
  t.same(lines(diff(table(web(three, { persistent: 300, netmask: '255.255.255.0' })), have, ownedAll(have))),
    ['-E -t 192.0.2.100:80 -s wrr -p 300 -M 255.255.255.0'])
  const persistent = table(web(three, { persistent: 300 }))
  t.same(lines(diff(have, persistent, ownedAll(persistent))), ['-E -t 192.0.2.100:80 -s wrr'], 'removing persistence is an -E without -p')
})

t.test('removals: real server deletes come before service deletes, after adds', async (t) => {
  const have = table(web(three), { ...web([{ address: '192.0.2.21' }]), port: 8080 })
  const want = table(web([three[0], { address: '192.0.2.14' }]))
  t.same(lines(diff(want, have, ownedAll(have))), [
    '-a -t 192.0.2.100:80 -r 192.0.2.14:80 -g -w 1',
    '-d -t 192.0.2.100:80 -r 192.0.2.12:80',
    '-d -t 192.0.2.100:80 -r 192.0.2.13:80',
    '-D -t 192.0.2.100:8080',
  ])
})

t.test('a real server whose port changes (its identity) is an add and a delete', async (t) => {
  const have = table(web([{ address: '192.0.2.11', forwarding: 'nat', port: 8080 }]))
  const want = table(web([{ address: '192.0.2.11', forwarding: 'nat', port: 8081 }]))
  t.same(lines(diff(want, have, ownedAll(have))), [
    '-a -t 192.0.2.100:80 -r 192.0.2.11:8081 -m -w 1',
    '-d -t 192.0.2.100:80 -r 192.0.2.11:8080',
  ])
})

t.test('foreign services and real servers are untouched and reported', async (t) => {
  const have = table(web(three), { protocol: 'udp', address: '192.0.2.200', port: 53, destinations: [{ address: '192.0.2.53' }] })
  const owned = new Set(['tcp/192.0.2.100:80', 'tcp/192.0.2.100:80 -> 192.0.2.11:80', 'tcp/192.0.2.100:80 -> 192.0.2.12:80'])
  const plan = diff(table(web([three[0]])), have, owned)
  t.same(lines(plan), ['-d -t 192.0.2.100:80 -r 192.0.2.12:80'], 'only the owned real server goes')
  t.same(plan.foreign.sort(), [
    'tcp/192.0.2.100:80 -> 192.0.2.13:80', 'udp/192.0.2.200:53', 'udp/192.0.2.200:53 -> 192.0.2.53:53',
  ])
})

t.test('a wanted service that exists but is not ours is a conflict unless adopted', async (t) => {
  const have = table(web(three))
  const want = table(web([{ address: '192.0.2.11', weight: 2 }]))
  const plan = diff(want, have, new Set())
  t.same(plan.ops, [])
  t.same(plan.conflicts, ['tcp/192.0.2.100:80'])
  const adopted = diff(want, have, new Set(), { adopt: true })
  t.same(lines(adopted), [
    '-e -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 2',
  ], 'adopting the service does not delete real servers it did not own')
  t.same(adopted.adopted, ['tcp/192.0.2.100:80', 'tcp/192.0.2.100:80 -> 192.0.2.11:80'])
  t.same(adopted.foreign.sort(), ['tcp/192.0.2.100:80 -> 192.0.2.12:80', 'tcp/192.0.2.100:80 -> 192.0.2.13:80'])
})

t.test('applyOps of a plan gives the desired table (the director view after success)', async (t) => {
  const have = table(web(three), { ...web([]), port: 8080 })
  const want = table(web([{ address: '192.0.2.11', weight: 9 }, { address: '192.0.2.14' }], { scheduler: 'lc' }))
  const after = applyOps(have, diff(want, have, ownedAll(have)).ops)
  t.same(diff(want, after, ownedAll(after)).ops, [])
  t.equal(after.services.length, 1)
})

t.test('a port-0 persistent service diffs like any other: added, then idempotent', async (t) => {
  const want = table(web([{ address: '192.0.2.11' }], { port: 0, persistent: 300, scheduler: 'rr' }))
  const plan = diff(want, table(), new Set())
  t.same(lines(plan), ['-A -t 192.0.2.100:0 -s rr -p 300', '-a -t 192.0.2.100:0 -r 192.0.2.11:0 -g -w 1'])
  t.same(diff(want, applyOps(table(), plan.ops), ownedAll(want)).ops, [])
})
