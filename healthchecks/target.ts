// Where a check probes: the real server, or the check's own address and port (ldirectord's checkport).
import type { CheckTarget } from './checker.js'
import { DEFAULT_PORTS, type CheckSpec } from './spec.js'

/** A real server as the target resolution sees it. */
export interface RealEndpoint {
  address: string
  /** 0 for a fwmark service's real server. */
  port: number
}

/** A virtual service as the target resolution sees it (a fwmark service passes the mark as `address`). */
export interface VirtualEndpoint {
  address?: string
  port?: number
  protocol: 'tcp' | 'udp'
}

/**
 * Resolves the probe target of one check for one real server. Address: `spec.address`, else the real's.
 * Port: `spec.port`, else the real's, else the virtual's, else the kind's default (http 80, https 443,
 * sip 5060, pbs 15001, dns 53), else 0. The real server's own endpoint is kept in `realAddress`/`realPort`.
 */
export function resolveTarget(spec: Pick<CheckSpec, 'kind' | 'address' | 'port'>, real: RealEndpoint, virtual: VirtualEndpoint): CheckTarget {
  return {
    address: spec.address ?? real.address,
    port: spec.port ?? (real.port || virtual.port || DEFAULT_PORTS[spec.kind] || 0),
    protocol: virtual.protocol,
    virtualAddress: virtual.address,
    virtualPort: virtual.port,
    realAddress: real.address,
    realPort: real.port,
  }
}
