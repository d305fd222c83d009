// Policy routing for the DR guard: marked probes to a VIP leave through one real server (ip rule + ip route).
//
// Per real server address ("via") the router allocates one firewall mark M and one routing table T, installs
// `ip rule add pref P fwmark M lookup T`, and per VIP `ip route replace VIP/32 via RIP src S table T`. A probe socket
// carrying SO_MARK=M then sends packets addressed to the VIP to the real server's MAC, as IPVS-DR would.
// On a director that holds the VIP itself (the active one), the kernel's `local` rule (pref 0) would deliver the
// probe to the director, so the router moves that rule after its own and sets accept_local (the reply's source is
// the VIP, a local address, which the kernel otherwise drops as a martian). It does so by default, since the VIPs
// move to whichever director is active; both changes are harmless while the VIP is elsewhere.
//
// Because all this changes the host's routing, a director has it only when it asks (openGuardRouter with
// `drGuard: true`), close() undoes every change, and start-up undoes what a crashed run left: our rules and routes
// are the ones whose table lies in [tableBase, tableBase + MAX_VIAS), and accept_local's earlier value is kept in
// a file under /run (cleared by a reboot, as the kernel's state is).
import { ERR_IP_COMMAND_FAILED } from '../src/errors.js'
import { nodeExec, type Exec } from '../src/exec.js'
import { keepSysctls } from '../src/sysctl-keeper.js'
import { familyOf, type Family } from './icmp.js'

/** Runs `ip` (or `sysctl`) with an argv array, never a shell; resolves stdout, rejects with LVS_ERR_IP_COMMAND_FAILED. */
export type RunCommand = (file: 'ip' | 'sysctl', args: string[]) => Promise<string>

/** A VIP probed through a real server. */
export interface GuardRoute {
  vip: string
  /** The real server's address on a directly connected network. */
  via: string
}

/** Installs and removes the policy routes of DR-guard probes; reference-counted per route. */
export interface GuardRouter {
  /** Makes sure probes to `vip` marked with the returned mark go through `via`. */
  ensure(route: GuardRoute): Promise<number>
  /** Drops one reference; the route (and the rule, with its last route) goes when unused. */
  release(route: GuardRoute): Promise<void>
  /** Removes every rule and route this router installed, moves the local rule back to pref 0, restores accept_local. */
  close(): Promise<void>
}

/** The `ip`-based router, which can also undo what an earlier run left. */
export interface IpGuardRouter extends GuardRouter {
  /** Undoes what an earlier run that never closed left: rules and routes in our tables, the local-rule move, accept_local. */
  cleanup(): Promise<void>
}

/** Options of the `ip`-based router. */
export interface IpGuardRouterOptions {
  run?: RunCommand
  /** First firewall mark; one per real server. Keep clear of fwmark virtual services. @default 0x4c560000 */
  markBase?: number
  /** First routing table id; one per real server. @default 0x4c560000 */
  tableBase?: number
  /** Priority of the fwmark rules. @default 90 */
  rulePref?: number
  /** The director may hold the VIPs (move the local rule to `localPref`, set accept_local). @default true */
  vipIsLocal?: boolean
  /** Where the `local` lookup rule moves to when `vipIsLocal`. @default 100 */
  localPref?: number
  /** Keeps accept_local's value from before we set it, for close() and for the start after a crash. @default '/run/lvs-director/dr-guard.json' */
  stateFile?: string
}

/** How a director opts in to the DR guard. */
export interface GuardRouterConfig extends IpGuardRouterOptions {
  /** Whether to create the router at all (it changes the host's policy routing); the daemon passes its config's `drGuard`. @default false */
  drGuard?: boolean
}

/** Real servers one router can route through: the width of our mark and table ranges. */
export const MAX_VIAS = 0x10000

const ACCEPT_LOCAL = 'net.ipv4.conf.all.accept_local'

