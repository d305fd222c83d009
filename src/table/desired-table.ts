// The director's desired table: its services by name, a revision, and the one place every change (config
// load, reload, API write, drain end) is validated and applied. Pure and synchronous: persistence, health and
// the kernel are other rooms'. Every change names the services it touched, so reconcile works on those only.
import { createHash } from 'node:crypto'
import { ERR_BAD_REQUEST, ERR_DRAIN_LIMIT, ERR_EXISTS, ERR_NOT_FOUND, ERR_PRECONDITION } from '../errors.js'
import { canonicalAddress, destinationKey, hostPort } from '../ipvs/model.js'
import { checkUnique } from '../config/load.js'
import { normalizeServiceConfig, kernelKey, type CheckDefaults, type DesiredService } from '../config/service.js'
import type { RealConfig } from '../config/schema.js'
import { isObject } from '../values.js'

/** One change to the desired table. Bodies are raw (validated here); `real` is `address:port` or `[v6]:port`. */
export type Mutation =
  | { op: 'create-service'; body: unknown }
  | { op: 'replace-service'; name: string; body: unknown }
  | { op: 'patch-service'; name: string; body: unknown }
  | { op: 'delete-service'; name: string }
  | { op: 'add-real'; name: string; body: unknown }
  | { op: 'patch-real'; name: string; real: string; body: unknown; force?: boolean }
  | { op: 'delete-real'; name: string; real: string }

/** What a change did: the resource after it (none after a delete), and the services before and after. */
export interface Applied {
  revision: number
  service?: DesiredService
  real?: RealConfig
  /** Each touched service as it was and as it is (undefined = absent). */
  touched: Array<{ before?: DesiredService; after?: DesiredService }>
}

/** Limits a change is checked against. */
export interface TableLimits {
  checks: CheckDefaults
  /** Largest share of a service's real servers that may be draining or disabled at once. */
  maxDrainShare: number
}

/** A strong ETag of a resource's content: equal content, equal tag, on any director. */
export function etag(value: unknown): string {
  return `"${createHash('sha256').update(stableJson(value)).digest('base64url').slice(0, 22)}"`
}

function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`
  const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`
}

