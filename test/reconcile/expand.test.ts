import t from 'tap'
import { normalizeServiceConfig } from '../../src/config/service.js'
import { effectiveWeight, expandService } from '../../src/reconcile/expand.js'
import type { Health } from '../../healthchecks/state.js'

const svc = (extra: Record<string, unknown> = {}) => normalizeServiceConfig({
  protocol: 'tcp', address: '192.0.2.100', port: 80,
  destinations: [{ address: '192.0.2.11', weight: 3 }, { address: '192.0.2.12', admin: 'draining' }, { address: '192.0.2.13', admin: 'disabled' }],
  ...extra,
})

t.test('effective weight: admin state x health x configured weight', async (t) => {
  const r = (admin: string, weight = 4) => ({ address: '192.0.2.1', port: 80, forwarding: 'dr' as const, weight, upperThreshold: 0, lowerThreshold: 0, admin: admin as 'enabled' })
  const table: Array<[string, Health, boolean, number | null]> = [
    ['enabled', 'up', true, 4], ['enabled', 'up', false, 4],
    ['enabled', 'down', true, 0], ['enabled', 'down', false, null],
    ['enabled', 'unknown', true, 0], ['enabled', 'unknown', false, null],
    ['draining', 'up', true, 0], ['draining', 'down', false, 0],
    ['disabled', 'up', true, 0], ['disabled', 'up', false, null],
  ]
  for (const [admin, health, quiescent, want] of table) t.equal(effectiveWeight(r(admin), health, quiescent), want, `${admin} ${health} quiescent=${quiescent}`)
  t.equal(effectiveWeight(r('enabled', 0), 'up', true), 0, 'a configured weight 0 stays 0')
})

t.test('expand gives the kernel form with effective weights and no director-only fields', async (t) => {
  const e = expandService(svc(), () => 'up')
  t.same(e.service.destinations.map((d) => `${d.address}=${d.weight}`), ['192.0.2.11=3', '192.0.2.12=0', '192.0.2.13=0'])
  t.notOk('check' in e.service || 'name' in e.service || 'quiescent' in e.service)
  t.notOk(e.service.destinations.some((d) => 'admin' in d))
  t.same([...e.weights], [['192.0.2.11:80', 3], ['192.0.2.12:80', 0], ['192.0.2.13:80', 0]])
})

t.test('the fallback goes in only while no real server has weight > 0', async (t) => {
  const s = svc({ fallback: { address: '192.0.2.99', weight: 2 }, quiescent: false })
  const down = expandService(s, () => 'down')
  t.equal(down.fallbackActive, true)
  t.same(down.service.destinations.map((d) => `${d.address}=${d.weight}`), ['192.0.2.12=0', '192.0.2.99=2'], 'draining stays at 0, fallback in')
  const up = expandService(s, (k) => (k === '192.0.2.11:80' ? 'up' : 'down'))
  t.equal(up.fallbackActive, false)
  t.notOk(up.service.destinations.some((d) => d.address === '192.0.2.99'))
})
