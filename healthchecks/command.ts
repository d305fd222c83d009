// Running a check command through the project's one Exec (argv only, no shell): on abort or close() the process
// group gets SIGTERM, then SIGKILL after a grace period; the verdict is the exit status and first output line.
import { nodeExec, type Exec } from '../src/exec.js'
import { down, up, type Outcome } from './probe.js'

/** Output kept per stream: the verdict needs only the first line. */
const MAX_OUTPUT = 4096

function firstLine(out: { stdout: string; stderr: string }): string {
  const pick = (s: string) => s.split('\n').map((l) => l.trim()).find((l) => l !== '')
  return (pick(out.stderr) ?? pick(out.stdout) ?? '').slice(0, 200)
}

/** Runs check commands and remembers the live ones, so close() can end them. */
export class CommandRunner {
  readonly #exec: Exec
  readonly #graceMs: number
  /** Aborted by close(): ends every live command. */
  readonly #stop = new AbortController()
  readonly #live = new Set<Promise<Outcome>>()
  #closing?: Promise<void>

  /** `graceMs` is the wait between SIGTERM and SIGKILL. */
  constructor(exec: Exec = nodeExec, graceMs = 1000) {
    this.#exec = exec
    this.#graceMs = graceMs
  }

  /** Runs argv; up on exit 0. On abort the process gets SIGTERM, then SIGKILL after the grace period. */
  run(argv: readonly string[], signal: AbortSignal): Promise<Outcome> {
    const [command = '', ...args] = argv
    const outcome = this.#run(command, args, AbortSignal.any([signal, this.#stop.signal]))
    this.#live.add(outcome)
    void outcome.finally(() => this.#live.delete(outcome))
    return outcome
  }

  async #run(command: string, args: string[], signal: AbortSignal): Promise<Outcome> {
    try {
      const r = await this.#exec(command, args, { signal, graceMs: this.#graceMs, maxOutputBytes: MAX_OUTPUT })
      const line = firstLine(r)
      const tail = line ? `: ${line}` : ''
      if (r.code === 0) return up(`exit 0${tail}`)
      if (r.code === null) return down('killed', `killed by ${r.signal ?? 'signal'}${tail}`)
      return down('exit-code', `exit ${r.code}${tail}`)
    } catch (err) {
      return down('spawn-failed', `${command}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }

  /** Ends every live command (SIGTERM, then SIGKILL after the grace period) and waits for them. */
  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      this.#stop.abort()
      await Promise.all(this.#live)
    })())
  }
}
