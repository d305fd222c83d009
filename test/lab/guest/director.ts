// The lvs-director daemon in a lab namespace: write its config into the guest's /tmp, start it, follow its
// pino log lines (one per state change), call its CLI against its API, read the kernel table it keeps, and
// start lab SIP responders. Used by test/lab/director.scenario.ts.
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseList, type ListedDestination, type ListedService } from '../../../src/ipvs/parse.js'
import { ScenarioFailure } from './assert.js'
import type { Lab, LabProcess } from './lab.js'

/** The launcher, relative to the project root (the scenarios' working directory). */
export const CLI = 'bin/lvs-director.js'
const sipServerJs = fileURLToPath(new URL('./sip-server.js', import.meta.url))

/** One pino line of the daemon. `time` is milliseconds since the epoch (pino's default). */
export interface LogLine {
  level: number
  time: number
  msg: string
  component?: string
  audit?: { seq: number; at: string; actor: string; action: string; target: string; detail?: Record<string, unknown> }
  [k: string]: unknown
}

/** A folder of its own in the guest's /tmp for one scenario's config and state, emptied first. */
export function scenarioDir(name: string): string {
  const dir = `/tmp/lab-director/${name}`
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  return dir
}

/** Writes a YAML config (JSON is YAML) with `director.stateDir` in `dir`; returns its path. */
export function writeConfig(dir: string, config: { director?: Record<string, unknown>; services: unknown[] }): string {
  const path = `${dir}/director.yaml`
  const director = { stateDir: `${dir}/state`, ...config.director }
  writeFileSync(path, JSON.stringify({ ...config, director }, null, 2) + '\n')
  return path
}

/** A line on the guest's console (shown by `npm run lab -- --console`): measured numbers worth reading. */
export function note(line: string): void {
  try {
    appendFileSync('/dev/console', `[lab ${readFileSync('/proc/uptime', 'utf8').split(' ')[0]}]   ${line}\n`)
  } catch {
    process.stderr.write(`[lab] ${line}\n`)
  }
}

/** A running `lvs-director run` in a namespace. */
export class DirectorDaemon {
  private constructor(
    readonly lab: Lab,
    readonly ns: string,
    readonly proc: LabProcess,
    /** The API's URL for the CLI's `--api`. */
    readonly api: string,
  ) {}

  /**
   * Starts `lvs-director run ARGS... --api LISTEN` in `ns` and resolves once it logged 'director started'
   * (its initial kernel update is done by then).
   */
  static async start(lab: Lab, ns: string, args: readonly string[], listen = '127.0.0.1:9410', timeoutMs = 240_000): Promise<DirectorDaemon> {
    const proc = lab.spawn(ns, [process.execPath, CLI, 'run', ...args, '--api', listen])
    const d = new DirectorDaemon(lab, ns, proc, `http://${listen}`)
    await d.waitFor((l) => l.msg === 'director started', "'director started'", { timeoutMs }) // the API's start (fastify, schemas) took over 90 s on a host at load 12
    return d
  }

  /** Every JSON log line so far, in order. */
  lines(): LogLine[] {
    return this.proc.output().split('\n').flatMap((l) => {
      if (!l.startsWith('{')) return []
      try {
        return [JSON.parse(l) as LogLine]
      } catch {
        return [] // a line still being written
      }
    })
  }

  /** The audit entries logged so far (health transitions, API changes, drain ends). */
  audits(): NonNullable<LogLine['audit']>[] {
    return this.lines().flatMap((l) => (l.audit ? [l.audit] : []))
  }

  /**
   * Resolves the first log line at index >= `from` that satisfies `match`, as soon as it is printed; fails when
   * the daemon exits first or after `timeoutMs`.
   */
  async waitFor(match: (l: LogLine) => boolean, what: string, opts: { from?: number; timeoutMs?: number } = {}): Promise<LogLine> {
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000)
    for (;;) {
      const found = this.lines().slice(opts.from ?? 0).find(match)
      if (found) return found
      if (this.proc.child.exitCode !== null || this.proc.child.signalCode !== null) {
        throw new ScenarioFailure(`the director exited before ${what}`, this.proc.output().slice(-4000))
      }
      if (Date.now() > deadline) throw new ScenarioFailure(`no ${what} from the director within ${opts.timeoutMs ?? 60_000} ms`, this.proc.output().slice(-4000))
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  /** Runs `lvs-director ARGS... --api URL` in the daemon's namespace; resolves its stdout (fails on exit != 0). */
  cli(args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<string> {
    return this.lab.run(this.ns, [process.execPath, CLI, ...args, '--api', this.api], opts)
  }

  /**
   * SIGTERM, wait for the exit, and check it said 'director stopped'. A pair's active hands over first and removes
   * its VIPs (a few processes: seconds under emulation): 30 s before SIGKILL.
   */
  async stop(): Promise<void> {
    await this.proc.stop(30_000)
    if (!this.lines().some((l) => l.msg === 'director stopped')) throw new ScenarioFailure("the director exited without 'director stopped'", this.proc.output().slice(-4000))
  }
}

/** The kernel's IPVS services in `ns` (`ipvsadm -Ln`, with `--stats` counters when asked). */
export async function kernel(lab: Lab, ns: string, opts: { stats?: boolean } = {}): Promise<ListedService[]> {
  return parseList(await lab.ipvsadm(ns, ['-Ln', ...(opts.stats ? ['--stats'] : [])])).services
}

/** `address -> weight` of one kernel service (empty when the service is absent). */
export async function weights(lab: Lab, ns: string, key: string): Promise<Record<string, number>> {
  const s = (await kernel(lab, ns)).find((x) => x.key === key)
  return Object.fromEntries((s?.destinations ?? []).map((d: ListedDestination) => [d.address, d.weight ?? 0]))
}

/** A SIP responder (test/lab/guest/sip-server.ts) in `ns`, once it is bound. */
export async function sipServer(lab: Lab, ns: string, port = 5060): Promise<LabProcess> {
  const proc = lab.spawn(ns, [process.execPath, sipServerJs, '--name', ns, '--port', String(port)])
  const deadline = Date.now() + 60_000
  while (!proc.output().includes('listening')) {
    if (proc.child.exitCode !== null || Date.now() > deadline) throw new ScenarioFailure(`the SIP server in ${ns} did not start`, proc.output())
    await new Promise((r) => setTimeout(r, 50))
  }
  return proc
}
