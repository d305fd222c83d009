// The SIP profile: a SIP farm on UDP 5060 whose calls stay on one server, by Call-ID, through IPVS's SIP
// persistence engine (ip_vs_pe_sip); ldirectord cannot set it, keepalived can but has no SIP check.
import type { DirectorProfile } from './profile.js'

/** SIP on UDP 5060, rr, persistence by Call-ID for 15 minutes after a call's last packet, checked with OPTIONS. */
export const sip: DirectorProfile = {
  name: 'sip',
  description: 'SIP on UDP 5060, rr, calls kept on one server by Call-ID (pe sip, 900 s), checked with OPTIONS',
  service: { protocol: 'udp', port: 5060, scheduler: 'rr', persistent: 900, pe: 'sip' },
  destination: { forwarding: 'dr' },
  check: { kind: 'sip' },
}
