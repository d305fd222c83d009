// Runs many health checks on their cadence with a bound on concurrent probes, and reports up/down transitions.
//
// Decisions (see docs in the report / README):
// - Cadence is fixed: probe n of a check starts at first + n * interval. A check never runs twice at once (it is
//   re-armed only when its probe ends, so it is never queued twice either, and the queue never holds more than one
//   entry per check). When a probe ends after its next slot (slow probe, long wait behind the concurrency bound),
//   the next one is queued at once and the cadence restarts from there (`stats().late`); a slot that comes while a
//   probe that ignored its abort is still running is skipped (`stats().skipped`). Once that probe has run past
//   its timeout plus `hungGrace`, each such slot also counts as a failure (code 'hung', `stats().hung`), so a
//   checker that never settles cannot freeze its server's health: it goes down after `fall` slots.
// - The first run of each probe is jittered uniformly over one interval, so 10,000 checks added at start-up do
//   not fire in the same millisecond. A checker's `prepare` (set-up such as routes) is awaited before that first
//   run is armed, so it never eats into a probe's timeout.
// - Probes are shared by key: subscribers with the same `key` (see checkKey) share one checker, target and cadence,
//   and each keeps its own rise/fall state. The probe stops when its last subscriber is removed.
// - The scheduler owns the checkers handed to `add`: it closes them when their probe stops (or at once, when the
//   key already has a running probe and the checker is a different object).
// - A bare TCP connect (a checker that offers `bareTcp`) runs on the native engine when one is given: the engine
//   keeps that probe's cadence, timeout and its own bound of `maxConcurrent` probes in flight, and hands back results
//   a batch at a time; each result goes through the same rise/fall and transitions as any other.
import { EventEmitter } from 'node:events'
import type { Checker, CheckResult, CheckTarget } from './checker.js'
import type { Clock, TimerHandle } from '../src/clock.js'
import { ERR_INVALID_CHECK, ERR_SCHEDULER_CLOSED } from '../src/errors.js'
import { initialState, step, type Health, type HealthState } from './state.js'
import type { TcpEngine } from './tcp-connect.js'

/** The pino-style logger the scheduler writes transitions to (one line each, never per probe). */
export interface SchedulerLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

/** Dependencies and limits of a scheduler. */
export interface SchedulerOptions {
  clock: Clock
  log?: SchedulerLog
  /** Probes running at once, across all checks; the rest wait in a FIFO queue. */
  maxConcurrent: number
  /** Source of jitter in [0, 1). @default Math.random */
  random?: () => number
  /** Milliseconds past its timeout after which a probe still running is hung: its slots then count as failures. @default 1000 */
  hungGrace?: number
  /** Runs the bare TCP connects (see Checker.bareTcp); the scheduler closes it with itself. */
  tcpEngine?: TcpEngine
}

/** One check as a subscriber sees it. Times are milliseconds. */
export interface CheckOptions {
  checker: Checker
  target: CheckTarget
  /** Milliseconds between probe starts. */
  interval: number
  /** Milliseconds before a probe is aborted and counted as a failure with code 'timeout'. */
  timeout: number
  /** Consecutive successes before down → up. */
  rise: number
  /** Consecutive failures before up → down (ldirectord's failurecount). */
  fall: number
  /**
   * Belief before the first result. 'unknown': the first result decides (one success → up, one failure → down).
   * 'down' (keepalived's alpha): `rise` successes are needed. 'up' (ldirectord adds servers at start): `fall`
   * failures are needed. @default 'unknown'
   */
  initial?: Health
  /** Probes with the same key run once and fan out to every subscriber (see checkKey). @default the id */
  key?: string
}

/** A subscriber's current view, returned by `get`. */
export interface CheckStatus {
  id: string
  key: string
  health: Health
  successes: number
  failures: number
  lastResult?: CheckResult
  /** Clock time of the last transition. */
  lastChangeAt?: number
}

/** Emitted once per transition of one subscriber. */
export interface ChangeEvent {
  id: string
  from: Health
  to: Health
  /** The last result's message, e.g. 'timeout after 2000 ms' or 'connected'. */
  reason: string
  code?: string
  /** Clock time of the transition. */
  at: number
  result: CheckResult
}

