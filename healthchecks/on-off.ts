// The `on` and `off` checks: a real server forced up or down (ldirectord's checktype on / off).
import type { Checker } from './checker.js'
import type { OffCheckSpec, OnCheckSpec } from './spec.js'

/** Creates a checker that always reports up (`on`) or always down (`off`, code 'off'). */
export function createOnOffChecker(spec: OnCheckSpec | OffCheckSpec): Checker {
  const on = spec.kind === 'on'
  return {
    kind: spec.kind,
    check: async () =>
      on ? { ok: true, message: 'check is on', durationMs: 0 } : { ok: false, code: 'off', message: 'check is off', durationMs: 0 },
  }
}
