// The owned set's state file: a JSON snapshot written atomically, plus (for a running director) an append-only
// journal next to it, one fsync'd line per change, so a change costs its own size and not a rewrite of the set.
//
// Files: `<path>` = {"version":1,"entries":[...]} (compact), with "journal":"<id>" when a journal goes with it;
// `<path>.journal` = a first line {"journal":"<id>"}, then one line per change {"add":[...],"remove":[...]}.
// The journal counts only when its id is the snapshot's: writing a new snapshot (rename) is the commit point
// that retires the old journal, so a crash between that rename and the new journal loses nothing and replays
// nothing twice. A torn last line (a write cut short by a crash or a full disk: no newline, or not a change) is
// ignored with a warning: its change was never acknowledged. A bad line before the last is corruption. After a
// failed append the store never appends to that journal again (the next change would be glued to the torn
// bytes): it writes a new snapshot instead. The journal is folded into a new snapshot when it outgrows the snapshot.
import { randomUUID } from 'node:crypto'
import { open, readFile, rm, type FileHandle } from 'node:fs/promises'
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { ERR_STATE_FILE } from '../errors.js'
import { writeAtomic } from '../fs-atomic.js'
import type { Owned, OwnedDelta } from './owned.js'

const Key = Type.String({ maxLength: 200 })
const SnapshotSchema = Type.Object({ version: Type.Literal(1), journal: Type.Optional(Type.String()), entries: Type.Array(Key) })
const HeaderSchema = Type.Object({ journal: Type.String() })
const LineSchema = Type.Object({ add: Type.Array(Key), remove: Type.Array(Key) })

/** Below this size the journal is never folded (rewriting a tiny snapshot per change would be busy work). */
const MIN_COMPACT_BYTES = 64 * 1024

const journalPath = (path: string) => `${path}.journal`

function stateError(path: string, err: unknown): Error {
  return (err as { code?: string }).code === 'LVS_ERR_STATE_FILE' ? (err as Error) : new ERR_STATE_FILE(path, (err as Error).message)
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ERR_STATE_FILE(path, (err as Error).message)
  }
}

function parseJson(path: string, text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ERR_STATE_FILE(path, (err as Error).message)
  }
}

/** The owned set as stored, and what was ignored in reading it (a torn last journal line). */
export interface OwnedState {
  owned: Set<string>
  /** One message per ignored torn line, for the caller to log. */
  warnings: string[]
}

/** Snapshot + journal as stored, and the sizes the store needs. */
async function readState(path: string): Promise<OwnedState & { snapshotBytes: number }> {
  const text = await readText(path)
  if (text === undefined) return { owned: new Set(), warnings: [], snapshotBytes: 0 }
  const data = parseJson(path, text)
  if (!Value.Check(SnapshotSchema, data)) throw new ERR_STATE_FILE(path, 'not an owned-set file ({version: 1, entries: [...]})')
  const owned = new Set(data.entries)
  const warnings = data.journal === undefined ? [] : replayJournal(journalPath(path), await readText(journalPath(path)), data.journal, owned)
  return { owned, warnings, snapshotBytes: Buffer.byteLength(text) }
}

const parseChange = (line: string): unknown => {
  try {
    return JSON.parse(line)
  } catch {
    return undefined
  }
}

/** Apply the journal's lines to `owned` when the journal belongs to snapshot `id`; returns warnings for a torn end. */
function replayJournal(path: string, text: string | undefined, id: string, owned: Set<string>): string[] {
  if (!text) return []
  const lines = text.split('\n')
  const header = parseJson(path, lines[0]!) // written atomically: never torn
  if (!Value.Check(HeaderSchema, header) || header.journal !== id) return [] // an older snapshot's journal
  if (lines.at(-1) === '') lines.pop() // the final newline
  const warnings: string[] = []
  for (let i = 1; i < lines.length; i++) {
    const change = parseChange(lines[i]!)
    if (!Value.Check(LineSchema, change)) {
      const what = `line ${i + 1} is not a change ({add: [...], remove: [...]})`
      if (i < lines.length - 1) throw new ERR_STATE_FILE(path, what)
      warnings.push(`${path}: ${what}; ignored as a torn write (${Buffer.byteLength(lines[i]!)} bytes)`)
      break
    }
    for (const key of change.remove) owned.delete(key)
    for (const key of change.add) owned.add(key)
  }
  return warnings
}

