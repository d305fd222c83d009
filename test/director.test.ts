import t from 'tap'
import { parseConfig } from '../src/config/load.js'
import { startHarness, webConfig } from './helpers/director-harness.js'

const WEB = 'tcp/192.0.2.100:80'

t.test('real servers enter the kernel at weight 0, then at their weight once their checks pass', async (t) => {
  const h = await startHarness(webConfig())
  t.teardown(h.close)
  t.same(h.weights(WEB), ['192.0.2.11:80=0', '192.0.2.12:80=0', '192.0.2.13:80=0'], 'quiescent while unknown')
  await h.clock.advance(1100)
  t.same(h.weights(WEB), ['192.0.2.11:80=1', '192.0.2.12:80=2', '192.0.2.13:80=1'], 'up after the first probe')
  t.equal(h.director.status().reals.up, 3)
  t.ok(h.director.ready())
})

t.test('a failing real server goes to weight 0 after fall probes, and comes back after rise probes', async (t) => {
  const h = await startHarness(webConfig())
  t.teardown(h.close)
  await h.clock.advance(1100)
  h.alive.set('192.0.2.12', false)
  await h.clock.advance(1000)
  t.same(h.weights(WEB)[1], '192.0.2.12:80=2', 'one failure is not enough (fall 2)')
  await h.clock.advance(1000)
  t.same(h.weights(WEB)[1], '192.0.2.12:80=0', 'quiescent: weight 0')
  const view = await h.director.real('web', '192.0.2.12:80')
  t.equal(view.health.state, 'down')
  t.equal(view.effectiveWeight, 0)
  t.equal(view.health.lastResult?.code, 'refused')
  h.alive.set('192.0.2.12', true)
  await h.clock.advance(2000)
  t.same(h.weights(WEB)[1], '192.0.2.12:80=2', 'back after rise 2')
  const actions = h.director.audit({}).map((e) => `${e.actor} ${e.action} ${e.target}`)
  t.ok(actions.includes('health real down service web real 192.0.2.12:80'), 'the transition is in the audit trail')
})

t.test('quiescent false removes a dead real server; the fallback goes in while all are down and out when one is back', async (t) => {
  const h = await startHarness(webConfig({ quiescent: false, fallback: { address: '192.0.2.99' } }))
  t.teardown(h.close)
  t.same(h.weights(WEB), ['192.0.2.99:80=1'], 'nothing known yet: only the fallback')
  await h.clock.advance(1100)
  t.same(h.weights(WEB), ['192.0.2.11:80=1', '192.0.2.12:80=2', '192.0.2.13:80=1'], 'fallback out once real servers are up')
  for (const a of ['192.0.2.11', '192.0.2.12', '192.0.2.13']) h.alive.set(a, false)
  await h.clock.advance(2000)
  t.same(h.weights(WEB), ['192.0.2.99:80=1'], 'all down: removed, fallback in')
  t.equal((await h.director.service('web')).fallbackActive, true)
  h.alive.set('192.0.2.13', true)
  await h.clock.advance(2000)
  t.same(h.weights(WEB), ['192.0.2.13:80=1'], 'one back: fallback out')
})

t.test('health transitions within the batch window go out as one ipvsadm -R', async (t) => {
  const h = await startHarness(webConfig())
  t.teardown(h.close)
  await h.clock.advance(1100)
  const before = h.kernel.batches.length
  h.alive.set('192.0.2.11', false)
  h.alive.set('192.0.2.13', false)
  await h.clock.advance(2000)
  t.equal(h.kernel.batches.length - before, 1, 'one batch')
  t.same(h.kernel.batches.at(-1), ['-e -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 0', '-e -t 192.0.2.100:80 -r 192.0.2.13:80 -g -w 0'])
})

t.test('an operator change goes to the kernel at once; a health transition waits for the batch window', async (t) => {
  const h = await startHarness(webConfig())
  t.teardown(h.close)
  await h.clock.advance(1100)
  const before = h.kernel.batches.length
  await h.director.change({ op: 'patch-real', name: 'web', real: '192.0.2.12:80', body: { weight: 7 } }, { actor: 'alice' })
  t.equal(h.kernel.batches.length, before + 1, 'in the kernel when the change resolves, the clock not moved')
  t.ok(h.weights(WEB).includes('192.0.2.12:80=7'))
  h.alive.set('192.0.2.11', false)
  const isDown = () => h.director.audit({ limit: 1000 }).some((e) => e.action === 'real down')
  for (let i = 0; i < 3000 && !isDown(); i++) await h.clock.advance(1) // until the transition (fall 2, 1 s apart)
  t.ok(isDown(), 'the transition happened')
  const batches = h.kernel.batches.length
  await h.clock.advance(19)
  t.equal(h.kernel.batches.length, batches, 'not in the kernel within the window')
  await h.clock.advance(1)
  t.equal(h.kernel.batches.length, batches + 1, 'one batch at the end of the window')
  t.ok(h.weights(WEB).includes('192.0.2.11:80=0'))
})

