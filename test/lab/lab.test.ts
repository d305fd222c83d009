// The lab tier of `npm test`: boots ONE guest (Debian's kernel with real IPVS) that runs every compiled
// *.scenario.js, and turns each scenario's result into a tap assertion. Skips, with one line, where it cannot run
// (fails instead under CI=true; see tier.ts).
import t from 'tap'
import { removeJobDir, runGuest } from './host/boot.js'
import { ensureParts } from './host/parts.js'
import { staleCompiled } from './host/paths.js'
import { decideTier } from './tier.js'

// LVS_LAB_SKIP=1 turns the tier off on purpose (a quick `npm test` while editing).
const parts = process.env.LVS_LAB_SKIP ? undefined : await ensureParts()
const decision = decideTier(process.env, parts)
if (decision.action === 'fail') {
  t.fail(decision.reason, { hint: 'LVS_LAB_SKIP=1 skips the lab tier', at: null, stack: '' })
} else if (decision.action === 'skip') {
  process.stderr.write(`lab tier skipped: ${decision.reason}\n`)
  t.plan(0, `lab tier skipped: ${decision.reason}`)
} else {
  const stale = staleCompiled()
  if (stale.length > 0) {
    t.fail('the guest runs compiled JavaScript: run "npm run build" (npm test does) before this file', { stale })
  } else {
    // 30 minutes for the whole tier unless LVS_LAB_TIMEOUT (seconds) says otherwise (a quiet host needs about
    // 10; a busy one twice that); the tap timeout (.taprc, 35 minutes) is longer, so this one speaks first and
    // the console tail gets reported.
    const timeoutSec = Number(process.env.LVS_LAB_TIMEOUT ?? 1800)
    const run = await runGuest(decision.parts, { mode: 'scenarios', files: [] }, { timeoutMs: timeoutSec * 1000 })
    t.comment(`lab: ${run.results.length} scenarios, boot to result ${run.seconds.toFixed(1)} s`)
    for (const r of run.results) {
      // The guest's failure and evidence, not the host line that reports it (at null, stack empty).
      const diag = { failure: r.message, details: r.details, at: null, stack: '' }
      t.ok(r.ok, `${r.file}: ${r.name}`, r.ok ? {} : diag)
    }
    if (run.exitStatus === null) {
      const why = run.timedOut ? `timed out after ${run.seconds.toFixed(0)} s` : 'stopped before its job finished'
      t.fail(`the lab guest ${why}`, { consoleTail: run.consoleTail, stderr: run.stderr.slice(-3000), jobDir: run.jobDir, at: null, stack: '' })
    } else if (run.exitStatus !== 0) {
      t.fail(`the guest runner exited ${run.exitStatus}`, { stderr: run.stderr.slice(-3000), jobDir: run.jobDir, at: null, stack: '' })
    } else if (run.results.length === 0) {
      t.fail('the guest ran no scenario (no *.scenario.js in dist/test/lab?)', { jobDir: run.jobDir })
    }
    if (run.exitStatus === 0 && run.results.every((r) => r.ok)) removeJobDir(run)
  }
}