/** Counters for benchmarks and metrics. */
export interface SchedulerStats {
  subscribers: number
  probes: number
  started: number
  completed: number
  timeouts: number
  /** Slots not run because the previous probe of the check was still running (it ignored its abort). */
  skipped: number
  /** Of those, slots counted as a failure with code 'hung' (the probe ran past timeout + hungGrace). */
  hung: number
  /** Probes started after their slot because the previous one (or its wait in the queue) ran past it. */
  late: number
  inFlight: number
  queued: number
  /** Checkers whose close() has not settled yet. */
  closing: number
}

/** The scheduler's surface. */
export interface Scheduler {
  /** Starts checking; throws LVS_ERR_INVALID_CHECK on a duplicate id or bad timing. */
  add(id: string, options: CheckOptions): void
  /** Stops a subscriber; its probe stops with its last subscriber. Returns false for an unknown id. */
  remove(id: string): boolean
  get(id: string): CheckStatus | undefined
  on(event: 'change', listener: (event: ChangeEvent) => void): void
  off(event: 'change', listener: (event: ChangeEvent) => void): void
  stats(): SchedulerStats
  /** Stops all timers, aborts probes in flight and closes the checkers. Idempotent. */
  close(): Promise<void>
}

// Probes and subscribers are one each per real server (40,000 and more), so every field is written in the object
// literal that makes them: a field added later moves it to a separate property array (~40 bytes more each).
interface Probe {
  key: string
  checker: Checker
  target: CheckTarget
  interval: number
  timeout: number
  /**
   * Usually one (an array: a Set per probe costs ~100 bytes more, for 40,000 probes). Made as `[first]`, exactly
   * one slot: an empty array that is pushed to grows to 17 slots (~140 bytes more per probe).
   */
  subscribers: Subscriber[]
  dueAt: number
  /** Clock time the probe in flight (or the last one) started. */
  startedAt: number
  timer: TimerHandle | undefined
  /** Aborts the probe in flight and ends it at once (used when the probe stops). */
  cancel: (() => void) | undefined
  /** The target's id on the TCP engine, when the engine runs this probe. */
  engineId: number | undefined
  running: boolean
  stopped: boolean
}

interface Subscriber {
  id: string
  probe: Probe
  rise: number
  fall: number
  /**
   * Changed in place by each result, as is `lastResult` (this subscriber's own copy, handed out only as copies):
   * a new object per result would live one interval, long enough to reach the old generation, and 40,000 of them
   * a second (~5 MB/s) grow the heap by tens of MB between its full collections.
   */
  state: HealthState
  lastResult: CheckResult | undefined
  lastChangeAt: number | undefined
}

/** A subscriber's last result copied into the object it keeps (made on its first result): see Subscriber. */
function keepResult(sub: Subscriber, result: CheckResult): void {
  const last = sub.lastResult
  if (!last) {
    sub.lastResult = { ok: result.ok, message: result.message, durationMs: result.durationMs, code: result.code }
    return
  }
  last.ok = result.ok
  last.message = result.message
  last.durationMs = result.durationMs
  last.code = result.code
}

/** A result as a caller gets it: a copy, without `code` when it has none. */
function copyResult(r: CheckResult): CheckResult {
  const out: CheckResult = { ok: r.ok, message: r.message, durationMs: r.durationMs }
  if (r.code !== undefined) out.code = r.code
  return out
}

