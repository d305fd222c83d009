// /v1/services/:name/reals: every route, the admin-state shortcuts, the drain-share limit, and bad `:real` paths.
import t from 'tap'
import { testApi } from '../helpers/fake-control.js'

const v6 = encodeURIComponent('[2001:db8::11]:5060')

t.test('GET reals lists and reads real servers, IPv4 and URL-encoded IPv6, with ETag and 304', async (t) => {
  const { app, control } = testApi(t)
  control.health.set('web|192.0.2.11:80', 'up')
  const list = await app.inject('/v1/services/web/reals')
  t.equal(list.statusCode, 200)
  t.same(list.json().map((r: { key: string }) => r.key), ['192.0.2.11:80', '192.0.2.12:80', '192.0.2.13:80', '192.0.2.14:80'])
  const one = await app.inject('/v1/services/web/reals/192.0.2.11:80')
  t.equal(one.statusCode, 200)
  t.match(one.json(), { address: '192.0.2.11', port: 80, health: { state: 'up' }, effectiveWeight: 1 })
  t.equal(one.headers.etag, one.json().etag)
  t.equal((await app.inject({ url: '/v1/services/web/reals/192.0.2.11:80', headers: { 'if-none-match': `W/${one.headers.etag}` } })).statusCode, 304)
  const bare = await app.inject('/v1/services/web/reals/192.0.2.11')
  t.equal(bare.json().key, '192.0.2.11:80', 'a bare address means the service port')
  const six = await app.inject(`/v1/services/sip6/reals/${v6}`)
  t.equal(six.statusCode, 200)
  t.equal(six.json().address, '2001:db8::11')
  t.equal((await app.inject('/v1/services/web/reals/192.0.2.99:80')).json().code, 'LVS_ERR_NOT_FOUND')
  t.equal((await app.inject('/v1/services/nope/reals')).statusCode, 404)
})

t.test('POST reals adds a real server: 201, Location (URL-encoded key), ETag; twice is 409', async (t) => {
  const { app, control } = testApi(t)
  const res = await app.inject({ method: 'POST', url: '/v1/services/sip6/reals', payload: { address: '2001:db8::12', weight: 3 } })
  t.equal(res.statusCode, 201)
  t.equal(res.headers.location, `/v1/services/sip6/reals/${encodeURIComponent('[2001:db8::12]:5060')}`)
  t.equal(res.json().weight, 3)
  t.equal(res.headers.etag, res.json().etag)
  t.equal(control.table.revision, 2)
  const dup = await app.inject({ method: 'POST', url: '/v1/services/sip6/reals', payload: { address: '2001:0db8::12' } })
  t.equal(dup.statusCode, 409)
  t.equal(dup.json().code, 'LVS_ERR_EXISTS')
  const bad = await app.inject({ method: 'POST', url: '/v1/services/sip6/reals', payload: { address: '10.0.0.300' } })
  t.equal(bad.statusCode, 400)
  const unknown = await app.inject({ method: 'POST', url: '/v1/services/sip6/reals', payload: { address: '2001:db8::13', colour: 'red' } })
  t.equal(unknown.statusCode, 400)
  t.equal(control.table.revision, 2)
})

