// The one Exec with real processes: argv never through a shell, stdin, deadline and abort killing the whole process
// group (SIGKILL, or SIGTERM then SIGKILL after a grace), output capped at its head, and a missing program rejecting.
import t from 'tap'
import { nodeExec } from '../src/exec.js'
import { alive, readPids, waitGone } from './healthchecks/process.js'
import { join } from 'node:path'

t.test('argv reaches the program literally; stdin is passed; exit status kept', async (t) => {
  const r = await nodeExec('sh', ['-c', 'cat; echo "$1" >&2; exit 3', 'sh', '$(reboot); x'], { input: 'hello', timeoutMs: 5000 })
  t.same([r.code, r.stdout, r.stderr, r.timedOut], [3, 'hello', '$(reboot); x\n', false])
})

t.test('at the deadline the process and its children get SIGKILL', async (t) => {
  const pidfile = join(t.testdir({}), 'pids')
  const r = await nodeExec('sh', ['-c', `sleep 30 & echo $$ $! > ${pidfile}; wait`], { timeoutMs: 300 })
  t.same([r.code, r.signal, r.timedOut], [null, 'SIGKILL', true])
  t.same(await waitGone(await readPids(pidfile)), [], 'the child sleep is gone too')
})

t.test('with graceMs: SIGTERM first, SIGKILL only for a process that ignores it', async (t) => {
  const polite = await nodeExec('sleep', ['30'], { timeoutMs: 100, graceMs: 5000 })
  t.same([polite.signal, polite.timedOut], ['SIGTERM', true], 'obeys SIGTERM')
  const stubborn = await nodeExec('sh', ['-c', 'trap "" TERM; sleep 30 & wait; wait'], { timeoutMs: 100, graceMs: 200 })
  t.equal(stubborn.signal, 'SIGKILL', 'ignores SIGTERM: SIGKILL after the grace')
})

t.test('an abort signal kills as the deadline does', async (t) => {
  const ac = new AbortController()
  const running = nodeExec('sleep', ['30'], { signal: ac.signal })
  setTimeout(() => ac.abort(), 100)
  t.match(await running, { code: null, signal: 'SIGKILL', timedOut: true })
})

t.test('output past maxOutputBytes keeps the head and says truncated', async (t) => {
  const r = await nodeExec('sh', ['-c', 'printf 0123456789; printf abc >&2'], { timeoutMs: 5000, maxOutputBytes: 4 })
  t.same([r.stdout, r.stderr, r.truncated], ['0123', 'abc', true])
  t.notOk('truncated' in (await nodeExec('true', [], { timeoutMs: 5000 })))
})

t.test('a missing program rejects with its errno code', async (t) => {
  await t.rejects(nodeExec('/nonexistent/program', [], { timeoutMs: 1000 }), { code: 'ENOENT' })
})


