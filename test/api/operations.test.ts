// The director as a whole: status, audit, reload, table export and restore, liveness and readiness.
import t from 'tap'
import { testApi } from '../helpers/fake-control.js'

t.test('GET /v1/status answers the director state', async (t) => {
  const { app, control } = testApi(t)
  control.health.set('web|192.0.2.11:80', 'up')
  const res = await app.inject('/v1/status')
  t.equal(res.statusCode, 200)
  t.match(res.json(), { role: 'single', revision: 1, services: 2, reals: { up: 1, unknown: 4 }, kernel: { ok: true, driftRepairs: 2 }, reload: { ok: true } })
})

t.test('GET /v1/audit pages with after and limit; bad numbers are 400', async (t) => {
  const { app } = testApi(t)
  for (const n of [11, 12, 13]) await app.inject({ method: 'POST', url: `/v1/services/web/reals/192.0.2.${n}:80/disable?force=true` })
  const all = (await app.inject('/v1/audit')).json().entries
  t.same(all.map((e: { seq: number }) => e.seq), [1, 2, 3])
  t.match(all[0], { actor: 'local', action: 'patch-real', target: 'service web' })
  t.same((await app.inject('/v1/audit?after=1&limit=1')).json().entries.map((e: { seq: number }) => e.seq), [2])
  for (const q of ['after=-1', 'limit=0', 'limit=1001', 'after=x']) {
    const res = await app.inject(`/v1/audit?${q}`)
    t.equal(res.statusCode, 400, q)
    t.equal(res.json().code, 'LVS_ERR_BAD_REQUEST')
  }
})

t.test('POST /v1/reload re-reads the config and says what changed', async (t) => {
  const { app, control } = testApi(t)
  t.same((await app.inject({ method: 'POST', url: '/v1/reload' })).json(), { revision: 1, changed: 0 })
  control.configFile = control.configFile.slice(0, 1)
  t.same((await app.inject({ method: 'POST', url: '/v1/reload' })).json(), { revision: 2, changed: 1 })
  control.configFile = [{ protocol: 'tcp', address: '10.0.0.300', port: 80 }]
  const bad = await app.inject({ method: 'POST', url: '/v1/reload' })
  t.equal(bad.statusCode, 400)
  t.match(bad.json(), { code: /^LVS_ERR_/ })
  t.equal(control.table.revision, 2)
})

t.test('GET /v1/table exports with an ETag; PUT restores it under If-Match', async (t) => {
  const { app, control } = testApi(t)
  const exported = await app.inject('/v1/table')
  t.equal(exported.statusCode, 200)
  t.equal(exported.headers.etag, '"r1"')
  t.same(exported.json().services.map((s: { name: string }) => s.name), ['web', 'sip6'])
  t.equal((await app.inject({ url: '/v1/table', headers: { 'if-none-match': '"r1"' } })).statusCode, 304)

  const backup = exported.json()
  await app.inject({ method: 'DELETE', url: '/v1/services/sip6' })
  const stale = await app.inject({ method: 'PUT', url: '/v1/table', payload: backup, headers: { 'if-match': '"r1"' } })
  t.equal(stale.statusCode, 412)
  t.equal(stale.json().code, 'LVS_ERR_PRECONDITION')
  t.equal(control.table.list().length, 1)
  const restored = await app.inject({ method: 'PUT', url: '/v1/table', payload: backup, headers: { 'if-match': '"r2"' } })
  t.equal(restored.statusCode, 200)
  t.equal(restored.headers.etag, '"r3"')
  t.same(restored.json().services.map((s: { name: string }) => s.name), ['web', 'sip6'])
  t.equal((await app.inject({ method: 'PUT', url: '/v1/table', payload: { services: [] }, headers: { 'if-match': '*' } })).statusCode, 200)
  t.equal(control.table.list().length, 0)
})

t.test('PUT /v1/table refuses unknown fields, a missing list and bad services, changing nothing', async (t) => {
  const { app, control } = testApi(t)
  for (const payload of [{ services: [], extra: 1 }, {}, { services: 'all' }, { services: [{ protocol: 'tcp', address: '10.0.0.300', port: 80 }] }, { services: [{ protocol: 'tcp', address: '192.0.2.1', port: 80, x: 1 }] }]) {
    const res = await app.inject({ method: 'PUT', url: '/v1/table', payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.match(res.json(), { code: /^LVS_ERR_/ })
  }
  t.equal(control.table.revision, 1)
  t.equal(control.table.list().length, 2)
})

t.test('/healthz answers 200; /readyz 503 LVS_ERR_NOT_READY until the director is ready', async (t) => {
  const { app, control } = testApi(t)
  t.same((await app.inject('/healthz')).json(), { ok: true })
  control.setReady(false)
  const res = await app.inject('/readyz')
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'LVS_ERR_NOT_READY')
  t.equal((await app.inject('/healthz')).statusCode, 200)
  control.setReady(true)
  t.equal((await app.inject('/readyz')).statusCode, 200)
})
