// Timing tools of the IPVS programming benchmark: a raw process runner (the baseline: a plain start, no wrapper
// code), an Exec that records how long each wrapper process took, and medians.
import { readdirSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { performance } from 'node:perf_hooks'
import { nodeExec, type Exec } from '../src/exec.js'
import { statFields } from './cpu-shares.js'

/** Milliseconds since an arbitrary origin (monotonic). */
export const now = (): number => performance.now()

/** What one raw process did and how long it took, spawn to exit. */
export interface RawRun {
  ms: number
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Run `file argv` once with `input` on stdin, as a shell pipe would; times spawn to exit. Started as the project starts
 * every process (src/exec.ts: posix_spawn, no fork of this node process, whose page tables a fork would copy), so
 * the reference pays what a process start costs from a shell, whatever this process's heap, and nothing of the IPVS
 * wrapper.
 */
export async function runRaw(file: string, argv: string[], input?: string): Promise<RawRun> {
  const start = now()
  const r = await nodeExec(file, argv, { input: input ?? '', processGroup: false })
  return { ms: now() - start, code: r.code, stdout: r.stdout, stderr: r.stderr }
}

/**
 * CPU time (user + system, ms) of this process's children that have ended and been waited for: cutime + cstime of
 * /proc/self/stat, in 10 ms ticks. The difference around one run is what its processes computed, as opposed to
 * how long they took (which includes waiting for a CPU).
 */
function childrenCpuMs(): number {
  const f = statFields('/proc/self/stat')
  return (Number(f[13]) + Number(f[14])) * 10
}

/** CPU time (user + system, ms) this process has used so far, all its threads together. */
function selfCpuMs(): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

/** CPU time (ms) used while `fn` ran: by its ended child processes (childrenCpuMs), and by this process itself. */
export async function cpuAround<T>(fn: () => Promise<T>): Promise<{ value: T; processCpuMs: number; selfCpuMs: number }> {
  const children0 = childrenCpuMs()
  const self0 = selfCpuMs()
  const value = await fn()
  const selfCpu = selfCpuMs() - self0
  return { value, processCpuMs: childrenCpuMs() - children0, selfCpuMs: selfCpu }
}

/** CPU ticks (user + system, 10 ms each) this process's threads other than the main one have used so far. */
function helperTicks(): number {
  let ticks = 0
  for (const tid of readdirSync('/proc/self/task')) {
    if (tid === String(process.pid)) continue
    try {
      const f = statFields(`/proc/self/task/${tid}/stat`)
      ticks += Number(f[11]) + Number(f[12])
    } catch {
      // the thread ended
    }
  }
  return ticks
}

/**
 * Waits until V8's helper threads (optimizing compiler, GC) and libuv's have been idle for `quietMs` (at most
 * `maxMs`): what a warm-up started, such as compiling the functions it made hot, finishes before the timed run
 * instead of during it, on a CPU the measured process needs.
 */
export async function settle(quietMs = 300, maxMs = 30_000): Promise<void> {
  const start = now()
  let last = helperTicks()
  let quietSince = start
  while (now() - quietSince < quietMs && now() - start < maxMs) {
    await sleep(50)
    const ticks = helperTicks()
    if (ticks !== last) quietSince = now()
    last = ticks
  }
}

/** Like runRaw, but a non-zero exit or any stderr is an error (for the untimed set-up steps). */
export async function mustRun(file: string, argv: string[], input?: string): Promise<RawRun> {
  const run = await runRaw(file, argv, input)
  if (run.code !== 0 || run.stderr.trim()) throw new Error(`${file} ${argv.join(' ')} exited ${run.code}: ${run.stderr.trim().slice(0, 500)}`)
  return run
}

/** An Exec that delegates to `inner` and records the duration of each process in `log`. */
export function timedExec(inner: Exec, log: Array<{ argv: string[]; ms: number }>): Exec {
  return async (file, argv, options) => {
    const start = now()
    try {
      return await inner(file, argv, options)
    } finally {
      log.push({ argv, ms: now() - start })
    }
  }
}

/** Median of a non-empty list (mean of the middle two for an even count). */
export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of nothing')
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** The p-th percentile (nearest rank) of a non-empty list. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of nothing')
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!
}

/** Per-key medians of a list of records of durations. */
export function medianPhases(samples: Array<Record<string, number>>): Record<string, number> {
  const keys = Object.keys(samples[0] ?? {})
  return Object.fromEntries(keys.map((k) => [k, median(samples.map((s) => s[k] ?? 0))]))
}
