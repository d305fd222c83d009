// The owned set: which kernel entries this director created (or adopted), so it touches only its own entries when
// it shares the kernel with other tools; how it follows an applied plan (whole or incrementally). The state file
// that keeps it across restarts is owned-journal.ts (re-exported here).
import { opKey, type Op } from './commands.js'
import { destinationKey, ENTRY_SEPARATOR, entryKey, sameDestination, serviceKey, type Destination, type Service, type Table } from './model.js'
import type { TableView } from './table-view.js'

export { loadOwned, loadOwnedState, OwnedStore, saveOwned, type OwnedState } from './owned-journal.js'

/** Keys of owned entries: service keys and `service -> destination` keys (see model.entryKey). */
export type Owned = ReadonlySet<string>

/** Where the owned set lives by default (one file per IPVS table, i.e. per network namespace). */
export const DEFAULT_OWNED_PATH = '/var/lib/lvs-director/owned.json'

/** A net change of the owned set: keys that became owned, keys that no longer are (disjoint). */
export interface OwnedDelta {
  added: string[]
  removed: string[]
}

/**
 * The owned set after applying a plan: what was owned, plus adopted entries and the entries the succeeded adds
 * created, minus whatever the kernel no longer holds (deleted by us or by someone else). Makes each owned entry's
 * key once: the table after is looked up by service key, and an add's real server found by address and port.
 */
export function nextOwned(before: Owned, adopted: string[], succeeded: Op[], kernelAfter: Table): Set<string> {
  const kernel = new Map<string, Service>()
  for (const s of kernelAfter.services) kernel.set(serviceKey(s), s)
  const destKeys = new Map<Service, Set<string>>() // made only for a service whose real servers are looked up by key
  const holdsDestKey = (svc: Service, key: string) => {
    let keys = destKeys.get(svc)
    if (!keys) destKeys.set(svc, (keys = new Set(svc.destinations.map(destinationKey))))
    return keys.has(key)
  }
  const holdsKey = (key: string) => {
    const i = key.indexOf(ENTRY_SEPARATOR)
    if (i < 0) return kernel.has(key)
    const svc = kernel.get(key.slice(0, i))
    return svc !== undefined && holdsDestKey(svc, key.slice(i + ENTRY_SEPARATOR.length))
  }
  // A few real servers are compared, many looked up by key.
  const holdsDest = (svc: Service, dest: Destination) => svc.destinations.length <= 32
    ? svc.destinations.some((d) => sameDestination(d, dest))
    : holdsDestKey(svc, destinationKey(dest))
  const next = new Set<string>()
  for (const key of before) if (holdsKey(key)) next.add(key)
  for (const key of adopted) if (holdsKey(key)) next.add(key)
  const keys = new Map<object, string>() // service key per service object (a plan's ops share them)
  for (const op of succeeded) {
    if (op.kind !== 'add-service' && op.kind !== 'add-dest') continue
    let s = keys.get(op.service)
    if (s === undefined) keys.set(op.service, (s = serviceKey(op.service)))
    const svc = kernel.get(s)
    if (!svc) continue
    if (!('dest' in op)) next.add(s)
    else if (holdsDest(svc, op.dest)) next.add(entryKey(s, destinationKey(op.dest)))
  }
  return next
}

/**
 * Update `owned` in place for `ops` that all succeeded (a clean batch) and the `adopted` keys, in time
 * proportional to the ops. `before` is the kernel view before the ops (a deleted service takes its real servers'
 * keys with it). Equals nextOwned when `owned` held only entries present in `before` (true after trimOwned).
 */
export function updateOwned(owned: Set<string>, adopted: Iterable<string>, ops: readonly Op[], before: TableView): OwnedDelta {
  const was = new Map<string, boolean>() // each touched key: owned before?
  const touch = (key: string) => { if (!was.has(key)) was.set(key, owned.has(key)) }
  const add = (key: string) => { touch(key); owned.add(key) }
  const remove = (key: string) => { touch(key); owned.delete(key) }
  const addedDests = new Map<string, string[]>() // real servers added by these ops, by service key
  for (const key of adopted) add(key)
  for (const op of ops) {
    if (op.kind === 'add-service') add(opKey(op))
    else if (op.kind === 'add-dest') {
      const key = opKey(op)
      add(key)
      const svc = serviceKey(op.service)
      const list = addedDests.get(svc)
      if (list) list.push(key)
      else addedDests.set(svc, [key])
    } else if (op.kind === 'delete-dest') remove(opKey(op))
    else if (op.kind === 'delete-service') {
      const key = serviceKey(op.service)
      remove(key)
      for (const d of before.get(key)?.destinations ?? []) remove(entryKey(key, destinationKey(d)))
      for (const k of addedDests.get(key) ?? []) remove(k)
    }
  }
  const delta: OwnedDelta = { added: [], removed: [] }
  for (const [key, before] of was) {
    const now = owned.has(key)
    if (now !== before) (now ? delta.added : delta.removed).push(key)
  }
  return delta
}

/** Replace the content of `owned` with `next` in place, returning the net change. */
export function replaceOwned(owned: Set<string>, next: ReadonlySet<string>): OwnedDelta {
  const delta: OwnedDelta = { added: [], removed: [] }
  for (const key of owned) if (!next.has(key)) { owned.delete(key); delta.removed.push(key) }
  for (const key of next) if (!owned.has(key)) { owned.add(key); delta.added.push(key) }
  return delta
}

/** Drop from `owned` every key the kernel `view` does not hold (after a read: someone else deleted it). */
export function trimOwned(owned: Set<string>, view: TableView): OwnedDelta {
  return replaceOwned(owned, nextOwned(owned, [], [], view.toTable()))
}
