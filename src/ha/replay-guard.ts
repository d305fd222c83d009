// Which authenticated heartbeats are fresh: a sliding window of sequence numbers within the peer's boot, and in
// every heartbeat a proof of freshness (an echo of one of our own recent heartbeats), which a new boot needs too.
// Pure and clock-free: only sequence numbers, so it cannot be fooled by time and is tested without sleeping.

/** Sequence numbers tracked below the highest one seen; older ones are dropped as replays. */
export const REPLAY_WINDOW = 64
const WINDOW_MASK = (1n << BigInt(REPLAY_WINDOW)) - 1n

/** What to do with an authenticated heartbeat. */
export type Verdict =
  /** Fresh, from the peer's current boot. */
  | 'accept'
  /** Fresh, from a new boot of the peer, which is now its current boot (its sequence restarts). */
  | 'adopt'
  /** Echoes none of our recent heartbeats: not proof the peer hears us now (a delayed capture, a deaf peer, a
   * peer just started). Dropped. */
  | 'unconfirmed'
  /** Seen before, older than the window, or of a boot proven stale: dropped. */
  | 'replayed'
  /** Carries our own boot id: one of our heartbeats sent back to us. Dropped. */
  | 'reflected'

/** The fields the guard reads of a heartbeat. */
export interface Sequenced {
  boot: Buffer
  seq: number
  echoBoot: Buffer
  echoSeq: number
}

/** The heartbeat we last heard, echoed in ours. */
export interface Echo {
  boot: Buffer
  seq: number
}

const NO_BOOT = Buffer.alloc(16)

/**
 * Replay protection for one peer, across all paths (the peer numbers its heartbeats with one counter).
 *
 * Every heartbeat must echo one of our heartbeats of this boot sent at most `freshness` heartbeats ago: so a
 * capture replayed later, even one never delivered (held back by someone on the path), is stale. A new boot id is
 * believed only when, besides, its echo is later than any the current boot carried, so captures of an older boot
 * of the peer never come back to life. Forging a fresh echo needs the key.
 */
export class ReplayGuard {
  readonly #own: Buffer
  readonly #freshness: number
  #peer: Buffer | undefined
  #highest = 0
  #seen = 0n // bit i: #highest - i was accepted
  #highestEcho = 0
  /** Highest sequence number authenticated from the current boot, fresh or not: what we echo. */
  #heard = 0
  #lastHeard: Echo | undefined

  /** `own`: our boot id; `freshness`: how many of our latest heartbeats count as recent in an echo. */
  constructor(own: Buffer, freshness: number) {
    this.#own = own
    this.#freshness = freshness
  }

  /** The peer's current boot id, once one is believed. */
  get peerBoot(): Buffer | undefined {
    return this.#peer
  }

  /**
   * What our next heartbeat echoes: the peer's current boot and the highest sequence number heard of it, fresh or
   * not; before one is believed, the last authenticated heartbeat heard (so the peer can prove its freshness to us
   * and we ours to it). Echoing only the fresh ones would lock two peers out of each other for good once both ways
   * were cut for longer than the freshness: each would go on echoing the other's last heartbeat before the cut,
   * stale to the other, and drop the other's as unconfirmed. An echo only says what we heard (authenticated by the
   * key; a replayed capture is older, so it does not lower the echo); the freshness it proves is the other side's.
   */
  echo(): Echo {
    if (this.#peer) return { boot: this.#peer, seq: this.#heard }
    return this.#lastHeard ?? { boot: NO_BOOT, seq: 0 }
  }

  /** Judges an authenticated heartbeat; `lastSent` is the sequence number of our latest heartbeat. */
  check(p: Sequenced, lastSent: number): Verdict {
    if (p.boot.equals(this.#own)) return 'reflected'
    const fresh = p.echoBoot.equals(this.#own) && p.echoSeq <= lastSent && lastSent - p.echoSeq < this.#freshness
    if (this.#peer?.equals(p.boot)) {
      if (p.seq > this.#heard) this.#heard = p.seq
      return this.#inWindow(p, fresh)
    }
    if (!this.#peer) this.#lastHeard = { boot: p.boot, seq: p.seq }
    if (!p.echoBoot.equals(this.#own)) return 'unconfirmed'
    if (!fresh || p.echoSeq <= this.#highestEcho) return 'replayed'
    this.#peer = p.boot
    this.#highest = this.#heard = p.seq
    this.#seen = 1n // an earlier one may still come on another path: it counts once, if its echo is fresh
    this.#highestEcho = p.echoSeq
    this.#lastHeard = undefined
    return 'adopt'
  }

  // Within the current boot: a number seen or older than the window is a replay; a new one counts once its echo is
  // fresh (a stale echo leaves it unmarked: it proves nothing now).
  #inWindow(p: Sequenced, fresh: boolean): Verdict {
    const age = this.#highest - p.seq
    if (age >= REPLAY_WINDOW || (age >= 0 && (this.#seen & (1n << BigInt(age))) !== 0n)) return 'replayed'
    if (!fresh) return 'unconfirmed'
    if (age < 0) {
      const shift = BigInt(-age)
      this.#seen = shift >= BigInt(REPLAY_WINDOW) ? 1n : ((this.#seen << shift) | 1n) & WINDOW_MASK
      this.#highest = p.seq
    } else this.#seen |= 1n << BigInt(age)
    if (p.echoSeq > this.#highestEcho) this.#highestEcho = p.echoSeq
    return 'accept'
  }
}
