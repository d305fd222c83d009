// What the role machine has learnt of the lease from the replies to its lease operations, on its own monotonic
// clock: who holds it, until when it can be held (the ttl bound), and since when its holder has not renewed it
// (Redis's `sinceRenewMs`, the fast bound). Pure bookkeeping: the rules that use it are in role.ts.
import type { LeaseView } from './lease.js'

/** The lease as the replies so far show it. Times are the caller's monotonic ms. */
export class LeaseWatch {
  /** The holder in the last reply; null when free. */
  holder: string | null = null
  /** When a reply last found it held (by anyone). */
  seenHeldAt: number | undefined
  /** The latest expiry seen: a reply at `now` with `ttlMs` left means held until at most now + ttlMs. */
  heldUntil: number | undefined
  /**
   * The earliest time the peer holding it can have last renewed it: the reply's `sentAt - sinceRenewMs` (Redis ran
   * the script after sentAt). Undefined when free, held by us, or Redis did not say.
   */
  holderRenewedAt: number | undefined
  #sentAt = 0
  #ttlLeft = 0

  constructor(readonly node: string, readonly ttlMs: number) {}

  /** A reply to an operation sent at `sentAt` arrived at `now`. */
  observe(now: number, sentAt: number, view: LeaseView): void {
    this.holder = view.holder
    this.#sentAt = sentAt
    this.#ttlLeft = view.ttlMs
    if (view.holder !== null) {
      this.seenHeldAt = now
      // Renewed at the latest when Redis ran this command (before `now`), so it expires by now + ttlMs left.
      this.heldUntil = Math.max(this.heldUntil ?? 0, now + view.ttlMs)
    }
    const peerHolds = view.holder !== null && view.holder !== this.node
    this.holderRenewedAt = peerHolds && view.sinceRenewMs !== undefined ? sentAt - view.sinceRenewMs : undefined
  }

  /** No later than the holder's last renew (our clock): from `sinceRenewMs`, else from the ttl it had left. */
  renewedAfter(): number {
    return this.holderRenewedAt ?? this.#sentAt - (this.ttlMs - this.#ttlLeft)
  }

  /** From when the peer holding it may count as stale (worth a steal; Redis decides); undefined when unknown. */
  staleAt(staleMs: number): number | undefined {
    return this.holderRenewedAt === undefined ? undefined : this.holderRenewedAt + staleMs
  }
}
