// The wrapper's side of the IPVS programming benchmark: the path `lvs-director apply` takes (owned set, kernel
// view, diff, one batched ipvsadm -R through applyPlan, owned-set write), and the path a running director takes
// for one change (diff of the touched services, applyPlanInPlace, one journal line), timed phase by phase.
import { rm } from 'node:fs/promises'
import { applyPlan, type ApplyDriver, type ApplyOutcome, type ApplyResult, type ApplyRun } from '../src/ipvs/apply.js'
import { applyRecorded, type OwnedRecorder } from '../src/ipvs/apply-recorded.js'
import { restoreText } from '../src/ipvs/commands.js'
import { diff, diffServices, type ServiceLookup } from '../src/ipvs/diff.js'
import { nodeExec } from '../src/exec.js'
import { Ipvsadm } from '../src/ipvs/ipvsadm.js'
import { netlinkReader } from '../src/ipvs/netlink-read.js'
import type { Table } from '../src/ipvs/model.js'
import { loadOwned, OwnedStore, saveOwned, type Owned } from '../src/ipvs/owned.js'
import { TableView } from '../src/ipvs/table-view.js'
import { now, timedExec } from './ipvs-measure.js'

/** Milliseconds per phase of one wrapper run; `total` is what the benchmark compares with raw ipvsadm. */
export interface Phases {
  /** Reading the owned-set state file. */
  loadOwned: number
  /** Reading the kernel table (`ipvsadm -Sn`, plus `-Ln --thresholds` when services have real servers). */
  read: number
  /** diff(desired, kernel, owned). */
  diff: number
  /** applyPlan up to the restore call: building the -R lines (and, for applyPlan, copying the owned set). */
  lines: number
  /** The restore call: joining the lines, spawning ipvsadm -R, feeding it, waiting for its exit. */
  restore: number
  /** Of `restore`, the process alone (spawn to exit). */
  process: number
  /** After the restore: the new kernel view and owned set, worked out and saved beside the process (what is left). */
  post: number
  /** A running director: the owned set's journal line (fsync) after the process; the one-shot path saves in `post`. */
  save: number
  total: number
}

/** A director's handle for the benchmark: an Ipvsadm whose processes are timed, and its state file. */
export class BenchDirector {
  readonly processes: Array<{ argv: string[]; ms: number }> = []
  readonly ipvs: Ipvsadm
  /** A running director's state (see keep): its kernel view, owned set and state file. */
  running: { view: TableView; owned: Set<string>; store: OwnedStore } | undefined
  /** ipvsadm runs directly, in the benchmark process's own namespace; the table is read over netlink (src/main.ts). */
  constructor(readonly statePath: string) {
    this.ipvs = new Ipvsadm({ exec: timedExec(nodeExec, this.processes), timeoutMs: 600_000, netlink: netlinkReader() })
  }

  /**
   * Untimed, before `program`: its code compiled, as in a director process that has run before it programs a table
   * (a standby taking over, a reload): `passes` times a read of the kernel, and the same plan applied to an
   * in-memory ipvsadm (its -R text made, as for a real one) and saved to the state file. Node's start-up and first
   * compilation are not the programming. One pass left restoreLine, restoreText, nextOwned and the view's apply
   * to be optimized during the timed run (V8's --trace-opt in the lab: 0.1-0.3 s of compiling each under TCG, on
   * the vCPU the ipvsadm process needed); three passes of 100 services still left destinationArgs. Follow with
   * `settle()`, so that compiling the warm-up started ends before the timed run.
   */
  async warmUp(desired: Table, passes = warmUpPasses(desired)): Promise<void> {
    const memory: ApplyDriver = {
      restoreOps: async (ops) => {
        void [...restoreText(ops)] // the -R text, made as for a real ipvsadm
        return { code: 0, stderr: '' }
      },
      read: async () => ({ services: [] }),
    }
    for (let i = 0; i < passes; i++) {
      await this.ipvs.read()
      const plan = diff(desired, { services: [] }, await loadOwned(this.statePath))
      await applyPlan(memory, plan, { services: [] }, new Set(), { save: (next) => saveOwned(this.statePath, next) })
    }
  }

  /** A fresh director programs `desired`: no state file, reads the kernel, diffs, applies, saves. */
  async program(desired: Table): Promise<{ phases: Phases; result: ApplyResult }> {
    await rm(this.statePath, { force: true })
    const t0 = now()
    const owned = await loadOwned(this.statePath)
    const t1 = now()
    const kernel = await this.ipvs.read()
    const t2 = now()
    const { phases, result } = await this.change(desired, kernel, owned)
    return { phases: { ...phases, loadOwned: t1 - t0, read: t2 - t1, total: phases.total + (t2 - t0) }, result }
  }

