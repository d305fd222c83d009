// The planned switchover's handoff window: the connections the old active opened last go on through it.
//
// With direct routing a director sees only the client's half of a connection, and the kernel's sync daemon sends a
// connection to the other director only once it is established, in a buffer flushed up to 3 s later. When the VIP
// moves on request, the client's next packets of a connection the old active scheduled (the handshake's ACK, the
// request) may reach the new active before it knows that connection: IPVS passes them to the local stack, which
// resets them. So, for `windowMs` after a takeover the old active handed over: the new active copies each TCP
// packet to a VIP that IPVS did not take (no connection entry, not a SYN) and no local socket wants to the old
// active's address on the VIP's
// segment, and drops it (an nftables input chain after IPVS's hook, `dup to`); the old active keeps its VIPs as
// long (main.ts's release), so its IPVS forwards them to the real server as before, and its sync daemon's master,
// kept as long, brings those connections over meanwhile. A new connection (SYN) is the new active's from the start.
//
// The rules live in their own tables (`lvs_director_handoff`, ip and ip6), removed after the window, on close, and
// at start after a crash. Without `nft` (or nf_tables) the window is skipped with one warning: the switchover works
// as before, resetting the few connections caught in it.
import type { Exec } from '../exec.js'
import type { HeartbeatPath } from './heartbeat-config.js'
import type { Vip } from './vips.js'

/** The nftables tables' name (one per family). */
export const HANDOFF_TABLE = 'lvs_director_handoff'
// After IPVS's LOCAL_IN hook (NF_IP_PRI_NAT_SRC - 2 = 98): only packets IPVS left to the local stack get here.
const PRIORITY = 99
const FAMILIES = { 4: 'ip', 6: 'ip6' } as const

/** The pino-style logger of the window. */
export interface HandoffLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export interface HandoffOptions {
  exec: Exec
  /** The VIPs this director takes. */
  vips: readonly Vip[]
  /** The heartbeat paths: the old active's address of a VIP's family is its peer address on the first such path. */
  paths: readonly HeartbeatPath[]
  /** How long packets go on to the old active. */
  windowMs: number
  /** @default 'nft' */
  nftPath?: string
  log?: HandoffLog
}

export interface Handoff {
  /** Opens the window now (before the VIPs are announced); it closes by itself after windowMs. Never rejects. */
  open(): Promise<void>
  /** Closes the window now (a release, a stop); idempotent, never rejects. */
  close(): Promise<void>
}

/** Removes both tables whether or not they exist (`add` first makes the `delete` safe). */
export const HANDOFF_CLEAR = Object.values(FAMILIES).map((f) => `add table ${f} ${HANDOFF_TABLE}\ndelete table ${f} ${HANDOFF_TABLE}\n`).join('')

/**
 * The ruleset of the window: per family with a peer address, one rule per VIP copying what IPVS left of TCP to the
 * VIP (all but a bare SYN) to the peer out of the VIP's interface, then dropping it. Undefined when no VIP has a
 * peer of its family.
 */
export function handoffRuleset(vips: readonly Vip[], paths: readonly HeartbeatPath[]): string | undefined {
  const peerOf = (family: 4 | 6) => paths.find((p) => p.family === (family === 4 ? 'inet' : 'inet6'))?.peerAddress
  let text = ''
  for (const family of [4, 6] as const) {
    const peer = peerOf(family)
    const mine = vips.filter((v) => v.family === family)
    if (!peer || mine.length === 0) continue
    const f = FAMILIES[family]
    const rules = mine.map((v) => `    ${f} daddr ${v.address} tcp flags & (fin | syn | rst | ack) != syn dup to ${peer} device "${v.interface}" drop\n`)
    // A packet of a connection of this host's own (a local socket: an SSH session, a service of the director's)
    // stays here.
    const own = '    meta l4proto tcp socket transparent { 0, 1 } accept\n'
    text += `table ${f} ${HANDOFF_TABLE} {\n  chain input {\n    type filter hook input priority ${PRIORITY}; policy accept;\n${own}${rules.join('')}  }\n}\n`
  }
  return text === '' ? undefined : text
}

/** The window of this director's takeovers after a handover; clears what a crashed run left. */
export async function openHandoff(o: HandoffOptions): Promise<Handoff> {
  const nft = o.nftPath ?? 'nft'
  const ruleset = handoffRuleset(o.vips, o.paths)
  let usable = ruleset !== undefined
  let timer: NodeJS.Timeout | undefined
  let installed = false
  let chain: Promise<unknown> = Promise.resolve()

  // One nft run at a time; false (and one warning, after which the window is off) when nft cannot do it.
  const run = (input: string, what: string): Promise<boolean> => {
    const next = chain.then(async () => {
      try {
        const r = await o.exec(nft, ['-f', '-'], { input, timeoutMs: 10_000 })
        if (r.code === 0) return true
        o.log?.warn({ code: r.code, stderr: r.stderr.trim().slice(0, 500) }, `handoff window: nft could not ${what}`)
      } catch (err) {
        o.log?.warn({ err }, `handoff window: nft could not ${what} (a planned switchover resets the connections caught in it)`)
      }
      usable = false
      return false
    })
    chain = next
    return next
  }
  const clear = async () => {
    clearTimeout(timer)
    timer = undefined
    if (!installed) return
    installed = false
    if (await run(HANDOFF_CLEAR, 'close it')) o.log?.info({}, 'handoff window closed')
  }

  // A crashed run's window: gone before this one can open one (nft missing here: nothing can be left either).
  if (usable) await run(HANDOFF_CLEAR, 'clear a window left by an earlier run')
  return {
    async open() {
      if (!usable || !ruleset) return
      clearTimeout(timer)
      if (!(await run(`${HANDOFF_CLEAR}${ruleset}`, 'open it'))) return
      installed = true
      o.log?.info({ ms: o.windowMs }, 'handoff window open: what the old active still serves goes to it')
      timer = setTimeout(() => void clear(), o.windowMs)
    },
    close: clear,
  }
}
