// Reads the director's config file: YAML (a table file is a valid config), validated against one schema, each
// service normalised as the API normalises it. Every error names the file, the line and the field.
import ipaddr from 'ipaddr.js'
import { canonicalAddress, parseHostPort } from '../address.js'
import { ERR_INVALID_CONFIG } from '../errors.js'
import { describeError, invalid } from '../ipvs/model.js'
import { DirectorSettingsSchema, type DirectorSettings, type PairSettings, type RedisSettings } from './schema.js'
import { normalizeServiceConfig, kernelKey, type DesiredService } from './service.js'
import { parseValidated, readText } from './yaml.js'
import { isObject, withDefaults } from '../values.js'

/** A loaded config: the director's settings and its services, canonical and frozen. */
export interface LoadedConfig {
  director: Readonly<DirectorSettings>
  services: readonly DesiredService[]
}


/** Validate a parsed config value; throws LVS_ERR_INVALID_VALUE with the field's JSON pointer. */
export function parseConfig(input: unknown): LoadedConfig {
  const root = input ?? {}
  if (!isObject(root)) throw invalid('', 'the config must be a mapping with director: and services:')
  for (const key of Object.keys(root)) if (key !== 'director' && key !== 'services') throw invalid(`/${key}`, 'unknown field (director, services)')
  const { value: director, error } = withDefaults<DirectorSettings>(DirectorSettingsSchema, root.director ?? {})
  if (error) throw invalid(`/director${error.path}`, describeError(error))
  checkListen(director)
  if (director.redis) checkRedis(director.redis)
  if (director.pair) {
    if (!director.redis) throw invalid('/director/pair', 'a pair shares its table through Redis: configure director.redis')
    checkPair(director.pair)
  }
  const raw = root.services ?? []
  if (!Array.isArray(raw)) throw invalid('/services', 'must be a list of services')
  const { maxConcurrent: _m, ...checks } = director.checks
  const services = raw.map((s, i) => normalizeServiceConfig(s, `/services/${i}`, checks))
  checkUnique(services, (i) => `/services/${i}`)
  return deepFreeze({ director, services })
}

/** Throws when two services share a name or a kernel identity (`pathOf(i)` points at the later one). */
export function checkUnique(services: readonly DesiredService[], pathOf: (i: number) => string): void {
  const names = new Map<string, number>()
  const keys = new Map<string, number>()
  services.forEach((s, i) => {
    if (names.has(s.name)) throw invalid(`${pathOf(i)}/name`, `name ${s.name} is used twice`)
    const key = kernelKey(s)
    if (keys.has(key)) throw invalid(pathOf(i), `service ${key} appears twice (also as ${services[keys.get(key)!]!.name})`)
    names.set(s.name, i)
    keys.set(key, i)
  })
}

/** `ADDRESS:PORT` of the API, parsed. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text)
  const port = Number(m?.[2])
  if (!m || !ipaddr.isValid(m[1]!) || !(port >= 0 && port <= 65535)) throw invalid('/director/api/listen', `${JSON.stringify(text)} is not ADDRESS:PORT`)
  return { host: ipaddr.parse(m[1]!).toString(), port }
}

// Without tokens anyone who reaches the port may change the table: allow that on loopback only.
function checkListen(d: DirectorSettings): void {
  const { host } = parseListen(d.api.listen)
  if (d.api.tokens.length === 0 && ipaddr.parse(host).range() !== 'loopback') {
    throw invalid('/director/api/listen', `${host} is not a loopback address: configure director.api.tokens to listen there`)
  }
}

// One way to find Redis, and one way to give each secret.
function checkRedis(r: RedisSettings): void {
  const ways = [r.url, r.host, r.sentinels].filter((w) => w !== undefined).length
  if (ways !== 1) throw invalid('/director/redis', 'name Redis one way: url, host (and port), or sentinels (and name)')
  if (r.sentinels && !r.name) throw invalid('/director/redis/name', "the Sentinels' master name is required with sentinels")
  if (r.port !== undefined && !r.host) throw invalid('/director/redis/port', 'port goes with host')
  if (r.password && r.passwordFile) throw invalid('/director/redis/passwordFile', 'give password or passwordFile, not both')
  if (r.sentinelPassword && r.sentinelPasswordFile) throw invalid('/director/redis/sentinelPasswordFile', 'give sentinelPassword or sentinelPasswordFile, not both')
}

function checkPair(p: PairSettings): void {
  const h = p.heartbeat
  if ((h.key === undefined) === (h.keyFile === undefined)) throw invalid('/director/pair/heartbeat/key', 'give the heartbeat key or keyFile (one of them)')
  const address = (path: string, text: string, parse: (t: string) => unknown) => {
    try {
      parse(text)
    } catch (err) {
      throw invalid(path, (err as { detail?: string }).detail ?? (err as Error).message)
    }
  }
  h.paths.forEach((path, i) => {
    for (const end of ['local', 'peer'] as const) address(`/director/pair/heartbeat/paths/${i}/${end}`, path[end], parseHostPort)
  })
  p.vips.forEach((v, i) => {
    if (!canonicalAddress(v.address)) throw invalid(`/director/pair/vips/${i}/address`, `${JSON.stringify(v.address)} is not an IP address`)
  })
  if (p.lease.margin >= p.lease.ttl) throw invalid('/director/pair/lease/margin', 'the margin must be shorter than the ttl')
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

/** Parse config text; `source` names the file in errors (LVS_ERR_INVALID_CONFIG, with line and field). */
export function parseConfigText(text: string, source: string): LoadedConfig {
  return parseValidated(text, source, parseConfig, ERR_INVALID_CONFIG)
}

/** Read and validate a config file; LVS_ERR_FILE_READ when unreadable, LVS_ERR_INVALID_CONFIG when wrong. */
export async function loadConfig(path: string): Promise<LoadedConfig> {
  return parseConfigText(await readText(path), path)
}
