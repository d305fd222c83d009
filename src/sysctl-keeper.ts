// Kernel settings a director changes while it runs, put back when it stops. The value from before the first change
// is kept in a file before anything is written, so a start after a crash still knows it: the settings the new run
// no longer wants are put back at once, the ones it wants keep their original from the file.
import { readFile, rm } from 'node:fs/promises'
import { writeAtomic } from './fs-atomic.js'

/** Runs `sysctl` with an argv array, never a shell; resolves its stdout. */
export type RunSysctl = (file: 'sysctl', args: string[]) => Promise<string>

/** Names and values, `net.ipv4.vs.expire_nodest_conn: '1'`. */
export type Sysctls = Record<string, string>

export interface SysctlKeeper {
  /**
   * Makes these the only settings this keeper has changed: sets each (noting its value from before, once), and puts
   * back any other one the file lists (a crashed run's, or one no longer wanted). A setting the kernel lacks (it
   * cannot be read: no IPVS, no such interface) is left out and returned with why; the others are set all the same.
   */
  set(wanted: Sysctls): Promise<Array<{ name: string; err: Error }>>
  /** Puts back every setting the file lists, then removes it. */
  restore(): Promise<void>
}

// A sysctl value as the kernel prints it: digits and words separated by blanks (never anything a shell would read,
// although none sees it).
const VALUE = /^[\w.:-]*(?:\s+[\w.:-]+)*$/

/** A keeper whose file of earlier values is `stateFile` (one file per keeper). */
export function keepSysctls(run: RunSysctl, stateFile: string): SysctlKeeper {
  async function saved(): Promise<Sysctls> {
    const text = await readFile(stateFile, 'utf8').catch(() => undefined)
    if (text === undefined) return {}
    try {
      const parsed = JSON.parse(text) as unknown
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string' && VALUE.test(e[1])))
      }
    } catch { /* a torn file holds nothing to put back */ }
    return {}
  }
  const write = (name: string, value: string) => run('sysctl', ['-qw', `${name}=${value}`])

  return {
    async set(wanted) {
      const before = await saved()
      for (const [name, value] of Object.entries(before)) {
        if (!(name in wanted)) await write(name, value)
      }
      const keep: Sysctls = {}
      const missing: Array<{ name: string; err: Error }> = []
      for (const name of Object.keys(wanted)) {
        try {
          keep[name] = before[name] ?? (await run('sysctl', ['-n', name])).trim()
        } catch (err) {
          missing.push({ name, err: err as Error })
        }
      }
      if (Object.keys(keep).length === 0) {
        await rm(stateFile, { force: true })
        return missing
      }
      await writeAtomic(stateFile, `${JSON.stringify(keep)}\n`, 0o644, { durable: true })
      for (const name of Object.keys(keep)) await write(name, wanted[name]!)
      return missing
    },
    async restore() {
      for (const [name, value] of Object.entries(await saved())) await write(name, value)
      await rm(stateFile, { force: true })
    },
  }
}
