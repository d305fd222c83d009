// The PBS profile: an HPC cluster's PBS server (TCP 15001) behind a VIP, one active server and warm spares,
// as HA-OSCAR keeps the head node's PBS reachable.
import type { DirectorProfile } from './profile.js'

/** PBS on TCP 15001, failover scheduling (the highest-weight live server takes every job), checked on its port. */
export const pbs: DirectorProfile = {
  name: 'pbs',
  description: 'PBS server on TCP 15001, fo (active and warm spares by weight), direct routing, port check',
  service: { protocol: 'tcp', port: 15001, scheduler: 'fo' },
  destination: { forwarding: 'dr' },
  check: { kind: 'pbs' },
}
