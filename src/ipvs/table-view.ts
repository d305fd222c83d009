// A table indexed by service key and changed in place one service at a time: the director's picture of the
// kernel, kept up to date after each clean batch in time proportional to the change, not to the table.
import type { Op } from './commands.js'
import { sameDestination, serviceKey, type Service, type Table } from './model.js'

/**
 * Services by key, in table order. Service objects are never changed: a touched service is replaced by a new
 * object (copy on write), so a Service or Table handed out earlier keeps its value.
 */
export class TableView {
  readonly #services = new Map<string, Service>()
  /** Set when an apply could not learn what the kernel took (ipvsadm and the read failed): read before diffing. */
  stale = false

  /** Index `table` (O(n)); its service objects are shared, not copied. */
  constructor(table: Table = { services: [] }) {
    this.reset(table)
  }

  /** Replace the whole content with `table` (after a kernel read). */
  reset(table: Table): void {
    this.stale = false
    this.#services.clear()
    for (const s of table.services) this.#services.set(serviceKey(s), s)
  }

  /** Replace the services named by `keys` with those of `read` (a read of just those services; absent = gone). */
  replaceServices(keys: Iterable<string>, read: Table): void {
    for (const key of keys) this.#services.delete(key)
    for (const s of read.services) this.#services.set(serviceKey(s), s)
  }

  /** The service with this key, or undefined. */
  get(key: string): Service | undefined {
    return this.#services.get(key)
  }

  /** Number of services. */
  get size(): number {
    return this.#services.size
  }

  /** The services, in table order. */
  services(): IterableIterator<Service> {
    return this.#services.values()
  }

  /** A Table of the current content (O(n): a new array, services shared). */
  toTable(): Table {
    return { services: [...this.#services.values()] }
  }

  /** The effect of `ops` succeeding, in place: O(ops + destinations of the services they touch). */
  apply(ops: readonly Op[]): void {
    const copied = new Set<string>() // services already copied during this call, safe to change
    for (const op of ops) {
      const key = serviceKey(op.service)
      const svc = this.#services.get(key)
      switch (op.kind) {
        case 'add-service':
          if (!svc) { this.#services.set(key, { ...op.service, destinations: [] }); copied.add(key) }
          break
        case 'edit-service':
          // Map.set on an existing key keeps its place in the table order.
          if (svc) { this.#services.set(key, { ...op.service, destinations: [...svc.destinations] }); copied.add(key) }
          break
        case 'delete-service':
          this.#services.delete(key)
          copied.delete(key)
          break
        default: {
          if (!svc) break
          const own = copied.has(key) ? svc : { ...svc, destinations: [...svc.destinations] }
          if (own !== svc) { this.#services.set(key, own); copied.add(key) }
          const i = own.destinations.findIndex((d) => sameDestination(d, op.dest))
          // An edit keeps the real server's place, as the kernel does; an add goes last.
          if (op.kind === 'edit-dest' && i >= 0) own.destinations[i] = op.dest
          else {
            if (i >= 0) own.destinations.splice(i, 1)
            if (op.kind !== 'delete-dest') own.destinations.push(op.dest)
          }
        }
      }
    }
  }
}
