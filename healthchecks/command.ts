// Running a check command: a narrow spawner interface, argv only (no shell), SIGTERM then SIGKILL at abort.
import { spawn as nodeSpawnProcess } from 'node:child_process'
import { down, onAbort, up, type Outcome } from './probe.js'

/** A started process, as much of it as a check needs. */
export interface SpawnedProcess {
  readonly pid: number | undefined
  /** Receives stdout and stderr bytes (stderr first in the verdict message). */
  onOutput(fn: (stream: 'stdout' | 'stderr', chunk: Buffer) => void): void
  onExit(fn: (code: number | null, signal: string | null) => void): void
  onError(fn: (err: Error) => void): void
  /** Signals the process and everything it started. */
  kill(signal: 'SIGTERM' | 'SIGKILL'): void
}

/** Starts `command` with `args` (never through a shell). */
export type Spawn = (command: string, args: readonly string[]) => SpawnedProcess

/**
 * The real spawner: node:child_process in a new process group (detached), so a kill reaches the children a
 * script started too. Exit is reported when the output closes, or 100 ms after the process exits if a
 * leftover child still holds the output open.
 */
export const nodeSpawn: Spawn = (command, args) => {
  const child = nodeSpawnProcess(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, shell: false })
  return {
    pid: child.pid,
    onOutput: (fn) => {
      child.stdout?.on('data', (c: Buffer) => fn('stdout', c))
      child.stderr?.on('data', (c: Buffer) => fn('stderr', c))
    },
    onExit: (fn) => {
      let done = false
      const report = (code: number | null, signal: string | null): void => {
        if (!done) (done = true), fn(code, signal)
      }
      child.once('close', report)
      child.once('exit', (code, signal) => setTimeout(() => report(code, signal), 100).unref())
    },
    onError: (fn) => child.on('error', fn),
    kill: (signal) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal)
      } catch {
        child.kill(signal) // no group (already gone, or spawn failed)
      }
    },
  }
}

const MAX_OUTPUT = 4096

function firstLine(out: { stdout: string; stderr: string }): string {
  const pick = (s: string) => s.split('\n').map((l) => l.trim()).find((l) => l !== '')
  return (pick(out.stderr) ?? pick(out.stdout) ?? '').slice(0, 200)
}

/** Runs check commands and remembers the live ones, so close() can end them. */
export class CommandRunner {
  readonly #spawn: Spawn
  readonly #graceMs: number
  /** Each live command's kill function and the promise of its outcome. */
  readonly #live = new Map<() => void, Promise<Outcome>>()
  #closing?: Promise<void>

  /** `graceMs` is the wait between SIGTERM and SIGKILL. */
  constructor(spawn: Spawn = nodeSpawn, graceMs = 1000) {
    this.#spawn = spawn
    this.#graceMs = graceMs
  }

  /** Runs argv; up on exit 0. On abort the process gets SIGTERM, then SIGKILL after the grace period. */
  run(argv: readonly string[], signal: AbortSignal): Promise<Outcome> {
    const [command = '', ...args] = argv
    let child: SpawnedProcess
    try {
      child = this.#spawn(command, args)
    } catch (err) {
      return Promise.resolve(down('spawn-failed', `${command}: ${(err as Error).message}`))
    }
    let exited = false
    let killTimer: NodeJS.Timeout | undefined
    const kill = (): void => {
      if (exited || killTimer) return
      child.kill('SIGTERM')
      killTimer = setTimeout(() => exited || child.kill('SIGKILL'), this.#graceMs)
    }
    const outcome = new Promise<Outcome>((resolve) => {
      const out = { stdout: '', stderr: '' }
      const finish = (o: Outcome): void => {
        if (exited) return
        exited = true
        clearTimeout(killTimer)
        unhook()
        this.#live.delete(kill)
        resolve(o)
      }
      const unhook = onAbort(signal, kill)
      child.onOutput((stream, chunk) => {
        if (out[stream].length < MAX_OUTPUT) out[stream] += chunk.toString('utf8', 0, MAX_OUTPUT)
      })
      child.onError((err) => finish(down('spawn-failed', `${command}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)))
      child.onExit((code, sig) => {
        const line = firstLine(out)
        const tail = line ? `: ${line}` : ''
        if (code === 0) finish(up(`exit 0${tail}`))
        else if (code === null) finish(down('killed', `killed by ${sig ?? 'signal'}${tail}`))
        else finish(down('exit-code', `exit ${code}${tail}`))
      })
    })
    if (!exited) this.#live.set(kill, outcome)
    return outcome
  }

  /** Ends every live command (SIGTERM, then SIGKILL after the grace period) and waits for them. */
  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      for (const kill of this.#live.keys()) kill()
      await Promise.all(this.#live.values())
    })())
  }
}
