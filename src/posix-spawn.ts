// A child process started without a fork (native/spawn.c: posix_spawn), with the part of Node's ChildProcess that
// exec.ts uses: pid, stdout and stderr streams, kill, and the `exit`, `close` and `error` events. Node's spawn forks
// the whole node process (its page tables copied, the parent waiting for the exec): milliseconds natively for a
// large heap, tens of them on an emulated machine, on the caller's main thread.
import { EventEmitter } from 'node:events'
import { Socket } from 'node:net'
import { constants } from 'node:os'
import type { Readable } from 'node:stream'
import { lvsPacket } from './native.js'

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]))

export interface PosixSpawnOptions {
  /** The child's stdin (dup2'd into it; the caller closes its own copy). */
  stdinFd: number
  /** setsid in the child: a process group of its own (Node's `detached`). */
  detached: boolean
  cwd?: string
  /** The child's whole environment (a program named without a path is looked up in this process's PATH). */
  env?: NodeJS.ProcessEnv
}

/** Events: `exit` (code, signal) once waited for; `close` (code, signal) after that and both streams' ends; `error` when it did not start. */
export class PosixChild extends EventEmitter {
  /** Undefined when the program did not start (then `error` comes, on the next tick). */
  readonly pid: number | undefined
  readonly stdout: Readable
  readonly stderr: Readable
  #exited = false

  constructor(file: string, argv: readonly string[], o: PosixSpawnOptions) {
    super()
    const env = o.env ? Object.entries(o.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`])) : null
    let fds: [number, number, number] | undefined
    let exit: [number | null, NodeJS.Signals | null] | undefined
    let open = 2
    const closed = () => {
      if (--open === 0 && exit) this.emit('close', ...exit)
    }
    try {
      fds = lvsPacket().spawn(file, [file, ...argv], env, o.cwd ?? null, o.stdinFd, o.detached, (code, signal) => {
        this.#exited = true
        exit = [code < 0 ? null : code, signal ? (SIGNAL_NAMES.get(signal) ?? null) : null]
        this.emit('exit', ...exit)
        if (open === 0) this.emit('close', ...exit)
      })
    } catch (err) {
      process.nextTick(() => this.emit('error', err))
    }
    this.pid = fds?.[0]
    this.stdout = fds ? pipeReader(fds[1]).on('close', closed) : emptyReader()
    this.stderr = fds ? pipeReader(fds[2]).on('close', closed) : emptyReader()
  }

  /** Signals the child unless it was waited for already (its pid may be another process's by then). */
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.pid === undefined || this.#exited) return false
    try {
      process.kill(this.pid, signal)
      return true
    } catch {
      return false
    }
  }
}

function pipeReader(fd: number): Socket {
  return new Socket({ fd, readable: true, writable: false })
}

function emptyReader(): Socket {
  const s = new Socket()
  s.destroy()
  return s
}
