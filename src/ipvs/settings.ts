// Kernel-wide IPVS settings: connection timeouts (`--set`) and the connection-sync daemon, as schemas and argv.
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { withDefaults } from '../values.js'
import ipaddr from 'ipaddr.js'
import { canonicalAddress } from '../address.js'
import { invalid } from './model.js'

/** Connection timeouts in seconds; 0 keeps the kernel's current value (ipvsadm --set tcp tcpfin udp). */
export const TimeoutsSchema = Type.Object(
  {
    tcp: Type.Integer({ minimum: 0, maximum: 2147483, default: 0 }),
    tcpfin: Type.Integer({ minimum: 0, maximum: 2147483, default: 0 }),
    udp: Type.Integer({ minimum: 0, maximum: 2147483, default: 0 }),
  },
  { additionalProperties: false },
)
export type Timeouts = Static<typeof TimeoutsSchema>

/** The kernel's connection-sync daemon (ipvsadm --start-daemon). */
export const SyncDaemonSchema = Type.Object(
  {
    state: Type.Union([Type.Literal('master'), Type.Literal('backup')]),
    /** Interface name (IFNAMSIZ 16 with its NUL). */
    mcastInterface: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,15}$' }),
    syncid: Type.Integer({ minimum: 0, maximum: 255, default: 0 }),
    syncMaxlen: Type.Optional(Type.Integer({ minimum: 1, maximum: 65507 })),
    mcastGroup: Type.Optional(Type.String({ maxLength: 45 })),
    mcastPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    mcastTtl: Type.Optional(Type.Integer({ minimum: 1, maximum: 255 })),
  },
  { additionalProperties: false },
)
export type SyncDaemon = Static<typeof SyncDaemonSchema>

function check<T>(schema: TSchema, input: unknown, path: string): T {
  const { value, error } = withDefaults<T>(schema, input ?? {})
  if (error) throw invalid(`${path}${error.path}`, error.message)
  return value
}

/** `--set tcp tcpfin udp`; throws LVS_ERR_INVALID_VALUE on a bad value. */
export function timeoutArgs(input: Partial<Timeouts>): string[] {
  const t = check<Timeouts>(TimeoutsSchema, input, '/timeouts')
  return ['--set', String(t.tcp), String(t.tcpfin), String(t.udp)]
}

/** `--start-daemon state --mcast-interface if --syncid n [...]`; throws LVS_ERR_INVALID_VALUE on a bad value. */
export function startDaemonArgs(input: SyncDaemon): string[] {
  const d = check<SyncDaemon>(SyncDaemonSchema, input, '/syncDaemon')
  const argv = ['--start-daemon', d.state, '--mcast-interface', d.mcastInterface, '--syncid', String(d.syncid)]
  if (d.syncMaxlen !== undefined) argv.push('--sync-maxlen', String(d.syncMaxlen))
  if (d.mcastGroup !== undefined) {
    const group = canonicalAddress(d.mcastGroup)
    if (!group || ipaddr.parse(group.address).range() !== 'multicast') {
      throw invalid('/syncDaemon/mcastGroup', `${JSON.stringify(d.mcastGroup)} is not a multicast address`)
    }
    argv.push('--mcast-group', group.address)
  }
  if (d.mcastPort !== undefined) argv.push('--mcast-port', String(d.mcastPort))
  if (d.mcastTtl !== undefined) argv.push('--mcast-ttl', String(d.mcastTtl))
  return argv
}

/** `--stop-daemon master|backup`. */
export function stopDaemonArgs(state: 'master' | 'backup'): string[] {
  if (state !== 'master' && state !== 'backup') throw invalid('/syncDaemon/state', `${JSON.stringify(state)} is not master or backup`)
  return ['--stop-daemon', state]
}
