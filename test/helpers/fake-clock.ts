// A manual Clock for tests: time moves only when the test calls advance(), and promises settle in between.
import type { Clock, TimerHandle } from '../../src/clock.js'

interface Timer extends TimerHandle {
  at: number
  seq: number
  fn: () => void
}

/** A Clock whose time is moved by hand. */
export interface FakeClock extends Clock {
  /** Moves time forward by `ms`, firing due timers in time order and letting promises settle after each. */
  advance(ms: number): Promise<void>
  /** Timers still pending. */
  pending(): number
}

/** Lets queued promise callbacks (and the I/O callbacks they wait on) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

/** Creates a fake clock starting at `start` ms. */
export function createFakeClock(start = 0): FakeClock {
  let now = start
  let seq = 0
  const timers = new Set<Timer>()
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const timer: Timer = { at: now + Math.max(0, ms), seq: seq++, fn, unref() {} }
      timers.add(timer)
      return timer
    },
    clearTimeout(handle) {
      timers.delete(handle as Timer)
    },
    pending: () => timers.size,
    async advance(ms) {
      const target = now + ms
      await settle()
      for (;;) {
        let next: Timer | undefined
        for (const t of timers) if (t.at <= target && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t
        if (!next) break
        timers.delete(next)
        now = next.at
        next.fn()
        await settle()
      }
      now = target
    },
  }
}
