// Applies a plan as one batched `ipvsadm -R`; when lines fail, finds which (one table read per failed batch),
// names each with ipvsadm's message, applies the rest, and returns the kernel view and owned set that result.
//
// What ipvsadm -R does on failure (ipvsadm.c restore_table → process_options per line; confirmed with 1.31 on
// the lab's 6.1 kernel):
//  - a kernel error (Service not defined, Scheduler or persistence engine not found, address not unicast, ...)
//    prints ONE line on stderr, without a line number, and restore CONTINUES; so does an unknown option;
//  - a bad value (fail(2): illegal weight, bad address, invalid timeout) exits at once with status 2: later
//    lines never run (the model keeps these out, but a stray one must not lose the rest of the plan);
//  - the exit status is the LAST line's, so a batch whose middle line failed exits 0: stderr is the only sign.
// Hence: after a batch with stderr or a non-zero status, read the table once, see which changes hold, pair the
// missing ones in order with the stderr lines, and re-send only the lines an abort skipped.
import { opKey, restoreLine, type Op } from './commands.js'
import { indexTable, opHolds, type Plan } from './diff.js'
import type { RestoreResult } from './ipvsadm.js'
import type { Table } from './model.js'
import { nextOwned, replaceOwned, updateOwned, type Owned, type OwnedDelta } from './owned.js'
import { TableView } from './table-view.js'

/** The part of Ipvsadm that apply needs. */
export interface ApplyDriver {
  restore(lines: string[]): Promise<RestoreResult>
  read(): Promise<Table>
}

/** One change that did not take, with ipvsadm's words. */
export interface FailedOp {
  key: string
  line: string
  error: string
  op: Op
}

/** Which changes took and which failed, and what that cost. */
export interface ApplyRun {
  applied: Op[]
  failed: FailedOp[]
  /** ipvsadm -R processes run and full table reads made. */
  batches: number
  reads: number
}

/** What applying a plan did to the kernel (the view and owned set were updated in place). */
export interface ApplyOutcome extends ApplyRun {
  /** The owned set's net change: what to append to the state file (OwnedStore.record). */
  ownedDelta: OwnedDelta
}

/** What applying a plan did, with the new kernel view and owned set as values. */
export interface ApplyResult extends ApplyRun {
  /** What the kernel holds now, as the director believes (read back after any failure). */
  kernel: Table
  /** The owned set to persist. */
  owned: Set<string>
}

/** Exit status of ipvsadm's fail(): the process stopped at that line. */
const ABORTED = 2

/**
 * Apply `plan` to a kernel believed to hold `kernel`; never throws for failed lines (see FailedOp). Leaves its
 * arguments as they were; the owned set is trimmed to the kernel (stale keys of a state file go). O(table).
 */
export async function applyPlan(driver: ApplyDriver, plan: Plan, kernel: Table, owned: Owned): Promise<ApplyResult> {
  const view = new TableView(kernel)
  const run = await applyBatches(driver, plan, view)
  const after = view.toTable()
  return { ...run, kernel: after, owned: nextOwned(owned, plan.adopted, run.applied, after) }
}

/**
 * Apply `plan` to a kernel believed to hold `view`, updating `view` and `owned` in place: after a clean batch in
 * time proportional to the plan (no copy of either); after a failed one from one table read, as applyPlan does.
 * Expects `owned` to hold only entries in `view` (true after trimOwned, and kept by every apply).
 */
export async function applyPlanInPlace(driver: ApplyDriver, plan: Plan, view: TableView, owned: Set<string>): Promise<ApplyOutcome> {
  let ownedDelta: OwnedDelta | undefined
  // A clean first batch: the owned set follows its ops (before the view does: a deleted service's real servers).
  const run = await applyBatches(driver, plan, view, (batch) => { ownedDelta = updateOwned(owned, plan.adopted, batch, view) })
  if (run.reads > 0) {
    // The careful path: the owned set follows the table as read (and the batches applied after that read).
    ownedDelta = replaceOwned(owned, nextOwned(owned, plan.adopted, run.applied, view.toTable()))
  }
  return { ...run, ownedDelta: ownedDelta ?? updateOwned(owned, plan.adopted, [], view) }
}

/**
 * Send the plan (one batch, plus one per abort), keeping `view` as the kernel holds it: a clean batch is applied
 * to it (after `beforeClean`, only when no read happened), a failed one makes it the table read back.
 */
async function applyBatches(driver: ApplyDriver, plan: Plan, view: TableView, beforeClean?: (batch: Op[]) => void): Promise<ApplyRun> {
  const result: ApplyRun = { applied: [], failed: [], batches: 0, reads: 0 }
  let pending = plan.ops
  while (pending.length > 0) {
    const batch = pending
    pending = []
    const res = await driver.restore(batch.map(restoreLine))
    result.batches++
    const errors = res.stderr.split('\n').map((l) => l.trim()).filter(Boolean)
    if (res.code === 0 && errors.length === 0) {
      result.applied.push(...batch)
      if (result.reads === 0) beforeClean?.(batch)
      view.apply(batch)
      break
    }
    view.reset(await driver.read())
    result.reads++
    const missing: Op[] = []
    const index = indexTable(view.toTable())
    for (const op of batch) (opHolds(index, op) ? result.applied : missing).push(op)
    // Lines fail in order and each prints one line: the i-th missing change owns the i-th message.
    missing.forEach((op, i) => {
      const error = errors[i]
      if (error !== undefined) {
        const extra = i === missing.length - 1 && errors.length > missing.length ? `; ${errors.slice(i + 1).join('; ')}` : ''
        result.failed.push({ key: opKey(op), line: restoreLine(op), error: error + extra, op })
      } else if (res.code === ABORTED && errors.length > 0) {
        pending.push(op) // never ran: ipvsadm stopped at an earlier line
      } else {
        const why = errors.length ? 'not in the kernel after ipvsadm -R' : `ipvsadm -R exited ${res.code}`
        result.failed.push({ key: opKey(op), line: restoreLine(op), error: why, op })
      }
    })
  }
  return result
}
