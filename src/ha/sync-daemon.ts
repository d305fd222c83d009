// The role of the kernel's IPVS connection-sync daemon on this director: master while active (it sends the
// connections it serves), backup while standby (it receives them, so they survive a takeover), none when stopped.
//
// keepalived's rule, bettered: the active runs the master daemon and the standby the backup one; the active keeps
// its backup daemon too (the kernel allows one master and one backup per network namespace). A switch starts the new
// state before the old one stops, and the connections already received stay (stopping a daemon does not flush them).
// The kernel's master sends a part-filled buffer only once it is 2 s old (checked each second) and drops what it
// holds when stopped, so around a planned switchover: the new active goes on receiving what the old one sends, and
// the old active's master runs on for `masterLingerMs` after it turned standby, so the connections it opened last
// reach the new active.
//
// Ownership: a daemon is stopped only if this director started it. Those it starts are recorded in a state file
// before they start, so a director that crashed stops them at its next start; a daemon someone else started is
// used as it is when its settings are ours, and otherwise is a conflict (LVS_ERR_SYNC_DAEMON_CONFLICT).
import { join } from 'node:path'
import { ERR_STATE_FILE, ERR_SYNC_DAEMON_CONFLICT } from '../errors.js'
import { readStateFile, writeAtomic } from '../fs-atomic.js'
import type { Ipvsadm } from '../ipvs/ipvsadm.js'
import type { ListedDaemon } from '../ipvs/parse.js'
import type { SyncDaemon } from '../ipvs/settings.js'
import { canonicalAddress } from '../address.js'

/** What the sync daemon does on this director: master when active, backup when standby. */
export type SyncRole = 'master' | 'backup' | 'none'
type State = 'master' | 'backup'

/** The pino-style logger the role logs to. */
export interface SyncDaemonLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

/** Options of {@link openSyncDaemonRole}. */
export interface SyncDaemonRoleOptions {
  /** The IPVS wrapper: only its daemon calls are used. */
  ipvsadm: Pick<Ipvsadm, 'startDaemon' | 'stopDaemon' | 'daemons'>
  /** The daemon's settings (the same for master and backup): multicast interface, syncid, and the optional rest. */
  daemon: Omit<SyncDaemon, 'state'>
  /** The director's state directory; the daemons it started are recorded in `ha-sync-daemon.json` there. */
  stateDir: string
  /** How long a master goes on after the role turns backup (the kernel's flush: 2 s, checked each second). @default 3500 */
  masterLingerMs?: number
  log?: SyncDaemonLog
}

/** The sync daemon's role; calls run one at a time, in order. */
export interface SyncDaemonRole {
  /**
   * Makes the kernel run the daemon(s) of `role`, starting what is missing and stopping what this director started
   * and the role no longer needs. Idempotent: it reads the kernel's daemons each time. Throws the first coded
   * error (LVS_ERR_IPVSADM_*, LVS_ERR_SYNC_DAEMON_CONFLICT) after doing what it could.
   */
  setRole(role: SyncRole): Promise<void>
  /** The last role set. */
  role(): SyncRole
  /** The daemon states this director started and has not stopped. */
  owned(): State[]
  /** setRole('none'); idempotent. */
  close(): Promise<void>
}

/** The state file's name in the state directory. */
export const SYNC_DAEMON_STATE_FILE = 'ha-sync-daemon.json'

const STATES: readonly State[] = ['master', 'backup']
const wanted = (role: SyncRole): State[] => (role === 'none' ? [] : role === 'master' ? ['master', 'backup'] : ['backup'])

/** Whether a running daemon has these settings (settings the listing does not show are taken as equal). */
export function sameSettings(listed: ListedDaemon, daemon: Omit<SyncDaemon, 'state'>): boolean {
  const eq = <T>(a: T | undefined, b: T | undefined) => a === undefined || b === undefined || a === b
  const group = (g?: string) => (g === undefined ? undefined : canonicalAddress(g)?.address ?? g)
  return listed.mcastInterface === daemon.mcastInterface && listed.syncid === (daemon.syncid ?? 0) &&
    eq(group(listed.mcastGroup), group(daemon.mcastGroup)) && eq(listed.mcastPort, daemon.mcastPort) &&
    eq(listed.mcastTtl, daemon.mcastTtl) && eq(listed.syncMaxlen, daemon.syncMaxlen)
}

/**
 * Opens the role: reads the state file and the kernel's daemons, stops those a crashed earlier run started, notes
 * those someone else runs. The role starts as 'none'.
 */