t.test('an API change is persisted before it resolves, audited with the actor, and reaches the kernel', async (t) => {
  const h = await startHarness(webConfig())
  t.teardown(h.close)
  await h.clock.advance(1100)
  const saves = h.saved.length
  const applied = await h.director.change({ op: 'add-real', name: 'web', body: { address: '192.0.2.14', weight: 5 } }, { actor: 'alice' })
  t.equal(h.saved.length, saves + 1, 'saved')
  t.equal(h.saved.at(-1)!.services[0]!.destinations.length, 4)
  t.equal(applied.real?.address, '192.0.2.14')
  const last = h.director.audit({}).at(-1)!
  t.match(last, { actor: 'alice', action: 'add-real', target: 'service web' })
  await h.clock.advance(1100)
  t.ok(h.weights(WEB).includes('192.0.2.14:80=5'), 'in the kernel at its weight once up')
})

t.test('a bad change is refused with a code and changes nothing', async (t) => {
  const h = await startHarness(webConfig())
  t.teardown(h.close)
  const rev = h.director.status().revision
  await t.rejects(h.director.change({ op: 'add-real', name: 'web', body: { address: '10.0.0.300' } }, { actor: 'a' }), { code: 'LVS_ERR_BAD_REQUEST' })
  await t.rejects(h.director.change({ op: 'patch-real', name: 'web', real: '192.0.2.11:80', body: { weight: 3 } }, { actor: 'a', ifMatch: '"stale"' }), { code: 'LVS_ERR_PRECONDITION' })
  await t.rejects(h.director.change({ op: 'delete-service', name: 'nope' }, { actor: 'a' }), { code: 'LVS_ERR_NOT_FOUND' })
  t.equal(h.director.status().revision, rev)
})

t.test('a drain holds weight 0 while connections remain, then removes the real server', async (t) => {
  const h = await startHarness(webConfig({ drainTimeout: 30 }))
  t.teardown(h.close)
  await h.clock.advance(1100)
  h.active.set(`${WEB}|192.0.2.11:80`, 3)
  await h.director.change({ op: 'patch-real', name: 'web', real: '192.0.2.11:80', body: { admin: 'draining' } }, { actor: 'ops' })
  await h.clock.advance(50)
  t.equal(h.weights(WEB)[0], '192.0.2.11:80=0', 'weight 0 while draining')
  t.ok((await h.director.real('web', '192.0.2.11:80')).drain, 'the view shows the drain and its deadline')
  await h.clock.advance(3000)
  t.equal(h.weights(WEB)[0], '192.0.2.11:80=0', 'still there while it has connections')
  h.active.set(`${WEB}|192.0.2.11:80`, 0)
  await h.clock.advance(1100)
  t.same(h.weights(WEB), ['192.0.2.12:80=2', '192.0.2.13:80=1'], 'removed once its connections ended')
  t.match(h.director.audit({}).at(-1), { actor: 'drain', action: 'delete-real' })
})

t.test('a drain ends at its timeout even with connections left', async (t) => {
  const h = await startHarness(webConfig({ drainTimeout: 5 }))
  t.teardown(h.close)
  await h.clock.advance(1100)
  h.active.set(`${WEB}|192.0.2.12:80`, 1)
  await h.director.change({ op: 'patch-real', name: 'web', real: '192.0.2.12:80', body: { admin: 'draining' } }, { actor: 'ops' })
  await h.clock.advance(4000)
  t.equal(h.weights(WEB).length, 3)
  await h.clock.advance(2000)
  t.same(h.weights(WEB), ['192.0.2.11:80=1', '192.0.2.13:80=1'])
})

t.test('a director that may not end drains (a standby) keeps them, and ends them at their first deadline once it may', async (t) => {
  let active = false
  const h = await startHarness(webConfig({ drainTimeout: 5 }), { mayFinishDrains: () => active })
  t.teardown(h.close)
  await h.clock.advance(1100)
  h.active.set(`${WEB}|192.0.2.11:80`, 2)
  await h.director.change({ op: 'patch-real', name: 'web', real: '192.0.2.11:80', body: { admin: 'draining' } }, { actor: 'ops' })
  const since = (await h.director.real('web', '192.0.2.11:80')).drain
  await h.clock.advance(7000)
  t.equal(h.weights(WEB).length, 3, 'its deadline passed: still in the kernel (the active ends it)')
  t.notOk(h.director.audit({}).some((e) => e.actor === 'drain'), 'no drain end written')
  t.same((await h.director.real('web', '192.0.2.11:80')).drain, since, 'the drain is still tracked, with its start')

  active = true // taken over
  await h.clock.advance(1100)
  t.same(h.weights(WEB), ['192.0.2.12:80=2', '192.0.2.13:80=1'], 'ended within one poll of becoming active: the deadline counts from the drain\'s start')
  t.same(h.director.audit({}).filter((e) => e.actor === 'drain').map((e) => [e.action, e.target]), [['delete-real', 'service web real 192.0.2.11:80']], 'one drain end')
})

