// A JSON state file kept as a snapshot plus an append-only journal, so a change costs its own size and not a
// rewrite of the whole state. Used by the owned set (src/ipvs/owned-journal.ts) and the desired table
// (src/table/state-file.ts); each says what its snapshot body and its lines are.
//
// Files: `<path>` = {"version":1,"journal":"<id>", ...body} (written atomically); `<path>.journal` = a first line
// {"journal":"<id>"}, then one JSON line per change. The journal counts only when its id is the snapshot's:
// writing a new snapshot (rename) is the commit point that retires the old journal, so a crash between that
// rename and the new journal loses nothing and replays nothing twice. A torn last line (a write cut short by a
// crash or a full disk: no newline, or not a change) is ignored with a warning: its change was never
// acknowledged. A bad line before the last is corruption. After a failed append the writer never appends to
// that journal again (the next change would be glued to the torn bytes): it writes a new snapshot instead.
//
// Writes are group-committed: changes that arrive while a write runs go out together in the next one (one write,
// one fdatasync). The journal is folded into a new snapshot once it outgrows the snapshot; the snapshot is taken
// from the caller's live state at the moment the pending lines are taken, so it holds exactly the changes
// recorded so far (callers change their state before they record the change).
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { open, rm, type FileHandle } from 'node:fs/promises'
import { ERR_STATE_FILE } from './errors.js'
import { writeAtomic } from './fs-atomic.js'
import { isObject } from './values.js'

/** Below this size the journal is never folded (rewriting a tiny snapshot per change would be busy work). */
const MIN_COMPACT_BYTES = 64 * 1024

const journalPath = (path: string): string => `${path}.journal`

/** An error of a state file as LVS_ERR_STATE_FILE naming the file (coded errors pass through). */
function stateError(path: string, err: unknown): Error {
  return (err as { code?: string }).code === 'LVS_ERR_STATE_FILE' ? (err as Error) : new ERR_STATE_FILE(path, (err as Error).message)
}

// Read in one step on this thread: through the thread pool a read is four hops (open, stat, read, close), each a
// few ms on an emulated machine, for a file read once at start and a few MB at most (50,000 owned entries).
function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
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

/** What a journaled file holds, as its owner reads it. */
export interface JournalFormat<S> {
  /** Build the state from a snapshot's body (`version` 1 checked already); throw an Error saying what is wrong. */
  readSnapshot(body: Record<string, unknown>): S
  /** Apply one journal line to the state; false when the line is not a change of this file. */
  applyLine(state: S, line: unknown): boolean
  /** What the file is, for the error when it is not one (`an owned-set file ({version: 1, entries: [...]})`). */
  what: string
}

/** A journaled file as read: the state (undefined when there is no file) and warnings for a torn end. */
export interface JournalRead<S> {
  state: S | undefined
  /** One message per ignored torn line, for the caller to log. */
  warnings: string[]
}

/** Read snapshot and journal. A missing file is `state: undefined`; a corrupt one LVS_ERR_STATE_FILE. */
export async function readJournaled<S>(path: string, format: JournalFormat<S>): Promise<JournalRead<S>> {
  const text = readText(path)
  if (text === undefined) return { state: undefined, warnings: [] }
  const data = parseJson(path, text)
  if (!isObject(data) || data.version !== 1 || (data.journal !== undefined && typeof data.journal !== 'string')) {
    throw new ERR_STATE_FILE(path, `not ${format.what}`)
  }
  let state: S
  try {
    state = format.readSnapshot(data)
  } catch (err) {
    throw stateError(path, err)
  }
  const warnings = typeof data.journal === 'string' ? replay(journalPath(path), readText(journalPath(path)), data.journal, state, format) : []
  return { state, warnings }
}

const parseLine = (line: string): unknown => {
  try {
    return JSON.parse(line)
  } catch {
    return undefined
  }
}

/** Apply the journal's lines when the journal belongs to snapshot `id`; returns warnings for a torn end. */
function replay<S>(path: string, text: string | undefined, id: string, state: S, format: JournalFormat<S>): string[] {
  if (!text) return []
  const lines = text.split('\n')
  const header = parseJson(path, lines[0]!) // written atomically: never torn
  if (!isObject(header) || header.journal !== id) return [] // an older snapshot's journal
  if (lines.at(-1) === '') lines.pop() // the final newline
  for (let i = 1; i < lines.length; i++) {
    let ok: boolean
    try {
      ok = format.applyLine(state, parseLine(lines[i]!))
    } catch {
      ok = false
    }
    if (ok) continue
    const what = `line ${i + 1} is not a change`
    if (i < lines.length - 1) throw new ERR_STATE_FILE(path, what)
    return [`${path}: ${what}; ignored as a torn write (${Buffer.byteLength(lines[i]!)} bytes)`]
  }
  return []
}

