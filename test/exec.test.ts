// The one Exec with real processes: argv never through a shell, stdin, deadline and abort killing the whole process
// group (SIGKILL, or SIGTERM then SIGKILL after a grace), output capped at its head, and a missing program rejecting.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { nodeExec, prespawn } from '../src/exec.js'
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

/** The PIDs the processes appended to `file`, once there are `n` (bounded: 20 s). */
async function pidsIn(file: string, n: number): Promise<number[]> {
  for (let i = 0; i < 400; i++) {
    const pids = existsSync(file) ? readFileSync(file, 'utf8').split(/\s+/).filter(Boolean).map(Number) : []
    if (pids.length >= n) return pids
    await sleep(50)
  }
  throw new Error(`fewer than ${n} PIDs in ${file}`)
}

t.test('prespawn: a process waits for its stdin from the start; a run feeds it; the next starts after; close ends it', async (t) => {
  const file = join(t.testdir({}), 'pids')
  const started = prespawn(nodeExec, 'sh', ['-c', `echo $$ >> ${file}; cat`], { timeoutMs: 300 }, 0)
  const [first] = await pidsIn(file, 1)
  await sleep(400) // longer than the deadline: it counts from the input, not from the start
  t.ok(alive(first!), 'waiting past the deadline, not killed')
  t.match(await started.run('hello'), { code: 0, stdout: 'hello', timedOut: false }, 'the waiting process got the input')
  const [, second] = await pidsIn(file, 2)
  t.not(second, first, 'the next one started after the run')
  started.close()
  t.same(await waitGone([first!, second!]), [], 'close ended the waiting one')
  t.match(await started.run('again'), { code: 0, stdout: 'again' }, 'after close a run starts its own process')
})

t.test('prespawn: a waiting process that died is not used', async (t) => {
  const file = join(t.testdir({}), 'pids')
  const started = prespawn(nodeExec, 'sh', ['-c', `echo $$ >> ${file}; cat`], { timeoutMs: 5000 }, 60_000)
  t.teardown(() => started.close())
  const [first] = await pidsIn(file, 1)
  process.kill(first!, 'SIGKILL')
  t.same(await waitGone([first!]), [])
  await sleep(200) // the exit reaches the parent: EXIT_LINGER_MS
  t.match(await started.run('hello'), { code: 0, stdout: 'hello' }, 'a new process served the run')
  t.equal((await pidsIn(file, 2)).length, 2)
})
