// One service of the director's desired table in its canonical form: profile applied, schema-checked, the
// IPVS part normalised by the model, the health check resolved, the name filled in. The same function serves
// the config file, a reload and every API write, so all three accept and refuse exactly the same things.
import { applyProfiles, profiles } from '../../directors/index.js'
import { parseCheckSpec, type CheckSpec } from '../../healthchecks/spec.js'
import { describeError, invalid, normalizeService, serviceKey, type Destination, type Service } from '../ipvs/model.js'
import { ServiceConfigSchema, type DirectorSettings, type FallbackConfig, type RealConfig, type ServiceConfig } from './schema.js'
import { isObject, withDefaults, withFields } from '../values.js'

/** A service as the director keeps it: every default filled in, name and check always present. */
export type DesiredService = ServiceConfig & { name: string; check: CheckSpec }

/** Check timing defaults from the director's settings. */
export type CheckDefaults = Omit<DirectorSettings['checks'], 'maxConcurrent'>

// ldirectord guesses the check from the port when none is given (its `service` auto-detection).
const CHECK_BY_PORT: Record<number, string> = { 80: 'http', 443: 'https', 5060: 'sip', 15001: 'pbs' }

/** The name a service gets when it has none: `tcp-192.0.2.100-80`, `udp-2001-db8--1-5060`, `fwmark-7`. */
export function defaultName(s: Pick<Service, 'protocol' | 'address' | 'port' | 'fwmark' | 'family'>): string {
  if (s.protocol === 'fwmark') return `fwmark${s.family === 'inet6' ? '6' : ''}-${s.fwmark}`
  return `${s.protocol}-${(s.address ?? '').replace(/[:.]/g, (c) => (c === ':' ? '-' : '.'))}-${s.port}`
}


/**
 * Validate and normalise one service (raw, as parsed from YAML or JSON). Throws LVS_ERR_INVALID_VALUE with the
 * field's JSON pointer below `path` (LVS_ERR_INVALID_CHECK's field is re-raised the same way).
 */
export function normalizeServiceConfig(input: unknown, path = '', checks: CheckDefaults = {}): DesiredService {
  if (!isObject(input)) throw invalid(path, 'a service must be a mapping')
  const profileName = typeof input.profile === 'string' && Object.hasOwn(profiles, input.profile) ? input.profile : undefined
  // applyProfiles works on a table; a one-service table keeps its error paths ("/services/0/...") mappable.
  let raw: Record<string, unknown>
  try {
    raw = (applyProfiles({ services: [input] }) as { services: Record<string, unknown>[] }).services[0]!
  } catch (err) {
    throw rebase(err, path)
  }
  if (profileName) raw.profile = profileName
  const { check: rawCheck, ...rest } = raw
  const { value, error } = withDefaults<ServiceConfig>(ServiceConfigSchema, rest)
  if (error) throw invalid(`${path}${error.path}`, describeError(error))
  const { name, profile, check: _c, quiescent, fallback, drainTimeout, destinations, ...ipvsFields } = value
  const admin = destinations.map((d) => d.admin)
  const ipvs = normalizeService({ ...ipvsFields, destinations: destinations.map(({ admin: _a, ...d }) => d) }, path)
  const check = resolveCheck(rawCheck, profileName, ipvs, checks, `${path}/check`)
  const out: DesiredService = {
    name: name ?? defaultName(ipvs),
    ...(profile ? { profile } : {}),
    ...withoutDestinations(ipvs),
    check,
    quiescent,
    drainTimeout,
    destinations: ipvs.destinations.map((d, i): RealConfig => withFields(d, { port: d.port ?? 0, admin: admin[i] ?? 'enabled' })),
  }
  if (fallback) out.fallback = normalizeFallback(fallback, ipvs, `${path}/fallback`)
  return out
}

function withoutDestinations(s: Service): Omit<Service, 'destinations'> {
  const { destinations: _d, ...rest } = s
  return rest
}

function resolveCheck(raw: unknown, profileName: string | undefined, s: Service, defaults: CheckDefaults, path: string): CheckSpec {
  const base = raw !== undefined ? raw : profileName ? profiles[profileName]!.check : { kind: CHECK_BY_PORT[s.port ?? 0] ?? 'connect' }
  if (!isObject(base)) throw invalid(path, 'a check must be a mapping with a kind')
  const timing = Object.fromEntries(Object.entries(defaults).filter(([, v]) => v !== undefined))
  try {
    return parseCheckSpec({ ...timing, ...base }) as CheckSpec
  } catch (err) {
    const e = err as { code?: string; message: string }
    // LVS_ERR_INVALID_CHECK says "invalid health check <field>: <why>"; keep the why, point at the field.
    const m = /^invalid health check (\S+): (.*)$/s.exec(e.message)
    throw invalid(m ? `${path}/${m[1]!.replace(/\./g, '/').replace(/\[(\d+)\]/g, '/$1')}`.replace(/\/\(spec\)$/, '') : path, m ? m[2]! : e.message)
  }
}

function normalizeFallback(f: FallbackConfig, s: Service, path: string): FallbackConfig {
  // The model checks it as one more destination of this service (family, port rules, address).
  let d: Destination
  try {
    d = normalizeService({ ...s, destinations: [{ ...f, upperThreshold: 0, lowerThreshold: 0 }] as Destination[] }).destinations[0]!
  } catch (err) {
    const e = err as { path?: string; detail?: string }
    throw e.path === undefined ? err : invalid(`${path}${e.path.replace(/^\/destinations\/0/, '')}`, e.detail ?? '')
  }
  if (s.destinations.some((r) => r.address === d.address && r.port === d.port)) throw invalid(path, `${d.address} is already a real server of this service`)
  return { address: d.address, port: d.port ?? 0, forwarding: d.forwarding, weight: f.weight }
}

// An error from a one-service table ("/services/0/x") re-pointed below `path`.
function rebase(err: unknown, path: string): unknown {
  const e = err as { path?: string; detail?: string }
  if (e.path === undefined) return err
  return invalid(`${path}${e.path.replace(/^\/services\/0/, '')}`, e.detail ?? '')
}

/** The kernel identity of a desired service (`tcp/192.0.2.100:80`). */
export const kernelKey = (s: DesiredService): string => serviceKey(s)
