// A daemon process as an operator runs it (`lvs-director run`), with ipvsadm stood in by
// test/fixtures/fake-ipvsadm.mjs: its log lines as they come, a way to wait for one, and the CLI.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import type { Server } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

// Run from source by tap, or compiled into dist/test/helpers/ (a host benchmark): the daemon from the same place.
const compiled = !import.meta.url.endsWith('.ts')
const root = fileURLToPath(new URL(compiled ? '../../..' : '../..', import.meta.url))
const loader = process.execArgv.filter((a) => a.includes('typescript'))
const entry = join(root, compiled ? 'dist/src/cli-main.js' : 'src/cli-main.ts')
/** The stand-in ipvsadm (its table in $FAKE_IPVSADM_STATE, its calls in $FAKE_IPVSADM_LOG). */
export const fake = join(root, 'test/fixtures/fake-ipvsadm.mjs')

export interface Line { msg: string; audit?: { actor: string; action: string; target: string }; api?: string; [k: string]: unknown }

/** A running daemon: its log lines as they come, and a way to wait for one. */
export class DaemonProcess {
  readonly lines: Line[] = []
  readonly #waiters: Array<{ pred: (l: Line) => boolean; resolve: (l: Line) => void }> = []
  readonly exited: Promise<number | null>
  stderr = ''
  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let line: Line
      try {
        line = JSON.parse(text) as Line
      } catch {
        return
      }
      this.lines.push(line)
      for (const w of [...this.#waiters]) if (w.pred(line)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1)
        w.resolve(line)
      }
    })
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (this.stderr += c))
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)))
  }
  /** The first line (already seen, or to come) matching `pred`; rejects if the daemon exits first. */
  waitFor(pred: (l: Line) => boolean, from = 0): Promise<Line> {
    const seen = this.lines.slice(from).find(pred)
    if (seen) return Promise.resolve(seen)
    return Promise.race([
      new Promise<Line>((resolve) => this.#waiters.push({ pred, resolve })),
      this.exited.then((code) => { throw new Error(`daemon exited (${code}) before the line came: ${this.stderr}`) }),
    ])
  }
  audit(action: string, target: string, from = 0): Promise<Line> {
    return this.waitFor((l) => l.audit?.action === action && l.audit.target.includes(target), from)
  }
}

/** Wait until `done()` holds, checking again after each kernel update the daemon logs. */
export async function kernelReaches(d: DaemonProcess, done: () => Promise<boolean>): Promise<void> {
  for (;;) {
    const mark = d.lines.length
    if (await done()) return
    await d.waitFor((l) => l.msg === 'kernel table updated', mark)
  }
}

export function startDaemon(config: string, env: Record<string, string>, o: { netns?: string } = {}): DaemonProcess {
  return spawnNode([entry, 'run', config], env, o)
}

/** `lvs-director watch ARGS` as an operator runs it. */
export function startWatcher(args: string[], env: Record<string, string> = {}): DaemonProcess {
  return spawnNode([entry, 'watch', ...args], env)
}

/** Starts `node ARGS` the way tap runs TypeScript, in a network namespace when asked (ip netns exec: same pid). */
export function spawnNode(args: string[], env: Record<string, string> = {}, o: { netns?: string } = {}): DaemonProcess {
  const argv = [...(o.netns ? ['ip', 'netns', 'exec', o.netns] : []), process.execPath, ...loader, ...args]
  return new DaemonProcess(spawn(argv[0]!, argv.slice(1), { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }))
}

// Asynchronous, so this process's HTTP real servers keep answering the daemon's checks meanwhile.
export function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...loader, entry, ...args], { cwd: root, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

export const cli = (api: string, ...args: string[]) => run([...args, '--api', api])

export async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as { port: number }).port
}
