import t from 'tap'
import { normalizeServiceConfig, type DesiredService } from '../../src/config/service.js'
import { mergeConfig } from '../../src/table/reload-merge.js'

const svc = (name: string, port: number, reals: Array<[string, number]>, extra: Record<string, unknown> = {}): DesiredService =>
  normalizeServiceConfig({ name, protocol: 'tcp', address: '192.0.2.100', port, destinations: reals.map(([address, weight]) => ({ address, weight })), ...extra })
const show = (list: DesiredService[]) => list.map((s) => `${s.name}:${s.scheduler}:${s.destinations.map((d) => `${d.address.split('.')[3]}=${d.weight}${d.admin === 'enabled' ? '' : `/${d.admin}`}`).join(',')}`)

t.test('what the file changed is applied; what the API changed is kept', async (t) => {
  const base = [svc('a', 80, [['192.0.2.1', 1], ['192.0.2.2', 1]]), svc('b', 81, [['192.0.2.1', 1]])]
  // The API: added .3 to a, drained .1, set .2's weight; created c; deleted b.
  const current = [
    svc('a', 80, [['192.0.2.1', 1], ['192.0.2.2', 5], ['192.0.2.3', 1]]),
    svc('c', 82, [['192.0.2.9', 1]]),
  ]
  current[0]!.destinations[0]!.admin = 'draining'
  // The file: a's scheduler changed and .2 removed; b unchanged; d added.
  const next = [svc('a', 80, [['192.0.2.1', 1]], { scheduler: 'rr' }), svc('b', 81, [['192.0.2.1', 1]]), svc('d', 83, [['192.0.2.7', 1]])]
  t.same(show(mergeConfig(base, next, current)), ['a:rr:1=1/draining,3=1', 'c:wlc:9=1', 'd:wlc:7=1'])
})

t.test('a real server the file edits takes the file\'s values; one deleted through the API stays deleted', async (t) => {
  const base = [svc('a', 80, [['192.0.2.1', 1], ['192.0.2.2', 1]])]
  const current = [svc('a', 80, [['192.0.2.1', 4]])]
  const next = [svc('a', 80, [['192.0.2.1', 9], ['192.0.2.2', 1]])]
  t.same(show(mergeConfig(base, next, current)), ['a:wlc:1=9'])
})

t.test('an unchanged file changes nothing', async (t) => {
  const base = [svc('a', 80, [['192.0.2.1', 1]])]
  const current = [svc('a', 80, [['192.0.2.1', 3], ['192.0.2.5', 1]]), svc('x', 90, [])]
  t.same(mergeConfig(base, base, current), current)
})

t.test('a file that now names a service the API created wins', async (t) => {
  const current = [svc('n', 80, [['192.0.2.1', 3]])]
  const next = [svc('n', 80, [['192.0.2.2', 1]])]
  t.same(show(mergeConfig([], next, current)), ['n:wlc:2=1'])
})
