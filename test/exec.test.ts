// The one Exec with real processes: argv never through a shell, stdin, deadline and abort killing the whole process
// group (SIGKILL, or SIGTERM then SIGKILL after a grace), output capped at its head, a missing program rejecting,
// and an input longer than a pipe holds read by the process while this thread is busy.
import t from 'tap'
import { nodeExec } from '../src/exec.js'
import { alive, readPids, waitGone } from './healthchecks/process.js'
import { join } from 'node:path'
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'

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



// Open pipes of this process (the feed's are pipes; Node's own stdio to a child are socket pairs).
const openPipes = () => readdirSync('/proc/self/fd').filter((fd) => {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`).startsWith('pipe:')
  } catch {
    return false
  }
}).length

t.test('an input longer than a pipe holds reaches the process while this thread is busy (the rest written by a thread)', async (t) => {
  const file = join(t.testdir({}), 'input')
  const input = 'x'.repeat(3_000_000) // three times the feed's pipe (1 MiB): most of it by the feed's thread
  const fds = openPipes()
  const running = nodeExec('dd', [`of=${file}`, 'status=none'], { input, timeoutMs: 60_000 })
  // Hold this thread (no event loop turn) until the process has written the whole input to its file, at most 30 s:
  // through Node's stream pipe only the first 64 KiB could reach it until the loop turned again, and only what the
  // feed's pipe holds without its thread.
  const stop = Date.now() + 30_000
  let size = 0
  while (size < input.length && Date.now() < stop) size = statSync(file, { throwIfNoEntry: false })?.size ?? 0
  t.equal(size, input.length, 'the whole input was read while the loop was held')
  t.match(await running, { code: 0, stderr: '' })
  t.equal(readFileSync(file, 'utf8'), input)
  t.equal(openPipes(), fds, 'no descriptor left open')
})

t.test('a long input to a process that exits without reading it: its exit, no hang, no descriptor left', async (t) => {
  const fds = openPipes()
  t.match(await nodeExec('sh', ['-c', 'exit 4'], { input: 'y'.repeat(500_000), timeoutMs: 60_000 }), { code: 4 })
  await t.rejects(nodeExec('/nonexistent/program', [], { input: 'z'.repeat(500_000), timeoutMs: 1000 }), { code: 'ENOENT' })
  t.equal(openPipes(), fds, 'no descriptor left open') // the feed's write end: closed by its thread
})

t.test('an input of chunks: each is made after the process started, which reads the first while the next is made', async (t) => {
  const file = join(t.testdir({}), 'input')
  const fileSize = () => statSync(file, { throwIfNoEntry: false })?.size ?? 0
  const first = 'a'.repeat(1000)
  let sawFirst = false
  function* chunks() {
    yield first
    // Made while the process runs: it has the first chunk already (at most 30 s of waiting, this thread held).
    const stop = Date.now() + 30_000
    while (fileSize() < first.length && Date.now() < stop);
    sawFirst = fileSize() === first.length
    yield 'b'.repeat(200_000)
  }
  const fds = openPipes()
  t.match(await nodeExec('dd', [`of=${file}`, 'status=none', 'bs=1000', 'iflag=fullblock'], { input: chunks(), timeoutMs: 60_000 }), { code: 0 })
  t.ok(sawFirst, 'the process had read the first chunk before the second was made')
  t.equal(fileSize(), 201_000)
  t.equal(openPipes(), fds, 'no descriptor left open')
})

// Threads of this process (/proc/self/task): the feed's own thread shows there while it runs.
const threads = () => readdirSync('/proc/self/task').length

t.test('an input the feed pipe holds is written at once, without a thread; a longer one starts one for the rest', async (t) => {
  const before = threads()
  const running = nodeExec('sh', ['-c', 'sleep 0.2; wc -c'], { input: ['x'.repeat(500_000), 'y'.repeat(100_000)], timeoutMs: 60_000 })
  t.equal(threads(), before, 'no thread while the process has not read anything yet')
  t.match(await running, { code: 0, stdout: /^600000\n$/ })
  const long = nodeExec('sh', ['-c', 'sleep 0.2; wc -c'], { input: ['x'.repeat(3_000_000)], timeoutMs: 60_000 })
  t.equal(threads(), before + 1, 'a thread for what the full pipe did not take')
  t.match(await long, { code: 0, stdout: /^3000000\n$/ })
})

t.test('the process starts as from a shell: default signal handling, a session of its own, cwd and env as given', async (t) => {
  // Node ignores SIGPIPE; a child that kept that would see EPIPE errors where a shell's child dies quietly.
  const pipe = await nodeExec('sh', ['-c', 'yes | head -n 1'], { timeoutMs: 10_000 })
  t.same([pipe.code, pipe.stdout, pipe.stderr], [0, 'y\n', ''], 'yes ends on SIGPIPE, no "Broken pipe" error')
  const status = await nodeExec('grep', ['-E', '^Sig(Blk|Ign):', '/proc/self/status'], { timeoutMs: 5000 })
  const mask = (name: string) => BigInt(`0x${new RegExp(`${name}:\\s*([0-9a-f]+)`).exec(status.stdout)![1]}`)
  t.equal(mask('SigBlk'), 0n, 'no signal blocked')
  t.equal(mask('SigIgn') & ((1n << 31n) - 1n), 0n, 'no standard signal ignored')
  const session = await nodeExec('sh', ['-c', 'echo $$; cut -d " " -f 6 /proc/$$/stat'], { timeoutMs: 5000 })
  const [pid, sid] = session.stdout.trim().split(/\s+/)
  t.equal(sid, pid, 'its own session (so a kill reaches its whole group)')
  const dir = t.testdir({})
  const where = await nodeExec('sh', ['-c', 'pwd; echo "$GREETING"'], { cwd: dir, env: { PATH: process.env.PATH, GREETING: 'a b;$(x)' }, timeoutMs: 5000 })
  t.equal(where.stdout, `${dir}\na b;$(x)\n`)
})
