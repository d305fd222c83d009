// The spawner: the director's commands run from a helper process (never forked from the director itself), with
// everything nodeExec gives (argv literal, stdin now or later, deadline, abort, ENOENT), and a helper that survives
// the group's signals, is replaced after a crash, and is gone with its director (close, or kill -9).
import t from 'tap'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { once } from 'node:events'
import { createSpawner } from '../src/spawner.js'
import { alive, waitGone } from './healthchecks/process.js'
import { fixtureArgv } from './helpers/netns.js'

const loader = process.execArgv.filter((a) => /typescript|enable-source-maps/.test(a))

t.test("a command runs from the helper, not from this process: argv literal, stdin, exit status", async (t) => {
  const spawner = createSpawner({ execArgv: loader })
  t.teardown(() => spawner.close())
  const r = await spawner.exec('sh', ['-c', 'cat; echo "$PPID $1" >&2; exit 3', 'sh', '$(reboot); x'], { input: 'hello', timeoutMs: 10_000 })
  const [ppid, ...arg] = r.stderr.trim().split(' ')
  t.same([r.code, r.stdout, arg.join(' ')], [3, 'hello', '$(reboot); x'])
  t.equal(Number(ppid), spawner.pid(), "the command's parent is the helper")
  t.not(Number(ppid), process.pid)
})

t.test('stdin, deadline and abort kill, a missing program rejects with ENOENT', async (t) => {
  const spawner = createSpawner({ execArgv: loader })
  t.teardown(() => spawner.close())
  t.equal((await spawner.exec('cat', [], { input: 'fed', timeoutMs: 10_000 })).stdout, 'fed')
  const late = await spawner.exec('sleep', ['30'], { timeoutMs: 200 })
  t.same([late.signal, late.timedOut], ['SIGKILL', true], 'killed at its deadline')
  const ac = new AbortController()
  const aborted = spawner.exec('sleep', ['30'], { signal: ac.signal })
  ac.abort()
  t.same([(await aborted).signal, (await aborted).timedOut], ['SIGKILL', true], 'killed by the abort')
  await t.rejects(spawner.exec('/nonexistent/program', [], {}), { code: 'ENOENT' })
})

t.test("the helper ignores the group's SIGTERM and SIGINT; killed, its runs reject and the next run starts a new one", async (t) => {
  const exits: Array<string | number | null> = []
  const spawner = createSpawner({ execArgv: loader, onExit: (code, signal) => exits.push(signal ?? code) })
  t.teardown(() => spawner.close())
  await spawner.exec('true', [], {})
  const first = spawner.pid()!
  process.kill(first, 'SIGTERM')
  process.kill(first, 'SIGINT')
  t.equal((await spawner.exec('echo', ['still here'], {})).stdout, 'still here\n', 'the same helper answers after SIGTERM and SIGINT')
  t.equal(spawner.pid(), first)
  const running = spawner.exec('sleep', ['30'], { timeoutMs: 60_000 })
  process.kill(first, 'SIGKILL')
  await t.rejects(running, { code: 'ESPAWNER' }, 'the run in flight rejects')
  t.same(exits, ['SIGKILL'], 'the unexpected exit is told')
  t.equal((await spawner.exec('echo', ['again'], {})).stdout, 'again\n')
  t.not(spawner.pid(), first, 'a new helper')
})

t.test('close ends the helper and what it still runs; exec after close rejects', async (t) => {
  const spawner = createSpawner({ execArgv: loader })
  const waiting = spawner.exec('sleep', ['30'], { timeoutMs: 60_000 })
  await spawner.exec('true', [], {})
  const helper = spawner.pid()!
  await spawner.close()
  t.same(await waitGone([helper]), [], 'the helper is gone')
  await t.rejects(waiting, { code: 'ESPAWNER' }, 'a run still waiting rejects')
  await t.rejects(spawner.exec('true', [], {}), { code: 'ESPAWNER' })
})

t.test('the helper is gone with its director, killed -9', async (t) => {
  const [node, ...args] = fixtureArgv(new URL('./fixtures/spawner-parent.ts', import.meta.url), {})
  const parent = spawn(node!, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = (await once(createInterface({ input: parent.stdout! }), 'line')) as [string]
  const pids = JSON.parse(line) as { parent: number; helper: number }
  t.ok(alive(pids.helper), 'the helper runs')
  parent.kill('SIGKILL')
  t.same(await waitGone([pids.parent, pids.helper]), [], 'both are gone')
})