export async function openSyncDaemonRole(options: SyncDaemonRoleOptions): Promise<SyncDaemonRole> {
  const { ipvsadm, daemon, log } = options
  const file = join(options.stateDir, SYNC_DAEMON_STATE_FILE)
  const owned = new Set<State>(await load(file))
  const lingerMs = options.masterLingerMs ?? 3500
  let current: SyncRole = 'none'
  let linger: NodeJS.Timeout | undefined
  let chain: Promise<unknown> = Promise.resolve()
  let closing: Promise<void> | undefined

  const save = async () => {
    try {
      await writeAtomic(file, `${JSON.stringify({ version: 1, started: STATES.filter((s) => owned.has(s)) })}\n`)
    } catch (err) {
      throw new ERR_STATE_FILE(file, (err as Error).message, { cause: err })
    }
  }

  const enqueue = (fn: () => Promise<void> | undefined): Promise<void> => {
    const next = chain.then(fn)
    chain = next.catch(() => {})
    return next
  }

  /** `lingered`: the master's linger is over (or not wanted): it stops now. */
  async function apply(role: SyncRole, lingered: boolean): Promise<void> {
    const running = new Map((await ipvsadm.daemons()).map((d) => [d.state, d]))
    let first: Error | undefined
    const attempt = async (fn: () => Promise<void>) => {
      try {
        await fn()
      } catch (err) {
        first ??= err as Error
      }
    }
    // What the role needs starts first: during a switch both run for a moment, as the kernel allows.
    for (const state of wanted(role)) {
      await attempt(async () => {
        const d = running.get(state)
        if (d && sameSettings(d, daemon)) {
          if (!owned.has(state)) log?.info({ state, daemon: d }, 'sync daemon already running, not started by this director: used as it is')
          return
        }
        if (d && !owned.has(state)) throw new ERR_SYNC_DAEMON_CONFLICT(state, describe(d))
        if (d) {
          // Ours, with settings from an earlier config: restart it with these.
          await ipvsadm.stopDaemon(state)
          log?.info({ state }, 'sync daemon stopped')
        }
        owned.add(state)
        await save() // recorded before it starts: a crash after the start still finds it
        try {
          await ipvsadm.startDaemon({ ...daemon, state })
        } catch (err) {
          owned.delete(state)
          await save().catch(() => {})
          throw err
        }
        log?.info({ state, mcastInterface: daemon.mcastInterface, syncid: daemon.syncid }, 'sync daemon started')
      })
    }
    for (const state of STATES.filter((s) => !wanted(role).includes(s))) {
      if (state === 'master' && role === 'backup' && !lingered && owned.has(state) && running.has(state)) {
        linger ??= setTimeout(() => {
          linger = undefined
          // Still backup by then (a takeover meanwhile cancels this): the master stops now.
          void enqueue(() => (current === 'backup' ? apply('backup', true) : undefined)).catch((err: Error) => log?.warn({ err }, 'sync daemon: the master could not be stopped'))
        }, lingerMs)
        log?.info({ state, ms: lingerMs }, 'sync daemon master kept a while: its last connections go out')
        continue
      }
      await attempt(async () => {
        if (!owned.has(state)) {
          if (running.has(state)) log?.info({ state }, 'sync daemon not started by this director: left running')
          return
        }
        if (running.has(state)) {
          await ipvsadm.stopDaemon(state)
          log?.info({ state }, 'sync daemon stopped')
        }
        owned.delete(state)
        await save()
      })
    }
    current = role
    if (first) throw first
  }

  const handle: SyncDaemonRole = {
    setRole(role) {
      if (role !== 'backup') {
        clearTimeout(linger)
        linger = undefined
      }
      return enqueue(() => apply(role, lingerMs === 0))
    },
    role: () => current,
    owned: () => STATES.filter((s) => owned.has(s)),
    close() {
      closing ??= handle.setRole('none')
      return closing
    },
  }
  if (owned.size) log?.warn({ started: handle.owned() }, 'stopping sync daemons left by an earlier run')
  await handle.setRole('none')
  return handle
}

function load(file: string): Promise<State[]> {
  return readStateFile(file, [], (body) => {
    const started = (body as { started?: unknown }).started
    if (!Array.isArray(started)) throw new Error('no "started" list')
    return started.filter((s): s is State => s === 'master' || s === 'backup')
  })
}

function describe(d: ListedDaemon): string {
  return Object.entries(d).filter(([k]) => k !== 'state').map(([k, v]) => `${k}=${String(v)}`).join(', ')
}
