// createChecker maps each kind to its module; resolveTarget honours the check address and checkport; on/off.
import t from 'tap'
import net from 'node:net'
import { createChecker } from '../../healthchecks/registry.js'
import { resolveTarget } from '../../healthchecks/target.js'
import { parseCheckSpec, CHECK_KINDS } from '../../healthchecks/spec.js'
import { closedTcpPort, listenTcp, probe } from './helpers.js'

const required: Record<string, object> = { dns: { name: 'example.test' }, external: { command: ['/bin/true'] } }

t.test('every kind gets a checker of that kind', async (t) => {
  const guardRouter = { ensure: async () => 1, release: async () => {}, close: async () => {} }
  for (const kind of CHECK_KINDS) {
    const spec = parseCheckSpec({ kind, ...required[kind] })
    const checker = createChecker(spec, { guardRouter })
    t.equal(checker.kind, kind)
    await checker.close?.()
  }
})

t.test('a dr-guard check without the director\'s guard router is a coded error', async (t) => {
  t.throws(() => createChecker(parseCheckSpec({ kind: 'dr-guard' })), { code: 'LVS_ERR_INVALID_CHECK' })
})

t.test('on is always up, off always down', async (t) => {
  const tgt = { address: '192.0.2.1', port: 80, protocol: 'tcp' as const }
  const on = await probe(createChecker(parseCheckSpec({ kind: 'on' })), tgt)
  const off = await probe(createChecker(parseCheckSpec({ kind: 'off' })), tgt)
  t.equal(on.ok, true)
  t.equal(off.ok, false)
  t.equal(off.code, 'off')
})

t.test('resolveTarget: the real server by default, the check address and port when given', async (t) => {
  const virtual = { address: '192.0.2.100', port: 80, protocol: 'tcp' as const }
  const real = { address: '198.51.100.7', port: 8080 }
  t.same(resolveTarget(parseCheckSpec({ kind: 'http' }), real, virtual), {
    address: '198.51.100.7', port: 8080, protocol: 'tcp', virtualAddress: '192.0.2.100', virtualPort: 80, realAddress: '198.51.100.7', realPort: 8080,
  })
  t.match(resolveTarget(parseCheckSpec({ kind: 'http', address: '2001:db8::7', port: 8081 }), real, virtual), {
    address: '2001:db8::7', port: 8081, realAddress: '198.51.100.7', realPort: 8080,
  })
  t.equal(resolveTarget(parseCheckSpec({ kind: 'sip' }), { address: '198.51.100.7', port: 0 }, { address: '1', protocol: 'udp' }).port, 5060, 'fwmark: the kind default')
  t.equal(resolveTarget(parseCheckSpec({ kind: 'connect' }), { address: '198.51.100.7', port: 0 }, { port: 443, protocol: 'tcp' }).port, 443, 'the virtual port')
})

t.test('a check through resolveTarget probes the checkport, not the service port', async (t) => {
  const server = net.createServer((s) => s.destroy())
  const port = await listenTcp(server, '127.0.0.1')
  t.teardown(() => server.close())
  const real = { address: '127.0.0.1', port: await closedTcpPort('127.0.0.1') }
  const virtual = { address: '192.0.2.100', port: real.port, protocol: 'tcp' as const }
  const plain = parseCheckSpec({ kind: 'connect' })
  const withPort = parseCheckSpec({ kind: 'connect', port })
  t.equal((await probe(createChecker(plain), resolveTarget(plain, real, virtual))).code, 'refused')
  t.equal((await probe(createChecker(withPort), resolveTarget(withPort, real, virtual))).ok, true)
})

t.test('a check address other than the real server is probed', async (t) => {
  const server = net.createServer((s) => s.destroy())
  const port = await listenTcp(server, '::1')
  t.teardown(() => server.close())
  const spec = parseCheckSpec({ kind: 'connect', address: '::1' })
  const tgt = resolveTarget(spec, { address: '127.0.0.1', port }, { protocol: 'tcp' })
  t.equal(tgt.address, '::1')
  t.equal((await probe(createChecker(spec), tgt)).ok, true)
})
