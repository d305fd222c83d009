// CommandRunner's kill logic through a fake spawner: SIGTERM at abort, SIGKILL only if the grace runs out.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { CommandRunner, type SpawnedProcess } from '../../healthchecks/command.js'

// A process that records the signals it gets and exits on the first one listed in `diesOn`.
function fakeProcess(diesOn: string[]) {
  const signals: string[] = []
  const spawned: { argv?: string[] } = {}
  let exit: (code: number | null, signal: string | null) => void = () => {}
  const proc: SpawnedProcess = {
    pid: 4242,
    onOutput: () => {},
    onError: () => {},
    onExit: (fn) => void (exit = fn),
    kill: (sig) => {
      signals.push(sig)
      if (diesOn.includes(sig)) setImmediate(() => exit(null, sig))
    },
  }
  const spawn = (command: string, args: readonly string[]) => ((spawned.argv = [command, ...args]), proc)
  return { spawn, signals, spawned, exit: (code: number) => exit(code, null) }
}

t.test('a process that obeys SIGTERM never gets SIGKILL', async (t) => {
  const p = fakeProcess(['SIGTERM'])
  const ac = new AbortController()
  const running = new CommandRunner(p.spawn, 50).run(['check', 'a'], ac.signal)
  ac.abort()
  t.same(await running, { ok: false, code: 'killed', message: 'killed by SIGTERM' })
  await sleep(100)
  t.same(p.signals, ['SIGTERM'])
  t.same(p.spawned.argv, ['check', 'a'])
})

t.test('a process that ignores SIGTERM gets SIGKILL after the grace period', async (t) => {
  const p = fakeProcess(['SIGKILL'])
  const ac = new AbortController()
  const running = new CommandRunner(p.spawn, 50).run(['check'], ac.signal)
  ac.abort()
  t.equal((await running).message, 'killed by SIGKILL')
  t.same(p.signals, ['SIGTERM', 'SIGKILL'])
})

t.test('a process that exits by itself is never signalled', async (t) => {
  const p = fakeProcess([])
  const running = new CommandRunner(p.spawn, 50).run(['check'], new AbortController().signal)
  p.exit(3)
  t.same(await running, { ok: false, code: 'exit-code', message: 'exit 3' })
  t.same(p.signals, [])
})

t.test('a spawner that throws is a spawn-failed result', async (t) => {
  const runner = new CommandRunner(() => {
    throw new Error('EMFILE')
  })
  t.same(await runner.run(['check'], new AbortController().signal), { ok: false, code: 'spawn-failed', message: 'check: EMFILE' })
})
