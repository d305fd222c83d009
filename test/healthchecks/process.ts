// Test helpers for processes a check started: read PIDs from a file and wait until they are gone.
import { existsSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

/** True while `pid` runs (a zombie waiting for its parent counts as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

// Bounds on the waits below, in 50 ms polls: 20 s, so a loaded machine is waited for, never raced.
const POLLS = 400

/** Waits (at most 20 s) for a file of whitespace-separated PIDs and returns them. */
export async function readPids(file: string): Promise<number[]> {
  for (let i = 0; i < POLLS; i++) {
    if (existsSync(file)) {
      const pids = readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
      if (pids.length >= 2) return pids
    }
    await sleep(50)
  }
  throw new Error(`no PIDs in ${file}`)
}

/** Waits (at most 20 s) until none of `pids` runs; returns the ones still running. */
export async function waitGone(pids: number[]): Promise<number[]> {
  for (let i = 0; i < POLLS && pids.some(alive); i++) await sleep(50)
  return pids.filter(alive)
}
