// /v1/services: every route, ETags and If-Match, and bad input that must answer 400 and change nothing.
import t from 'tap'
import { testApi } from '../helpers/fake-control.js'

const json = { 'content-type': 'application/json' }
const NEW = { name: 'pbs', protocol: 'tcp', address: '192.0.2.200', port: 15001, destinations: [{ address: '192.0.2.21' }] }

t.test('GET /v1/services lists every service with its real servers', async (t) => {
  const { app } = testApi(t)
  const res = await app.inject('/v1/services')
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.same(body.map((s: { name: string }) => s.name), ['web', 'sip6'])
  t.equal(body[0].address, '192.0.2.100')
  t.equal(body[0].key, 'tcp/192.0.2.100:80')
  t.equal(body[0].destinations.length, 4)
  t.equal(body[1].destinations[0].key, '[2001:db8::11]:5060')
})

t.test('GET /v1/services/:name answers the service with its ETag, and 304 to a matching If-None-Match', async (t) => {
  const { app } = testApi(t)
  const res = await app.inject('/v1/services/web')
  t.equal(res.statusCode, 200)
  t.equal(res.headers.etag, res.json().etag)
  const again = await app.inject({ url: '/v1/services/web', headers: { 'if-none-match': String(res.headers.etag) } })
  t.equal(again.statusCode, 304)
  t.equal(again.body, '')
  const other = await app.inject({ url: '/v1/services/web', headers: { 'if-none-match': '"other"' } })
  t.equal(other.statusCode, 200)
  const missing = await app.inject('/v1/services/nope')
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'LVS_ERR_NOT_FOUND')
})

t.test('POST /v1/services creates a service: 201, Location, ETag; a second time 409', async (t) => {
  const { app, control } = testApi(t)
  const res = await app.inject({ method: 'POST', url: '/v1/services', payload: NEW })
  t.equal(res.statusCode, 201)
  t.equal(res.headers.location, '/v1/services/pbs')
  t.equal(res.headers.etag, res.json().etag)
  t.equal(res.json().check.kind, 'pbs', 'the check is guessed from the port as ldirectord does')
  t.equal(control.table.revision, 2)
  t.equal(control.calls[0]!.actor, 'local')
  const dup = await app.inject({ method: 'POST', url: '/v1/services', payload: NEW })
  t.equal(dup.statusCode, 409)
  t.equal(dup.json().code, 'LVS_ERR_EXISTS')
  t.equal(control.table.revision, 2)
})

