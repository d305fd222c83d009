import t from 'tap'
import { normalizeServiceConfig } from '../../src/config/service.js'
import { DesiredTable, etag, mergePatch, parseRealKey, sameContent } from '../../src/table/desired-table.js'

const table = () => new DesiredTable([normalizeServiceConfig({
  name: 'web', protocol: 'tcp', address: '192.0.2.100', port: 80,
  destinations: [{ address: '192.0.2.11' }, { address: '192.0.2.12' }, { address: '192.0.2.13' }, { address: '192.0.2.14' }],
})], 7, { checks: {}, maxDrainShare: 0.5 })

t.test('create, patch, replace and delete with revisions and touched services', async (t) => {
  const tb = table()
  const created = tb.apply({ op: 'create-service', body: { protocol: 'udp', address: '2001:db8::100', port: 5060, profile: 'sip' } })
  t.equal(created.service?.name, 'udp-2001-db8--100-5060')
  t.equal(created.revision, 8)
  const patched = tb.apply({ op: 'patch-service', name: 'web', body: { scheduler: 'rr' } }, etag(tb.service('web')))
  t.equal(patched.service?.scheduler, 'rr')
  t.equal(patched.touched.length, 1)
  const same = tb.apply({ op: 'patch-service', name: 'web', body: { scheduler: 'rr' } })
  t.equal(same.revision, 9, 'a change that changes nothing keeps the revision')
  t.equal(same.touched.length, 0)
  tb.apply({ op: 'delete-service', name: 'udp-2001-db8--100-5060' })
  t.same(tb.list().map((s) => s.name), ['web'])
})

t.test('refusals: duplicate, kernel identity clash, stale ETag, rename, unknown field, bad real key', async (t) => {
  const tb = table()
  const rev = tb.revision
  t.throws(() => tb.apply({ op: 'create-service', body: { name: 'web', protocol: 'tcp', address: '192.0.2.1', port: 80 } }), { code: 'LVS_ERR_EXISTS' })
  t.throws(() => tb.apply({ op: 'create-service', body: { name: 'other', protocol: 'tcp', address: '192.0.2.100', port: 80 } }), { code: 'LVS_ERR_EXISTS', message: /as web/ })
  t.throws(() => tb.apply({ op: 'patch-service', name: 'web', body: { scheduler: 'rr' } }, '"nope"'), { code: 'LVS_ERR_PRECONDITION' })
  t.throws(() => tb.apply({ op: 'patch-service', name: 'web', body: { name: 'x' } }), { code: 'LVS_ERR_BAD_REQUEST' })
  t.throws(() => tb.apply({ op: 'patch-service', name: 'web', body: { colour: 'red' } }), { code: 'LVS_ERR_BAD_REQUEST', message: /colour/ })
  t.throws(() => tb.apply({ op: 'add-real', name: 'web', body: { address: '192.0.2.11' } }), { code: 'LVS_ERR_EXISTS' })
  t.throws(() => tb.apply({ op: 'patch-real', name: 'web', real: 'x;reboot', body: {} }), { code: 'LVS_ERR_BAD_REQUEST' })
  t.throws(() => tb.apply({ op: 'patch-real', name: 'web', real: '192.0.2.11:80', body: { address: '192.0.2.99' } }), { code: 'LVS_ERR_BAD_REQUEST' })
  t.equal(tb.revision, rev, 'nothing changed')
})

t.test('real servers by key, bare address or IPv6; drain share limit, forced past', async (t) => {
  const tb = table()
  t.equal(parseRealKey('192.0.2.11', tb.service('web')), '192.0.2.11:80')
  t.equal(parseRealKey('[2001:DB8::0011]:80', tb.service('web')), '[2001:db8::11]:80')
  tb.apply({ op: 'patch-real', name: 'web', real: '192.0.2.11', body: { admin: 'draining' } })
  tb.apply({ op: 'patch-real', name: 'web', real: '192.0.2.12:80', body: { admin: 'disabled' } })
  t.throws(() => tb.apply({ op: 'patch-real', name: 'web', real: '192.0.2.13:80', body: { admin: 'draining' } }), { code: 'LVS_ERR_DRAIN_LIMIT' })
  t.equal(tb.apply({ op: 'patch-real', name: 'web', real: '192.0.2.13:80', body: { admin: 'draining' }, force: true }).real?.admin, 'draining')
})

t.test('merge patch: null deletes, objects merge, __proto__ ignored', async (t) => {
  t.same(mergePatch({ a: 1, b: { c: 1, d: 2 } }, { a: null, b: { d: 3 } }), { b: { c: 1, d: 3 } })
  const out = mergePatch({}, JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>)
  t.equal(({} as Record<string, unknown>).polluted, undefined)
  t.same(out, {})
})

t.test('sameContent agrees with etag: absent and undefined fields alike, key order ignored, any other difference counts', async (t) => {
  const pairs: Array<[unknown, unknown]> = [
    [{ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }],
    [{ a: 1, u: undefined }, { a: 1 }],
    [{ a: 1 }, { a: 2 }],
    [{ a: 1 }, { b: 1 }],
    [[1, 2], [2, 1]],
    [{ a: [] }, { a: {} }],
    [{ a: null }, { a: undefined }],
    ['1', 1],
  ]
  for (const [a, b] of pairs) t.equal(sameContent(a, b), etag(a) === etag(b), JSON.stringify([a, b]))
})
