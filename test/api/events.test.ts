// The status page's API: `GET /v1/session` says who a token is; `GET /v1/events` streams the live state as
// server-sent events over a real socket: one event at once, another at once when the audit trail moves (well
// before the periodic refresh), the same auth as every route, and the stream ends when the API closes. `GET /`
// serves the page without a token, its script allowed by hash only.
import t from 'tap'
import { request } from 'undici'
import { buildApi } from '../../src/api/app.js'
import type { LiveState } from '../../src/api/events.js'
import { createFakeControl, SAMPLE } from '../helpers/fake-control.js'

const tokens = [
  { name: 'ops', token: 'admin-token-0123456789abcdef', role: 'admin' as const },
  { name: 'viewer', token: 'read-token-0123456789abcdef0', role: 'read' as const },
]
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('GET /v1/session: the token\'s name and role; none configured: local admin', async (t) => {
  const app = buildApi({ control: createFakeControl(SAMPLE), tokens, version: 'test' })
  t.teardown(() => app.close())
  t.same((await app.inject({ url: '/v1/session', headers: bearer(tokens[0]!.token) })).json(), { actor: 'ops', role: 'admin' })
  t.same((await app.inject({ url: '/v1/session', headers: bearer(tokens[1]!.token) })).json(), { actor: 'viewer', role: 'read' })
  t.equal((await app.inject({ url: '/v1/session', headers: bearer('wrong-token-0123456789abcdef') })).statusCode, 401)
  const open = buildApi({ control: createFakeControl(SAMPLE), tokens: [], version: 'test' })
  t.teardown(() => open.close())
  t.same((await open.inject('/v1/session')).json(), { actor: 'local', role: 'admin' })
})

t.test('GET / serves the page without a token, and only its own script may run', async (t) => {
  const app = buildApi({ control: createFakeControl(SAMPLE), tokens, version: 'test' })
  t.teardown(() => app.close())
  const res = await app.inject('/')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/html/)
  t.match(res.body, /<title>lvs-director<\/title>/)
  const csp = String(res.headers['content-security-policy'])
  t.match(csp, /default-src 'none'; script-src 'sha256-[A-Za-z0-9+/]+=*';/, 'scripts by hash only')
  t.notMatch(res.body, /<script src=|<link /, 'no external asset')
})

t.test('GET /v1/events: a state at once, another at once on a change, the same auth, ended by close', async (t) => {
  const control = createFakeControl(SAMPLE)
  const app = buildApi({ control, tokens, version: 'test' })
  let closed = false
  t.teardown(() => (closed ? undefined : app.close()))
  const base = await app.listen({ host: '127.0.0.1', port: 0 })

  const refused = await request(`${base}/v1/events`)
  t.equal(refused.statusCode, 401, 'no token: refused like every route')
  await refused.body.dump()

  const res = await request(`${base}/v1/events`, { headers: bearer(tokens[1]!.token) })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/event-stream/)
  let buf = ''
  const events: LiveState[] = []
  const waiting: Array<() => void> = []
  res.body.setEncoding('utf8')
  res.body.on('data', (c: string) => {
    buf += c
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const data = buf.slice(0, i).split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n')
      buf = buf.slice(i + 2)
      if (data) events.push(JSON.parse(data) as LiveState)
    }
    for (const w of waiting.splice(0)) w()
  })
  const ended = new Promise<void>((resolve) => res.body.on('end', resolve).on('close', resolve))
  const next = (n: number) => new Promise<LiveState>((resolve) => {
    const check = () => (events.length >= n ? resolve(events[n - 1]!) : waiting.push(check))
    check()
  })

  const first = await next(1)
  t.same(first.services.map((s) => s.name), SAMPLE.map((s) => (s as { name: string }).name), 'every service')
  t.ok(first.services[0]!.destinations.length > 0, 'with its real servers')
  t.match(first.status, { role: 'single', revision: 1 })

  // A change made elsewhere (here: through the API with the admin token) is pushed at once, not at the next second.
  const writeAt = Date.now()
  const w = await request(`${base}/v1/services/web/reals/192.0.2.11:80/disable?force=true`, { method: 'POST', headers: bearer(tokens[0]!.token) })
  t.equal(w.statusCode, 200)
  await w.body.dump()
  let seen: LiveState
  do seen = await next(events.length + 1)
  while (!seen.audit.some((e) => e.action === 'patch-real'))
  t.match(seen.audit.at(-1), { actor: 'ops', action: 'patch-real' }, 'the change, in the audit tail')
  t.equal(seen.services[0]!.destinations.find((r) => r.key === '192.0.2.11:80')?.admin, 'disabled', 'and in the state')
  t.comment(`pushed ${Date.parse(seen.at) - writeAt} ms after the write`)

  closed = true
  await app.close()
  await ended
  t.pass('the stream ended with the API')
})
