// Assertions for lab scenarios (no tap in the guest): each failure throws a ScenarioFailure whose message and
// details the host's tap run shows.
import { isDeepStrictEqual, inspect } from 'node:util'

/** A failed check inside a scenario: the message says what was expected, details carry the evidence. */
export class ScenarioFailure extends Error {
  /** Anything JSON-serialisable that helps a reader (command output, the table seen, ...). */
  readonly details: unknown
  constructor(message: string, details?: unknown) {
    super(message)
    this.name = 'ScenarioFailure'
    this.details = details
  }
}

/** Fails the scenario with `message` and `details`. */
export function fail(message: string, details?: unknown): never {
  throw new ScenarioFailure(message, details)
}

/** Passes when `value` is truthy. */
export function ok(value: unknown, message: string, details?: unknown): asserts value {
  if (!value) fail(message, details)
}

/** Passes when `actual === expected`. */
export function equal<T>(actual: T, expected: T, message: string): void {
  if (actual !== expected) fail(message, { expected, actual })
}

/** Passes when `actual` and `expected` are deeply equal (same shape and values). */
export function same(actual: unknown, expected: unknown, message: string): void {
  if (!isDeepStrictEqual(actual, expected)) fail(message, { expected: inspect(expected, { depth: 6 }), actual: inspect(actual, { depth: 6 }) })
}

/** Passes when `actual` matches `pattern`; returns the match for further checks. */
export function match(actual: string, pattern: RegExp, message: string): RegExpExecArray {
  const m = pattern.exec(actual)
  if (!m) fail(message, { pattern: String(pattern), actual })
  return m
}

/**
 * Retries `probe` until it resolves (its value is returned) or `tries` attempts have failed, waiting
 * `intervalMs` between them; then fails with `message` and the last error. For state that settles
 * (a daemon starting, a sync arriving), never for timing claims.
 */
export async function eventually<T>(probe: () => Promise<T>, message: string, opts: { tries?: number; intervalMs?: number } = {}): Promise<T> {
  const tries = opts.tries ?? 20
  let last: unknown
  for (let i = 0; i < tries; i++) {
    try {
      return await probe()
    } catch (err) {
      last = err
      if (i < tries - 1) await new Promise((r) => setTimeout(r, opts.intervalMs ?? 500))
    }
  }
  const lastFailure = last instanceof ScenarioFailure ? { message: last.message, details: last.details } : String(last)
  fail(`${message} (still failing after ${tries} tries)`, lastFailure)
}
