// The external check running real commands (test/fixtures/check-*.sh): pass, fail, hang and get killed.
import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createExternalChecker } from '../../healthchecks/external.js'
import { parseCheckSpec, type ExternalCheckSpec } from '../../healthchecks/spec.js'
import { probe, probeAbortedAfter } from './helpers.js'
import { readPids, waitGone } from './process.js'

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))
const checker = (command: string[], extra: object = {}) =>
  createExternalChecker(parseCheckSpec({ kind: 'external', command, ...extra }) as ExternalCheckSpec)
const tgt = { address: '127.0.0.1', port: 8080, protocol: 'tcp' as const, virtualAddress: '192.0.2.1', virtualPort: 80 }

t.test('exit 0 is up, with ldirectord\'s arguments: vip vport rip rport', async (t) => {
  const r = await probe(checker([fixture('check-pass.sh'), 'first']), tgt)
  t.equal(r.ok, true)
  t.equal(r.message, 'exit 0: ok first 192.0.2.1 80 127.0.0.1 8080')
})

t.test('a non-zero exit is down with the first line of stderr', async (t) => {
  const r = await probe(checker([fixture('check-fail.sh')]), tgt)
  t.equal(r.ok, false)
  t.equal(r.code, 'exit-code')
  t.equal(r.message, 'exit 2: backend pool empty')
})

t.test('arguments never reach a shell', async (t) => {
  const dir = t.testdir({})
  const marker = join(dir, 'pwned')
  const r = await probe(checker([fixture('check-pass.sh'), `; touch ${marker}`, `$(touch ${marker})`]), tgt)
  t.equal(r.ok, true)
  t.match(r.message, /^exit 0: ok ; touch \S+ \$\(touch /, "the arguments arrive literally")
  t.equal(existsSync(marker), false)
})

t.test('a missing command is down with spawn-failed', async (t) => {
  const r = await probe(checker(['/nonexistent/check-command']), tgt)
  t.equal(r.code, 'spawn-failed')
  t.match(r.message, /ENOENT/)
})

t.test('a hanging command is a timeout, and it and its children are killed despite ignoring SIGTERM', async (t) => {
  const pidfile = join(t.testdir({}), 'pids')
  const c = checker([fixture('check-hang.sh'), pidfile], { grace: 0.2 })
  // The deadline comes once the script has trapped SIGTERM and started its child (it then writes the PIDs).
  const [r, pids] = await probeAbortedAfter(c, tgt, () => readPids(pidfile))
  t.equal(r.code, 'timeout')
  t.same(await waitGone(pids), [], 'the script and its sleep are gone')
  await c.close?.()
})

t.test('close() ends a running command', async (t) => {
  const pidfile = join(t.testdir({}), 'pids')
  const c = checker([fixture('check-hang.sh'), pidfile], { grace: 0.2 })
  const running = c.check(tgt, new AbortController().signal)
  const pids = await readPids(pidfile)
  await c.close?.()
  const r = await running
  t.equal(r.ok, false)
  t.equal(r.code, 'killed')
  t.same(await waitGone(pids), [])
})
