// The virtual IP addresses a director holds while active: added and removed with `ip` (argv and `ip -batch -`,
// never a shell), recorded in a state file before they are added, so a director that crashed holding them
// removes them at its next start, and never an address this director did not add.
import { join } from 'node:path'
import { canonicalAddress } from '../address.js'
import { ERR_INVALID_VALUE, ERR_STATE_FILE, ERR_VIP_FAILED } from '../errors.js'
import { prespawn, type Exec, type Prespawned } from '../exec.js'
import { readStateFile, writeAtomic } from '../fs-atomic.js'

/** A VIP as configured: an address (IPv4 or IPv6), the interface it goes on, and an IPv4 label. */
export interface VipSpec {
  address: string
  /** The interface, e.g. `eth0`. */
  interface: string
  /** IPv4 only: the address's label, the interface's name or that name followed by `:` (`eth0:vip`). */
  label?: string
}

/** A checked VIP: canonical address, its family and host prefix (/32 or /128). */
export interface Vip extends VipSpec {
  family: 4 | 6
  prefix: 32 | 128
}

/** What one add, remove or clean-up did. */
export interface VipResult {
  /** Added (or removed) by this call. */
  changed: Vip[]
  /** Already in the wanted state: held by this director (add) or absent (remove). */
  unchanged: Vip[]
  /** Not added by this director (an operator's address, or one it never held): left alone. */
  foreign: Vip[]
  /** VIPs whose `ip` command failed, each with an LVS_ERR_VIP_FAILED. */
  failed: Array<{ vip: Vip; err: Error }>
}

/** The pino-style logger the VIPs log to. */
export interface VipLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

/** Options of {@link openVips}. */
export interface VipsOptions {
  /** How `ip` runs (tests pass one that runs it in a network namespace). */
  exec: Exec
  /** The director's state directory; the VIPs it added are recorded in `ha-vips.json` there. */
  stateDir: string
  /** Program to run. @default 'ip' */
  ipPath?: string
  /** Deadline of one `ip` process in ms. @default 5000 */
  timeoutMs?: number
  log?: VipLog
}

/** The VIPs of one director. Calls run one at a time, in order. */
export interface Vips {
  /**
   * Adds the VIPs that are absent and records them first; one already there and not ours is left and noted. A VIP
   * whose `ip` failed is in `failed`, the others are added. Throws (nothing added) LVS_ERR_INVALID_VALUE on a bad
   * VIP, LVS_ERR_VIP_FAILED when the addresses cannot be listed or after close(), LVS_ERR_STATE_FILE when the record
   * cannot be written.
   */
  add(vips: VipSpec[]): Promise<VipResult>
  /** Removes these VIPs if this director added them (others are left and noted). */
  remove(vips: VipSpec[]): Promise<VipResult>
  /** Removes every VIP this director added (release, stop). */
  removeAll(): Promise<VipResult>
  /** Removes the VIPs the state file lists, left by a run that crashed while holding them. */
  cleanupAfterCrash(): Promise<VipResult>
  /** The VIPs this director holds (added and not removed). */
  held(): Vip[]
  /** removeAll(); idempotent. */
  close(): Promise<void>
}

/** The state file's name in the state directory. */
export const VIP_STATE_FILE = 'ha-vips.json'

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/ // dev_valid_name(): no '/', ':' or space; IFNAMSIZ 16 with its NUL
const LABEL = /^[A-Za-z0-9_.:-]{1,15}$/

/** Checks and canonicalises a VIP; throws LVS_ERR_INVALID_VALUE naming `path`. */
export function checkVip(spec: VipSpec, path = '/vips'): Vip {
  const a = canonicalAddress(String(spec.address))
  if (!a) throw new ERR_INVALID_VALUE(`${path}/address`, `${JSON.stringify(spec.address)} is not an IPv4 or IPv6 address`)
  if (!IFNAME.test(String(spec.interface))) throw new ERR_INVALID_VALUE(`${path}/interface`, `${JSON.stringify(spec.interface)} is not an interface name`)
  const family = a.family === 'inet' ? 4 : 6
  const vip: Vip = { address: a.address, interface: spec.interface, family, prefix: family === 4 ? 32 : 128 }
  if (spec.label !== undefined) {
    if (family === 6) throw new ERR_INVALID_VALUE(`${path}/label`, 'labels are for IPv4 addresses only')
    // The kernel and ip want the label to start with the interface's name.
    const ok = LABEL.test(spec.label) && (spec.label === spec.interface || spec.label.startsWith(`${spec.interface}:`))
    if (!ok) throw new ERR_INVALID_VALUE(`${path}/label`, `${JSON.stringify(spec.label)} is not ${spec.interface} or ${spec.interface}:NAME (15 characters at most)`)
    vip.label = spec.label
  }
  return vip
}

const key = (v: { address: string; interface: string }) => `${v.address}%${v.interface}`

