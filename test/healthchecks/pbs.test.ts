// The pbs check: the server port on 127.0.0.1 and ::1, plus an optional status command.
import t from 'tap'
import net from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createPbsChecker } from '../../healthchecks/pbs.js'
import { parseCheckSpec, type PbsCheckSpec } from '../../healthchecks/spec.js'
import { resolveTarget } from '../../healthchecks/target.js'
import { FAMILIES, closedTcpPort, listenTcp, probe, probeAbortedAfter, target } from './helpers.js'
import { readPids, waitGone } from './process.js'

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))
const checker = (extra: object = {}, deps = {}) => createPbsChecker(parseCheckSpec({ kind: 'pbs', ...extra }) as PbsCheckSpec, deps)

t.test('the PBS port defaults to 15001', async (t) => {
  const spec = parseCheckSpec({ kind: 'pbs' })
  t.equal(resolveTarget(spec, { address: '192.0.2.5', port: 0 }, { protocol: 'tcp' }).port, 15001)
})

for (const host of FAMILIES) {
  t.test(`PBS on ${host}`, async (t) => {
    const server = net.createServer((s) => s.destroy())
    const port = await listenTcp(server, host)
    t.teardown(() => server.close())

    t.test('a listening server port is up', async (t) => {
      const r = await probe(checker(), target(host, port))
      t.equal(r.ok, true)
      t.equal(r.message, 'connected')
    })
    t.test('a closed server port is down', async (t) => {
      const r = await probe(checker(), target(host, await closedTcpPort(host)))
      t.equal(r.code, 'refused')
    })
    t.test('the status command runs after the connect, with {address} and {port} filled in', async (t) => {
      const r = await probe(checker({ command: [fixture('check-pass.sh'), '-B', '{address}:{port}'] }), target(host, port))
      t.equal(r.ok, true)
      t.equal(r.message, `connected, exit 0: ok -B ${host}:${port}`)
    })
    t.test('a failing status command is down', async (t) => {
      const r = await probe(checker({ command: [fixture('check-fail.sh')] }), target(host, port))
      t.equal(r.code, 'exit-code')
    })
    t.test('a closed port fails before the command runs', async (t) => {
      // Spawning is recorded as it happens, so "never ran" needs no wait for a script that might write a file.
      const spawned: string[] = []
      const spawn = (command: string) => {
        spawned.push(command)
        throw new Error('the command must not run')
      }
      const r = await probe(checker({ command: [fixture('check-hang.sh')] }, { spawn }), target(host, await closedTcpPort(host)))
      t.equal(r.code, 'refused')
      t.same(spawned, [], 'the command never ran')
    })
    t.test('a hanging status command is a timeout and is killed', async (t) => {
      const pidfile = join(t.testdir({}), 'pids')
      const c = checker({ command: [fixture('check-hang.sh'), pidfile], grace: 0.2 })
      const [r, pids] = await probeAbortedAfter(c, target(host, port), () => readPids(pidfile))
      t.equal(r.code, 'timeout')
      t.same(await waitGone(pids), [])
      await c.close?.()
    })
  })
}
