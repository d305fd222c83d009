// The lvs-director command line: `run` is the daemon; `watch` watches a pair from outside; `apply` makes the
// kernel's IPVS table match a YAML table once (only owned entries); `show` prints the kernel's table; `status`,
// `real`, `reload`, `export`, `restore` talk to a running director's API. Errors are one coded line on stderr, never a stack trace. Importing this
// module runs nothing: bin/lvs-director.js calls main().
import { existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { Argument, Command, InvalidArgumentError, Option } from 'commander'
import { ERR_APPLY_PARTIAL, ERR_IPVSADM_FAILED, ERR_NOT_OWNED } from './errors.js'
import { applyPlan } from './ipvs/apply.js'
import { restoreLine } from './ipvs/commands.js'
import { diff } from './ipvs/diff.js'
import { nodeExec } from './exec.js'
import { formatListing, mergeListings } from './ipvs/format.js'
import { Ipvsadm } from './ipvs/ipvsadm.js'
import { netlinkReader } from './ipvs/netlink-read.js'
import { DEFAULT_OWNED_PATH, loadOwnedState, saveOwned } from './ipvs/owned.js'
import { loadConfig } from './config/load.js'
import { loadLdirectord, renderLdirectordYaml } from './config/ldirectord.js'
import { staticTable } from './reconcile/expand.js'
import { runCheck } from './check-command.js'
import { lockDir } from './fs-atomic.js'
import { defaultApi, exportCommand, realCommand, restoreCommand, statusCommand, call, type ClientOptions } from './client.js'
import type { Table } from './ipvs/model.js'
import type { SavedTable } from './ipvs/parse.js'
import { CHECK_KINDS } from '../healthchecks/spec.js'

/** Exit status: 0 done, 1 nothing applied (bad input, no ipvsadm or ip_vs, ...), 2 applied in part. */
export const EXIT = { ok: 0, error: 1, partial: 2 } as const

interface Common { ipvsadm: string; timeout: number }

function seconds(text: string): number {
  const n = Number(text)
  if (!/^\d+$/.test(text) || n < 1 || n > 86400) throw new InvalidArgumentError('a whole number of seconds, 1..86400')
  return n
}

function millis(text: string): number {
  const n = Number(text)
  if (!/^\d+$/.test(text) || n < 10 || n > 3_600_000) throw new InvalidArgumentError('a whole number of milliseconds, 10..3600000')
  return n
}

const say = (line: string) => process.stdout.write(`${line}\n`)
const warn = (line: string) => process.stderr.write(`${line}\n`)
const coded = (err: { code?: string; message: string }) => `lvs-director: ${err.code ?? 'ERROR'}: ${err.message}`

function ipvsadm(o: Common): Ipvsadm {
  return new Ipvsadm({ exec: nodeExec, path: o.ipvsadm, timeoutMs: o.timeout * 1000, exists: existsSync, netlink: netlinkReader() })
}

async function apply(file: string, o: Common & { dryRun?: boolean; state: string; adopt?: boolean; json?: boolean }): Promise<number> {
  const desired = staticTable((await loadConfig(file)).services) // a bad file stops here, before any process runs
  // A running director holds the state directory: apply beside it would lose its writes.
  const lock = o.dryRun ? undefined : await lockDir(dirname(o.state))
  try {
    return await applyLocked(desired, o)
  } finally {
    await lock?.release()
  }
}

async function applyLocked(desired: Table, o: Common & { dryRun?: boolean; state: string; adopt?: boolean; json?: boolean }): Promise<number> {
  const { owned, warnings } = await loadOwnedState(o.state)
  for (const w of warnings) warn(`lvs-director: warning: ${w}`)
  const ipvs = ipvsadm(o)
  let kernel: SavedTable
  try {
    kernel = await ipvs.read()
  } catch (err) {
    const code = (err as { code?: string }).code
    if (!o.dryRun || (code !== 'LVS_ERR_IPVS_UNAVAILABLE' && code !== 'LVS_ERR_IPVSADM_MISSING')) throw err
    warn(`# no IPVS here (${code}): planning against an empty table`)
    kernel = { services: [] }
  }
  const plan = diff(desired, kernel, owned, { adopt: o.adopt })
  plan.foreign.push(...(kernel.skipped ?? [])) // other protocols' services (sctp, icmp): another tool's
  for (const key of plan.conflicts) warn(coded(new ERR_NOT_OWNED(`${key} (exists, not created by this director; --adopt takes it over)`)))
  if (o.dryRun) {
    if (o.json) say(JSON.stringify({ lines: plan.ops.map(restoreLine), foreign: plan.foreign, conflicts: plan.conflicts, adopted: plan.adopted }))
    else {
      for (const op of plan.ops) say(restoreLine(op))
      for (const key of plan.foreign) warn(`# foreign, left alone: ${key}`)
    }
    return plan.conflicts.length ? EXIT.partial : EXIT.ok
  }
  const result = plan.ops.length || plan.adopted.length
    // One-shot: it has read the whole table already, so a failed batch is read back whole too (no per-service reads).
    // The owned set is saved as applyPlan says (beside the process; after ipvsadm and the read failed, every entry
    // we may have created).
    ? await applyPlan({ restoreOps: (ops) => ipvs.restoreOps(ops), read: () => ipvs.read() }, plan, kernel, owned, { save: (next) => saveOwned(o.state, next) })
    : undefined
  const failed = result?.failed ?? []
  if (o.json) {
    say(JSON.stringify({
      applied: (result?.applied ?? []).map(restoreLine),
      failed: failed.map((f) => ({ key: f.key, line: f.line, error: f.error })),
      foreign: plan.foreign, conflicts: plan.conflicts, adopted: plan.adopted,
    }))
  } else {
    say(`applied ${result?.applied.length ?? 0} change(s) with ${result?.batches ?? 0} ipvsadm -R; ${plan.foreign.length} foreign entr${plan.foreign.length === 1 ? 'y' : 'ies'} left alone`)
  }
  for (const f of failed) warn(coded(new ERR_IPVSADM_FAILED(`-R line "${f.line}"`, `${f.key}: ${f.error}`)))
  if (failed.length) warn(coded(new ERR_APPLY_PARTIAL(failed.length, plan.ops.length, failed.map((f) => f.key).join(', '))))
  return failed.length || plan.conflicts.length ? EXIT.partial : EXIT.ok
}

async function show(o: Common & { stats?: boolean; rate?: boolean; json?: boolean }): Promise<number> {
  const ipvs = ipvsadm(o)
  const plain = await ipvs.list()
  const counters = o.stats ? 'stats' : o.rate ? 'rate' : undefined
  const extra = counters ? await ipvs.list({ [counters]: true }) : undefined
  const services = mergeListings(plain, extra)
  process.stdout.write(o.json ? `${JSON.stringify({ version: plain.version, services })}\n` : formatListing(services, counters))
  return EXIT.ok
}

async function importLdirectord(file: string): Promise<number> {
  const { conversion, warnings } = await loadLdirectord(file) // refuses a bad file before printing anything
  process.stdout.write(renderLdirectordYaml(conversion, file))
  for (const w of warnings) warn(`${file}:${w.line}: warning: ${w.directive}: ${w.message}`)
  return EXIT.ok
}

const client = (o: { api?: string; token?: string }): ClientOptions => ({ api: o.api ?? defaultApi(), token: o.token })
const done = (p: Promise<unknown>) => p.then(() => EXIT.ok)

/** Build the program; `run` resolves to the exit status. */
export function program(run: (status: Promise<number>) => Promise<void>): Command {
  const cmd = new Command('lvs-director')
    .description('A control plane for Linux Virtual Server (IPVS)')
    .showHelpAfterError()
    .exitOverride()
  const common = (c: Command) => c
    .option('--ipvsadm <path>', 'the ipvsadm program', 'ipvsadm')
    .option('--timeout <seconds>', 'deadline of one ipvsadm process', seconds, 120)
  common(cmd.command('apply')
    .description('make the kernel IPVS table match a config once (no checks: real servers taken as up), changing only entries this director owns')
    .argument('<config>', 'YAML config or table file (see etc/*.yaml)')
    .option('--dry-run', 'print the plan as ipvsadm -R lines and change nothing')
    .option('--state <file>', 'owned-set state file', DEFAULT_OWNED_PATH)
    .option('--adopt', 'take over existing entries the table names instead of reporting them')
    .option('--json', 'print the result as JSON'))
    .action((file: string, o) => run(apply(file, o)))
  common(cmd.command('show')
    .description('print the kernel IPVS table (ipvsadm -Ln --exact style)')
    .addOption(new Option('--stats', 'with packet and byte counters').conflicts('rate'))
    .option('--rate', 'with per-second rates')
    .option('--json', 'print as JSON'))
    .action((o) => run(show(o)))
  cmd.command('run')
    .description('run the director daemon in the foreground: checks, reconcile, REST API (SIGHUP reloads, SIGTERM stops)')
    .argument('[config]', 'YAML config (a table file is one too)', 'etc/director.yaml')
    .option('--ldirectord <file>', 'run an ldirectord.cf as it is instead of a YAML config')
    .option('--api <address:port>', 'where the API listens (overrides director.api.listen)')
    .option('--state-dir <dir>', 'where the desired table, owned set and lock live (overrides director.stateDir; an ldirectord.cf has no such directive)')
    .action((file: string, o: { ldirectord?: string; api?: string; stateDir?: string }) => run((async () => {
      // Loaded on demand: the one-shot commands need neither fastify nor the daemon.
      const { runForeground } = await import('./main.js')
      const { buildApi } = await import('./api/app.js')
      return runForeground({ config: file, ldirectord: o.ldirectord, api: o.api, stateDir: o.stateDir, buildApi })
    })()))
  cmd.command('watch')
    .description('watch a director pair from a third machine (e.g. the Redis host): alert when both directors are down as seen from Redis, when one is lost, when none holds the lease, and when they are back')
    .argument('[config]', "a director's config: its director.redis and director.pair.alerts are used")
    .option('--redis <url>', 'redis:// or rediss:// URL (instead of the config\'s director.redis)')
    .option('--cluster <name>', 'the pair\'s name in the keys (default: the config\'s director.redis.cluster, or lvs)')
    .option('--nodes <names>', 'the directors\' names, comma-separated (default: found by SCAN of the pair\'s seen keys)', (v: string) => v.split(',').map((n) => n.trim()).filter(Boolean))
    .option('--webhook <url>', 'where alerts are POSTed (default: the config\'s director.pair.alerts.webhook)')
    .option('--name <name>', 'the watcher\'s name in its alerts (default: watch@HOSTNAME)')
    .option('--interval <ms>', 'milliseconds between reads of Redis', millis, 1000)
    .option('--down-after <ms>', 'milliseconds with nothing seen (no director, one director, no lease holder, no Redis) before the alert', millis, 2000)
    .action((file: string | undefined, o: { redis?: string; cluster?: string; nodes?: string[]; webhook?: string; name?: string; interval: number; downAfter: number }) => run((async () => {
      const { runWatch } = await import('./main.js')
      return runWatch({ config: file, redis: o.redis, cluster: o.cluster, nodes: o.nodes, webhook: o.webhook, name: o.name, intervalMs: o.interval, downAfterMs: o.downAfter })
    })()))
  const api = (c: Command) => c
    .option('--api <url>', 'the director\'s API (env LVS_DIRECTOR_API)', undefined)
    .option('--token <token>', 'bearer token (env LVS_DIRECTOR_TOKEN)')
  api(cmd.command('status')
    .description('the running director\'s table: ipvsadm -Ln with health, admin state and effective weight')
    .option('--json', 'print as JSON'))
    .action((o) => run(done(statusCommand(client(o), !!o.json, say))))
  api(cmd.command('real')
    .description('change one real server of a running director: add, drain, enable, disable, remove, weight')
    .addArgument(new Argument('<action>').choices(['add', 'drain', 'enable', 'disable', 'remove', 'weight']))
    .argument('<service>', 'service name (see lvs-director status)')
    .argument('<real>', 'ADDRESS[:PORT] or [IPv6]:PORT')
    .argument('[weight]', 'weight (for add and weight)'))
    .action((action: string, service: string, real: string, weight: string | undefined, o) => {
      if (action === 'weight' && weight === undefined) throw new InvalidArgumentError('weight needs a value')
      return run(done(realCommand(client(o), action, service, real, weight, say)))
    })
  api(cmd.command('reload').description('make the running director re-read its config file (as SIGHUP does)'))
    .action((o) => run(done(call(client(o), 'POST', '/v1/reload').then((r) => say(`reloaded: ${JSON.stringify(r)}`)))))
  api(cmd.command('switchover').description('hand the VIPs to the other director of the pair (planned: no request fails)'))
    .action((o) => run(done(call(client(o), 'POST', '/v1/switchover').then((r) => say(`switchover started: this director is ${(r as { role: string }).role}`)))))
  api(cmd.command('export').description('write the running director\'s desired table to FILE (YAML)').argument('<file>'))
    .action((file: string, o) => run(done(exportCommand(client(o), file, say))))
  api(cmd.command('restore').description('replace the running director\'s desired table with FILE\'s services').argument('<file>'))
    .action((file: string, o) => run(done(restoreCommand(client(o), file, say))))
  cmd.command('import-ldirectord')
    .description('print the lvs-director config (YAML) equivalent to an ldirectord.cf; warnings name what does not carry over')
    .argument('<file>', 'ldirectord.cf')
    .action((file: string) => run(importLdirectord(file)))
  cmd.command('check')
    .description('run one health check against one real server: once (exit 0 up, 3 down), or --watch its transitions')
    .addArgument(new Argument('<kind>', 'check kind').choices(CHECK_KINDS))
    .argument('<real>', 'the real server: ADDRESS[:PORT] ([v6]:port); the port defaults to the kind\'s')
    .option('--spec <yaml>', 'check fields as a YAML/JSON mapping, e.g. "{path: /health, receive: OK, timeout: 2}"')
    .option('--vip <address[:port]>', 'the virtual service (for external commands and dr-guard)')
    .option('--udp', 'the virtual service is UDP (connect, sip and dns follow it)')
    .option('--watch <seconds>', 'run on the interval with rise/fall for this long; one line per transition', seconds)
    .option('--json', 'one JSON object per line')
    .action((kind: string, real: string, o) => run(runCheck({ kind, real, ...o }, say)))
  return cmd
}

/** Parse `process.argv`, run the command, set the exit status. */
export async function main(): Promise<void> {
  let status: Promise<number> = Promise.resolve(EXIT.ok)
  try {
    // The action's promise is kept (and awaited below) so its error becomes one coded line.
    await program((s) => { status = s; return s.then(() => {}, () => {}) }).parseAsync(process.argv)
  } catch (err) {
    // commander has printed its own message (unknown option, missing argument, --help).
    const code = (err as { exitCode?: number }).exitCode ?? EXIT.error
    process.exitCode = code === 0 ? EXIT.ok : EXIT.error
    return
  }
  try {
    process.exitCode = await status
  } catch (err) {
    warn(coded(err as Error))
    process.exitCode = EXIT.error
  }
}

