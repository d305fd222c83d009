// Pure diff of a desired table against the kernel's into a minimal, ordered plan that touches only owned entries.
import type { Op } from './commands.js'
import {
  destinationKey, sameDestinationAttrs, sameServiceAttrs, serviceKey,
  type Destination, type Service, type Table,
} from './model.js'
import type { Owned } from './owned.js'

/** What reconciling would do, and what it leaves alone. */
export interface Plan {
  /** Ordered: service adds/edits, destination adds/edits, destination deletes, service deletes. */
  ops: Op[]
  /** Kernel entries this director does not own and does not want: never touched. */
  foreign: string[]
  /** Entries the table wants that exist in the kernel but belong to someone else (not adopted). */
  conflicts: string[]
  /** Entries taken over by `adopt`; they become owned once the plan is applied. */
  adopted: string[]
}

/** Options of a diff. */
export interface DiffOptions {
  /** Take over existing entries the table names instead of reporting conflicts. @default false */
  adopt?: boolean
}

/** Key of a destination inside a service: `service -> addr:port`. */
export function entryKey(s: Service, d?: Destination): string {
  return d ? `${serviceKey(s)} -> ${destinationKey(d)}` : serviceKey(s)
}

/** Diff `desired` against `kernel`; only entries in `owned` (or adopted) are changed or deleted. */
export function diff(desired: Table, kernel: Table, owned: Owned, options: DiffOptions = {}): Plan {
  const plan: Plan = { ops: [], foreign: [], conflicts: [], adopted: [] }
  const svcOps: Op[] = []
  const destOps: Op[] = []
  const destDeletes: Op[] = []
  const svcDeletes: Op[] = []
  const kernelByKey = new Map(kernel.services.map((s) => [serviceKey(s), s]))
  const wantedKeys = new Set(desired.services.map((s) => serviceKey(s)))
  const mine = (key: string) => owned.has(key)

  for (const want of desired.services) {
    const key = serviceKey(want)
    const have = kernelByKey.get(key)
    if (!have) {
      svcOps.push({ kind: 'add-service', service: want })
      for (const dest of want.destinations) destOps.push({ kind: 'add-dest', service: want, dest })
      continue
    }
    if (!mine(key)) {
      if (!options.adopt) {
        plan.conflicts.push(key)
        continue
      }
      plan.adopted.push(key)
    }
    if (!sameServiceAttrs(want, have)) svcOps.push({ kind: 'edit-service', service: want })
    const haveDests = new Map(have.destinations.map((d) => [destinationKey(d), d]))
    for (const dest of want.destinations) {
      const dkey = entryKey(want, dest)
      const cur = haveDests.get(destinationKey(dest))
      if (!cur) destOps.push({ kind: 'add-dest', service: want, dest })
      else {
        if (!mine(dkey)) {
          if (!options.adopt) { plan.conflicts.push(dkey); continue }
          plan.adopted.push(dkey)
        }
        if (!sameDestinationAttrs(dest, cur)) destOps.push({ kind: 'edit-dest', service: want, dest })
      }
    }
    const wantDests = new Set(want.destinations.map((d) => destinationKey(d)))
    for (const cur of have.destinations) {
      if (wantDests.has(destinationKey(cur))) continue
      const dkey = entryKey(have, cur)
      if (mine(dkey)) destDeletes.push({ kind: 'delete-dest', service: have, dest: cur })
      else plan.foreign.push(dkey)
    }
  }

  for (const have of kernel.services) {
    const key = serviceKey(have)
    if (wantedKeys.has(key)) continue
    if (mine(key)) svcDeletes.push({ kind: 'delete-service', service: have })
    else plan.foreign.push(key, ...have.destinations.map((d) => entryKey(have, d)))
  }
  plan.ops = [...svcOps, ...destOps, ...destDeletes, ...svcDeletes]
  return plan
}

/** The table the kernel holds after `ops` succeed on `kernel` (pure; used to keep the director's view). */
export function applyOps(kernel: Table, ops: Op[]): Table {
  const services = new Map(kernel.services.map((s) => [serviceKey(s), { ...s, destinations: [...s.destinations] }]))
  for (const op of ops) {
    const key = serviceKey(op.service)
    const svc = services.get(key)
    switch (op.kind) {
      case 'add-service': if (!svc) services.set(key, { ...op.service, destinations: [] }); break
      case 'edit-service': if (svc) services.set(key, { ...op.service, destinations: svc.destinations }); break
      case 'delete-service': services.delete(key); break
      default: {
        if (!svc) break
        const dkey = destinationKey(op.dest)
        svc.destinations = svc.destinations.filter((d) => destinationKey(d) !== dkey)
        if (op.kind !== 'delete-dest') svc.destinations.push(op.dest)
      }
    }
  }
  return { services: [...services.values()] }
}

/** A table indexed by service key and destination key, for lookups in large tables. */
export type TableIndex = Map<string, { service: Service; destinations: Map<string, Destination> }>

/** Index a table once (O(n)) so that checking many ops against it stays linear. */
export function indexTable(table: Table): TableIndex {
  return new Map(table.services.map((s) => [serviceKey(s), { service: s, destinations: new Map(s.destinations.map((d) => [destinationKey(d), d])) }]))
}

/** True when the kernel table shows the effect of `op` (its entry present with its attributes, or gone). */
export function opHolds(kernel: TableIndex, op: Op): boolean {
  const svc = kernel.get(serviceKey(op.service))
  switch (op.kind) {
    case 'add-service': case 'edit-service': return !!svc && sameServiceAttrs(svc.service, op.service)
    case 'delete-service': return !svc
    default: {
      const d = svc?.destinations.get(destinationKey(op.dest))
      return op.kind === 'delete-dest' ? !d : !!d && sameDestinationAttrs(d, op.dest)
    }
  }
}
