// Builds ipvsadm argument vectors for table changes, and the `ipvsadm -R` lines made from the same vectors.
// Every value here was validated by model.ts, so no argument can carry a space, a quote or a shell word.
import { hostPort, serviceKey, destinationKey, entryKey, type Destination, type Service, type Table } from './model.js'

/** One change to the kernel table. */
export type Op =
  | { kind: 'add-service' | 'edit-service' | 'delete-service'; service: Service }
  | { kind: 'add-dest' | 'edit-dest' | 'delete-dest'; service: Service; dest: Destination }

/** `-t addr:port`, `-u addr:port`, `-f mark` or `-f mark -6`. */
export function serviceIdArgs(s: Service): string[] {
  if (s.protocol === 'fwmark') return s.family === 'inet6' ? ['-f', String(s.fwmark), '-6'] : ['-f', String(s.fwmark)]
  return [s.protocol === 'tcp' ? '-t' : '-u', hostPort(s.address ?? '', s.port ?? 0)]
}

/** Arguments of `-A` (add) or `-E` (edit) for a service; -E sends the whole service, so absent = cleared. */
export function serviceArgs(cmd: '-A' | '-E', s: Service): string[] {
  const argv = [cmd, ...serviceIdArgs(s), '-s', s.scheduler]
  if (s.persistent !== undefined) argv.push('-p', String(s.persistent))
  // -M must follow the service (and -6): ipvsadm reads it by the family known so far.
  if (s.netmask !== undefined) argv.push('-M', String(s.netmask))
  if (s.pe) argv.push('--pe', s.pe)
  if (s.ops) argv.push('-o')
  if (s.flags.length > 0) argv.push('-b', s.flags.join(','))
  return argv
}

const FORWARD_SWITCH = { dr: '-g', nat: '-m', tun: '-i' } as const

/** Arguments of `-a` (add) or `-e` (edit) for a destination; -e sends the whole destination. */
export function destinationArgs(cmd: '-a' | '-e', s: Service, d: Destination): string[] {
  const argv = [cmd, ...serviceIdArgs(s), '-r', destinationKey(d), FORWARD_SWITCH[d.forwarding], '-w', String(d.weight)]
  if (d.upperThreshold) argv.push('-x', String(d.upperThreshold))
  if (d.lowerThreshold) argv.push('-y', String(d.lowerThreshold))
  if (d.forwarding === 'tun' && d.tunType && d.tunType !== 'ipip') {
    argv.push('--tun-type', d.tunType)
    if (d.tunPort) argv.push('--tun-port', String(d.tunPort))
    if (d.tunChecksum && d.tunChecksum !== 'nocsum') argv.push(`--tun-${d.tunChecksum}`)
  }
  return argv
}

/** The ipvsadm arguments (without the program name) that perform one change. */
export function opArgs(op: Op): string[] {
  switch (op.kind) {
    case 'add-service': return serviceArgs('-A', op.service)
    case 'edit-service': return serviceArgs('-E', op.service)
    case 'delete-service': return ['-D', ...serviceIdArgs(op.service)]
    case 'add-dest': return destinationArgs('-a', op.service, op.dest)
    case 'edit-dest': return destinationArgs('-e', op.service, op.dest)
    case 'delete-dest': return ['-d', ...serviceIdArgs(op.service), '-r', destinationKey(op.dest)]
  }
}

/** One `ipvsadm -R` input line for a change (the same arguments as opArgs, space-joined). */
export function restoreLine(op: Op): string {
  return opArgs(op).join(' ')
}

/** `ipvsadm -R` input for `ops`, a chunk of lines at a time (made as it is read: see Ipvsadm.restoreOps). */
export function* restoreText(ops: readonly Op[], linesPerChunk = 1000): Generator<string> {
  for (let i = 0; i < ops.length; i += linesPerChunk) {
    let chunk = ''
    for (const op of ops.slice(i, i + linesPerChunk)) chunk += `${restoreLine(op)}\n`
    yield chunk
  }
}

/** Identity of the entry an op touches: a service key, or `service -> destination`. */
export function opKey(op: Op): string {
  const s = serviceKey(op.service)
  return 'dest' in op ? entryKey(s, destinationKey(op.dest)) : s
}

/** The ops that build a whole table from nothing (services, each followed by its destinations). */
export function tableOps(table: Table): Op[] {
  return table.services.flatMap((service): Op[] => [
    { kind: 'add-service', service },
    ...service.destinations.map((dest): Op => ({ kind: 'add-dest', service, dest })),
  ])
}
