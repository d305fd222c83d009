// Which authenticated heartbeats are fresh: a sliding window of sequence numbers within the peer's boot, and a
// proof of freshness (an echo of one of our own recent heartbeats) before a new boot of the peer is believed.
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
  /** From a boot not yet proven fresh (it echoes none of our recent heartbeats): dropped until it does. */
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
 * A new boot id is believed only when its heartbeat echoes one of our heartbeats of this boot, sent at most
 * `freshness` heartbeats ago, and later than any echo the current boot carried. Captured heartbeats of an older
 * boot of the peer echo older heartbeats of ours, so they never come back to life; forging a new echo needs the key.
 */
export class ReplayGuard {
  readonly #own: Buffer
  readonly #freshness: number
  #peer: Buffer | undefined
  #highest = 0
  #seen = 0n // bit i: #highest - i was accepted
  #highestEcho = 0
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

  /** What our next heartbeat echoes: the peer's current boot and its highest sequence; before one is believed, the last authenticated heartbeat heard (so the peer can prove its freshness to us and we ours to it). */
  echo(): Echo {
    if (this.#peer) return { boot: this.#peer, seq: this.#highest }
    return this.#lastHeard ?? { boot: NO_BOOT, seq: 0 }
  }

  /** Judges an authenticated heartbeat; `lastSent` is the sequence number of our latest heartbeat. */
  check(p: Sequenced, lastSent: number): Verdict {
    if (p.boot.equals(this.#own)) return 'reflected'
    if (this.#peer?.equals(p.boot)) return this.#inWindow(p)
    if (!this.#peer) this.#lastHeard = { boot: p.boot, seq: p.seq }
    if (!p.echoBoot.equals(this.#own)) return 'unconfirmed'
    const fresh = p.echoSeq <= lastSent && lastSent - p.echoSeq < this.#freshness && p.echoSeq > this.#highestEcho
    if (!fresh) return 'replayed'
    this.#peer = p.boot
    this.#highest = p.seq
    this.#seen = WINDOW_MASK // what the boot sent before this one is not taken later: it may be a capture
    this.#highestEcho = p.echoSeq
    this.#lastHeard = undefined
    return 'adopt'
  }

  #inWindow(p: Sequenced): Verdict {
    if (p.seq > this.#highest) {
      const shift = BigInt(p.seq - this.#highest)
      this.#seen = shift >= BigInt(REPLAY_WINDOW) ? 1n : ((this.#seen << shift) | 1n) & WINDOW_MASK
      this.#highest = p.seq
    } else {
      const age = this.#highest - p.seq
      if (age >= REPLAY_WINDOW) return 'replayed'
      const bit = 1n << BigInt(age)
      if (this.#seen & bit) return 'replayed'
      this.#seen |= bit
    }
    if (p.echoBoot.equals(this.#own) && p.echoSeq > this.#highestEcho) this.#highestEcho = p.echoSeq
    return 'accept'
  }
}
