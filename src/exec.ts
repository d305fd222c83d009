// The one way the project runs a child process: an argv array (never a shell), stdin text, a deadline or an abort
// that kills the process and everything it started, and output collected up to a cap.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync } from 'node:fs'
import { lvsPacket, type NativeFeeder } from './native.js'
import { PosixChild } from './posix-spawn.js'

/** What a finished process left behind; `timedOut` means it was killed at its deadline or abort. */
export interface ExecResult {
  code: number | null
  signal?: NodeJS.Signals | null
  stdout: string
  stderr: string
  timedOut?: boolean
  /** stdout or stderr went past maxOutputBytes: only the head was kept. */
  truncated?: boolean
}

/** Options of one run. */
export interface ExecOptions {
  /**
   * Written to stdin, which is then closed. Chunks of an iterable are made after the process started, while it
   * reads the first (see fedStdin). @default ''
   */
  input?: string | Iterable<string>
  /** Deadline in ms, after which the process is killed. @default no deadline */
  timeoutMs?: number
  /** Kills the process as the deadline does. */
  signal?: AbortSignal
  /** First signal at the deadline. @default 'SIGTERM' with graceMs, else 'SIGKILL' */
  killSignal?: 'SIGTERM' | 'SIGKILL'
  /** When set, SIGKILL follows the first signal after this many ms if the process is still there. */
  graceMs?: number
  /** Bytes kept of stdout and of stderr each (the head). @default 16 MiB */
  maxOutputBytes?: number
  /** Run in a new process group, so a kill reaches what the process started too. @default true */
  processGroup?: boolean
  cwd?: string
  env?: NodeJS.ProcessEnv
}

/** Runs `file` with `argv` (never through a shell); rejects only when the process cannot start (ENOENT...). */
export type Exec = (file: string, argv: string[], options: ExecOptions) => Promise<ExecResult>

const MAX_OUTPUT = 16 * 1024 * 1024
/** After the process exits, how long a child it left holding the output open may delay the result (100 ms). */
const EXIT_LINGER_MS = 100

// Output of one stream, keeping the first `max` bytes (decoded once at the end: no split characters).
function collector(max: number) {
  const chunks: Buffer[] = []
  let size = 0
  let truncated = false
  return {
    add(chunk: Buffer) {
      if (size >= max) { truncated = true; return }
      const part = chunk.length > max - size ? chunk.subarray(0, max - size) : chunk
      truncated ||= part !== chunk
      chunks.push(part)
      size += part.length
    },
    get truncated() { return truncated },
    text: () => Buffer.concat(chunks).toString('utf8'),
  }
}

/** The whole text of an input (an iterable's chunks joined). */
export function inputText(input: string | Iterable<string> | undefined): string {
  return typeof input === 'string' ? input : [...(input ?? [])].join('')
}

/**
 * The child's stdin: the read end of a pipe whose write end native/feed.c writes (what the pipe takes at once, the
 * rest by a thread of its own), so the process reads its whole input while this thread goes on (formatting the rest
 * of a 50,000-line restore, working out the table it will leave); through Node's stream pipe, what the pipe does not
 * hold would wait for this thread's next loop turn. Undefined without the native module.
 */
function fedStdin(): { fd: number; feeder: NativeFeeder; done: Promise<void> } | undefined {
  try {
    let opened: [number, NativeFeeder] | undefined
    const done = new Promise<void>((resolve) => { opened = lvsPacket().feedOpen(resolve) })
    return { fd: opened![0], feeder: opened![1], done }
  } catch {
    return undefined
  }
}

/**
 * The real Exec: never through a shell; the process started with posix_spawn (src/posix-spawn.ts: no fork of this
 * process) and its stdin fed by native/feed.c, or, without the native module, with Node's spawn and stream pipe.
 */
export const nodeExec: Exec = (file, argv, options) =>
  new Promise((resolve, reject) => {
    const group = options.processGroup ?? true
    const input = options.input ?? ''
    const fed = fedStdin()
    let child: ChildProcess | PosixChild
    try {
      child = fed
        ? new PosixChild(file, argv, { stdinFd: fed.fd, detached: group, cwd: options.cwd, env: options.env })
        : spawn(file, [...argv], { shell: false, stdio: 'pipe', detached: group, cwd: options.cwd, env: options.env })
    } finally {
      if (fed) closeSync(fed.fd) // the child has its own copy
    }
    if (fed) {
      // Made and queued after the start: the process reads the first chunk while the next is made. A process that
      // never started, or is gone, leaves no reader: the feeder drops the rest (EPIPE) and ends.
      try {
        if (child.pid !== undefined) for (const chunk of typeof input === 'string' ? [input] : input) lvsPacket().feedWrite(fed.feeder, chunk)
      } finally {
        lvsPacket().feedEnd(fed.feeder)
      }
    }
    // Settled once the feed's thread is done too: nothing of this run is left open.
    const fedDone = fed?.done ?? Promise.resolve()
    const out = collector(options.maxOutputBytes ?? MAX_OUTPUT)
    const err = collector(options.maxOutputBytes ?? MAX_OUTPUT)
    let timedOut = false
    let settled = false
    let graceTimer: NodeJS.Timeout | undefined
    const signalAll = (sig: NodeJS.Signals) => {
      try {
        if (group && child.pid !== undefined) process.kill(-child.pid, sig)
        else child.kill(sig)
      } catch {
        child.kill(sig) // no group (already gone)
      }
    }
    const kill = () => {
      if (timedOut || settled) return
      timedOut = true
      signalAll(options.killSignal ?? (options.graceMs === undefined ? 'SIGKILL' : 'SIGTERM'))
      if (options.graceMs !== undefined) graceTimer = setTimeout(() => settled || signalAll('SIGKILL'), options.graceMs)
    }
    let deadline: NodeJS.Timeout | undefined
    options.signal?.addEventListener('abort', kill, { once: true })
    if (options.signal?.aborted) kill()
    const done = () => {
      settled = true
      clearTimeout(deadline)
      clearTimeout(graceTimer)
      options.signal?.removeEventListener('abort', kill)
    }
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return
      done()
      const result: ExecResult = { code, signal, stdout: out.text(), stderr: err.text(), timedOut }
      if (out.truncated || err.truncated) result.truncated = true
      void fedDone.then(() => resolve(result))
    }
    child.stdout!.on('data', (c: Buffer) => out.add(c))
    child.stderr!.on('data', (c: Buffer) => err.add(c))
    child.on('error', (e) => {
      if (settled) return
      done()
      void fedDone.then(() => reject(e))
    })
    child.once('close', finish)
    // A leftover child can keep the output open after the process exits: report the exit a little later anyway.
    child.once('exit', (code, signal) => setTimeout(() => finish(code, signal), EXIT_LINGER_MS).unref())
    // A program that exits before reading all of stdin makes the write fail with EPIPE: its exit says why.
    const stdin = child instanceof PosixChild ? undefined : child.stdin
    stdin?.on('error', () => {})
    if (options.timeoutMs !== undefined && Number.isFinite(options.timeoutMs)) deadline = setTimeout(kill, options.timeoutMs)
    stdin?.end(inputText(input)) // (a fed stdin is written already)
  })
