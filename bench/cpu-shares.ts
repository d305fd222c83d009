// Where a machine's CPU went over a window: the share of every named group of processes (matched by command
// line), of everything else that ran (other processes, the kernel's interrupts and softirqs), and idle. For a
// benchmark that shares one machine between its parts, so a report can say who took the CPU.
import { readdirSync, readFileSync } from 'node:fs'

/** The groups' CPU time and the machine's busy and idle time at one instant, in clock ticks. */
export interface CpuSnapshot { groups: Record<string, number>; busy: number; idle: number }

/** Shares (0..1) of the machine's CPU time over a window: per group, `rest` (busy, in no group) and `idle`. */
export type CpuShares = Record<string, number> & { rest: number; idle: number }

/**
 * The machine's CPU time now, and each group's (a process belongs to the first group whose pattern matches). With
 * `children`, that group also holds this process's children that have ended and been waited for (a client run to
 * its end in the window: gone before the second snapshot, its time is in this process's cutime and cstime).
 */
export function cpuSnapshot(groups: Readonly<Record<string, RegExp>>, opts: { children?: string } = {}): CpuSnapshot {
  const stat = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number)
  const [user, nice, system, idle, iowait, irq, softirq] = stat as [number, number, number, number, number, number, number]
  const busy = user + nice + system + irq + softirq // steal is not this machine's, guest time is in user already
  const times: Record<string, number> = Object.fromEntries(Object.keys(groups).map((g) => [g, 0]))
  if (opts.children) times[opts.children] = (times[opts.children] ?? 0) + childTicks()
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
      const group = Object.keys(groups).find((g) => groups[g]!.test(cmdline))
      if (!group) continue
      const f = statFields(`/proc/${pid}/stat`)
      times[group]! += Number(f[11]) + Number(f[12]) // utime + stime
    } catch {
      // the process ended between the listing and the read
    }
  }
  return { groups: times, busy, idle: idle + iowait }
}

function childTicks(): number {
  const f = statFields('/proc/self/stat')
  return Number(f[13]) + Number(f[14]) // cutime + cstime
}

/** The shares between two snapshots (a group's processes must live through the window to be counted). */
export function cpuShares(a: CpuSnapshot, b: CpuSnapshot): CpuShares {
  const total = b.busy - a.busy + (b.idle - a.idle)
  const share = (x: number) => (total > 0 ? Math.round((x / total) * 1000) / 1000 : 0)
  const groups = Object.fromEntries(Object.keys(b.groups).map((g) => [g, share(b.groups[g]! - (a.groups[g] ?? 0))]))
  const inGroups = Object.keys(b.groups).reduce((s, g) => s + b.groups[g]! - (a.groups[g] ?? 0), 0)
  return { ...groups, rest: share(Math.max(0, b.busy - a.busy - inGroups)), idle: share(b.idle - a.idle) }
}

/** The fields of a /proc stat file after the command name (the state is [0]; utime [11], cutime [13]). */
export function statFields(path: string): string[] {
  const text = readFileSync(path, 'utf8')
  return text.slice(text.lastIndexOf(') ') + 2).split(' ')
}

/** The shares of 0.5% and more, as `servers 73%, client 24%, idle 1%`. */
export function formatShares(shares: Readonly<Record<string, number>>): string {
  return Object.entries(shares).filter(([, x]) => x >= 0.005).map(([k, x]) => `${k} ${Math.round(x * 100)}%`).join(', ')
}
