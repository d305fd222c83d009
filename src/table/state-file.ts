// The desired table on disk for a director without Redis: one JSON file in the state directory, written
// atomically after every change (concurrent changes share one write), so an acknowledged API write survives a
// restart. It keeps the config the table was last merged with (`base`), so a reload or a restart with an edited
// config changes only what the config changed (see reload-merge.ts), and the drains in progress.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ERR_STATE_FILE } from '../errors.js'
import { writeAtomic } from '../fs-atomic.js'
import { normalizeServiceConfig, type CheckDefaults, type DesiredService } from '../config/service.js'

/** What is kept across restarts. Drain start times are wall-clock ms, keyed `service|address:port`. */
export interface PersistedTable {
  revision: number
  base: DesiredService[]
  services: DesiredService[]
  drains: Record<string, number>
}

/** The desired-table file of one state directory. */
export class StateFile {
  readonly path: string
  #writing: Promise<void> = Promise.resolve()
  #next: PersistedTable | undefined
  #queued: Promise<void> | undefined

  constructor(dir: string) {
    this.path = join(dir, 'desired.json')
  }

  /** The stored table, or undefined when there is none yet. LVS_ERR_STATE_FILE when unreadable or invalid. */
  async load(checks: CheckDefaults = {}): Promise<PersistedTable | undefined> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new ERR_STATE_FILE(this.path, (err as Error).message)
    }
    try {
      const data = JSON.parse(text) as Partial<PersistedTable> & { version?: number }
      if (data.version !== 1 || !Array.isArray(data.services) || !Array.isArray(data.base)) throw new Error('not a desired-table file (version 1)')
      const norm = (list: unknown[], what: string) => list.map((s, i) => normalizeServiceConfig(s, `/${what}/${i}`, checks))
      const drains = Object.fromEntries(Object.entries(data.drains ?? {}).filter(([, v]) => typeof v === 'number'))
      return { revision: Number(data.revision) || 0, base: norm(data.base, 'base'), services: norm(data.services, 'services'), drains }
    } catch (err) {
      const e = err as { path?: string; detail?: string; message: string }
      throw new ERR_STATE_FILE(this.path, e.path !== undefined ? `${e.path}: ${e.detail}` : e.message)
    }
  }

  /**
   * Write `table` (atomically). Resolves once a write that started after this call is on disk; calls that arrive
   * while a write runs share the next one (group commit), so a burst of API writes costs few file writes.
   */
  save(table: PersistedTable): Promise<void> {
    this.#next = table
    this.#queued ??= this.#writing.then(async () => {
      this.#queued = undefined
      const t = this.#next!
      await writeAtomic(this.path, `${JSON.stringify({ version: 1, ...t })}\n`, 0o600)
    })
    this.#writing = this.#queued.catch(() => {})
    return this.#queued
  }
}
