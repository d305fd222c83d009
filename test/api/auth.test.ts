// Bearer tokens and roles: who may read, who may write, what stays open, and the actor each change is audited as.
import t from 'tap'
import { tokenMatcher } from '../../src/api/auth.js'
import { ADMIN, READER, testApi } from '../helpers/fake-control.js'

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('with tokens, a request without a valid token is 401 with WWW-Authenticate: Bearer', async (t) => {
  const { app, control } = testApi(t, { tokens: [ADMIN, READER] })
  for (const headers of [{}, bearer('wrong-token-0123456789'), { authorization: ADMIN.token }, { authorization: `Basic ${ADMIN.token}` }, bearer(`${ADMIN.token}x`), bearer('')]) {
    for (const [method, url] of [['GET', '/v1/services'], ['POST', '/v1/services/web/reals/192.0.2.11:80/drain'], ['GET', '/metrics'], ['GET', '/v1/nope']] as const) {
      const res = await app.inject({ method, url, headers })
      t.equal(res.statusCode, 401, `${method} ${url} ${JSON.stringify(headers)}`)
      t.equal(res.json().code, 'LVS_ERR_UNAUTHORIZED')
      t.match(res.headers['www-authenticate'], /^Bearer/)
    }
  }
  t.equal(control.calls.length, 0)
})

t.test('a read token reads (metrics too) and gets 403 on every write', async (t) => {
  const { app, control } = testApi(t, { tokens: [ADMIN, READER] })
  for (const url of ['/v1/services', '/v1/services/web', '/v1/status', '/v1/audit', '/v1/table', '/metrics', '/v1/openapi.json']) {
    t.equal((await app.inject({ url, headers: bearer(READER.token) })).statusCode, 200, url)
  }
  const writes = [
    ['POST', '/v1/services'], ['PUT', '/v1/services/web'], ['PATCH', '/v1/services/web'], ['DELETE', '/v1/services/web'],
    ['POST', '/v1/services/web/reals'], ['PATCH', '/v1/services/web/reals/192.0.2.11:80'], ['DELETE', '/v1/services/web/reals/192.0.2.11:80'],
    ['POST', '/v1/services/web/reals/192.0.2.11:80/drain'], ['POST', '/v1/services/web/reals/192.0.2.11:80/enable'],
    ['POST', '/v1/services/web/reals/192.0.2.11:80/disable'], ['POST', '/v1/reload'], ['PUT', '/v1/table'],
  ] as const
  for (const [method, url] of writes) {
    const res = await app.inject({ method, url, headers: bearer(READER.token), payload: {} })
    t.equal(res.statusCode, 403, `${method} ${url}`)
    t.equal(res.json().code, 'LVS_ERR_FORBIDDEN')
  }
  t.equal(control.calls.length, 0)
  t.equal(control.table.revision, 1)
})

t.test("an admin token writes, and the change is made in the token's name", async (t) => {
  const { app, control } = testApi(t, { tokens: [ADMIN, READER] })
  const res = await app.inject({ method: 'POST', url: '/v1/services/web/reals/192.0.2.11:80/drain', headers: { authorization: `bearer  ${ADMIN.token}` } })
  t.equal(res.statusCode, 200)
  t.equal(control.calls[0]!.actor, 'ops')
  const reload = await app.inject({ method: 'POST', url: '/v1/reload', headers: bearer(ADMIN.token) })
  t.equal(reload.statusCode, 200)
  t.match((await app.inject({ url: '/v1/audit', headers: bearer(ADMIN.token) })).json().entries, [{ actor: 'ops' }, { actor: 'ops', action: 'reload' }])
})

t.test('/healthz and /readyz stay open with tokens configured', async (t) => {
  const { app } = testApi(t, { tokens: [ADMIN] })
  t.equal((await app.inject('/healthz')).statusCode, 200)
  t.equal((await app.inject('/readyz')).statusCode, 200)
})

t.test('without tokens everything is open and the actor is local', async (t) => {
  const { app, control } = testApi(t)
  t.equal((await app.inject({ method: 'POST', url: '/v1/services/web/reals/192.0.2.11:80/disable', headers: bearer('anything') })).statusCode, 200)
  t.equal(control.calls[0]!.actor, 'local')
  t.equal((await app.inject('/metrics')).statusCode, 200)
})

t.test('the matcher finds the token by its hash and ignores anything that is not a bearer token', async (t) => {
  const match = tokenMatcher([ADMIN, READER])
  t.equal(match(`Bearer ${READER.token}`)?.name, 'grafana')
  t.equal(match(`BEARER ${ADMIN.token}`)?.name, 'ops')
  t.equal(match(undefined), undefined)
  t.equal(match(['Bearer', ADMIN.token]), undefined)
  t.equal(match(`Bearer ${ADMIN.token} extra`), undefined)
  t.equal(tokenMatcher([])(`Bearer ${ADMIN.token}`), undefined)
})