/**
 * The director's DR-guard router, or undefined unless `config.drGuard` is true. It first undoes what a crashed
 * earlier run left. Pass it to createChecker as `guardRouter`; on shutdown close the scheduler (which closes
 * the checkers and so releases their routes), then the router.
 */
export async function openGuardRouter(config: GuardRouterConfig = {}): Promise<GuardRouter | undefined> {
  if (!config.drGuard) return undefined
  const router = createIpGuardRouter(config)
  await router.cleanup()
  return router
}

/** The router's commands run by `exec` (5 s each); a failure is an LVS_ERR_IP_COMMAND_FAILED. */
export const commandRunner = (exec: Exec): RunCommand => async (file, args) => {
  const r = await exec(file, args, { timeoutMs: 5000 }).catch((err: Error) => ({ code: null, stdout: '', stderr: err.message }))
  if (r.code !== 0) throw new ERR_IP_COMMAND_FAILED(args.join(' '), r.stderr.trim() || `${file} exited ${r.code ?? 'on a signal'}`)
  return r.stdout
}
const defaultRun = commandRunner(nodeExec)

interface Via {
  family: Family
  /** The director's own address toward the real server, the probes' source. */
  src: string
  index: number
  mark: number
  table: number
  vips: Map<string, number>
}

/** Creates a router that drives `ip rule` / `ip route` (one command at a time). */
export function createIpGuardRouter(options: IpGuardRouterOptions = {}): IpGuardRouter {
  const run = options.run ?? defaultRun
  const markBase = options.markBase ?? 0x4c560000
  const tableBase = options.tableBase ?? 0x4c560000
  const pref = String(options.rulePref ?? 90)
  const localPref = String(options.localPref ?? 100)
  // accept_local's earlier value; a file already there was left by a run that never closed.
  const sysctls = keepSysctls(run, options.stateFile ?? '/run/lvs-director/dr-guard.json')
  const vias = new Map<string, Via>()
  const used = new Set<number>()
  const prepared = new Set<Family>()
  let chain: Promise<unknown> = Promise.resolve()

  // One command sequence at a time, so two checks ensuring the same real server cannot interleave.
  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = chain.then(fn, fn)
    chain = next.catch(() => {})
    return next
  }

  const fam = (f: Family) => (f === 4 ? '-4' : '-6')
  const host = (vip: string, f: Family) => `${vip}/${f === 4 ? 32 : 128}`
  const rule = (v: Via) => [fam(v.family), 'rule', 'add', 'pref', pref, 'fwmark', String(v.mark), 'lookup', String(v.table)]

  async function prepare(family: Family): Promise<void> {
    if (prepared.has(family) || options.vipIsLocal === false) return
    // Add the local rule at its new place before deleting pref 0, so local delivery never lapses.
    await run('ip', [fam(family), 'rule', 'del', 'pref', localPref, 'lookup', 'local']).catch(() => {})
    await run('ip', [fam(family), 'rule', 'add', 'pref', localPref, 'lookup', 'local'])
    await run('ip', [fam(family), 'rule', 'del', 'pref', '0', 'lookup', 'local']).catch(() => {})
    if (family === 4) {
      const [missing] = await sysctls.set({ [ACCEPT_LOCAL]: '1' })
      if (missing) throw missing.err
    }
    prepared.add(family)
  }

  // Puts the kernel's local rule back at pref 0 (added before the moved one goes, so local delivery never lapses).
  async function restoreLocalRule(family: Family): Promise<void> {
    await run('ip', [fam(family), 'rule', 'add', 'pref', '0', 'lookup', 'local']).catch(() => {})
    await run('ip', [fam(family), 'rule', 'del', 'pref', localPref, 'lookup', 'local']).catch(() => {})
  }

  const ours = (table: unknown) => Number(table) >= tableBase && Number(table) < tableBase + MAX_VIAS

  async function cleanupFamily(family: Family): Promise<void> {
    const rules = JSON.parse(await run('ip', ['-j', fam(family), 'rule', 'show'])) as { priority: number; table?: string }[]
    for (const r of rules.filter((r) => ours(r.table))) {
      await run('ip', [fam(family), 'rule', 'del', 'pref', String(r.priority), 'lookup', String(r.table)]).catch(() => {})
    }
    const routes = JSON.parse(await run('ip', ['-j', fam(family), 'route', 'show', 'table', 'all'])) as { table?: string }[]
    for (const table of new Set(routes.map((r) => r.table).filter(ours))) {
      await run('ip', [fam(family), 'route', 'flush', 'table', String(table)]).catch(() => {})
    }
    if (rules.some((r) => r.table === 'local' && String(r.priority) === localPref)) await restoreLocalRule(family)
  }

  async function removeVia(key: string, v: Via): Promise<void> {
    vias.delete(key)
    used.delete(v.index)
    await run('ip', [fam(v.family), 'rule', 'del', ...rule(v).slice(3)]).catch(() => {})
    await run('ip', [fam(v.family), 'route', 'flush', 'table', String(v.table)]).catch(() => {})
  }

  return {
    ensure({ vip, via }) {
      return serial(async () => {
        const family = familyOf(via)
        if (!family || familyOf(vip) !== family) throw new ERR_IP_COMMAND_FAILED('route', `${vip} via ${via}: not two addresses of one family`)
        await prepare(family)
        let v = vias.get(via)
        if (!v) {
          // The source must be pinned: IPv6 source selection would pick the VIP itself when the director holds it
          // (longest match with the destination), and the real server's reply would then never leave it.
          const src = /\bsrc (\S+)/.exec(await run('ip', [fam(family), 'route', 'get', via]))?.[1]
          if (!src) throw new ERR_IP_COMMAND_FAILED(`route get ${via}`, 'no source address toward the real server')
          let index = 0
          while (used.has(index)) index++
          if (index >= MAX_VIAS) throw new ERR_IP_COMMAND_FAILED(`route via ${via}`, `more than ${MAX_VIAS} real servers`)
          used.add(index)
          v = { family, src, index, mark: markBase + index, table: tableBase + index, vips: new Map() }
          vias.set(via, v)
          try {
            // Delete first: a rule left by a crashed run would otherwise be duplicated (ip rule add never fails on that).
            await run('ip', [fam(family), 'rule', 'del', ...rule(v).slice(3)]).catch(() => {})
            await run('ip', rule(v))
          } catch (err) {
            vias.delete(via)
            used.delete(index)
            throw err
          }
        }
        const refs = v.vips.get(vip) ?? 0
        if (refs === 0) {
          await run('ip', [fam(family), 'route', 'replace', host(vip, family), 'via', via, 'src', v.src, 'table', String(v.table)])
        }
        v.vips.set(vip, refs + 1)
        return v.mark
      })
    },
    release({ vip, via }) {
      return serial(async () => {
        const v = vias.get(via)
        const refs = v?.vips.get(vip)
        if (!v || !refs) return
        if (refs > 1) return void v.vips.set(vip, refs - 1)
        v.vips.delete(vip)
        await run('ip', [fam(v.family), 'route', 'del', host(vip, v.family), 'table', String(v.table)]).catch(() => {})
        if (v.vips.size === 0) await removeVia(via, v)
      })
    },
    close() {
      return serial(async () => {
        for (const [key, v] of [...vias]) await removeVia(key, v)
        for (const family of prepared) await restoreLocalRule(family)
        if (prepared.has(4)) await sysctls.restore()
        prepared.clear()
      })
    },
    cleanup() {
      return serial(async () => {
        await cleanupFamily(4)
        // A kernel without IPv6 cannot list its rules, and has nothing of ours to clean.
        await cleanupFamily(6).catch(() => {})
        await sysctls.restore()
      })
    },
  }
}
