// The owned set: which kernel entries this director created (or adopted), kept in a small JSON state file
// written atomically, so it touches only its own entries when it shares the kernel with other tools.
import { mkdir, open, readFile, rename } from 'node:fs/promises'
import { dirname } from 'node:path'
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { ERR_STATE_FILE } from '../errors.js'
import { opKey, type Op } from './commands.js'
import { destinationKey, serviceKey, type Table } from './model.js'

/** Keys of owned entries: service keys and `service -> destination` keys (see diff.entryKey). */
export type Owned = ReadonlySet<string>

/** Where the owned set lives by default (one file per IPVS table, i.e. per network namespace). */
export const DEFAULT_OWNED_PATH = '/var/lib/lvs-director/owned.json'

const OwnedFileSchema = Type.Object({ version: Type.Literal(1), entries: Type.Array(Type.String({ maxLength: 200 })) })

/** Read the owned set; a missing file is an empty set, a corrupt one LVS_ERR_STATE_FILE. */
export async function loadOwned(path: string): Promise<Set<string>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Set()
    throw new ERR_STATE_FILE(path, (err as Error).message)
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    throw new ERR_STATE_FILE(path, (err as Error).message)
  }
  if (!Value.Check(OwnedFileSchema, data)) throw new ERR_STATE_FILE(path, 'not an owned-set file ({version: 1, entries: [...]})')
  return new Set(data.entries)
}

/** Write the owned set atomically (temporary file, fsync, rename), creating the folder when needed. */
export async function saveOwned(path: string, owned: Owned): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  try {
    await mkdir(dirname(path), { recursive: true })
    const fh = await open(tmp, 'w', 0o644)
    try {
      await fh.writeFile(`${JSON.stringify({ version: 1, entries: [...owned].sort() }, null, 2)}\n`)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (err) {
    throw new ERR_STATE_FILE(path, (err as Error).message)
  }
}

/**
 * The owned set after applying a plan: what was owned, plus adopted entries and the entries the succeeded adds
 * created, minus whatever the kernel no longer holds (deleted by us or by someone else).
 */
export function nextOwned(before: Owned, adopted: string[], succeeded: Op[], kernelAfter: Table): Set<string> {
  const present = new Set<string>()
  for (const s of kernelAfter.services) {
    present.add(serviceKey(s))
    for (const d of s.destinations) present.add(`${serviceKey(s)} -> ${destinationKey(d)}`)
  }
  const next = new Set([...before, ...adopted])
  for (const op of succeeded) if (op.kind === 'add-service' || op.kind === 'add-dest') next.add(opKey(op))
  for (const key of next) if (!present.has(key)) next.delete(key)
  return next
}
