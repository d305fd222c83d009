// Files that survive a crash: written whole or not at all, and a pid lock so two processes never write one
// state directory at the same time.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { ERR_STATE_FILE, ERR_STATE_LOCKED } from './errors.js'

/**
 * Write `text` to `path` atomically: temporary file, fsync, rename, fsync of the folder. With `durable: false`, no
 * fsync: readers see the whole new text or the old one, also after this process crashes, but a crash of the machine
 * may leave the old text or an empty file (read it with readStateFile's `emptyIsMissing`). For a record of what
 * does not outlive the machine either, written where a wait on the disk would cost (a takeover's VIPs).
 */
export async function writeAtomic(path: string, text: string, mode = 0o644, o: { durable?: boolean } = {}): Promise<void> {
  const durable = o.durable ?? true
  const tmp = `${path}.${process.pid}.tmp`
  await mkdir(dirname(path), { recursive: true })
  const fh = await open(tmp, 'w', mode)
  try {
    await fh.writeFile(text)
    if (durable) await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
  if (!durable) return
  const dir = await open(dirname(path), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

/** A held lock; `release` is idempotent. */
export interface DirLock {
  release(): Promise<void>
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Take `<dir>/lock` for this process (its pid inside). A lock left by a process that is gone (a crash) is taken
 * over; one held by a live process is LVS_ERR_STATE_LOCKED naming it.
 */
export async function lockDir(dir: string): Promise<DirLock> {
  const path = join(dir, 'lock')
  await mkdir(dir, { recursive: true })
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o644)
      await fh.writeFile(`${process.pid}\n`)
      await fh.close()
      let released = false
      return {
        async release() {
          if (released) return
          released = true
          const owner = await readFile(path, 'utf8').catch(() => '')
          if (Number(owner) === process.pid) await rm(path, { force: true })
        },
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ERR_STATE_LOCKED(dir, 'unknown')
        throw err
      }
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim())
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw new ERR_STATE_LOCKED(dir, String(pid))
      await rm(path, { force: true }) // stale: its process is gone
    }
  }
}

/**
 * A small JSON state file this director wrote (writeAtomic), read by `parse`; `missing` when there is none (and,
 * with `emptyIsMissing`, when it is empty: a file written with `durable: false` when the machine went down).
 * Unreadable or refused by `parse`: LVS_ERR_STATE_FILE naming the file.
 */
export async function readStateFile<T>(file: string, missing: T, parse: (body: unknown) => T, o: { emptyIsMissing?: boolean } = {}): Promise<T> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return missing
    throw new ERR_STATE_FILE(file, (err as Error).message, { cause: err })
  }
  if (o.emptyIsMissing && text.trim() === '') return missing
  try {
    return parse(JSON.parse(text))
  } catch (err) {
    throw new ERR_STATE_FILE(file, (err as Error).message, { cause: err })
  }
}