/** Creates a scheduler; nothing runs until `add`. */
export function createScheduler(options: SchedulerOptions): Scheduler {
  const { clock, log, maxConcurrent, tcpEngine } = options
  const random = options.random ?? Math.random
  const hungGrace = options.hungGrace ?? 1000
  if (!(Number.isInteger(maxConcurrent) && maxConcurrent >= 1)) {
    throw new ERR_INVALID_CHECK('maxConcurrent', `must be an integer >= 1, got ${maxConcurrent}`)
  }
  const events = new EventEmitter()
  const subscribers = new Map<string, Subscriber>()
  const probes = new Map<string, Probe>()
  const queue: Probe[] = []
  // Only the closes still pending: each one leaves the set when it settles, so months of churn keep it small.
  const closing = new Set<Promise<void>>()
  const counts = { started: 0, completed: 0, timeouts: 0, skipped: 0, hung: 0, late: 0 }
  let inFlight = 0
  let closed: Promise<void> | undefined

  function arm(probe: Probe, at: number): void {
    probe.dueAt = at
    probe.timer = clock.setTimeout(() => onDue(probe), Math.max(0, at - clock.now()))
    probe.timer.unref?.()
  }

  function onDue(probe: Probe): void {
    probe.timer = undefined
    if (probe.stopped) return
    if (probe.running) {
      // The previous probe ignored its abort and is still running: never run twice at once.
      counts.skipped++
      const age = clock.now() - probe.startedAt
      if (age >= probe.timeout + hungGrace) {
        // Still a failure per slot, so the server's health moves on while the checker is stuck.
        counts.hung++
        deliver(probe, { ok: false, code: 'hung', message: `probe still running after ${Math.round(age)} ms`, durationMs: age })
      }
      arm(probe, probe.dueAt + probe.interval)
      return
    }
    queue.push(probe)
    pump()
  }

  function pump(): void {
    while (inFlight < maxConcurrent && queue.length > 0) {
      const probe = queue.shift()!
      if (!probe.stopped) start(probe)
    }
  }

  function start(probe: Probe): void {
    inFlight++
    counts.started++
    probe.running = true
    const controller = new AbortController()
    const startedAt = clock.now()
    probe.startedAt = startedAt
    let done = false
    const finish = (result: CheckResult): void => {
      if (done) return
      done = true
      probe.cancel = undefined
      clock.clearTimeout(deadline)
      inFlight--
      counts.completed++
      if (result.code === 'timeout') counts.timeouts++
      if (!probe.stopped) {
        deliver(probe, result)
        // Next slot on the fixed cadence; if that slot has already passed (a slow probe, or a long wait in the
        // queue), run again at once and keep the cadence from now, rather than lose a whole interval.
        let next = probe.dueAt + probe.interval
        const now = clock.now()
        if (next < now) {
          counts.late++
          next = now
        }
        arm(probe, next)
      }
      pump()
    }
    const deadline = clock.setTimeout(() => {
      controller.abort()
      finish({ ok: false, code: 'timeout', message: `timeout after ${probe.timeout} ms`, durationMs: probe.timeout })
    }, probe.timeout)
    deadline.unref?.()
    probe.cancel = () => {
      controller.abort()
      finish({ ok: false, code: 'aborted', message: 'check removed', durationMs: clock.now() - startedAt })
    }
    Promise.resolve()
      .then(() => probe.checker.check(probe.target, controller.signal))
      .then(
        (result) => finish(result),
        (err: unknown) =>
          // A checker must not throw; if one does, it is a failed probe, not a crashed scheduler.
          finish({ ok: false, code: 'error', message: String((err as Error)?.message ?? err), durationMs: clock.now() - startedAt }),
      )
      .finally(() => {
        probe.running = false
      })
  }

  function deliver(probe: Probe, result: CheckResult): void {
    // A copy when there is more than one: a change listener may remove subscribers (those it removed hear nothing more).
    const subs = probe.subscribers.length === 1 ? probe.subscribers : probe.subscribers.slice()
    for (const sub of subs) {
      if (subscribers.get(sub.id) !== sub) continue
      const from = sub.state.health
      Object.assign(sub.state, step(sub.state, result.ok, sub)) // in place: see Subscriber
      keepResult(sub, result)
      const to = sub.state.health
      if (to === from) continue
      const at = clock.now()
      sub.lastChangeAt = at
      const event: ChangeEvent = { id: sub.id, from, to, reason: result.message, at, result }
      if (result.code !== undefined) event.code = result.code
      const line = { check: sub.id, from, to, reason: result.message, code: result.code }
      if (to === 'down') log?.warn(line, 'real server down')
      else log?.info(line, to === 'up' ? 'real server up' : 'real server state changed')
      try {
        events.emit('change', event)
      } catch (err) {
        log?.warn({ check: sub.id, err }, 'change listener failed')
      }
    }
  }

  // The engine's one callback for all its probes: each result comes with its probe (a closure per probe made in
  // `add` would also keep add's whole scope alive, the options object among it, for as long as the probe runs).
  function onEngineResult(result: CheckResult, probe: Probe): void {
    if (!probe.stopped) deliver(probe, result)
  }

  function stop(probe: Probe): void {
    probe.stopped = true
    probes.delete(probe.key)
    if (probe.timer) clock.clearTimeout(probe.timer)
    if (probe.engineId !== undefined) tcpEngine?.remove(probe.engineId)
    const queued = queue.indexOf(probe)
    if (queued >= 0) queue.splice(queued, 1)
    probe.cancel?.()
    closeChecker(probe.checker)
  }

  function closeChecker(checker: Checker): void {
    const p: Promise<void> = Promise.resolve()
      .then(() => checker.close?.())
      .catch((err: unknown) => log?.warn({ kind: checker.kind, err }, 'checker close failed'))
      .finally(() => closing.delete(p))
    closing.add(p)
  }

  function validate(id: string, o: CheckOptions): void {
    if (subscribers.has(id)) throw new ERR_INVALID_CHECK(id, 'a check with this id is already scheduled')
    for (const name of ['interval', 'timeout'] as const) {
      if (!(Number.isFinite(o[name]) && o[name] > 0)) throw new ERR_INVALID_CHECK(id, `${name} must be > 0 ms, got ${o[name]}`)
    }
    for (const name of ['rise', 'fall'] as const) {
      if (!(Number.isInteger(o[name]) && o[name] >= 1)) throw new ERR_INVALID_CHECK(id, `${name} must be an integer >= 1, got ${o[name]}`)
    }
  }

  return {
    add(id, o) {
      if (closed) throw new ERR_SCHEDULER_CLOSED()
      validate(id, o)
      const key = o.key ?? id
      let probe = probes.get(key)
      if (probe) {
        if (probe.checker !== o.checker) closeChecker(o.checker)
      } else {
        probe = {
          key,
          checker: o.checker,
          target: o.target,
          interval: o.interval,
          timeout: o.timeout,
          subscribers: [],
          dueAt: 0,
          startedAt: 0,
          timer: undefined,
          cancel: undefined,
          engineId: undefined,
          running: false,
          stopped: false,
        }
        probes.set(key, probe)
        const first = Math.floor(random() * o.interval)
        const started = probe
        const bare = tcpEngine && !o.checker.prepare ? o.checker.bareTcp?.(o.target) : undefined
        const armFirst = () => {
          if (!started.stopped) arm(started, clock.now() + first)
        }
        if (bare) {
          try {
            probe.engineId = tcpEngine!.add(bare, o.interval, o.timeout, first, onEngineResult, probe)
          } catch (err) {
            log?.warn({ check: id, err }, 'native TCP engine refused the check: it runs in JavaScript')
          }
        }
        // The checker's set-up (routes, ...) comes before the first slot, outside every probe's deadline.
        if (probe.engineId !== undefined) {
          // the engine keeps this probe's cadence
        } else if (o.checker.prepare) {
          void Promise.resolve()
            .then(() => o.checker.prepare?.(o.target))
            .catch((err: unknown) => log?.warn({ check: id, err }, 'checker prepare failed'))
            .then(armFirst)
        } else armFirst()
      }
      const sub: Subscriber = { id, probe, rise: o.rise, fall: o.fall, state: initialState(o.initial), lastResult: undefined, lastChangeAt: undefined }
      if (probe.subscribers.length === 0) probe.subscribers = [sub] // one slot: see Probe
      else probe.subscribers.push(sub)
      subscribers.set(id, sub)
    },
    remove(id) {
      const sub = subscribers.get(id)
      if (!sub) return false
      subscribers.delete(id)
      const subs = sub.probe.subscribers
      subs.splice(subs.indexOf(sub), 1)
      if (subs.length === 0) stop(sub.probe)
      return true
    },
    get(id) {
      const sub = subscribers.get(id)
      if (!sub) return undefined
      const status: CheckStatus = { id, key: sub.probe.key, ...sub.state }
      if (sub.lastResult) status.lastResult = copyResult(sub.lastResult)
      if (sub.lastChangeAt !== undefined) status.lastChangeAt = sub.lastChangeAt
      return status
    },
    on(event, listener) {
      events.on(event, listener)
    },
    off(event, listener) {
      events.off(event, listener)
    },
    stats() {
      const ours = { subscribers: subscribers.size, probes: probes.size, inFlight, queued: queue.length, closing: closing.size, ...counts }
      if (!tcpEngine) return ours
      const e = tcpEngine.stats()
      for (const name of ['started', 'completed', 'timeouts', 'late', 'inFlight', 'queued'] as const) ours[name] += e[name]
      return ours
    },
    close() {
      closed ??= (async () => {
        for (const probe of [...probes.values()]) stop(probe)
        tcpEngine?.close()
        subscribers.clear()
        queue.length = 0
        await Promise.all([...closing])
      })()
      return closed
    },
  }
}
