// The Exec interface (run one program with an argv array, no shell) and its node:child_process implementation.
import { spawn } from 'node:child_process'

/** What a finished process left behind; `timedOut` means it was killed at its deadline. */
export interface ExecResult {
  code: number | null
  signal?: NodeJS.Signals | null
  stdout: string
  stderr: string
  timedOut?: boolean
}

/** Options of one run: text for stdin and a deadline after which the process is killed. */
export interface ExecOptions {
  input?: string
  timeoutMs: number
}

/** Runs `file` with `argv` (never through a shell); rejects only when the process cannot start (ENOENT...). */
export type Exec = (file: string, argv: string[], options: ExecOptions) => Promise<ExecResult>

/** The real Exec: node's spawn with `shell: false`, SIGKILL at the deadline. */
export const nodeExec: Exec = (file, argv, { input, timeoutMs }) =>
  new Promise((resolve, reject) => {
    // Its own process group, so the deadline kills what it started too (ipvsadm may run modprobe).
    const child = spawn(file, argv, { shell: false, stdio: ['pipe', 'pipe', 'pipe'], detached: true })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    let settled = false
    const timer = setTimeout(() => {
      timedOut = true
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        child.kill('SIGKILL')
      }
    }, timeoutMs)
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
    child.on('error', (err) => {
      clearTimeout(timer)
      if (!settled) reject(err)
      settled = true
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (!settled) resolve({ code, signal, stdout, stderr, timedOut })
      settled = true
    })
    // A program that exits before reading all of stdin makes the write fail with EPIPE: its exit says why.
    child.stdin.on('error', () => {})
    child.stdin.end(input ?? '')
  })
