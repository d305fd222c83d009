// Whether the lab tier runs, skips or fails: the one decision lab.test.ts takes before booting anything.
import type { LabParts, PartsResult } from './host/parts.js'

/** What lab.test.ts does with the parts it was (or was not) given. */
export type TierDecision = { action: 'run'; parts: LabParts } | { action: 'skip'; reason: string } | { action: 'fail'; reason: string }

/**
 * Decides the lab tier. `parts` is undefined when LVS_LAB_SKIP is set (a deliberate skip, honoured everywhere).
 * A host that cannot run the lab skips it with one line, except under CI, where a skipped tier would pass a
 * pipeline that never tested the kernel: there it fails.
 */
export function decideTier(env: NodeJS.ProcessEnv, parts: PartsResult | undefined): TierDecision {
  if (env.LVS_LAB_SKIP) return { action: 'skip', reason: 'LVS_LAB_SKIP is set' }
  if (!parts) return { action: 'fail', reason: 'no lab parts were prepared' }
  if (parts.ok) return { action: 'run', parts: parts.parts }
  if (parts.broken) return { action: 'fail', reason: `the lab could not be prepared: ${parts.reason}` }
  if (isCi(env)) return { action: 'fail', reason: `the lab cannot run in CI: ${parts.reason}` }
  return { action: 'skip', reason: parts.reason }
}

// CI services set CI=true (GitHub Actions, GitLab, ...); "false" or "0" means a developer turned it off.
function isCi(env: NodeJS.ProcessEnv): boolean {
  return env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0'
}
