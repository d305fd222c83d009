// The director's commands (ipvsadm, ip, external checks) run by a small helper process, so the director's
// own main loop never starts a process. A fork copies the page tables of the whole process and the parent waits for
// the child's exec: milliseconds natively for a large table, about a second on an emulated machine, and all that time
// no API request, lease renew or heartbeat bookkeeping runs. (nodeExec now starts processes with posix_spawn, which
// copies nothing; the helper still keeps even the exec's wait, and the pipes' and the children's bookkeeping, off
// the director's loop.) The helper is a second Node process that only spawns; it
// ignores the signals a terminal or systemd sends the group (the director's stop still needs it to remove the VIPs)
// and exits when the director is gone (its IPC channel closes, kill -9 included).
import { fork, type ChildProcess } from 'node:child_process'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inputText, type Exec, type ExecOptions, type ExecResult } from './exec.js'

/** What the director sends the spawner: a run (with its stdin), or its abort. */
export type SpawnerRequest =
  | { kind: 'run'; id: number; file: string; argv: string[]; options: SpawnerRunOptions; input: string }
  | { kind: 'abort'; id: number }

/** The options of a run that cross the process boundary (the abort signal becomes an `abort` message). */
export type SpawnerRunOptions = Omit<ExecOptions, 'input' | 'signal'>

/** What the spawner answers, once per run. */
export type SpawnerReply = { id: number; result: ExecResult } | { id: number; error: { message: string; code?: string } }

/** A spawner: an Exec whose processes the helper starts, started with the first run. */
export interface Spawner {
  exec: Exec
  /** The helper's pid, while it runs. */
  pid(): number | undefined
  /** Ends the helper (a run still going is killed and rejects); exec() after it rejects. Idempotent. */
  close(): Promise<void>
}

export interface SpawnerOptions {
  /** The helper's script. @default spawner-child next to this module */
  script?: string
  /** Node's flags for the helper. @default this process's, without --inspect */
  execArgv?: string[]
  /** Told when the helper exits unexpectedly (the next run starts a new one). */
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => void
}

// Run from TypeScript (tests) the helper is spawner-child.ts, loaded by the same loader (fork passes execArgv on).
const SCRIPT = fileURLToPath(new URL(`./spawner-child${extname(fileURLToPath(import.meta.url))}`, import.meta.url))

interface Pending {
  resolve: (r: ExecResult) => void
  reject: (err: Error) => void
  done: () => void
}

/** Starts nothing yet: the helper starts with the first run, and again after an unexpected exit. */
export function createSpawner(o: SpawnerOptions = {}): Spawner {
  let child: ChildProcess | undefined
  let closed = false
  let nextId = 1
  const pending = new Map<number, Pending>()
  const settle = (id: number, fn: (p: Pending) => void) => {
    const p = pending.get(id)
    if (!p) return
    pending.delete(id)
    p.done()
    fn(p)
  }

  function start(): ChildProcess {
    const c = fork(o.script ?? SCRIPT, [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
      execArgv: o.execArgv ?? process.execArgv.filter((a) => !a.startsWith('--inspect')),
    })
    c.on('message', (m: SpawnerReply) => {
      settle(m.id, (p) => ('result' in m ? p.resolve(m.result) : p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }))))
    })
    c.on('error', () => {}) // a failed send: the exit below answers the runs
    c.once('exit', (code, signal) => {
      if (child === c) child = undefined
      for (const id of [...pending.keys()]) settle(id, (p) => p.reject(Object.assign(new Error(`the spawner process exited (${signal ?? code}) before the command answered`), { code: 'ESPAWNER' })))
      if (!closed) o.onExit?.(code, signal)
    })
    return c
  }

  const send = (c: ChildProcess, m: SpawnerRequest) => {
    if (c.connected) c.send(m)
  }

  const exec: Exec = (file, argv, options) =>
    new Promise<ExecResult>((resolve, reject) => {
      if (closed) return reject(Object.assign(new Error('the spawner is closed'), { code: 'ESPAWNER' }))
      const c = (child ??= start())
      const id = nextId++
      const { input, signal, ...rest } = options
      const abort = () => send(c, { kind: 'abort', id })
      const done = () => signal?.removeEventListener('abort', abort)
      pending.set(id, { resolve, reject, done })
      send(c, { kind: 'run', id, file, argv: [...argv], options: rest, input: inputText(input) })
      signal?.addEventListener('abort', abort, { once: true })
      if (signal?.aborted) abort()
    })

  return {
    exec,
    pid: () => child?.pid,
    async close() {
      if (closed) return
      closed = true
      const c = child
      if (!c) return
      const gone = new Promise((resolve) => c.once('exit', resolve))
      c.disconnect() // the helper aborts what still runs (nothing should: close comes last) and exits
      await gone
    },
  }
}
