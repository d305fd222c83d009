// The clock as a narrow interface, so timing logic is tested without sleeping.

/** A timer handle returned by {@link Clock.setTimeout}. */
export interface TimerHandle {
  /** Lets the process exit while the timer is pending (like Node's `unref`). */
  unref?(): void
}

/** Time and timers, injected wherever code waits or measures. */
export interface Clock {
  /** Milliseconds on a monotonic scale (not wall time). */
  now(): number
  setTimeout(fn: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

/** The real clock: `performance.now()` and Node's timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}
