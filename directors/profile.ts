// The shape every service profile has: the defaults a director applies to a web, SIP or PBS service.
import type { Destination, Service } from '../src/ipvs/model.js'

/** A kind of service a director serves, as defaults for the fields a table leaves out. */
export interface DirectorProfile {
  name: string
  /** One line for `--help` and the docs. */
  description: string
  /** Service fields (protocol, port, scheduler, persistence, ...) used where the table gives none. */
  service: Partial<Omit<Service, 'destinations' | 'address' | 'fwmark'>>
  /** Destination fields used where a real server gives none. */
  destination: Partial<Pick<Destination, 'forwarding' | 'weight'>>
  /** The health check these servers get unless one is given (a spec for healthchecks/spec.ts). */
  check: Record<string, unknown>
}
