// The web profile: a single-IP web cluster (Apache/nginx behind one VIP), HTTP on TCP 80, direct routing.
import type { DirectorProfile } from './profile.js'

/** HTTP on TCP 80, weighted least-connection, DR, checked with `GET /` expecting 2xx (ldirectord's default). */
export const web: DirectorProfile = {
  name: 'web',
  description: 'HTTP on TCP 80, wlc, direct routing, checked with GET / (2xx)',
  service: { protocol: 'tcp', port: 80, scheduler: 'wlc' },
  destination: { forwarding: 'dr' },
  check: { kind: 'http', method: 'GET', path: '/' },
}
