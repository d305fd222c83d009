// The service profiles by name, and how a table's `profile:` field fills in a service's defaults.
import { invalid } from '../src/ipvs/model.js'
import type { DirectorProfile } from './profile.js'
import { pbs } from './pbs.js'
import { sip } from './sip.js'
import { web } from './web.js'
import { isObject } from '../src/values.js'

/** Every profile a table may name. */
export const profiles: Readonly<Record<string, DirectorProfile>> = { web, sip, pbs }


/**
 * Returns the raw table (as parsed from YAML, before validation) with each service's `profile` replaced by
 * that profile's defaults; fields the table gives win. An unknown profile is LVS_ERR_INVALID_VALUE at its path.
 */
export function applyProfiles(table: unknown): unknown {
  if (!isObject(table) || !Array.isArray(table.services)) return table
  const services = table.services.map((service: unknown, i) => {
    if (!isObject(service) || service.profile === undefined) return service
    const { profile: name, ...rest } = service
    const profile = typeof name === 'string' && Object.hasOwn(profiles, name) ? profiles[name] : undefined
    if (!profile) throw invalid(`/services/${i}/profile`, `unknown profile ${JSON.stringify(name)} (one of ${Object.keys(profiles).join(', ')})`)
    const destinations = Array.isArray(rest.destinations)
      ? rest.destinations.map((d: unknown) => (isObject(d) ? { ...profile.destination, ...d } : d))
      : rest.destinations
    return { ...profile.service, ...rest, ...(destinations === undefined ? {} : { destinations }) }
  })
  return { ...table, services }
}
