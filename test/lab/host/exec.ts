// Running programs for the lab harness, on the host and in the guest: argv arrays only (never a shell), output
// collected.
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { nodeExec } from '../../../src/exec.js'

/** What a finished program left behind. */
export interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs `argv` to completion through the project's Exec; never throws for a non-zero exit (a missing program, or
 * one killed at `timeoutMs`, gives code null). Not in a process group of its own: a Ctrl-C of the harness
 * reaches it too.
 */
export async function run(argv: readonly string[], opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Ran> {
  const [cmd, ...args] = argv
  if (!cmd) throw new Error('run: empty argv')
  try {
    const r = await nodeExec(cmd, args, { ...opts, env: opts.env ?? process.env, processGroup: false })
    return { code: r.timedOut ? null : r.code, stdout: r.stdout, stderr: r.stderr }
  } catch (e) {
    return { code: null, stdout: '', stderr: (e as Error).message }
  }
}

/** Runs `argv` and returns its stdout; throws with the program's stderr when it fails. */
export async function runOk(argv: readonly string[], opts: { cwd?: string; input?: string } = {}): Promise<string> {
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
