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
// Hence: after a batch with stderr or a non-zero status, read the table once, see which changes hold, and
// re-send only the lines an abort skipped.
//
// Which change failed comes from the read, never from stderr; stderr only names why. Messages have no line
// numbers, so they are paired with changes by order, by this rule:
//  - a change that does not hold took the next message it could have printed; "Service already exists" and
//    "Destination already exists" only go to an add whose entry the read shows (present with other attributes);
//  - a message passed over came from a change that holds anyway: a delete of an entry already gone (harmless),
//    or an add of an entry ANOTHER tool created meanwhile (the view was stale). An "already exists" message
//    passed over makes every holding add of that kind between the neighbouring failed changes not ours: never
//    taken as owned (reported failed; the next diff shows it as a conflict, which adopt resolves). When that
//    span holds more such adds than messages, some of ours are disowned too: we never own what may be another's;
//  - a missing change with no message left: after an abort (exit 2) it never ran and is sent again; otherwise
//    it is named "not in the kernel" (another tool removed it after it took). The wording of messages can then
//    be shifted by one between failed changes; which changes failed, and what is owned, cannot.
//  - ipvsadm that throws (a timeout kills it, the kernel having taken an unknown part of the batch): the table
//    is read back and the batch attributed as above with no messages. If that read fails too, the error
//    propagates, but with the owned set widened by every add that may have taken (`owned` / `ownedDelta` on
//    the error) and the view marked stale, so nothing we created is lost and the next run reads first.
import { setImmediate } from 'node:timers/promises'
import { opKey, restoreLine, type Op } from './commands.js'
import { indexTable, opHolds, type Plan, type TableIndex } from './diff.js'
import type { RestoreResult } from './ipvsadm.js'
import { destinationKey, serviceKey, type Service, type Table } from './model.js'
import { nextOwned, replaceOwned, updateOwned, type Owned, type OwnedDelta } from './owned.js'
import { TableView } from './table-view.js'

