// A scriptable Checker for scheduler unit tests: answers ok/fail after a delay on the fake clock, or hangs.
import type { Checker, CheckResult, CheckTarget } from '../../healthchecks/checker.js'
import type { Clock } from '../../src/clock.js'

/** What the next probe does: succeed, fail, hang until aborted, or hang and ignore the abort. */
export type Outcome = 'ok' | 'fail' | 'hang' | 'ignore-abort'

/** A fake checker that records how it was called. */
export interface FakeChecker extends Checker {
  outcome: Outcome
  /** Fake-clock milliseconds each ok/fail probe takes. */
  delay: number
  calls: number
  /** Clock times at which probes started. */
  startedAt: number[]
  inFlight: number
  maxInFlight: number
  closed: number
  /** Signals of every probe, to see whether they were aborted. */
  signals: AbortSignal[]
  /** Settles every probe that ignored its abort. */
  release(): void
}

/** Creates a fake checker on `clock`. */
export function createFakeChecker(clock: Clock, outcome: Outcome = 'ok', delay = 10): FakeChecker {
  const stuck: (() => void)[] = []
  const fake: FakeChecker = {
    kind: 'fake',
    outcome,
    delay,
    calls: 0,
    startedAt: [],
    inFlight: 0,
    maxInFlight: 0,
    closed: 0,
    signals: [],
    check(_target: CheckTarget, signal: AbortSignal): Promise<CheckResult> {
      fake.calls++
      fake.startedAt.push(clock.now())
      fake.signals.push(signal)
      fake.inFlight++
      fake.maxInFlight = Math.max(fake.maxInFlight, fake.inFlight)
      const start = clock.now()
      const mode = fake.outcome
      let settled = false
      return new Promise((resolve) => {
        const done = (result: Omit<CheckResult, 'durationMs'>): void => {
          if (settled) return
          settled = true
          fake.inFlight--
          resolve({ ...result, durationMs: clock.now() - start })
        }
        if (mode === 'ignore-abort') {
          stuck.push(() => done({ ok: false, code: 'late', message: 'answered late' }))
        } else if (mode === 'hang') {
          signal.addEventListener('abort', () => done({ ok: false, code: 'timeout', message: 'aborted' }), { once: true })
        } else {
          const timer = clock.setTimeout(
            () => done(mode === 'ok' ? { ok: true, message: 'fine' } : { ok: false, code: 'refused', message: 'ECONNREFUSED' }),
            fake.delay,
          )
          signal.addEventListener('abort', () => {
            clock.clearTimeout(timer)
            done({ ok: false, code: 'timeout', message: 'aborted' })
          }, { once: true })
        }
      })
    },
    async close() {
      fake.closed++
    },
    release() {
      for (const fn of stuck.splice(0)) fn()
    },
  }
  return fake
}
