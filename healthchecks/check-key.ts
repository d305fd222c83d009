// The identity of a probe, so services that check the same real server the same way share one probe.
import { createHash } from 'node:crypto'
import type { CheckTarget } from './checker.js'

/** How often and how long a probe runs; part of its identity (two cadences are two probes). */
export interface ProbeTiming {
  /** Milliseconds between probe starts. */
  interval: number
  /** Milliseconds before a probe is aborted and counted as a timeout. */
  timeout: number
}

// Spec fields that judge results per subscriber and never change what a probe sends.
const PER_SUBSCRIBER = ['rise', 'fall']
// Kinds whose probe reads the virtual service (external passes it to the command; dr-guard probes the VIP
// through the real server). For every other kind the probe goes to `address:port` alone, so services on other
// VIPs that check the same real server the same way share it.
const READS_SERVICE = new Set(['external', 'dr-guard'])

/**
 * A stable string key for "this check spec against this target at this cadence". Object keys are sorted,
 * so two specs that differ only in key order (one from YAML, one from the API) share a probe. Rise and fall
 * are left out (each subscriber keeps its own), and so is the virtual service unless the kind reads it.
 */
export function checkKey(spec: unknown, target: CheckTarget, timing: ProbeTiming): string {
  let probeSpec = spec
  let probed: Partial<CheckTarget> = target
  if (spec !== null && typeof spec === 'object' && !Array.isArray(spec)) {
    probeSpec = Object.fromEntries(Object.entries(spec).filter(([k]) => !PER_SUBSCRIBER.includes(k)))
    if (!READS_SERVICE.has(String((spec as { kind?: unknown }).kind))) {
      probed = { address: target.address, port: target.port, protocol: target.protocol }
    }
  }
  // Hashed: a key is kept per real server, and the JSON (~200 characters, built of many pieces) cost ~500 bytes.
  return createHash('sha256').update(stableJson({ spec: probeSpec, target: probed, interval: timing.interval, timeout: timing.timeout })).digest('base64url')
}

function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`
}
