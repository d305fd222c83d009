// End-to-end recovery harness: the real scheduler on the real clock driving a real checker built from a spec,
// with bounded waits for change events and probe counts, and the up → down → up script every kind is put through.
import type { Test } from 'tap'
import { createScheduler, type ChangeEvent, type CheckStatus, type Scheduler } from '../../healthchecks/scheduler.js'
import { createChecker, type CheckerDeps } from '../../healthchecks/registry.js'
import { parseCheckSpec, type CheckSpec } from '../../healthchecks/spec.js'
import { resolveTarget, type RealEndpoint, type VirtualEndpoint } from '../../healthchecks/target.js'
import type { CheckTarget } from '../../healthchecks/checker.js'
import { checkKey } from '../../healthchecks/check-key.js'
import { systemClock } from '../../src/clock.js'

/** Short cadence so a whole up → down → up cycle takes a second or two; the timeout is generous so a loaded
 * machine cannot turn a healthy loopback server into a timeout (cases about silence pass their own). */
export const TIMING = { interval: 0.15, timeout: 1, fall: 2, rise: 2 }

/** Bound on every wait: a missing event fails the test with a message instead of hanging it. */
export const DEADLINE_MS = 10_000

/** A change event with the subscriber's counters as they were when it was emitted. */
export type Seen = ChangeEvent & { status: CheckStatus }

/** Polls `cond` every 10 ms until it holds; rejects naming `what` after `ms`. */
async function waitUntil(cond: () => boolean, what: string, ms = DEADLINE_MS): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`gave up after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** A real scheduler on the real clock, closed in teardown, with every change event recorded. */
export function startScheduler(t: Test) {
  const scheduler: Scheduler = createScheduler({ clock: systemClock, maxConcurrent: 10 })
  // The scheduler's timers are unref'd (a daemon has other handles); hold the loop open for the test.
  const keepAlive = setInterval(() => {}, 1000)
  t.teardown(async () => {
    await scheduler.close()
    clearInterval(keepAlive)
  })
  const events: Seen[] = []
  scheduler.on('change', (e) => events.push({ ...e, status: scheduler.get(e.id)! }))
  const of = (id: string) => events.filter((e) => e.id === id)
  return { scheduler, events, of, ...waiters(of, () => scheduler.stats().completed) }
}

/** Bounded waits on a scheduler seen from outside: `of(id)` gives one subscriber's events, `completed()` the probe count. */
export function waiters(of: (id: string) => Seen[], completed: () => number) {
  return {
    /** Waits for the n-th (1-based) event of `id`. */
    async event(id: string, n: number): Promise<Seen> {
      await waitUntil(() => of(id).length >= n, `change event #${n} of ${id}`)
      return of(id)[n - 1]!
    },
    /** Waits until `n` more probes have completed than now. */
    async probes(n: number): Promise<void> {
      const target = completed() + n
      await waitUntil(() => completed() >= target, `${n} more probes`)
    },
  }
}

/** One check as a service's configuration gives it: the spec, the real server and the virtual service. */
export interface CheckInput {
  spec: Record<string, unknown>
  real: RealEndpoint
  virtual: VirtualEndpoint
  deps?: CheckerDeps
}

/**
 * Parses the spec (with TIMING under it), builds its checker, target and probe key as the director would, and
 * adds it; checks with equal keys share one probe.
 */
export function addCheck(sched: ReturnType<typeof startScheduler>, id: string, input: CheckInput): { spec: CheckSpec; target: CheckTarget; key: string } {
  const spec = parseCheckSpec({ ...TIMING, ...input.spec })
  const target = resolveTarget(spec, input.real, input.virtual)
  const key = checkKey(spec, target, { interval: spec.interval * 1000, timeout: spec.timeout * 1000 })
  sched.scheduler.add(id, {
    checker: createChecker(spec, input.deps),
    target,
    interval: spec.interval * 1000,
    timeout: spec.timeout * 1000,
    rise: spec.rise,
    fall: spec.fall,
    key,
  })
  return { spec, target, key }
}

/** A server whose health the test flips. */
export interface Flippable {
  fail(): Promise<void> | void
  heal(): Promise<void> | void
}

/** What the down event must say. */
export interface Expected {
  code: string
  reason?: RegExp
}

/**
 * The script every kind goes through: first result up; the server fails; down only on the `fall`-th consecutive
 * failure, with the failure's code; no event for the failing probes after it; healed; up on the `rise`-th
 * success; no event for the healthy probes after it. Exactly three events in all.
 */
export async function expectRecovery(t: Test, input: CheckInput, server: Flippable, expected: Expected): Promise<Seen[]> {
  const sched = startScheduler(t)
  const { spec } = addCheck(sched, 'rs', input)
  const first = await sched.event('rs', 1)
  t.match(first, { from: 'unknown', to: 'up' }, `up: ${first.reason}`)
  await server.fail()
  const down = await sched.event('rs', 2)
  t.match(down, { from: 'up', to: 'down', code: expected.code }, `down with code ${expected.code}: ${down.reason}`)
  if (expected.reason) t.match(down.reason, expected.reason)
  t.equal(down.status.failures, spec.fall, `down on failure #${spec.fall} in a row, not before`)
  await sched.probes(2)
  t.equal(sched.of('rs').length, 2, 'no event for failing probes once down')
  t.match(sched.scheduler.get('rs'), { health: 'down', lastResult: { ok: false, code: expected.code } })
  t.ok(sched.scheduler.get('rs')!.failures >= spec.fall + 2, 'the failing probes were counted')
  await server.heal()
  const up = await sched.event('rs', 3)
  t.match(up, { from: 'down', to: 'up' }, `up again: ${up.reason}`)
  t.equal(up.status.successes, spec.rise, `up on success #${spec.rise} in a row, not before`)
  await sched.probes(2)
  t.same(
    sched.of('rs').map((e) => `${e.from}->${e.to}`),
    ['unknown->up', 'up->down', 'down->up'],
    'exactly one event per transition',
  )
  t.equal(sched.scheduler.get('rs')?.health, 'up')
  return sched.of('rs')
}
