// Heartbeat settings: defaults, canonical paths, the key from a file.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { heartbeatConfig, readHeartbeatKey } from '../../src/ha/heartbeat-config.js'

const state = { node: 'a', role: 'active', epoch: 0, priority: 100 }

t.test('defaults and canonical addresses', async (t) => {
  const c = heartbeatConfig({ paths: [{ local: '192.0.2.1', peer: '192.0.2.2' }, { name: 'vip', local: '[2001:DB8::1]:7000', peer: '[2001:db8:0::2]:7000' }], key: 'k'.repeat(16), state })
  t.same(c.paths, [
    { name: '192.0.2.1:694->192.0.2.2:694', family: 'inet', localAddress: '192.0.2.1', localPort: 694, peerAddress: '192.0.2.2', peerPort: 694 },
    { name: 'vip', family: 'inet6', localAddress: '2001:db8::1', localPort: 7000, peerAddress: '2001:db8::2', peerPort: 7000 },
  ])
  t.match(c, { cluster: 'lvs-director', intervalMs: 50, deadIntervalMs: 150, stallLimitMs: 2000, state })
  t.equal(heartbeatConfig({ paths: [{ local: '192.0.2.1', peer: '192.0.2.2' }], key: 'k'.repeat(16), state, intervalMs: 100 }).deadIntervalMs, 300)
  t.throws(() => heartbeatConfig({ paths: [{ local: '192.0.2.1', peer: '0.0.0.0' }], key: 'k'.repeat(16), state }), { code: 'LVS_ERR_HEARTBEAT_CONFIG' })
  t.throws(() => heartbeatConfig({ paths: [{ local: '192.0.2.1', peer: '192.0.2.2' }], key: 'k'.repeat(16), state: { ...state, extra: 1 } as typeof state }), { code: 'LVS_ERR_HEARTBEAT_CONFIG' })
})

t.test('a key file: its bytes without one trailing newline, at least 16 of them', async (t) => {
  const dir = t.testdir({})
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text)
    return join(dir, name)
  }
  t.same(Buffer.from(await readHeartbeatKey(file('good', 'sixteen bytes ok\n'))).toString(), 'sixteen bytes ok')
  t.same(Buffer.from(await readHeartbeatKey(file('crlf', 'sixteen bytes ok\r\n'))).toString(), 'sixteen bytes ok')
  await t.rejects(readHeartbeatKey(file('short', 'fifteen bytes..\n')), { code: 'LVS_ERR_HEARTBEAT_KEY' })
  await t.rejects(readHeartbeatKey(join(dir, 'missing')), { code: 'LVS_ERR_FILE_READ' })
})