/** Equal content as etag() sees it (absent and undefined fields alike, key order ignored), without hashing. */
export function sameContent(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((v, i) => sameContent(v, (b as unknown[])[i]))
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined)
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined)
  return ka.length === kb.length && ka.every((k) => sameContent((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}

/** The key of a real server in paths and in the table: `192.0.2.11:80`, `[2001:db8::11]:80`. */
export const realKey = (r: Pick<RealConfig, 'address' | 'port'>): string => destinationKey(r)


/** The desired table. Services keep their order (config order, then creation order). */
export class DesiredTable {
  readonly #services = new Map<string, DesiredService>()
  /** Service name by kernel identity: a write checks its clash in O(1), not against every service. */
  readonly #byKernelKey = new Map<string, string>()
  #revision: number
  #limits: TableLimits

  constructor(services: readonly DesiredService[], revision: number, limits: TableLimits) {
    for (const s of services) this.#set(s)
    this.#revision = revision
    this.#limits = limits
  }

  /** Bumped by every change that changed something. */
  get revision(): number {
    return this.#revision
  }

  /** Limits for later changes (a reload may change them). */
  setLimits(limits: TableLimits): void {
    this.#limits = limits
  }

  list(): DesiredService[] {
    return [...this.#services.values()]
  }

  get(name: string): DesiredService | undefined {
    return this.#services.get(name)
  }

  /** The service called `name`, or LVS_ERR_NOT_FOUND. */
  service(name: string): DesiredService {
    const s = this.#services.get(name)
    if (!s) throw new ERR_NOT_FOUND(`service ${name}`)
    return s
  }

  /** The real server `real` (`addr:port`, `[v6]:port`, or a bare address meaning the service's port) of a service. */
  real(name: string, real: string): RealConfig {
    const s = this.service(name)
    const key = parseRealKey(real, s)
    const r = s.destinations.find((d) => realKey(d) === key)
    if (!r) throw new ERR_NOT_FOUND(`real server ${real} of service ${name}`)
    return r
  }

  /**
   * Validate and apply one change. `ifMatch` (an ETag, or `*`) must match the resource's current tag. Throws a
   * coded error (400, 404, 409, 412) and changes nothing when the change is refused.
   */
  apply(m: Mutation, ifMatch?: string): Applied {
    switch (m.op) {
      case 'create-service': {
        const s = this.#normalize(m.body)
        if (this.#services.has(s.name)) throw new ERR_EXISTS(`service ${s.name}`)
        return this.#commit([{ after: s }], { service: s })
      }
      case 'replace-service': {
        const before = this.service(m.name)
        precondition(`service ${m.name}`, before, ifMatch)
        const body = isObject(m.body) ? { ...m.body, name: m.body.name ?? m.name } : m.body
        const s = this.#normalize(body)
        if (s.name !== m.name) throw new ERR_BAD_REQUEST(`the body's name ${s.name} is not the path's ${m.name} (services are not renamed)`)
        return this.#commit([{ before, after: s }], { service: s })
      }
      case 'patch-service': {
        const before = this.service(m.name)
        precondition(`service ${m.name}`, before, ifMatch)
        if (!isObject(m.body)) throw new ERR_BAD_REQUEST('a PATCH body is a JSON object (merge patch)')
        for (const k of ['name', 'destinations']) {
          if (k in m.body) throw new ERR_BAD_REQUEST(k === 'name' ? 'services are not renamed' : 'change real servers through /reals')
        }
        const s = this.#normalize(mergePatch(before, m.body))
        return this.#commit([{ before, after: s }], { service: s })
      }
      case 'delete-service': {
        const before = this.service(m.name)
        precondition(`service ${m.name}`, before, ifMatch)
        return this.#commit([{ before }], {})
      }
      case 'add-real': {
        const before = this.service(m.name)
        if (!isObject(m.body)) throw new ERR_BAD_REQUEST('a real server is a JSON object')
        const key = realKey({ address: String(m.body.address), port: Number(m.body.port ?? before.port ?? 0) })
        if (before.destinations.some((d) => realKey(d) === canonicalKey(key))) throw new ERR_EXISTS(`real server ${key} of service ${m.name}`)
        // Without a forwarding method a new real server takes the one its siblings share (a NAT farm stays NAT).
        const methods = new Set(before.destinations.map((d) => d.forwarding))
        const body = m.body.forwarding === undefined && methods.size === 1 ? { ...m.body, forwarding: [...methods][0] } : m.body
        const after = this.#withReal(before, before.destinations.length, body)
        this.#checkDrainShare(before, after, m.name)
        return this.#commit([{ before, after }], { service: after, real: after.destinations.at(-1) })
      }
      case 'patch-real': {
        const before = this.service(m.name)
        const cur = this.real(m.name, m.real)
        precondition(`real server ${realKey(cur)} of service ${m.name}`, cur, ifMatch)
        if (!isObject(m.body)) throw new ERR_BAD_REQUEST('a PATCH body is a JSON object (merge patch)')
        for (const k of ['address', 'port'] as const) {
          if (k in m.body && m.body[k] !== cur[k]) throw new ERR_BAD_REQUEST(`${k} identifies the real server: delete it and add another`)
        }
        const i = before.destinations.indexOf(cur)
        const after = this.#withReal(before, i, mergePatch(cur, m.body))
        if (!m.force) this.#checkDrainShare(before, after, m.name)
        return this.#commit([{ before, after }], { service: after, real: after.destinations[i] })
      }
      case 'delete-real': {
        const before = this.service(m.name)
        const cur = this.real(m.name, m.real)
        precondition(`real server ${realKey(cur)} of service ${m.name}`, cur, ifMatch)
        const after = { ...before, destinations: before.destinations.filter((d) => d !== cur) }
        return this.#commit([{ before, after }], { service: after })
      }
    }
  }

  /** Replace the whole table (reload, restore); the change lists every service that differs. */
  replaceAll(services: readonly DesiredService[], ifMatch?: string): Applied {
    if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== this.tableTag()) throw new ERR_PRECONDITION('the table', ifMatch)
    checkUnique(services, (i) => `/services/${i}`)
    const touched = this.#differences(services)
    if (touched.length === 0) return { revision: this.#revision, touched }
    this.#replace(services)
    return { revision: ++this.#revision, touched }
  }

  /**
   * Become `services` at `revision` exactly (the pair's table from Redis, or the undo of a write Redis refused);
   * the change lists every service that differs.
   */
  reset(services: readonly DesiredService[], revision: number): Applied {
    const touched = this.#differences(services)
    this.#replace(services)
    this.#revision = revision
    return { revision, touched }
  }

  /** Take another director's change of a few services (null: deleted) at `revision`; new services go last. */
  applyChange(services: ReadonlyMap<string, DesiredService | null>, revision: number): Applied {
    const touched: Applied['touched'] = []
    for (const [name, after] of services) {
      const before = this.#services.get(name)
      if (before && after && sameContent(before, after)) continue
      if (before) this.#byKernelKey.delete(kernelKey(before))
      if (after) this.#set(after)
      else this.#services.delete(name)
      if (before || after) touched.push({ before, after: after ?? undefined })
    }
    this.#revision = revision
    return { revision, touched }
  }

  #differences(services: readonly DesiredService[]): Applied['touched'] {
    const next = new Map(services.map((s) => [s.name, s]))
    const touched: Applied['touched'] = []
    for (const [name, before] of this.#services) if (!next.has(name)) touched.push({ before })
    for (const after of services) {
      const before = this.#services.get(after.name)
      if (!before || !sameContent(before, after)) touched.push({ before, after })
    }
    return touched
  }

  #replace(services: readonly DesiredService[]): void {
    this.#services.clear()
    this.#byKernelKey.clear()
    for (const s of services) this.#set(s)
  }

  /** The ETag of the whole table (for export and restore). */
  tableTag(): string {
    return `"r${this.#revision}"`
  }

  #normalize(body: unknown, pathOf = (path: string) => path): DesiredService {
    try {
      return normalizeServiceConfig(body, '', this.#limits.checks)
    } catch (err) {
      const e = err as { path?: string; detail?: string }
      if (e.path === undefined) throw err
      throw new ERR_BAD_REQUEST(`${pathOf(e.path) || '/'}: ${e.detail}`, { cause: err })
    }
  }

  /**
   * `before` with real server `i` set to `body` (appended when i is the length). Only that real server is checked
   * and normalised (a one-real-server copy of the service: the same rules; identity is checked by the caller);
   * the others keep their objects.
   */
  #withReal(before: DesiredService, i: number, body: unknown): DesiredService {
    const one = this.#normalize({ ...before, destinations: [body] }, (path) => path.replace(/^\/destinations\/0/, `/destinations/${i}`))
    const destinations = [...before.destinations]
    destinations[i] = one.destinations[0]!
    return { ...before, destinations }
  }

  #checkDrainShare(before: DesiredService, after: DesiredService, name: string): void {
    const out = (s: DesiredService) => s.destinations.filter((d) => d.admin !== 'enabled').length
    const n = after.destinations.length
    if (out(after) > out(before) && out(after) > Math.floor(this.#limits.maxDrainShare * n)) {
      throw new ERR_DRAIN_LIMIT(`service ${name}`, `${out(after)} of ${n}`, String(this.#limits.maxDrainShare))
    }
  }

  #set(s: DesiredService): void {
    this.#services.set(s.name, s)
    this.#byKernelKey.set(kernelKey(s), s.name)
  }

  #commit(touched: Applied['touched'], result: Pick<Applied, 'service' | 'real'>): Applied {
    // A kernel identity (protocol, VIP, port) belongs to one service only.
    for (const t of touched) {
      if (!t.after) continue
      const holder = this.#byKernelKey.get(kernelKey(t.after))
      if (holder !== undefined && holder !== t.after.name && !touched.some((o) => o.before?.name === holder)) {
        throw new ERR_EXISTS(`service ${kernelKey(t.after)} (as ${holder})`)
      }
    }
    const changed = touched.filter((t) => !t.before || !t.after || !sameContent(t.before, t.after))
    if (changed.length === 0) return { revision: this.#revision, touched: [], ...result }
    for (const t of changed) {
      if (t.before) this.#byKernelKey.delete(kernelKey(t.before))
      if (t.before && !t.after) this.#services.delete(t.before.name)
    }
    for (const t of changed) if (t.after) this.#set(t.after) // Map.set keeps a replaced service's place
    return { revision: ++this.#revision, touched: changed, ...result }
  }
}

function precondition(what: string, current: unknown, ifMatch: string | undefined): void {
  if (ifMatch === undefined || ifMatch === '*') return
  const now = etag(current)
  if (!ifMatch.split(',').map((t) => t.trim().replace(/^W\//, '')).includes(now)) throw new ERR_PRECONDITION(what, ifMatch)
}

/** RFC 7386 JSON merge patch: null deletes, objects merge, anything else replaces. */
export function mergePatch<T>(target: T, patch: Record<string, unknown>): T {
  const out: Record<string, unknown> = { ...(target as Record<string, unknown>) }
  for (const [k, v] of Object.entries(patch)) {
    if (k === '__proto__') continue
    if (v === null) delete out[k]
    else if (isObject(v) && isObject(out[k])) out[k] = mergePatch(out[k], v)
    else out[k] = v
  }
  return out as T
}

function canonicalKey(key: string): string {
  const m = /^\[(.+)\]:(\d+)$/.exec(key) ?? /^([^:]+):(\d+)$/.exec(key)
  const a = m && canonicalAddress(m[1]!)
  return a ? hostPort(a.address, Number(m![2])) : key
}

/** A real server's key from a path segment: `addr:port`, `[v6]:port`, or a bare address (the service's port). */
export function parseRealKey(text: string, service: Pick<DesiredService, 'port' | 'protocol'>): string {
  const bare = canonicalAddress(text)
  if (bare) return hostPort(bare.address, service.protocol === 'fwmark' ? 0 : (service.port ?? 0))
  const m = /^\[(.+)\]:(\d{1,5})$/.exec(text) ?? /^([^:\]]+):(\d{1,5})$/.exec(text)
  const a = m && canonicalAddress(m[1]!)
  if (!a || Number(m![2]) > 65535) throw new ERR_BAD_REQUEST(`${JSON.stringify(text.slice(0, 80))} is not a real server (ADDRESS:PORT, [IPv6]:PORT)`)
  return hostPort(a.address, Number(m![2]))
}
