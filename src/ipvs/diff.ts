// Pure diff of a desired table against the kernel's into a minimal, ordered plan that touches only owned entries.
import type { Op } from './commands.js'
import {
  destinationKey, entryKey, sameDestinationAttrs, sameServiceAttrs, serviceKey,
  type Destination, type Service, type Table,
} from './model.js'
import type { Owned } from './owned.js'
import { TableView } from './table-view.js'

/** What reconciling would do, and what it leaves alone. */
export interface Plan {
  /**
   * Ordered: service by service, its add or edit and then its destinations' adds and edits; then destination
   * deletes; then service deletes. A service's destinations right after it: `ipvsadm -R` adds each destination by
   * looking its service up in the kernel's hash of services (256 chains), where a service just added is first in its
   * chain; with every service first, each lookup of a 10,000-service table walks half a chain of ~40 (in the lab, the
   * ipvsadm process's CPU time 11% over raw's at 10,000 services).
   */
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

/** Looks a service up by its key: a Map, or a TableView. */
export interface ServiceLookup {
  get(key: string): Service | undefined
}

/** Options of a full diff. */
export interface FullDiffOptions extends DiffOptions {
  /** Only these services (keys), as if the rest of both tables matched; the plan is the full one restricted. */
  only?: ReadonlySet<string>
}

/** Diff `desired` against `kernel`; only entries in `owned` (or adopted) are changed or deleted. */
export function diff(desired: Table, kernel: Table, owned: Owned, options: FullDiffOptions = {}): Plan {
  const wanted = new Map(desired.services.map((s) => [serviceKey(s), s]))
  const have = new Map(kernel.services.map((s) => [serviceKey(s), s]))
  // Wanted services in table order, then the kernel's other services in kernel order.
  const keys = [...wanted.keys(), ...[...have.keys()].filter((k) => !wanted.has(k))]
  const only = options.only
  return diffServices(wanted, have, owned, only ? keys.filter((k) => only.has(k)) : keys, options)
}

/**
 * Diff only the services named by `keys` (those a change touched): each one's wanted form (`desired.get`, none =
 * unwanted) against the kernel's. Costs the size of those services, not of the tables; equal to the full diff
 * restricted to them when the keys come in the full diff's order (desired order, then kernel order).
 */
export function diffServices(desired: ServiceLookup, kernel: ServiceLookup, owned: Owned, keys: Iterable<string>, options: DiffOptions = {}): Plan {
  const plan: Plan = { ops: [], foreign: [], conflicts: [], adopted: [] }
  const changes: Op[] = []
  const destDeletes: Op[] = []
  const svcDeletes: Op[] = []
  const mine = (key: string) => owned.has(key)

  for (const key of keys) {
    const want = desired.get(key)
    const have = kernel.get(key)
    if (!want) {
      if (!have) continue
      if (mine(key)) svcDeletes.push({ kind: 'delete-service', service: have })
      else plan.foreign.push(key, ...have.destinations.map((d) => entryKey(key, destinationKey(d))))
      continue
    }
    if (!have) {
      changes.push({ kind: 'add-service', service: want })
      for (const dest of want.destinations) changes.push({ kind: 'add-dest', service: want, dest })
      continue
    }
    if (!mine(key)) {
      if (!options.adopt) {
        plan.conflicts.push(key)
        continue
      }
      plan.adopted.push(key)
    }
    if (!sameServiceAttrs(want, have)) changes.push({ kind: 'edit-service', service: want })
    const haveDests = new Map(have.destinations.map((d) => [destinationKey(d), d]))
    for (const dest of want.destinations) {
      const dk = destinationKey(dest)
      const cur = haveDests.get(dk)
      if (!cur) changes.push({ kind: 'add-dest', service: want, dest })
      else {
        const dkey = entryKey(key, dk)
        if (!mine(dkey)) {
          if (!options.adopt) { plan.conflicts.push(dkey); continue }
          plan.adopted.push(dkey)
        }
        if (!sameDestinationAttrs(dest, cur)) changes.push({ kind: 'edit-dest', service: want, dest })
      }
    }
    const wantDests = new Set(want.destinations.map((d) => destinationKey(d)))
    for (const cur of have.destinations) {
      const dk = destinationKey(cur)
      if (wantDests.has(dk)) continue
      const dkey = entryKey(key, dk)
      if (mine(dkey)) destDeletes.push({ kind: 'delete-dest', service: have, dest: cur })
      else plan.foreign.push(dkey)
    }
  }
  plan.ops = [...changes, ...destDeletes, ...svcDeletes]
  return plan
}

/** The table the kernel holds after `ops` succeed on `kernel` (pure; see TableView.apply for the in-place form). */
export function applyOps(kernel: Table, ops: Op[]): Table {
  const view = new TableView(kernel)
  view.apply(ops)
  return view.toTable()
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