/** One `ip -batch` line adding a VIP: IPv6 without DAD and never preferred, so the kernel never picks it as a source. */
export function addLine(v: Vip): string {
  if (v.family === 6) return `addr add ${v.address}/128 dev ${v.interface} nodad preferred_lft 0`
  return `addr add ${v.address}/32 dev ${v.interface}${v.label ? ` label ${v.label}` : ''}`
}

/** One `ip -batch` line removing a VIP (only its host prefix: an operator's same address with another prefix stays). */
export function delLine(v: Vip): string {
  return `addr del ${v.address}/${v.prefix} dev ${v.interface}`
}

interface IpAddrInfo { family?: string; local?: string; prefixlen?: number }
interface IpLink { ifname?: string; addr_info?: IpAddrInfo[] }

/** The addresses of `ip -j addr show`'s output, by address%interface, each with its prefix lengths. */
type Addresses = Map<string, Set<number>>

function addressesOf(json: string): Addresses {
  const out: Addresses = new Map()
  for (const link of JSON.parse(json) as IpLink[]) {
    for (const a of link.addr_info ?? []) {
      const c = a.local ? canonicalAddress(a.local) : undefined
      if (!c || !link.ifname) continue
      const k = key({ address: c.address, interface: link.ifname })
      out.set(k, (out.get(k) ?? new Set()).add(a.prefixlen ?? 0))
    }
  }
  return out
}

/**
 * Opens the director's VIPs: first removes what a crashed earlier run left (cleanupAfterCrash), then returns the
 * handle. On release and stop call removeAll() (or close()).
 */
export async function openVips(options: VipsOptions): Promise<Vips> {
  const vips = createVips(options)
  await vips.cleanupAfterCrash()
  return vips
}