/** The part of Ipvsadm that apply needs. */
export interface ApplyDriver {
  /** The ops as one `ipvsadm -R` (Ipvsadm.restoreOps). */
  restoreOps(ops: readonly Op[]): Promise<RestoreResult>
  read(): Promise<Table>
  /** A read of these services only; with it, a failed batch reads back only the services it touched. */
  readServices?(services: Service[]): Promise<Table>
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

/**
 * The error applyPlan / applyPlanInPlace throw when ipvsadm and then the table read failed (its code is theirs):
 * what the owned set becomes, widened by every add that may have taken, so that it can still be persisted.
 */
export type ApplyError = Error & { code?: string; owned?: Set<string>; ownedDelta?: OwnedDelta }

/** Exit status of ipvsadm's fail(): the process stopped at that line. */
const ABORTED = 2

/** The add each "already exists" message can come from. */
const EXISTS: Record<string, 'add-service' | 'add-dest'> = {
  'Service already exists': 'add-service',
  'Destination already exists': 'add-dest',
}

// Raised inside applyBatches when the kernel's state is unknown: the original error and the adds that may have taken.
class Unknown {
  constructor(readonly error: unknown, readonly mayHaveTaken: string[]) {}
}

/** Options of applyPlan. */
export interface ApplyPlanOptions {
  /**
   * Persists the owned set (saveOwned to the state file). Called while ipvsadm runs with the set a clean batch leaves
   * (the common case, so the write costs nothing after the process), and again after it only when the outcome
   * differs; after ipvsadm and the read both failed, with the widened set of the error. One call at a time.
   */
  save?: (owned: Set<string>) => Promise<void>
}

/**
 * Apply `plan` to a kernel believed to hold `kernel`; never throws for failed lines (see FailedOp). Leaves its
 * arguments as they were; the owned set is trimmed to the kernel (stale keys of a state file go). O(table), worked
 * out while the first ipvsadm process runs. Throws (an ApplyError with `owned`, saved first when `save` is given)
 * only when ipvsadm and the table read after it both failed.
 */
export async function applyPlan(driver: ApplyDriver, plan: Plan, kernel: Table, owned: Owned, options: ApplyPlanOptions = {}): Promise<ApplyResult> {
  const view = new TableView(kernel)
  // What a clean first batch leaves, and its save: worked out while that batch's process runs.
  let clean: { kernel: Table; owned: Set<string> } | undefined
  let saving: Promise<void> | undefined
  const whileRunning = (batch: Op[]) => {
    const after = view.toTable()
    clean = { kernel: after, owned: nextOwned(owned, plan.adopted, batch, after) }
    saving = options.save?.(clean.owned)
    saving?.catch(() => {}) // awaited below
  }
  let result: ApplyResult
  try {
    const run = await applyBatches(driver, plan, view, { whileRunning })
    if (clean && run.batches === 1 && run.reads === 0) result = { ...run, ...clean }
    else {
      const after = view.toTable()
      result = { ...run, kernel: after, owned: nextOwned(owned, plan.adopted, run.applied, after) }
    }
  } catch (err) {
    if (!(err instanceof Unknown)) throw err
    const e = err.error as ApplyError
    e.owned = new Set([...owned, ...plan.adopted, ...err.mayHaveTaken])
    await saving?.catch(() => {})
    await options.save?.(e.owned)
    throw e
  }
  await saving
  if (options.save && result.owned !== clean?.owned) await options.save(result.owned)
  return result
}

/**
 * Apply `plan` to a kernel believed to hold `view`, updating `view` and `owned` in place: after a clean batch in
 * time proportional to the plan (no copy of either); after a failed one from one table read, as applyPlan does.
 * Expects `owned` to hold only entries in `view` (true after trimOwned, and kept by every apply). When ipvsadm
 * and the read after it both fail, throws an ApplyError with `ownedDelta` (the adds that may have taken, already
 * added to `owned`) and leaves `view.stale` set: read the kernel (view.reset, then trimOwned) before the next diff.
 */
export async function applyPlanInPlace(driver: ApplyDriver, plan: Plan, view: TableView, owned: Set<string>): Promise<ApplyOutcome> {
  let ownedDelta: OwnedDelta | undefined
  let run: ApplyRun
  try {
    // A clean first batch: the owned set follows its ops (before the view does: a deleted service's real servers).
    run = await applyBatches(driver, plan, view, { beforeClean: (batch) => { ownedDelta = updateOwned(owned, plan.adopted, batch, view) } })
  } catch (err) {
    if (!(err instanceof Unknown)) throw err
    view.stale = true
    const e = err.error as ApplyError
    e.ownedDelta = replaceOwned(owned, new Set([...owned, ...plan.adopted, ...err.mayHaveTaken]))
    throw e
  }
  if (run.reads > 0) {
    // The careful path: the owned set follows the table as read (and the batches applied after that read).
    ownedDelta = replaceOwned(owned, nextOwned(owned, plan.adopted, run.applied, view.toTable()))
  }
  return { ...run, ownedDelta: ownedDelta ?? updateOwned(owned, plan.adopted, [], view) }
}

/** What applyBatches calls on the way. */
interface BatchHooks {
  /** Before a clean batch is applied to the view, when no read happened: the view still shows the kernel before it. */
  beforeClean?: (batch: Op[]) => void
  /**
   * While the first batch's process runs, with the view already holding that batch's effect (a failed batch's
   * read puts it right): what a clean batch leaves is worked out beside the process, not after it.
   */
  whileRunning?: (batch: Op[]) => void
}

/**
 * Send the plan (one batch, plus one per abort), keeping `view` as the kernel holds it: a clean batch is applied
 * to it (after `beforeClean`, only when no read happened), a failed one makes it the table read back.
 */
async function applyBatches(driver: ApplyDriver, plan: Plan, view: TableView, hooks: BatchHooks = {}): Promise<ApplyRun> {
  const result: ApplyRun = { applied: [], failed: [], batches: 0, reads: 0 }
  let pending = plan.ops
  while (pending.length > 0) {
    const batch = pending
    pending = []
    let res: RestoreResult = { code: null, stderr: '' }
    let thrown: unknown // killed at its deadline (or worse): the kernel may have taken any part of the batch, and said nothing
    const running = driver.restoreOps(batch).then((r) => { res = r }, (err: unknown) => { thrown = err })
    const early = hooks.whileRunning !== undefined && result.batches === 0
    if (early) {
      await setImmediate() // the queued process starts first
      view.apply(batch)
      hooks.whileRunning!(batch)
    }
    await running
    result.batches++
    const errors = res.stderr.split('\n').map((l) => l.trim()).filter(Boolean)
    if (thrown === undefined && res.code === 0 && errors.length === 0) {
      result.applied.push(...batch)
      if (!early) {
        if (result.reads === 0) hooks.beforeClean?.(batch)
        view.apply(batch)
      }
      break
    }
    try {
      await readBack(driver, batch, view)
    } catch (err) {
      const adds = [...result.applied, ...batch].filter((op) => op.kind === 'add-service' || op.kind === 'add-dest')
      throw new Unknown(thrown ?? err, adds.map(opKey))
    }
    result.reads++
    const why = thrown === undefined ? undefined : (thrown as Error).message
    pending = attribute(batch, errors, res.code, indexTable(view.toTable()), result, why)
  }
  return result
}

/**
 * After a failed batch, make `view` what the kernel holds: only the batch's services when the driver can read
 * services one by one (and none has tunnel real servers, whose options `-Ln` does not show), else the table.
 */
async function readBack(driver: ApplyDriver, batch: Op[], view: TableView): Promise<void> {
  const touched = new Map(batch.map((op) => [serviceKey(op.service), op.service]))
  const tunnels = batch.some((op) => op.service.destinations.some((d) => d.forwarding === 'tun') || ('dest' in op && op.dest.forwarding === 'tun'))
  if (!driver.readServices || tunnels || view.stale) {
    view.reset(await driver.read())
    return
  }
  view.replaceServices(touched.keys(), await driver.readServices([...touched.values()]))
}

/**
 * Sort a failed batch's ops into applied and failed by the table read back, pairing stderr messages with them by
 * the rule in the file header; returns the ops an abort kept from running. `why` replaces messages when ipvsadm threw.
 */
function attribute(batch: Op[], errors: string[], code: number | null, index: TableIndex, result: ApplyRun, why?: string): Op[] {
  const holds = batch.map((op) => opHolds(index, op))
  // "already exists" messages passed over, by span of ops between failed ones and kind of add: how many.
  const spans = new Map<string, { from: number; to: number; kind: 'add-service' | 'add-dest'; count: number }>()
  const passOver = (message: string, from: number, to: number) => {
    const kind = EXISTS[message]
    if (!kind) return // a delete of an entry already gone, or an edit: nothing to own
    const span = spans.get(`${from} ${kind}`)
    if (span) span.count++
    else spans.set(`${from} ${kind}`, { from, to, kind, count: 1 })
  }
  const messages: Array<string | undefined> = []
  let k = 0
  let from = 0 // first op after the previous failed one
  batch.forEach((op, j) => {
    if (holds[j]) return
    const kind = (op.kind === 'add-service' || op.kind === 'add-dest') && entryPresent(index, op) ? op.kind : undefined
    while (k < errors.length && EXISTS[errors[k]!] && EXISTS[errors[k]!] !== kind) passOver(errors[k++]!, from, j)
    if (k < errors.length) messages[j] = errors[k++]
    from = j + 1
  })
  while (k < errors.length) passOver(errors[k++]!, from, batch.length)
  const notOurs = new Map<number, string>() // holding adds that may have met another tool's entry, with why
  for (const { from, to, kind, count } of spans.values()) {
    const suspects = []
    for (let j = from; j < to; j++) if (holds[j] && batch[j]!.kind === kind) suspects.push(j)
    const what = `${kind === 'add-service' ? 'Service' : 'Destination'} already exists`
    const reason = suspects.length <= count
      ? `${what} (created by another tool; not taken as owned)`
      : `${what} for ${count} of ${suspects.length} adds here (created by another tool; none of them taken as owned)`
    for (const j of suspects) notOurs.set(j, reason)
  }
  const skipped: Op[] = []
  batch.forEach((op, j) => {
    const fail = (error: string) => result.failed.push({ key: opKey(op), line: restoreLine(op), error, op })
    const message = messages[j]
    if (notOurs.has(j)) fail(notOurs.get(j)!)
    else if (holds[j]) result.applied.push(op)
    else if (why !== undefined) fail(why)
    else if (message !== undefined) fail(message)
    else if (code === ABORTED && errors.length > 0) skipped.push(op) // never ran: ipvsadm stopped at an earlier line
    else fail(errors.length ? 'not in the kernel after ipvsadm -R' : `ipvsadm -R exited ${code}`)
  })
  return skipped
}

// True when the entry an add creates is in the table (with whatever attributes).
function entryPresent(index: TableIndex, op: Op): boolean {
  const svc = index.get(serviceKey(op.service))
  return 'dest' in op ? !!svc?.destinations.has(destinationKey(op.dest)) : !!svc
}