  /** Become a running director holding `kernel` (after program): index the view, open the state file (untimed). */
  async keep(kernel: Table): Promise<void> {
    await this.running?.store.close()
    const { store, owned } = await OwnedStore.open(this.statePath)
    this.running = { view: new TableView(kernel), owned, store }
  }

  /** Stop being a running director (the state file stays valid). */
  async stop(): Promise<void> {
    await this.running?.store.close()
    this.running = undefined
  }

  /**
   * What a running director does for one API change: diff only the `touched` services (their wanted form in
   * `desired`), apply in place on its view and owned set with the owned set's change journaled (applyRecorded, as
   * the reconciler does).
   */
  async changeServices(desired: ServiceLookup, touched: string[]): Promise<{ phases: Phases; result: ApplyOutcome }> {
    const state = this.running
    if (!state) throw new Error('changeServices needs keep() first')
    const marks = { restoreStart: 0, restoreEnd: 0, process: 0 }
    // The state file's writes, timed: the one begun after the process ended is `save` (the one beside it is hidden).
    let saveStart: number | undefined
    const store: OwnedRecorder = {
      record: (owned, delta) => {
        if (marks.restoreEnd > 0 && saveStart === undefined) saveStart = now()
        return state.store.record(owned, delta)
      },
      compact: (owned) => state.store.compact(owned),
    }
    const t0 = now()
    const plan = diffServices(desired, state.view, state.owned, touched)
    const t1 = now()
    const result = await applyRecorded(this.#driver(marks), plan, state.view, state.owned, store)
    const t3 = now()
    return { phases: phasesOf(marks, t0, t1, saveStart ?? t3, t3), result }
  }

  #driver(marks: { restoreStart: number; restoreEnd: number; process: number }): ApplyDriver {
    return {
      restoreOps: async (ops) => {
        marks.restoreStart = now()
        const before = this.processes.length
        const res = await this.ipvs.restoreOps(ops)
        marks.restoreEnd = now()
        marks.process = this.processes.slice(before).reduce((sum, p) => sum + p.ms, 0)
        return res
      },
      read: () => this.ipvs.read(),
    }
  }

  /** The one-shot path (`lvs-director apply`) with a known kernel view and owned set: whole diff, applyPlan, snapshot. */
  async change(desired: Table, kernel: Table, owned: Owned): Promise<{ phases: Phases; result: ApplyResult }> {
    const marks = { restoreStart: 0, restoreEnd: 0, process: 0 }
    const t0 = now()
    const plan = diff(desired, kernel, owned)
    const t1 = now()
    // As `lvs-director apply`: the owned set is saved beside the process (its wait, if any, is in `post`).
    const result = await applyPlan(this.#driver(marks), plan, kernel, owned, { save: (next) => saveOwned(this.statePath, next) })
    const t2 = now()
    return { phases: phasesOf(marks, t0, t1, t2, t2), result }
  }
}

/** Warm-up passes for a table: enough that they apply about 20,000 ops in all (3 to 20). */
function warmUpPasses(table: Table): number {
  const ops = table.services.reduce((sum, s) => sum + 1 + s.destinations.length, 0)
  return Math.min(20, Math.max(3, Math.ceil(20_000 / Math.max(1, ops))))
}

/** Phases from the marks: t0 diff start, t1 diff end, t2 apply end, t3 save end. */
function phasesOf(marks: { restoreStart: number; restoreEnd: number; process: number }, t0: number, t1: number, t2: number, t3: number): Phases {
  const ran = marks.restoreStart > 0
  return {
    loadOwned: 0, read: 0, diff: t1 - t0,
    lines: ran ? marks.restoreStart - t1 : 0,
    restore: ran ? marks.restoreEnd - marks.restoreStart : 0,
    process: marks.process,
    post: ran ? t2 - marks.restoreEnd : t2 - t1,
    save: t3 - t2, total: t3 - t0,
  }
}

/** Throws unless the apply went through as one clean batch with no table read. */
export function assertClean(result: ApplyRun, expectedOps: number, what: string): void {
  const bad = result.failed.length > 0 || result.batches !== 1 || result.reads !== 0 || result.applied.length !== expectedOps
  if (bad) {
    const first = result.failed[0]
    throw new Error(`${what}: applied ${result.applied.length}/${expectedOps} in ${result.batches} batch(es) with ${result.reads} read(s); ` +
      `${result.failed.length} failed${first ? ` (first: ${first.line}: ${first.error})` : ''}`)
  }
}
