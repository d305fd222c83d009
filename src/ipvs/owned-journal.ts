// The owned set's state file: a snapshot {"version":1,"entries":[...]} plus, for a running director, a journal of
// one line per change {"add":[...],"remove":[...]} (src/journal.ts: how the two make one state, torn writes,
// folding), so a change costs its own size and not a rewrite of the set.
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { JournalWriter, readJournaled, writeSnapshot, type JournalFormat } from '../journal.js'
import type { Owned, OwnedDelta } from './owned.js'

const Key = Type.String({ maxLength: 200 })
const SnapshotSchema = Type.Object({ entries: Type.Array(Key) })
const LineSchema = Type.Object({ add: Type.Array(Key), remove: Type.Array(Key) })

const format: JournalFormat<Set<string>> = {
  what: 'an owned-set file ({version: 1, entries: [...]})',
  readSnapshot(body) {
    if (!Value.Check(SnapshotSchema, body)) throw new Error(`not ${format.what}`)
    return new Set(body.entries)
  },
  applyLine(owned, line) {
    if (!Value.Check(LineSchema, line)) return false
    for (const key of line.remove) owned.delete(key)
    for (const key of line.add) owned.add(key)
    return true
  },
}

const snapshotOf = (owned: Iterable<string>) => () => ({ entries: [...owned].sort() })

/** The owned set as stored, and what was ignored in reading it (a torn last journal line). */
export interface OwnedState {
  owned: Set<string>
  /** One message per ignored torn line, for the caller to log. */
  warnings: string[]
}

/** loadOwned, with the warnings of a torn journal end (to log). A missing file is an empty set. */
export async function loadOwnedState(path: string): Promise<OwnedState> {
  const { state, warnings } = await readJournaled(path, format)
  return { owned: state ?? new Set(), warnings }
}

/** Read the owned set (snapshot plus its journal); a missing file is an empty set, a corrupt one LVS_ERR_STATE_FILE. */
export async function loadOwned(path: string): Promise<Set<string>> {
  return (await loadOwnedState(path)).owned
}

/** Write the owned set as a snapshot atomically (creating the folder when needed); any journal stops counting. */
export function saveOwned(path: string, owned: Owned): Promise<void> {
  return writeSnapshot(path, snapshotOf(owned)())
}

/**
 * The owned set of a running director (the only writer of its file): each change appended to the journal and
 * fdatasync'd, O(size of the change); the journal folded into a new snapshot of `owned` once it outgrows it.
 */
export class OwnedStore {
  readonly #writer: JournalWriter

  private constructor(writer: JournalWriter) {
    this.#writer = writer
  }

  get path(): string {
    return this.#writer.path
  }

  /** Load the owned set and start a fresh snapshot and journal (dropping any torn last line, named in `warnings`). */
  static async open(path: string): Promise<OwnedState & { store: OwnedStore }> {
    const { owned, warnings } = await loadOwnedState(path)
    const store = new OwnedStore(new JournalWriter(path))
    await store.compact(owned)
    return { store, owned, warnings }
  }

  /** Append one change (no-op when empty); `owned` is the set with the change made (iterated only to fold). */
  async record(owned: Iterable<string>, delta: OwnedDelta): Promise<void> {
    if (delta.added.length === 0 && delta.removed.length === 0) return
    return this.#writer.append({ add: delta.added, remove: delta.removed }, snapshotOf(owned))
  }

  /** Write `owned` as a new snapshot with an empty journal (O(set); also after a full table read). */
  compact(owned: Iterable<string>): Promise<void> {
    return this.#writer.compact(snapshotOf(owned))
  }

  /** Close the journal (the files stay valid as they are). */
  close(): Promise<void> {
    return this.#writer.close()
  }
}
