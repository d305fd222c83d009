// The only module that runs ipvsadm: argv arrays through an injected Exec, one process at a time, a deadline on
// each, and every failure turned into a coded error (missing binary, kernel without IPVS, failure, timeout).
import {
  ERR_IPVS_UNAVAILABLE, ERR_IPVSADM_FAILED, ERR_IPVSADM_MISSING, ERR_IPVSADM_TIMEOUT,
} from '../errors.js'
import type { Exec, ExecResult } from '../exec.js'
import type { Service, Table } from './model.js'
import { opArgs, restoreText, serviceIdArgs, type Op } from './commands.js'
import { listedService, parseDaemons, parseList, parseSave, withThresholds, type ListedDaemon, type Listing, type SavedTable } from './parse.js'
import { startDaemonArgs, stopDaemonArgs, timeoutArgs, type SyncDaemon, type Timeouts } from './settings.js'

/** Options of an Ipvsadm instance. */
export interface IpvsadmOptions {
  /** How processes are run (tests pass a fake). */
  exec: Exec
  /** Program to run. @default 'ipvsadm' */
  path?: string
  /** Deadline of one ipvsadm process in ms; a restore of 50,000 lines takes ~19 s under emulation. @default 120000 */
  timeoutMs?: number
  /** Tells whether a file exists; used to explain a kernel without ip_vs. */
  exists?: (path: string) => boolean
  /**
   * Reads the whole table in-process (src/ipvs/netlink-read.ts over native/ipvs.c) for `read()`, in turn with the
   * processes; when it throws (no IPVS, no native module), `read()` runs ipvsadm as without it.
   */
  netlink?: () => SavedTable
}

/** What a restore (`ipvsadm -R`) did: ipvsadm reports failures on stderr, one line per failed line. */
export interface RestoreResult {
  code: number | null
  stderr: string
}

// What ipvsadm prints when it cannot open the kernel's IPVS interface (main() → ipvs_init() failing).
const NO_IPVS = /Can't initialize ipvs|Protocol not available|IP Virtual Server is\s+built/

/** A handle on one IPVS table through ipvsadm. */
export class Ipvsadm {
  readonly #exec: Exec
  readonly #path: string
  readonly #timeoutMs: number
  readonly #exists: ((path: string) => boolean) | undefined
  readonly #netlink: (() => SavedTable) | undefined
  // Processes run one at a time: each call chains on the previous one (a queue per instance, not global).
  #tail: Promise<unknown> = Promise.resolve()

  constructor(options: IpvsadmOptions) {
    this.#exec = options.exec
    this.#path = options.path ?? 'ipvsadm'
    this.#timeoutMs = options.timeoutMs ?? 120_000
    this.#exists = options.exists
    this.#netlink = options.netlink
  }

  /** Run ipvsadm with `argv` (queued); returns the result of a process that ran, or throws a coded error. */
  run(argv: string[], input?: string | Iterable<string>): Promise<ExecResult> {
    return this.#queued(() => this.#runNow(argv, input))
  }