const snapshotText = (owned: Owned, journal?: string) =>
  `${JSON.stringify({ version: 1, ...(journal === undefined ? {} : { journal }), entries: [...owned].sort() })}\n`

/** Read the owned set (snapshot plus its journal); a missing file is an empty set, a corrupt one LVS_ERR_STATE_FILE. */
export async function loadOwned(path: string): Promise<Set<string>> {
  return (await readState(path)).owned
}

/** loadOwned, with the warnings of a torn journal end (to log). */
export async function loadOwnedState(path: string): Promise<OwnedState> {
  const { owned, warnings } = await readState(path)
  return { owned, warnings }
}

/** Write the owned set as a snapshot atomically (creating the folder when needed); any journal stops counting. */
export async function saveOwned(path: string, owned: Owned): Promise<void> {
  try {
    await writeAtomic(path, snapshotText(owned))
    await rm(journalPath(path), { force: true })
  } catch (err) {
    throw stateError(path, err)
  }
}

/**
 * The owned set of a running director (the only writer of its file): each change appended to the journal and
 * fsync'd, O(size of the change); the journal folded into a new snapshot once it outgrows the snapshot.
 */
export class OwnedStore {
  readonly path: string
  #journal: FileHandle | undefined
  #journalBytes = 0
  #snapshotBytes = 0
  #torn = false
  #closed = false
  // Writes run one at a time, in call order (a fold must not close the journal under a pending append).
  #tail: Promise<unknown> = Promise.resolve()

  private constructor(path: string) {
    this.path = path
  }

  /** Load the owned set and start a fresh snapshot and journal (dropping any torn last line, named in `warnings`). */
  static async open(path: string): Promise<OwnedState & { store: OwnedStore }> {
    const { owned, warnings } = await readState(path)
    const store = new OwnedStore(path)
    await store.compact(owned)
    return { store, owned, warnings }
  }

  /** Append one change (no-op when empty); folds the journal into a snapshot of `owned` when it has grown. */
  record(owned: Owned, delta: OwnedDelta): Promise<void> {
    return this.#queue(() => this.#record(owned, delta))
  }

  /** Write `owned` as a new snapshot with an empty journal (O(set); also after a full table read). */
  compact(owned: Owned): Promise<void> {
    return this.#queue(() => this.#compact(owned))
  }

  /** Close the journal (the files stay valid as they are). */
  close(): Promise<void> {
    return this.#queue(async () => {
      this.#closed = true
      await this.#journal?.close()
      this.#journal = undefined
    })
  }

  #queue(write: () => Promise<void>): Promise<void> {
    const next = this.#tail.then(write)
    this.#tail = next.catch(() => {})
    return next
  }

  async #record(owned: Owned, delta: OwnedDelta): Promise<void> {
    if (this.#closed) throw new ERR_STATE_FILE(this.path, 'the owned-set store is closed')
    if (delta.added.length === 0 && delta.removed.length === 0) return
    // The last write failed (an append may have left torn bytes): a snapshot of the whole set replaces that journal.
    if (this.#torn || !this.#journal) return this.#compact(owned)
    const line = `${JSON.stringify({ add: delta.added, remove: delta.removed })}\n`
    try {
      await this.#journal.write(line)
      await this.#journal.datasync()
    } catch (err) {
      this.#torn = true
      throw stateError(journalPath(this.path), err)
    }
    this.#journalBytes += Buffer.byteLength(line)
    if (this.#journalBytes > Math.max(this.#snapshotBytes, MIN_COMPACT_BYTES)) await this.#compact(owned)
  }

  async #compact(owned: Owned): Promise<void> {
    const id = randomUUID()
    const text = snapshotText(owned, id)
    const header = `${JSON.stringify({ journal: id })}\n`
    try {
      await this.#journal?.close()
      this.#journal = undefined
      await writeAtomic(this.path, text) // from here the old journal no longer counts
      await writeAtomic(journalPath(this.path), header)
      this.#journal = await open(journalPath(this.path), 'a')
    } catch (err) {
      throw stateError(this.path, err)
    }
    this.#snapshotBytes = Buffer.byteLength(text)
    this.#journalBytes = Buffer.byteLength(header)
    this.#torn = false
  }
}
