// The shared frame of one probe: timing, the abort-means-timeout rule, and turning socket errors into results.
import type { CheckResult } from './checker.js'
import type { Clock } from '../src/clock.js'
import { systemClock } from '../src/clock.js'
import { withFields } from '../src/values.js'

/** A probe's verdict before it is timed: a {@link CheckResult} without `durationMs`. */
export type Outcome = Omit<CheckResult, 'durationMs'>

/** Body of one probe: resolves an outcome, and releases its sockets or processes once `signal` aborts. */
export type ProbeBody = (signal: AbortSignal) => Promise<Outcome>

/** A passing outcome. */
export function up(message: string): Outcome {
  return { ok: true, message }
}

/** An outcome with its duration (the last result of every check is kept: see withFields). */
export function timedResult(o: Outcome, durationMs: number): CheckResult {
  return withFields(o, { durationMs })
}

/** A failing outcome with a stable code. */
export function down(code: string, message: string): Outcome {
  return { ok: false, code, message }
}

// errno → stable result code; anything unlisted is 'error'.
const ERRNO_CODES: Record<string, string> = {
  ECONNREFUSED: 'refused',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EADDRNOTAVAIL: 'unreachable',
  ETIMEDOUT: 'timeout',
}

/** Maps a thrown socket or process error to a failing outcome (ECONNREFUSED → 'refused', ...). */
export function fromError(err: unknown): Outcome {
  const e = err as { code?: unknown; message?: unknown }
  const errno = typeof e?.code === 'string' ? e.code : undefined
  const code = (errno && ERRNO_CODES[errno]) ?? 'error'
  const message = errno ?? (typeof e?.message === 'string' ? e.message : String(err))
  return down(code, message)
}

/**
 * Runs a probe body and times it. Never rejects: a throw becomes a failing result, and an abort of `signal`
 * settles at once with code 'timeout' whatever the body is still doing.
 */
export async function runProbe(body: ProbeBody, signal: AbortSignal, clock: Clock = systemClock): Promise<CheckResult> {
  const started = clock.now()
  const timed = (o: Outcome): CheckResult => timedResult(o, Math.max(0, clock.now() - started))
  const timeout = (): CheckResult => {
    const durationMs = Math.max(0, clock.now() - started)
    return timedResult(down('timeout', `timeout after ${Math.round(durationMs)} ms`), durationMs)
  }
  if (signal.aborted) return timeout()
  let unhook = (): void => {}
  const aborted = new Promise<CheckResult>((resolve) => {
    unhook = onAbort(signal, () => resolve(timeout()))
  })
  const probed = (async () => timed(await body(signal)))().catch((err: unknown) => timed(fromError(err)))
  try {
    return await Promise.race([probed, aborted])
  } finally {
    unhook()
  }
}

/** Calls `fn` once `signal` aborts (at once if it already has); returns the function that unhooks it. */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn()
    return () => {}
  }
  signal.addEventListener('abort', fn, { once: true })
  return () => signal.removeEventListener('abort', fn)
}