/** Creates the handle without the start-up clean-up (openVips is what a director calls). */
export function createVips(options: VipsOptions): Vips {
  const { exec, log } = options
  const ipPath = options.ipPath ?? 'ip'
  const timeoutMs = options.timeoutMs ?? 5000
  const file = join(options.stateDir, VIP_STATE_FILE)
  const owned = new Map<string, Vip>()
  let chain: Promise<unknown> = Promise.resolve()
  let closing: Promise<void> | undefined
  // The add's `ip` is started ahead: a takeover does not wait for its spawn.
  const addBatch = prespawn(exec, ipPath, ['-j', '-force', '-batch', '-'], { timeoutMs })

  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = chain.then(fn, fn)
    chain = next.catch(() => {})
    return next
  }

  async function ip(argv: string[], input?: string, started?: Prespawned): Promise<{ code: number | null; stdout: string; stderr: string }> {
    try {
      const r = await (started ? started.run(input ?? '') : exec(ipPath, argv, { input, timeoutMs }))
      if (r.timedOut) return { code: null, stdout: r.stdout, stderr: `timed out after ${timeoutMs} ms` }
      return r
    } catch (err) {
      return { code: null, stdout: '', stderr: (err as Error).message }
    }
  }

  // Addresses present now, by address%interface, each with its prefixes (an operator's 192.0.2.10/24 is the VIP too).
  async function present(): Promise<Addresses> {
    const r = await ip(['-j', 'addr', 'show'])
    if (r.code !== 0) throw new ERR_VIP_FAILED('addresses', `ip -j addr show: ${r.stderr.trim() || `exit ${r.code}`}`)
    return addressesOf(r.stdout || '[]')
  }

  // The record must outlive a crash of this process (the kernel keeps the addresses), not of the machine (which takes
  // them along): no fsync, which would put the disk's latency, however long, on a takeover's critical path.
  async function save(): Promise<void> {
    const body = { version: 1, vips: [...owned.values()] }
    try {
      await writeAtomic(file, `${JSON.stringify(body, null, 2)}\n`, 0o644, { durable: false })
    } catch (err) {
      throw new ERR_STATE_FILE(file, (err as Error).message, { cause: err })
    }
  }

  function load(): Promise<Vip[]> {
    return readStateFile(file, [], (body) => ((body as { vips?: VipSpec[] }).vips ?? []).map((v, i) => checkVip(v, `${file}/vips/${i}`)), { emptyIsMissing: true })
  }


  // Runs `lines` as one `ip -force -batch -` (-force: a failed line does not stop the others); when it
  // reports a failure, reads the addresses back to learn which lines took effect.
  async function batch(lines: string[]): Promise<{ ok: boolean; stderr: string }> {
    if (lines.length === 0) return { ok: true, stderr: '' }
    const r = await ip(['-force', '-batch', '-'], lines.map((l) => `${l}\n`).join(''))
    return { ok: r.code === 0, stderr: oneLine(r.stderr) || `exit ${r.code ?? 'on a signal'}` }
  }

  const empty = (): VipResult => ({ changed: [], unchanged: [], foreign: [], failed: [] })
  const failure = (v: Vip, why: string) => ({ vip: v, err: new ERR_VIP_FAILED(`${v.address} on ${v.interface}`, why) })

  async function removeOwned(list: Vip[], result: VipResult): Promise<VipResult> {
    const before = await present()
    const there = list.filter((v) => before.has(key(v)))
    for (const v of list) if (!before.has(key(v))) result.unchanged.push(v)
    const r = await batch(there.map(delLine))
    const after = r.ok ? new Set<string>() : await present()
    for (const v of there) {
      if (after.has(key(v))) result.failed.push(failure(v, `ip addr del: ${r.stderr}`))
      else result.changed.push(v)
    }
    // A VIP whose removal failed stays recorded: the next removeAll or start tries again.
    for (const v of list) if (!result.failed.some((f) => f.vip === v)) owned.delete(key(v))
    await save()
    for (const v of result.changed) log?.info({ vip: v.address, interface: v.interface }, 'VIP removed')
    for (const f of result.failed) log?.warn({ vip: f.vip.address, interface: f.vip.interface, err: f.err }, 'VIP removal failed')
    return result
  }

  const handle: Vips = {
    add(specs) {
      return serial(async () => {
        if (closing) throw new ERR_VIP_FAILED(specs.map((s) => s.address).join(', '), 'not added: the VIPs are closed (the director is stopping)')
        const list = dedupe(specs.map((s, i) => checkVip(s, `/vips/${i}`)))
        const result = empty()
        const ours = new Set(list.filter((v) => owned.has(key(v))).map(key))
        // Recorded before it exists: a crash after the add still finds it in the file.
        for (const v of list) owned.set(key(v), owned.get(key(v)) ?? v)
        if (ours.size < list.length) await save()
        // One `ip` process, started ahead (a takeover waits on it): the addresses before, the adds, the addresses after. An add
        // of an address already there fails alone (-force); the listings tell what each line did.
        const lines = ['addr show', ...list.map(addLine), 'addr show']
        const r = await ip(['-j', '-force', '-batch', '-'], lines.map((l) => `${l}\n`).join(''), addBatch)
        const shows = r.stdout.split('\n').filter((l) => l.startsWith('['))
        const before = shows.length === 2 ? addressesOf(shows[0]!) : undefined
        const after = shows.length === 2 ? addressesOf(shows[1]!) : await present().catch(() => new Map() as Addresses)
        const notAdded = (v: Vip) => failure(v, `ip addr add: ${oneLine(r.stderr) || `exit ${r.code}`}`)
        const undo: Vip[] = []
        for (const v of list) {
          const had = before?.get(key(v))
          const has = after.get(key(v))?.has(v.prefix) ?? false
          if (ours.has(key(v))) {
            // Ours and recorded; added again when something removed it meanwhile.
            if (had) result.unchanged.push(v)
            else if (has) result.changed.push(v)
            else result.failed.push(notAdded(v))
          } else if (had) {
            // An operator's address: left as it was (our host-prefix copy of it, if the kernel took one, goes again).
            if (!had.has(v.prefix) && has) undo.push(v)
            result.foreign.push(v)
            owned.delete(key(v))
            log?.info({ vip: v.address, interface: v.interface }, 'VIP already present, not added by this director: left alone')
          } else if (has) result.changed.push(v)
          else result.failed.push(notAdded(v))
        }
        if (undo.length) await batch(undo.map(delLine))
        for (const f of result.failed) owned.delete(key(f.vip))
        if (result.failed.length || result.foreign.length) await save()
        for (const v of result.changed) log?.info({ vip: v.address, interface: v.interface }, 'VIP added')
        for (const f of result.failed) log?.warn({ vip: f.vip.address, interface: f.vip.interface, err: f.err }, 'VIP add failed')
        return result
      })
    },
    remove(specs) {
      return serial(async () => {
        const list = dedupe(specs.map((s, i) => checkVip(s, `/vips/${i}`)))
        const result = empty()
        const ours = list.filter((v) => owned.has(key(v))).map((v) => owned.get(key(v))!)
        for (const v of list) {
          if (!owned.has(key(v))) {
            result.foreign.push(v)
            log?.info({ vip: v.address, interface: v.interface }, 'VIP not added by this director: not removed')
          }
        }
        if (ours.length === 0) return result
        return removeOwned(ours, result)
      })
    },
    removeAll() {
      return serial(async () => (owned.size ? removeOwned([...owned.values()], empty()) : empty()))
    },
    cleanupAfterCrash() {
      return serial(async () => {
        const left = (await load()).filter((v) => !owned.has(key(v)))
        if (left.length === 0) return empty()
        log?.warn({ vips: left.map((v) => `${v.address}%${v.interface}`) }, 'removing VIPs left by an earlier run')
        for (const v of left) owned.set(key(v), v)
        return removeOwned(left, empty())
      })
    },
    held: () => [...owned.values()],
    close() {
      closing ??= handle.removeAll().then(() => {}).finally(() => addBatch.close())
      return closing
    },
  }
  return handle
}

function dedupe(list: Vip[]): Vip[] {
  return [...new Map(list.map((v) => [key(v), v])).values()]
}

function oneLine(text: string): string {
  return text.trim().split('\n').map((l) => l.trim()).filter(Boolean).join('; ')
}