t.test('PUT /v1/services/:name replaces the service; a stale If-Match gives 412 and changes nothing', async (t) => {
  const { app, control } = testApi(t)
  const before = await app.inject('/v1/services/web')
  const tag = String(before.headers.etag)
  const body = { protocol: 'tcp', address: '192.0.2.100', port: 80, scheduler: 'rr', destinations: [{ address: '192.0.2.11' }] }
  const res = await app.inject({ method: 'PUT', url: '/v1/services/web', payload: body, headers: { 'if-match': tag } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().scheduler, 'rr')
  t.equal(res.json().destinations.length, 1)
  t.not(res.headers.etag, tag)
  const revision = control.table.revision
  const stale = await app.inject({ method: 'PUT', url: '/v1/services/web', payload: { ...body, scheduler: 'wlc' }, headers: { 'if-match': tag } })
  t.equal(stale.statusCode, 412)
  t.equal(stale.json().code, 'LVS_ERR_PRECONDITION')
  t.equal(control.table.revision, revision)
  t.equal(control.table.service('web').scheduler, 'rr')
  const renamed = await app.inject({ method: 'PUT', url: '/v1/services/web', payload: { ...body, name: 'other' } })
  t.equal(renamed.statusCode, 400)
  const absent = await app.inject({ method: 'PUT', url: '/v1/services/nope', payload: body })
  t.equal(absent.statusCode, 404)
})

t.test('PATCH /v1/services/:name is a merge patch, as application/merge-patch+json or application/json', async (t) => {
  const { app, control } = testApi(t)
  const res = await app.inject({
    method: 'PATCH', url: '/v1/services/web', payload: JSON.stringify({ persistent: 300 }),
    headers: { 'content-type': 'application/merge-patch+json' },
  })
  t.equal(res.statusCode, 200)
  t.equal(res.json().persistent, 300)
  const res2 = await app.inject({ method: 'PATCH', url: '/v1/services/web', payload: { persistent: null, scheduler: 'sh' }, headers: { ...json, 'if-match': String(res.headers.etag) } })
  t.equal(res2.statusCode, 200)
  t.equal(res2.json().persistent, undefined, 'null removes a field')
  t.equal(res2.json().scheduler, 'sh')
  const revision = control.table.revision
  const stale = await app.inject({ method: 'PATCH', url: '/v1/services/web', payload: { scheduler: 'rr' }, headers: { 'if-match': String(res.headers.etag) } })
  t.equal(stale.statusCode, 412)
  t.equal(control.table.revision, revision)
  const reals = await app.inject({ method: 'PATCH', url: '/v1/services/web', payload: { destinations: [] } })
  t.equal(reals.statusCode, 400)
})

t.test('DELETE /v1/services/:name answers 204 and the service is gone', async (t) => {
  const { app, control } = testApi(t)
  const stale = await app.inject({ method: 'DELETE', url: '/v1/services/web', headers: { 'if-match': '"stale"' } })
  t.equal(stale.statusCode, 412)
  t.ok(control.table.get('web'))
  const res = await app.inject({ method: 'DELETE', url: '/v1/services/web', headers: { 'if-match': '*' } })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  t.equal((await app.inject('/v1/services/web')).statusCode, 404)
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/services/web' })).statusCode, 404)
})

t.test('bad input answers 400 (or 413/415) with a code and changes nothing', async (t) => {
  const { app, control } = testApi(t)
  const cases: Array<[string, { method: 'POST' | 'PUT' | 'PATCH'; url: string; payload?: string; headers?: Record<string, string> }, number]> = [
    ['bad JSON', { method: 'POST', url: '/v1/services', payload: '{"protocol": tcp' }, 400],
    ['an empty JSON body', { method: 'POST', url: '/v1/services', payload: '' }, 400],
    ['no body', { method: 'POST', url: '/v1/services', headers: {} }, 400],
    ['an array', { method: 'POST', url: '/v1/services', payload: '[]' }, 400],
    ['a string', { method: 'POST', url: '/v1/services', payload: '"web"' }, 400],
    ['null', { method: 'POST', url: '/v1/services', payload: 'null' }, 400],
    ['an address like 10.0.0.300', { method: 'POST', url: '/v1/services', payload: JSON.stringify({ ...NEW, address: '10.0.0.300' }) }, 400],
    ['a real server like 10.0.0.300', { method: 'POST', url: '/v1/services', payload: JSON.stringify({ ...NEW, destinations: [{ address: '10.0.0.300' }] }) }, 400],
    ['an unknown field', { method: 'POST', url: '/v1/services', payload: JSON.stringify({ ...NEW, colour: 'blue' }) }, 400],
    ['an unknown field in a patch', { method: 'PATCH', url: '/v1/services/web', payload: '{"colour":"blue"}' }, 400],
    ['a port of the wrong type', { method: 'POST', url: '/v1/services', payload: JSON.stringify({ ...NEW, port: '80' }) }, 400],
    ['a weight out of range', { method: 'POST', url: '/v1/services', payload: JSON.stringify({ ...NEW, destinations: [{ address: '192.0.2.9', weight: 70000 }] }) }, 400],
    ['a __proto__ key', { method: 'POST', url: '/v1/services', payload: '{"__proto__":{"admin":true},"protocol":"tcp"}' }, 400],
    ['a constructor.prototype key', { method: 'PATCH', url: '/v1/services/web', payload: '{"constructor":{"prototype":{"x":1}}}' }, 400],
    ['a bad If-Match', { method: 'PATCH', url: '/v1/services/web', payload: '{"scheduler":"rr"}', headers: { ...json, 'if-match': 'not-a-tag' } }, 400],
    ['a bad service name', { method: 'PUT', url: '/v1/services/a%20b', payload: '{}' }, 400],
    ['text/plain', { method: 'POST', url: '/v1/services', payload: 'protocol=tcp', headers: { 'content-type': 'text/plain' } }, 415],
    ['a body over 1 MiB', { method: 'POST', url: '/v1/services', payload: JSON.stringify({ name: 'x'.repeat(1024 * 1024) }) }, 413],
  ]
  for (const [what, req, status] of cases) {
    const res = await app.inject({ ...req, headers: req.headers ?? json })
    t.equal(res.statusCode, status, what)
    const body = res.json()
    t.match(body, { code: /^LVS_ERR_/, message: String }, `${what}: a coded body (${body.message})`)
    t.equal(control.table.revision, 1, `${what}: nothing changed`)
  }
  t.equal(({} as Record<string, unknown>).admin, undefined, 'no prototype was polluted')
})

t.test('unknown routes and methods answer 404 LVS_ERR_NOT_FOUND', async (t) => {
  const { app } = testApi(t)
  for (const [method, url] of [['GET', '/v2/services'], ['GET', '/index.html'], ['POST', '/v1/status'], ['DELETE', '/v1/services']] as const) {
    const res = await app.inject({ method, url })
    t.equal(res.statusCode, 404, `${method} ${url}`)
    t.equal(res.json().code, 'LVS_ERR_NOT_FOUND')
  }
})
