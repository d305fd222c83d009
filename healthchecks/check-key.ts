// The identity of a probe, so services that check the same real server the same way share one probe.
import type { CheckTarget } from './checker.js'

/** How often and how long a probe runs; part of its identity (two cadences are two probes). */
export interface ProbeTiming {
  /** Milliseconds between probe starts. */
  interval: number
  /** Milliseconds before a probe is aborted and counted as a timeout. */
  timeout: number
}

/**
 * A stable string key for "this check spec against this target at this cadence". Object keys are sorted,
 * so two specs that differ only in key order (one from YAML, one from the API) share a probe.
 */
export function checkKey(spec: unknown, target: CheckTarget, timing: ProbeTiming): string {
  return stableJson({ spec, target, interval: timing.interval, timeout: timing.timeout })
}

function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`
}