t.test('no more than maxDrainShare of a service may be out at once', async (t) => {
  const h = await startHarness(webConfig())
  t.teardown(h.close)
  await h.director.change({ op: 'patch-real', name: 'web', real: '192.0.2.11:80', body: { admin: 'disabled' } }, { actor: 'ops' })
  await t.rejects(h.director.change({ op: 'patch-real', name: 'web', real: '192.0.2.12:80', body: { admin: 'draining' } }, { actor: 'ops' }), { code: 'LVS_ERR_DRAIN_LIMIT' })
})

t.test('a restart neither flaps nor flushes: a real server the kernel serves starts up', async (t) => {
  const first = await startHarness(webConfig())
  await first.clock.advance(1100)
  const kernel = structuredClone(first.kernel.table)
  const persisted = first.saved.at(-1)
  await first.close()
  const h = await startHarness(webConfig(), { kernel, persisted })
  t.teardown(h.close)
  t.same(h.weights(WEB), ['192.0.2.11:80=1', '192.0.2.12:80=2', '192.0.2.13:80=1'], 'weights kept at start')
  t.equal(h.kernel.batches.length, 0, 'nothing sent to the kernel')
  await h.clock.advance(3000)
  t.equal(h.kernel.batches.length, 0, 'and nothing after the first probes either')
})

t.test('a reload applies what the file changed and keeps what the API changed', async (t) => {
  const h = await startHarness(webConfig())
  t.teardown(h.close)
  await h.clock.advance(1100)
  await h.director.change({ op: 'add-real', name: 'web', body: { address: '192.0.2.14' } }, { actor: 'api' })
  await h.director.change({ op: 'patch-real', name: 'web', real: '192.0.2.11:80', body: { weight: 7 } }, { actor: 'api' })
  const next = webConfig()
  ;(next.services as Array<{ destinations: Array<Record<string, unknown>> }>)[0]!.destinations[2] = { address: '192.0.2.13', weight: 9 }
  h.nextConfig = parseConfig(next)
  const r = await h.director.reload('signal')
  t.equal(r.changed, 1)
  const reals = (await h.director.service('web')).destinations.map((d) => `${d.address}=${d.weight}`)
  t.same(reals, ['192.0.2.11=7', '192.0.2.12=2', '192.0.2.13=9', '192.0.2.14=1'])
  h.nextConfig = Object.assign(new Error('invalid config x.yaml:3: bad'), { code: 'LVS_ERR_INVALID_CONFIG' })
  await t.rejects(h.director.reload('signal'), { code: 'LVS_ERR_INVALID_CONFIG' })
  t.equal(h.director.status().reload.ok, false, 'a refused reload shows in status')
  t.equal((await h.director.service('web')).destinations.length, 4, 'and changes nothing')
})

t.test('the drift check puts back an owned entry changed by hand', async (t) => {
  const h = await startHarness(webConfig())
  t.teardown(h.close)
  await h.clock.advance(1100)
  h.kernel.table.services[0]!.destinations[1]!.weight = 100
  h.kernel.table.services[0]!.destinations.splice(2, 1)
  await h.director.checkDrift()
  t.same(h.weights(WEB).sort(), ['192.0.2.11:80=1', '192.0.2.12:80=2', '192.0.2.13:80=1'])
  t.equal(h.director.status().kernel.driftRepairs, 1)
})

t.test('a failed apply is retried with backoff and shown in status until it succeeds', async (t) => {
  const h = await startHarness(webConfig())
  t.teardown(h.close)
  h.kernel.rules.push({ match: '192.0.2.12', message: 'Memory allocation problem' })
  await h.clock.advance(1100)
  t.equal(h.director.status().kernel.ok, false)
  t.match(h.director.status().kernel.lastError, { code: 'LVS_ERR_IPVSADM_FAILED' })
  t.ok(h.director.status().kernel.pending > 0)
  // While applies fail, a write does not wait for the next retry to resolve (status says the kernel lags).
  await h.director.change({ op: 'patch-real', name: 'web', real: '192.0.2.11:80', body: { weight: 3 } }, { actor: 'alice' })
  h.kernel.rules.length = 0
  await h.clock.advance(1000)
  t.equal(h.director.status().kernel.ok, true)
  t.same(h.weights(WEB), ['192.0.2.11:80=3', '192.0.2.12:80=2', '192.0.2.13:80=1'])
})

t.test('taking over a service the kernel already serves (restore, reload, API) writes nothing and keeps its weights', async (t) => {
  const first = await startHarness(webConfig())
  await first.clock.advance(1100)
  const kernel = structuredClone(first.kernel.table)
  const table = first.director.exportTable()
  await first.close()
  const h = await startHarness({ services: [] }, { kernel })
  t.teardown(h.close)
  await h.director.restoreTable(table.services, { actor: 'alice' })
  t.same(h.weights(WEB), ['192.0.2.11:80=1', '192.0.2.12:80=2', '192.0.2.13:80=1'], 'weights kept')
  await h.clock.advance(3000)
  t.equal(h.kernel.batches.length, 0, 'nothing sent to the kernel, then or after the first probes')
})