  #queued<T>(fn: () => T | Promise<T>): Promise<T> {
    const next = this.#tail.then(fn)
    this.#tail = next.catch(() => {})
    return next
  }

  async #runNow(argv: string[], input?: string | Iterable<string>): Promise<ExecResult> {
    const what = argv.join(' ')
    let result: ExecResult
    try {
      result = await this.#exec(this.#path, argv, { input, timeoutMs: this.#timeoutMs })
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      if (e.code === 'ENOENT') throw new ERR_IPVSADM_MISSING(`${this.#path}: not found`, { cause: e })
      if (e.code === 'EACCES') throw new ERR_IPVSADM_MISSING(`${this.#path}: not executable`, { cause: e })
      throw new ERR_IPVSADM_FAILED(what, e.message, { cause: e })
    }
    if (result.timedOut) throw new ERR_IPVSADM_TIMEOUT(what, this.#timeoutMs)
    if (result.code !== 0 && NO_IPVS.test(result.stderr)) {
      const proc = this.#exists && !this.#exists('/proc/net/ip_vs') ? 'no /proc/net/ip_vs; ' : ''
      const why = result.stderr.split('\n').find((l) => l.startsWith("Can't initialize ipvs")) ?? oneLine(result.stderr)
      throw new ERR_IPVS_UNAVAILABLE(`${proc}ipvsadm: ${why.trim()}`)
    }
    return result
  }

  async #check(argv: string[]): Promise<string> {
    const result = await this.run(argv)
    if (result.code !== 0) {
      const err = new ERR_IPVSADM_FAILED(argv.join(' '), oneLine(result.stderr) || `exit ${result.code}`) as Error & { stderr?: string; exitCode?: number | null }
      err.stderr = result.stderr
      err.exitCode = result.code
      throw err
    }
    return result.stdout
  }

  /** Fail with one coded error when ipvsadm is missing or the kernel has no IPVS; else resolve. */
  async preflight(): Promise<void> {
    await this.#check(['-Ln', '--timeout'])
  }

  /**
   * Apply restore lines (commands.ts `restoreLine`: arguments joined by single spaces, none containing one) as one
   * `ipvsadm -R`; a single line runs as that command itself (the same ipvsadm code and messages, without the
   * stdin pipe and the restore loop: a lone change costs what a hand-typed `ipvsadm -a` does). Does not throw on
   * failed lines: apply.ts reads code and stderr.
   */
  async restore(lines: readonly string[]): Promise<RestoreResult> {
    const result = lines.length === 1 ? await this.run(lines[0]!.split(' ')) : await this.run(['-R'], lines.map((l) => `${l}\n`).join(''))
    return { code: result.code, stderr: result.stderr }
  }

  /**
   * `restore` of the ops' lines (commands.ts), whose text is made after ipvsadm has started, a chunk at a time, while
   * it already reads the first (nodeExec writes it from a thread of its own): a big plan's formatting costs nothing
   * before the process.
   */
  async restoreOps(ops: readonly Op[]): Promise<RestoreResult> {
    const result = ops.length === 1 ? await this.run(opArgs(ops[0]!)) : await this.run(['-R'], restoreText(ops))
    return { code: result.code, stderr: result.stderr }
  }

  /** The kernel table as `ipvsadm -Sn` shows it (no thresholds: -Sn does not print them; other protocols skipped). */
  async save(): Promise<SavedTable> {
    return parseSave(await this.#check(['-Sn']))
  }

  /** The full kernel table: over netlink when given one, else `-Sn` with thresholds from `-Ln --thresholds` (two processes). */
  async read(): Promise<SavedTable> {
    const netlink = this.#netlink
    if (netlink) {
      const table = await this.#queued(() => {
        try {
          return netlink()
        } catch {
          return undefined // the processes say why, with their coded errors
        }
      })
      if (table) return table
    }
    const table = await this.save()
    const needsThresholds = table.services.some((s) => s.destinations.length > 0)
    return needsThresholds ? withThresholds(table, await this.list({ thresholds: true })) : table
  }

  /** `ipvsadm -Ln --exact` with `--stats`, `--rate` or `--thresholds`, parsed. */
  async list(options: { stats?: boolean; rate?: boolean; thresholds?: boolean; service?: Service } = {}): Promise<Listing> {
    // One service (`-t VIP:PORT`) costs its own size; the whole table of a big director costs seconds.
    const argv = ['-Ln', '--exact', ...(options.service ? serviceIdArgs(options.service) : [])]
    if (options.stats) argv.push('--stats')
    else if (options.rate) argv.push('--rate')
    else if (options.thresholds) argv.push('--thresholds')
    return parseList(await this.#check(argv))
  }

  /**
   * The kernel's view of these services only (two `ipvsadm -Ln -t` processes each): a read that costs the
   * services' size, not the table's. A service the kernel lacks is absent from the result.
   */
  async readServices(services: Service[]): Promise<Table> {
    const out: Table = { services: [] }
    for (const service of services) {
      let plain: Listing
      try {
        plain = await this.list({ service })
      } catch (err) {
        if (/No such service/i.test((err as { stderr?: string }).stderr ?? (err as Error).message)) continue
        throw err
      }
      const listed = plain.services[0]
      if (!listed) continue
      const thresholds = listed.destinations.length ? (await this.list({ service, thresholds: true })).services[0] : undefined
      out.services.push(listedService(listed, thresholds))
    }
    return out
  }

  /** Start the connection-sync daemon (master or backup). */
  async startDaemon(daemon: SyncDaemon): Promise<void> {
    await this.#check(startDaemonArgs(daemon))
  }

  /** Stop the connection-sync daemon of one state. */
  async stopDaemon(state: 'master' | 'backup'): Promise<void> {
    await this.#check(stopDaemonArgs(state))
  }

  /** The running connection-sync daemons (`ipvsadm -Ln --daemon`). */
  async daemons(): Promise<ListedDaemon[]> {
    return parseDaemons(await this.#check(['-Ln', '--daemon']))
  }

  /** Set the tcp, tcpfin and udp connection timeouts (seconds; 0 keeps the current value). */
  async setTimeouts(timeouts: Partial<Timeouts>): Promise<void> {
    await this.#check(timeoutArgs(timeouts))
  }

  /** The current connection timeouts (`ipvsadm -Ln --timeout`). */
  async timeouts(): Promise<Timeouts> {
    const out = await this.#check(['-Ln', '--timeout'])
    const m = /Timeout \(tcp tcpfin udp\): (\d+) (\d+) (\d+)/.exec(out)
    if (!m) throw new ERR_IPVSADM_FAILED('-Ln --timeout', `unexpected output ${JSON.stringify(out.trim())}`)
    return { tcp: Number(m[1]), tcpfin: Number(m[2]), udp: Number(m[3]) }
  }
}

/** stderr as one line (ipvsadm's messages span lines). */
export function oneLine(text: string): string {
  return text.trim().split('\n').map((l) => l.trim()).filter(Boolean).join('; ')
}
