// Running programs for the lab harness, on the host and in the guest: argv arrays only (never a shell), output
// collected.
import { spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'

/** What a finished program left behind. */
export interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs `argv` to completion; never throws for a non-zero exit (a missing program, or one killed at
 * `timeoutMs`, gives code null).
 */
export function run(argv: readonly string[], opts: { cwd?: string; input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv
    if (!cmd) throw new Error('run: empty argv')
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs)
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    child.on('error', (e) => {
      clearTimeout(timer)
      resolve({ code: null, stdout: '', stderr: e.message })
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })
    })
    child.stdin.on('error', () => {}) // a program that exits without reading its input is not our failure
    child.stdin.end(opts.input ?? '')
  })
}

/** Runs `argv` and returns its stdout; throws with the program's stderr when it fails. */
export async function runOk(argv: readonly string[], opts: { cwd?: string; input?: string | Buffer } = {}): Promise<string> {
  const r = await run(argv, opts)
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-2000)}`)
  return r.stdout
}

/** The full path of a program found on PATH (plus the sbin folders a non-login root shell may lack), or null. */
export function which(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin']
  for (const dir of dirs) {
    if (!dir) continue
    const p = join(dir, name)
    try {
      accessSync(p, constants.X_OK)
      return p
    } catch {
      // not in this folder
    }
  }
  return null
}
