// CommandRunner through a fake Exec: argv and kill options handed over, verdicts from exit status and output,
// spawn failures, and close() aborting live commands. The kill itself (SIGTERM, SIGKILL after the grace) is
// src/exec.ts's, tested with real processes in test/exec.test.ts.
import t from 'tap'
import { CommandRunner } from '../../healthchecks/command.js'
import type { Exec, ExecOptions, ExecResult } from '../../src/exec.js'

// An Exec that records its call and resolves with `result`, or, when aborted, as killed by SIGTERM.
function fakeExec(result?: Partial<ExecResult>) {
  const calls: Array<{ argv: string[]; options: ExecOptions }> = []
  const exec: Exec = (file, argv, options) => {
    calls.push({ argv: [file, ...argv], options })
    if (result) return Promise.resolve({ code: 0, stdout: '', stderr: '', ...result })
    return new Promise((resolve) => options.signal!.addEventListener('abort', () =>
      resolve({ code: null, signal: 'SIGTERM', stdout: '', stderr: '', timedOut: true })))
  }
  return { exec, calls }
}

t.test('argv, grace and output cap go to Exec; exit 0 is up with the first output line', async (t) => {
  const f = fakeExec({ code: 0, stdout: '\n  all good  \nmore\n' })
  const r = await new CommandRunner(f.exec, 50).run(['check', 'a'], new AbortController().signal)
  t.same(r, { ok: true, message: 'exit 0: all good' })
  t.same(f.calls[0]!.argv, ['check', 'a'])
  t.match(f.calls[0]!.options, { graceMs: 50, maxOutputBytes: 4096 })
})

t.test('a non-zero exit is down with stderr first; a signal is killed', async (t) => {
  const r = await new CommandRunner(fakeExec({ code: 3, stdout: 'out', stderr: 'err' }).exec).run(['check'], new AbortController().signal)
  t.same(r, { ok: false, code: 'exit-code', message: 'exit 3: err' })
  const k = await new CommandRunner(fakeExec({ code: null, signal: 'SIGKILL' }).exec).run(['check'], new AbortController().signal)
  t.same(k, { ok: false, code: 'killed', message: 'killed by SIGKILL' })
})

t.test('abort reaches Exec', async (t) => {
  const ac = new AbortController()
  const running = new CommandRunner(fakeExec().exec).run(['check'], ac.signal)
  ac.abort()
  t.same(await running, { ok: false, code: 'killed', message: 'killed by SIGTERM' })
})

t.test('an Exec that rejects (ENOENT, EMFILE) is a spawn-failed result', async (t) => {
  const runner = new CommandRunner(() => Promise.reject(Object.assign(new Error('spawn check ENOENT'), { code: 'ENOENT' })))
  t.same(await runner.run(['check'], new AbortController().signal), { ok: false, code: 'spawn-failed', message: 'check: ENOENT' })
})

t.test('close() aborts every live command and waits for it', async (t) => {
  const runner = new CommandRunner(fakeExec().exec)
  const running = runner.run(['check'], new AbortController().signal)
  await runner.close()
  t.same(await running, { ok: false, code: 'killed', message: 'killed by SIGTERM' })
})
