// Policy routing for the DR guard: marked probes to a VIP leave through one real server (ip rule + ip route).
//
// Per real server address ("via") the router allocates one firewall mark M and one routing table T, installs
// `ip rule add pref P fwmark M lookup T`, and per VIP `ip route replace VIP/32 via RIP src S table T`. A probe socket
// carrying SO_MARK=M then sends packets addressed to the VIP to the real server's MAC, as IPVS-DR would.
// On a director that holds the VIP itself (the active one), the kernel's `local` rule (pref 0) would deliver the
// probe to the director, so the router moves that rule after its own and sets accept_local (the reply's source is
// the VIP, a local address, which the kernel otherwise drops as a martian). It does so by default, since the VIPs
// move to whichever director is active; both changes are harmless while the VIP is elsewhere.
import { ERR_IP_COMMAND_FAILED } from '../src/errors.js'
import { nodeExec } from '../src/exec.js'
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
  /** Removes every rule and route this router installed, and moves the local rule back to pref 0. */
  close(): Promise<void>
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
}

const defaultRun: RunCommand = async (file, args) => {
  const r = await nodeExec(file, args, { timeoutMs: 5000 }).catch((err: Error) => ({ code: null, stdout: '', stderr: err.message }))
  if (r.code !== 0) throw new ERR_IP_COMMAND_FAILED(args.join(' '), r.stderr.trim() || `${file} exited ${r.code ?? 'on a signal'}`)
  return r.stdout
}

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
export function createIpGuardRouter(options: IpGuardRouterOptions = {}): GuardRouter {
  const run = options.run ?? defaultRun
  const markBase = options.markBase ?? 0x4c560000
  const tableBase = options.tableBase ?? 0x4c560000
  const pref = String(options.rulePref ?? 90)
  const localPref = String(options.localPref ?? 100)
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
    if (family === 4) await run('sysctl', ['-qw', 'net.ipv4.conf.all.accept_local=1'])
    prepared.add(family)
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
        // Put the local rule back where the kernel keeps it. accept_local stays: turning it off could break others.
        for (const family of prepared) {
          await run('ip', [fam(family), 'rule', 'add', 'pref', '0', 'lookup', 'local']).catch(() => {})
          await run('ip', [fam(family), 'rule', 'del', 'pref', localPref, 'lookup', 'local']).catch(() => {})
        }
        prepared.clear()
      })
    },
  }
}
