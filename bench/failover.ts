// What the failover benchmarks share (bench/pair.bench.ts in the lab guest, bench/pair-host.bench.ts on this host):
// the client's view of one failover (its gap), a trial's record and the medians, and keepalived as a director pair
// (one instance per director namespace, its output read line by line, killed as a dead machine is).
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import type { ProbeReply } from '../test/lab/guest/lab.js'
import { median } from './ipvs-measure.js'

export interface Gap {
  gapMs: number
  lastBefore: number
  firstAfter: number
  failed: number
  sent: number
}

/** The longest time between the send times of two answered requests from 1 s before the kill to `until`. */
export function gapAround(replies: readonly ProbeReply[], killedAt: number, until: number): Gap {
  const window = replies.filter((r) => r.at >= killedAt - 1000 && r.at <= until).sort((a, b) => a.at - b.at)
  const ok = window.filter((r) => r.ok)
  let best = { gapMs: 0, lastBefore: killedAt, firstAfter: killedAt }
  for (let i = 1; i < ok.length; i++) {
    const d = ok[i]!.at - ok[i - 1]!.at
    if (d > best.gapMs) best = { gapMs: d, lastBefore: ok[i - 1]!.at, firstAfter: ok[i]!.at }
  }
  return { ...best, failed: window.filter((r) => !r.ok).length, sent: window.length }
}

/**
 * The client answers steadily at `now`: of the requests sent in the second before the last timeout, at least 10,
 * 90% answered and the last 5 answered (under emulation on a busy host a request now and then takes longer).
 */
export function steady(replies: readonly ProbeReply[], now: number, timeoutMs: number): boolean {
  const last = replies.filter((r) => r.at > now - 1000 - timeoutMs && r.at <= now - timeoutMs).sort((a, b) => a.at - b.at)
  return last.length >= 10 && last.filter((r) => r.ok).length >= 0.9 * last.length && last.slice(-5).every((r) => r.ok)
}

export interface Trial {
  killed: string
  gapMs: number
  takeoverMs: number
  linkDownMs: number
  failed: number
  sent: number
  lastBefore: number
  firstAfter: number
}

export function trialStats(trials: Trial[]) {
  if (trials.length === 0) return undefined
  const gaps = trials.map((t) => t.gapMs)
  const take = trials.map((t) => t.takeoverMs)
  return { n: trials.length, gapMedian: median(gaps), gapWorst: Math.max(...gaps), takeoverMedian: median(take), takeoverWorst: Math.max(...take), failedMedian: median(trials.map((t) => t.failed)) }
}

// --- keepalived

/** keepalived (`-n -l -D`: no fork, log to the console, in detail) in namespace `ns`, its files in `dir`. */
export class Keepalived {
  /** Its output lines, each with the time it reached this process. */
  readonly lines: Array<{ at: number; text: string }> = []
  readonly child: ChildProcess
  readonly exited: Promise<void>
  readonly #waiters = new Set<() => void>()

  constructor(readonly ns: string, readonly dir: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, 'keepalived', '-n', '-l', '-D', '-G', '-B', '-f', `${dir}/keepalived.conf`,
      '-p', `${dir}/keepalived.pid`, '-r', `${dir}/vrrp.pid`, '-c', `${dir}/checkers.pid`], { stdio: ['ignore', 'pipe', 'pipe'] })
    let partial = ''
    const onData = (b: Buffer) => {
      const at = Date.now()
      const parts = (partial + b.toString()).split('\n')
      partial = parts.pop()!
      for (const text of parts) this.lines.push({ at, text })
      for (const w of [...this.#waiters]) w()
    }
    this.child.stdout!.on('data', onData)
    this.child.stderr!.on('data', onData)
    this.exited = new Promise((resolve) => this.child.on('close', () => resolve()))
  }

  alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** The last VRRP state it entered (MASTER, BACKUP, FAULT). */
  state(): string | undefined {
    return this.lines.map((l) => /Entering (\w+) STATE/.exec(l.text)?.[1]).filter(Boolean).at(-1)
  }

  /** The time of the first line from index `from` on matching `re` (as it comes); rejects if keepalived exits or after `timeoutMs`. */
  waitFor(re: RegExp, from: number, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const done = (settle: () => void) => {
        clearTimeout(timer)
        this.#waiters.delete(check)
        settle()
      }
      const check = () => {
        const at = this.lines.slice(from).find((l) => re.test(l.text))?.at
        if (at !== undefined) done(() => resolve(at))
        else if (!this.alive()) done(() => reject(new Error(`keepalived in ${this.ns} exited: ${this.lines.slice(-20).map((l) => l.text).join('\n')}`)))
      }
      const timer = setTimeout(() => done(() => reject(new Error(`timed out (${timeoutMs} ms) waiting for ${this.ns} keepalived: /${re.source}/`))), timeoutMs)
      this.#waiters.add(check)
      void this.exited.then(check)
      check()
    })
  }

  /**
   * kill -9 of the parent and its children, all stopped first (SIGSTOP): a child must not see its parent die and
   * stop gracefully (a VRRP child that stops sends a priority-0 advert, which makes the backup take over at once;
   * a dead machine sends nothing).
   */
  killHard(): void {
    const pids = [...['vrrp.pid', 'checkers.pid'].map((f) => `${this.dir}/${f}`).filter(existsSync).map((f) => Number(readFileSync(f, 'utf8').trim())), this.child.pid]
    for (const signal of ['SIGSTOP', 'SIGKILL'] as const) {
      for (const pid of pids) {
        try {
          if (pid) process.kill(pid, signal)
        } catch {
          // already gone
        }
      }
    }
  }

  async stop(): Promise<void> {
    if (this.alive()) {
      this.child.kill('SIGTERM')
      const timer = setTimeout(() => this.killHard(), 5000)
      await this.exited
      clearTimeout(timer)
    }
  }
}

/**
 * One director's keepalived.conf: one vrrp_instance on eth0 moving `vip`, `state BACKUP` + `nopreempt` (a returning
 * director stays backup, as ours), VRRPv2 with advert_int 1 (default) or VRRPv3 with advert_int 0.05 (fast); with
 * `reals`, a virtual_server for VIP:80 (rr, DR, TCP_CHECK on each).
 */
export function keepalivedConf(o: { routerId: string; priority: number; fast: boolean; vip: string; reals?: string[]; from: string }): string {
  const real = (ip: string) => `    real_server ${ip} 80 {\n        weight 1\n        TCP_CHECK {\n            connect_timeout 2\n        }\n    }\n`
  const vs = o.reals ? `virtual_server ${o.vip} 80 {
    delay_loop 2
    lb_algo rr
    lb_kind DR
    protocol TCP
${o.reals.map(real).join('')}}
` : ''
  return `# ${o.from}: keepalived as one of the director pair (${o.fast ? 'fast' : 'default'} VRRP timers)
global_defs {
    router_id ${o.routerId}
}
vrrp_instance VI_BENCH {
    state BACKUP
    nopreempt
    interface eth0
    virtual_router_id 51
    priority ${o.priority}
    advert_int ${o.fast ? '0.05' : '1'}
${o.fast ? '    version 3\n' : ''}    virtual_ipaddress {
        ${o.vip}/32 dev eth0
    }
}
${vs}`
}