/** Write a snapshot atomically (creating the folder when needed); any journal stops counting. */
export async function writeSnapshot(path: string, body: object): Promise<void> {
  try {
    await writeAtomic(path, `${JSON.stringify({ version: 1, ...body })}\n`, 0o600)
    await rm(journalPath(path), { force: true })
  } catch (err) {
    throw stateError(path, err)
  }
}

/** The live state's snapshot body (called synchronously when a write starts). */
export type SnapshotOf = () => object

interface Waiter { resolve: () => void; reject: (err: Error) => void }

/** The writer of one journaled file (its only writer: a running director holds the state directory's lock). */
export class JournalWriter {
  readonly path: string
  #journal: FileHandle | undefined
  #journalBytes = 0
  #snapshotBytes = 0
  #torn = false
  #closed = false
  #snapshot: SnapshotOf = () => ({})
  #pending: string[] = []
  #fold = false
  #waiters: Waiter[] = []
  #running: Promise<void> | undefined

  /** A writer of `path`; its first write is a whole snapshot (read the old files first). */
  constructor(path: string) {
    this.path = path
  }

  /** Append one change (`line`, a JSON value); resolves once it is on disk. `snapshot` gives the state after it. */
  append(line: unknown, snapshot: SnapshotOf): Promise<void> {
    this.#snapshot = snapshot
    this.#pending.push(`${JSON.stringify(line)}\n`)
    return this.#wait()
  }

  /** Write the whole state as a new snapshot with an empty journal (O(state)). */
  compact(snapshot: SnapshotOf): Promise<void> {
    this.#snapshot = snapshot
    this.#fold = true
    return this.#wait()
  }

  /** Finish pending writes and close the journal (the files stay valid as they are). */
  async close(): Promise<void> {
    this.#closed = true
    await this.#running
    await this.#journal?.close()
    this.#journal = undefined
  }

  #wait(): Promise<void> {
    if (this.#closed) return Promise.reject(new ERR_STATE_FILE(this.path, 'the store is closed'))
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject })
      this.#kick()
    })
  }

  // One drain at a time; a waiter that came after its loop ended but before it settled starts the next one.
  #kick(): void {
    if (this.#running) return
    this.#running = this.#drain().finally(() => {
      this.#running = undefined
      if (this.#waiters.length > 0) this.#kick()
    })
  }

  async #drain(): Promise<void> {
    while (this.#waiters.length > 0) {
      const waiters = this.#waiters.splice(0)
      const text = this.#pending.splice(0).join('')
      const bytes = Buffer.byteLength(text)
      const fold = this.#fold || this.#torn || !this.#journal || this.#journalBytes + bytes > Math.max(this.#snapshotBytes, MIN_COMPACT_BYTES)
      this.#fold = false
      try {
        if (fold) await this.#writeSnapshot(this.#snapshot())
        else if (bytes > 0) await this.#append(text, bytes)
        for (const w of waiters) w.resolve()
      } catch (err) {
        for (const w of waiters) w.reject(err as Error)
      }
    }
  }

  async #append(text: string, bytes: number): Promise<void> {
    try {
      await this.#journal!.write(text)
      await this.#journal!.datasync()
    } catch (err) {
      this.#torn = true
      throw stateError(journalPath(this.path), err)
    }
    this.#journalBytes += bytes
  }

  async #writeSnapshot(body: object): Promise<void> {
    const id = randomUUID()
    const text = `${JSON.stringify({ version: 1, journal: id, ...body })}\n`
    const header = `${JSON.stringify({ journal: id })}\n`
    try {
      await this.#journal?.close()
      this.#journal = undefined
      await writeAtomic(this.path, text, 0o600) // from here the old journal no longer counts
      await writeAtomic(journalPath(this.path), header, 0o600)
      this.#journal = await open(journalPath(this.path), 'a')
    } catch (err) {
      throw stateError(this.path, err)
    }
    this.#snapshotBytes = Buffer.byteLength(text)
    this.#journalBytes = Buffer.byteLength(header)
    this.#torn = false
  }
}
