// The virtual IP addresses a director holds while active: added and removed over rtnetlink from the director's own
// process (native/packet.c: what `ip addr` sends, with no process to start on a takeover's critical path), recorded
// in a state file before they are added, so a director that crashed holding them removes them at its next start,
// and never an address this director did not add.
import { join } from 'node:path'
import { canonicalAddress } from '../address.js'
import { ERR_INVALID_VALUE, ERR_STATE_FILE, ERR_VIP_FAILED } from '../errors.js'
import { lvsPacket, type NativeAddress } from '../native.js'
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

/** The host's addresses, as the VIPs change them (tests pass one that works in a network namespace). */
export interface AddressTable {
  /** Every address of the network namespace. */
  list(): Promise<NativeAddress[]>
  /** Adds a VIP (IPv6: no DAD, never preferred); rejects with an Error whose `code` is the errno's name (EEXIST...). */
  add(vip: Vip): Promise<void>
  /** Removes a VIP's host-prefix address; rejects as add() does (EADDRNOTAVAIL: not there). */
  remove(vip: Vip): Promise<void>
}

/** The AddressTable of the process's own network namespace: rtnetlink through native/packet.c, no process. */
export const hostAddresses: AddressTable = {
  list: async () => lvsPacket().addresses(),
  add: async (v) => lvsPacket().changeAddress(true, v.interface, v.family, v.address, v.prefix, v.label ?? '', v.family === 6),
  remove: async (v) => lvsPacket().changeAddress(false, v.interface, v.family, v.address, v.prefix, '', false),
}

/** Options of {@link openVips}. */
export interface VipsOptions {
  /** The director's state directory; the VIPs it added are recorded in `ha-vips.json` there. */
  stateDir: string
  /** @default hostAddresses */
  addresses?: AddressTable
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

/** The addresses present, by address%interface, each with its prefix lengths. */
type Addresses = Map<string, Set<number>>

function addressesOf(list: NativeAddress[]): Addresses {
  const out: Addresses = new Map()
  for (const a of list) {
    const c = canonicalAddress(a.address)
    if (!c) continue
    const k = key({ address: c.address, interface: a.interface })
    out.set(k, (out.get(k) ?? new Set()).add(a.prefix))
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
  const { log } = options
  const table = options.addresses ?? hostAddresses
  const file = join(options.stateDir, VIP_STATE_FILE)
  const owned = new Map<string, Vip>()
  let chain: Promise<unknown> = Promise.resolve()
  let closing: Promise<void> | undefined

  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = chain.then(fn, fn)
    chain = next.catch(() => {})
    return next
  }

  // Addresses present now, by address%interface, each with its prefixes (an operator's 192.0.2.10/24 is the VIP too).
  async function present(): Promise<Addresses> {
    try {
      return addressesOf(await table.list())
    } catch (err) {
      throw new ERR_VIP_FAILED('addresses', `listing them: ${(err as Error).message}`)
    }
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

  const empty = (): VipResult => ({ changed: [], unchanged: [], foreign: [], failed: [] })
  const failure = (v: Vip, why: string) => ({ vip: v, err: new ERR_VIP_FAILED(`${v.address} on ${v.interface}`, why) })

  async function removeOwned(list: Vip[], result: VipResult): Promise<VipResult> {
    const before = await present()
    for (const v of list) {
      if (!before.get(key(v))?.has(v.prefix)) result.unchanged.push(v)
      else {
        try {
          await table.remove(v)
          result.changed.push(v)
        } catch (err) {
          result.failed.push(failure(v, `removing it: ${(err as Error).message}`))
        }
      }
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
        const before = await present()
        for (const v of list) {
          if (before.has(key(v))) {
            // Ours and there: nothing to do. Not ours: an operator's address (any prefix), left as it is.
            if (ours.has(key(v))) result.unchanged.push(v)
            else {
              result.foreign.push(v)
              owned.delete(key(v))
              log?.info({ vip: v.address, interface: v.interface }, 'VIP already present, not added by this director: left alone')
            }
            continue
          }
          try {
            await table.add(v)
            result.changed.push(v)
          } catch (err) {
            result.failed.push(failure(v, `adding it: ${(err as Error).message}`))
            owned.delete(key(v))
          }
        }
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
      closing ??= handle.removeAll().then(() => {})
      return closing
    },
  }
  return handle
}

function dedupe(list: Vip[]): Vip[] {
  return [...new Map(list.map((v) => [key(v), v])).values()]
}
