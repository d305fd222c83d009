// The desired table on disk for a director without Redis: a snapshot `desired.json` and a journal of one line per
// change (src/journal.ts), so an acknowledged API write survives a restart and costs one appended line (changes
// that arrive together share one write). It keeps the config the table was last merged with (`base`), so a reload
// or a restart with an edited config changes only what the config changed (see reload-merge.ts), and the drains
// in progress.
import { join } from 'node:path'
import { ERR_STATE_FILE } from '../errors.js'
import { JournalWriter, readJournaled, type JournalFormat } from '../journal.js'
import { normalizeServiceConfig, type CheckDefaults, type DesiredService } from '../config/service.js'
import { isObject } from '../values.js'

/** What is kept across restarts. Drain start times are wall-clock ms, keyed `service|address:port`. */
export interface PersistedTable {
  revision: number
  base: DesiredService[]
  services: DesiredService[]
  drains: Record<string, number>
}

/**
 * One change of a few services: each touched service as it is now (null: deleted), and the drains of those
 * services (wall-clock start by real server key). A reload or restore writes the whole table instead.
 */
export interface TableChange {
  revision: number
  services: Record<string, DesiredService | null>
  drains: Record<string, Record<string, number>>
}

/** Where the director keeps its desired table (this file; Redis for a pair). */
export interface TableStore {
  /** Keep one change; resolves once it is durable. `whole` gives the table with the change made. */
  record(change: TableChange, whole: () => PersistedTable): Promise<void>
  /** Keep the whole table (start, reload, restore). */
  compact(whole: () => PersistedTable): Promise<void>
}

/** The file's state while it is read: services by name (in table order), not yet checked. */
interface RawTable {
  revision: number
  base: unknown[]
  services: Map<string, unknown>
  drains: Map<string, number>
}

const numbers = (o: unknown): Array<[string, number]> =>
  isObject(o) ? Object.entries(o).filter((e): e is [string, number] => typeof e[1] === 'number') : []

const format: JournalFormat<RawTable> = {
  what: 'a desired-table file (version 1)',
  readSnapshot(body) {
    if (!Array.isArray(body.services) || !Array.isArray(body.base)) throw new Error(`not ${format.what}`)
    const services = new Map<string, unknown>(body.services.map((s, i) => [isObject(s) && typeof s.name === 'string' ? s.name : `#${i}`, s]))
    return { revision: Number(body.revision) || 0, base: body.base, services, drains: new Map(numbers(body.drains)) }
  },
  applyLine(t, line) {
    if (!isObject(line) || typeof line.revision !== 'number' || !isObject(line.services) || !isObject(line.drains)) return false
    for (const [name, s] of Object.entries(line.services)) {
      if (s === null) t.services.delete(name)
      else t.services.set(name, s) // a replaced service keeps its place
    }
    for (const [name, reals] of Object.entries(line.drains)) {
      for (const id of [...t.drains.keys()]) if (id.startsWith(`${name}|`)) t.drains.delete(id)
      for (const [real, since] of numbers(reals)) t.drains.set(`${name}|${real}`, since)
    }
    t.revision = line.revision
    return true
  },
}

/** The desired-table file of one state directory. */
export class StateFile implements TableStore {
  readonly path: string
  readonly #writer: JournalWriter

  constructor(dir: string) {
    this.path = join(dir, 'desired.json')
    this.#writer = new JournalWriter(this.path)
  }

  /** The stored table, or undefined when there is none yet; `warn` hears of a torn last line (ignored). */
  async load(checks: CheckDefaults = {}, warn: (message: string) => void = () => {}): Promise<PersistedTable | undefined> {
    const { state: t, warnings } = await readJournaled(this.path, format)
    for (const w of warnings) warn(w)
    if (!t) return undefined
    try {
      const norm = (list: unknown[], what: string) => list.map((s, i) => normalizeServiceConfig(s, `/${what}/${i}`, checks))
      return { revision: t.revision, base: norm(t.base, 'base'), services: norm([...t.services.values()], 'services'), drains: Object.fromEntries(t.drains) }
    } catch (err) {
      const e = err as { path?: string; detail?: string; message: string }
      throw new ERR_STATE_FILE(this.path, e.path !== undefined ? `${e.path}: ${e.detail}` : e.message)
    }
  }

  /** Append one change; resolves once it is on disk. `whole` is the table with the change made. */
  record(change: TableChange, whole: () => PersistedTable): Promise<void> {
    return this.#writer.append(change, whole)
  }

  /** Write the whole table (start, reload, restore); resolves once it is on disk. */
  compact(whole: () => PersistedTable): Promise<void> {
    return this.#writer.compact(whole)
  }

  /** Finish pending writes and close the journal. */
  close(): Promise<void> {
    return this.#writer.close()
  }
}