t.test('PATCH a real server sets its weight; If-Match guards it; address and port are not changed', async (t) => {
  const { app, control } = testApi(t)
  const url = '/v1/services/web/reals/192.0.2.12:80'
  const tag = String((await app.inject(url)).headers.etag)
  const res = await app.inject({ method: 'PATCH', url, payload: JSON.stringify({ weight: 5 }), headers: { 'content-type': 'application/merge-patch+json', 'if-match': tag } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().weight, 5)
  t.equal(control.table.real('web', '192.0.2.12:80').weight, 5)
  const stale = await app.inject({ method: 'PATCH', url, payload: { weight: 7 }, headers: { 'if-match': tag } })
  t.equal(stale.statusCode, 412)
  t.equal(control.table.real('web', '192.0.2.12:80').weight, 5)
  const move = await app.inject({ method: 'PATCH', url, payload: { port: 8080 } })
  t.equal(move.statusCode, 400)
  const type = await app.inject({ method: 'PATCH', url, payload: { weight: 'heavy' } })
  t.equal(type.statusCode, 400)
  t.equal(control.calls.at(-1)!.m.op, 'patch-real')
})

t.test('drain, disable and enable set the admin state; the drain-share limit holds unless ?force=true', async (t) => {
  const { app, control } = testApi(t)
  const base = '/v1/services/web/reals'
  const drained = await app.inject({ method: 'POST', url: `${base}/192.0.2.11:80/drain` })
  t.equal(drained.statusCode, 200)
  t.equal(drained.json().admin, 'draining')
  t.same(control.calls.at(-1)!.m, { op: 'patch-real', name: 'web', real: '192.0.2.11:80', body: { admin: 'draining' } })
  t.equal((await app.inject({ method: 'POST', url: `${base}/192.0.2.12:80/disable` })).json().admin, 'disabled')
  const limited = await app.inject({ method: 'POST', url: `${base}/192.0.2.13:80/drain` })
  t.equal(limited.statusCode, 409)
  t.equal(limited.json().code, 'LVS_ERR_DRAIN_LIMIT')
  t.equal(control.table.real('web', '192.0.2.13:80').admin, 'enabled')
  const forced = await app.inject({ method: 'POST', url: `${base}/192.0.2.13:80/drain?force=true` })
  t.equal(forced.statusCode, 200)
  t.match(control.calls.at(-1)!.m, { op: 'patch-real', force: true })
  t.equal((await app.inject({ method: 'POST', url: `${base}/192.0.2.11:80/enable` })).json().admin, 'enabled')
  t.equal((await app.inject({ method: 'POST', url: `${base}/192.0.2.11:80/drain?force=maybe` })).statusCode, 400)
  const tag = String((await app.inject(`${base}/192.0.2.14:80`)).headers.etag)
  t.equal((await app.inject({ method: 'POST', url: `${base}/192.0.2.14:80/disable?force=1`, headers: { 'if-match': '"old"' } })).statusCode, 412)
  t.equal((await app.inject({ method: 'POST', url: `${base}/192.0.2.14:80/disable?force=1`, headers: { 'if-match': tag } })).statusCode, 200)
})

t.test('DELETE a real server answers 204; a stale If-Match 412', async (t) => {
  const { app, control } = testApi(t)
  const url = `/v1/services/sip6/reals/${v6}`
  t.equal((await app.inject({ method: 'DELETE', url, headers: { 'if-match': '"old"' } })).statusCode, 412)
  t.equal(control.table.service('sip6').destinations.length, 1)
  const res = await app.inject({ method: 'DELETE', url })
  t.equal(res.statusCode, 204)
  t.equal(control.table.service('sip6').destinations.length, 0)
  t.equal((await app.inject({ method: 'DELETE', url })).statusCode, 404)
})

t.test('a bad :real answers 400 LVS_ERR_BAD_REQUEST and changes nothing', async (t) => {
  const { app, control } = testApi(t)
  t.equal((await app.inject('/v1/services/web/reals/192.0.2.11:9999')).statusCode, 404, 'a key no server has')
  for (const real of ['192.0.2.11:99999', 'x;reboot', '10.0.0.300:80', '[::1', encodeURIComponent('$(reboot)'), '192.0.2.11:80:1', 'a'.repeat(81)]) {
    for (const [method, suffix] of [['GET', ''], ['PATCH', ''], ['DELETE', ''], ['POST', '/drain']] as const) {
      const res = await app.inject({ method, url: `/v1/services/web/reals/${real}${suffix}`, ...(method === 'PATCH' ? { payload: { weight: 2 } } : {}) })
      t.equal(res.statusCode, 400, `${method} ${real}${suffix}`)
      t.equal(res.json().code, 'LVS_ERR_BAD_REQUEST')
    }
  }
  t.equal(control.table.revision, 1)
})
