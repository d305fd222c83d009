// A plan applied in place with the owned set's state file kept in step, its write hidden behind the ipvsadm
// process: the keys the plan may come to own (its adds and adoptions) are journaled while ipvsadm runs, so a clean
// add costs the process and nothing after it; one more line afterwards only for removals and for keys written
// ahead that did not take. Safe in both orders of a crash: a key journaled ahead whose entry never took is
// dropped by trimOwned at the next start (the entry is not in the kernel); a removal is journaled after the
// kernel dropped the entry. A key written ahead that met another tool's entry is taken back in the line after.
import { opKey } from './commands.js'
import { applyPlanInPlace, type ApplyDriver, type ApplyError, type ApplyOutcome } from './apply.js'
import type { Plan } from './diff.js'
import type { OwnedDelta } from './owned.js'
import type { TableView } from './table-view.js'

/** Where the owned set is kept (OwnedStore): `owned` is the whole set with `delta` made (read only to fold). */
export interface OwnedRecorder {
  record(owned: Iterable<string>, delta: OwnedDelta): Promise<void>
  compact(owned: Iterable<string>): Promise<void>
}

/** The keys a plan may come to own: its adoptions and the entries its adds create. */
export function mayOwn(plan: Plan): string[] {
  const keys = [...plan.adopted]
  for (const op of plan.ops) if (op.kind === 'add-service' || op.kind === 'add-dest') keys.push(opKey(op))
  return keys
}

/**
 * applyPlanInPlace, then the owned set's change on disk (see the file header). Throws what applyPlanInPlace
 * throws (after recording its `ownedDelta`), or the store's error when the state file cannot be written.
 */
export async function applyRecorded(driver: ApplyDriver, plan: Plan, view: TableView, owned: Set<string>, store: OwnedRecorder): Promise<ApplyOutcome> {
  const ahead = mayOwn(plan).filter((k) => !owned.has(k))
  const withAhead = { *[Symbol.iterator]() { yield* owned; for (const k of ahead) if (!owned.has(k)) yield k } }
  let outcome: ApplyOutcome
  const applying = applyPlanInPlace(driver, plan, view, owned)
  // Begun once ipvsadm is spawned (the spawn first: it is the longer path), awaited after it: the journal's write
  // and fdatasync run beside the process.
  const early = ahead.length === 0 ? Promise.resolve(true)
    : new Promise((resolve) => setImmediate(resolve)).then(() => store.record(withAhead, { added: ahead, removed: [] })).then(() => true, () => false)
  try {
    outcome = await applying
  } catch (err) {
    const e = err as ApplyError
    const written = await early
    if (e.ownedDelta) await store.record(owned, settle(e.ownedDelta, written ? ahead : [], owned)).catch(() => {})
    throw err
  }
  await store.record(owned, settle(outcome.ownedDelta, (await early) ? ahead : [], owned))
  return outcome
}

/** What is left to journal of `delta` once `ahead` is on disk: the rest of it, and ahead keys not owned after all. */
function settle(delta: OwnedDelta, ahead: string[], owned: ReadonlySet<string>): OwnedDelta {
  if (ahead.length === 0) return delta
  const written = new Set(ahead)
  const removed = new Set(delta.removed)
  for (const k of ahead) if (!owned.has(k)) removed.add(k)
  return { added: delta.added.filter((k) => !written.has(k)), removed: [...removed] }
}
