// What a watcher outside the pair makes of the directors' marks in Redis (HA-OSCAR's external heartbeat): each
// director refreshes `seen:<node>` (PX ttl) whenever it talks to Redis, and the active holds the lease. Both
// directors down cannot alert; a third machine reading these keys can. Pure: samples and times in, the state
// changes out (the driver, src/ha/pair-watcher.ts, raises them); a count starts from the last sample that had it.

/** What one poll of Redis found (src/ha/pair-marks.ts). */
export interface PairSample {
  /** The directors whose `seen:<node>` mark Redis holds, with the role each said last. */
  seen: Record<string, string>
  /** The lease holder; null when the lease is free. */
  holder: string | null
  /** The fencing epoch (0 when Redis has none). */
  epoch: number
}

/** The watcher's alerts: each bad state has its return. */
export type WatchAlertKind = 'pair-down' | 'pair-back' | 'director-lost' | 'director-back' | 'no-active' | 'active-back' | 'watch-redis-lost' | 'watch-redis-back'

/** One state change: an alert (webhook and log line), or a log line only (`alert: false`, e.g. a first sighting). */
export type WatchEvent =
  | { kind: WatchAlertKind; alert: true; message: string; detail: Record<string, unknown> }
  | { kind: 'pair-seen' | 'director-seen' | 'director-forgotten'; alert: false; message: string; detail: Record<string, unknown> }

export interface PairWatchOptions {
  /** How long nothing may be seen (no director, one director, no lease holder, no Redis) before it counts. */
  downAfterMs: number
  /** A director not seen for this long is forgotten: its return is a first sighting. @default 86400000 (a day) */
  forgetAfterMs?: number
}

/** The state as the watcher last judged it. */
export interface PairWatchState {
  pair: 'unknown' | 'up' | 'down'
  redis: 'unknown' | 'up' | 'down'
  holder: string | null
  epoch: number
  noActive: boolean
  directors: Array<{ node: string; role: string; lost: boolean; lastSeenAt: number }>
}

interface Director { role: string; lastAt: number; lost: boolean }

/** The watcher's judgement of the pair, sample by sample, on the caller's clock. */
export class PairWatch {
  readonly #downAfterMs: number
  readonly #forgetAfterMs: number
  readonly #directors = new Map<string, Director>()
  #pair: PairWatchState['pair'] = 'unknown'
  #redis: PairWatchState['redis'] = 'unknown'
  #startedAt: number | undefined
  /** From when "nothing seen" counts: the last sample with a mark (or the start, or Redis's return). */
  #anyAt = 0
  /** From when "no lease holder" counts. */
  #holderAt = 0
  #holder: string | null = null
  #epoch = 0
  #noActive = false
  #unreachableSince: number | undefined

  constructor(o: PairWatchOptions) {
    if (!(o.downAfterMs >= 0)) throw new TypeError('pair watch: downAfterMs must be >= 0')
    this.#downAfterMs = o.downAfterMs
    this.#forgetAfterMs = o.forgetAfterMs ?? 86_400_000
  }

  get state(): PairWatchState {
    const directors = [...this.#directors].map(([node, d]) => ({ node, role: d.role, lost: d.lost, lastSeenAt: d.lastAt }))
    return { pair: this.#pair, redis: this.#redis, holder: this.#holder, epoch: this.#epoch, noActive: this.#noActive, directors }
  }

  /** Redis answered at `at` with `sample`. */
  observe(sample: PairSample, at: number): WatchEvent[] {
    const out: WatchEvent[] = []
    this.#begin(at)
    this.#unreachableSince = undefined
    if (this.#redis === 'down') {
      out.push(alert('watch-redis-back', 'the watcher reaches Redis again', {}))
      this.#rebase(at) // the marks may have lapsed while Redis was away from the directors too: count afresh
    }
    this.#redis = 'up'
    this.#holder = sample.holder
    this.#epoch = sample.epoch
    const nodes = Object.keys(sample.seen)
    for (const node of nodes) {
      const role = sample.seen[node]!
      const d = this.#directors.get(node)
      if (!d) {
        this.#directors.set(node, { role, lastAt: at, lost: false })
        out.push(note('director-seen', `director ${node} seen in Redis`, { director: node, role }))
        continue
      }
      if (d.lost && this.#pair === 'up') out.push(alert('director-back', `director ${node} is seen in Redis again (${role})`, { director: node, role }))
      Object.assign(d, { role, lastAt: at, lost: false })
    }
    if (nodes.length > 0) {
      this.#anyAt = at
      if (this.#pair === 'down') {
        out.push(alert('pair-back', `the pair is back: ${nodes.join(', ')} seen in Redis`, { directors: sample.seen, holder: sample.holder }))
        this.#holderAt = at // a director back has its dead interval before it takes the lease
      } else if (this.#pair === 'unknown') out.push(note('pair-seen', `the pair is seen in Redis: ${nodes.join(', ')}`, { directors: sample.seen, holder: sample.holder }))
      this.#pair = 'up'
    } else if (this.#pair !== 'down' && at - this.#anyAt > this.#downAfterMs) {
      this.#pair = 'down'
      this.#noActive = false
      const lastSeen = Object.fromEntries([...this.#directors].map(([node, d]) => [node, { role: d.role, msAgo: at - d.lastAt }]))
      for (const d of this.#directors.values()) d.lost = true
      out.push(alert('pair-down', `both directors are down as seen from Redis: none seen for ${at - this.#anyAt} ms`, { lastSeen, holder: sample.holder }))
    }
    if (this.#pair === 'up') out.push(...this.#lost(sample, at), ...this.#active(sample, at))
    for (const [node, d] of this.#directors) {
      if (at - d.lastAt <= this.#forgetAfterMs) continue
      this.#directors.delete(node)
      out.push(note('director-forgotten', `director ${node} forgotten: not seen for ${at - d.lastAt} ms`, { director: node }))
    }
    return out
  }

  /** Redis did not answer at `at`: the pair cannot be judged; after downAfterMs that is one alert. */
  unreachable(at: number, reason: string): WatchEvent[] {
    this.#begin(at)
    this.#unreachableSince ??= at
    if (this.#redis === 'down' || at - this.#unreachableSince <= this.#downAfterMs) return []
    this.#redis = 'down'
    return [alert('watch-redis-lost', `the watcher cannot reach Redis (${reason}): it cannot see the pair`, { reason, sinceMs: at - this.#unreachableSince })]
  }

  #begin(at: number): void {
    if (this.#startedAt !== undefined) return
    this.#startedAt = at
    this.#rebase(at)
  }

  #rebase(at: number): void {
    this.#anyAt = at
    this.#holderAt = at
    for (const d of this.#directors.values()) if (!d.lost) d.lastAt = Math.max(d.lastAt, at)
  }

  // One director of an up pair no longer seen: the pair runs on the other alone.
  #lost(sample: PairSample, at: number): WatchEvent[] {
    const out: WatchEvent[] = []
    for (const [node, d] of this.#directors) {
      if (d.lost || node in sample.seen || at - d.lastAt <= this.#downAfterMs) continue
      d.lost = true
      out.push(alert('director-lost', `director ${node} (${d.role}) not seen in Redis for ${at - d.lastAt} ms: the pair runs on ${Object.keys(sample.seen).join(', ')} alone`, { director: node, role: d.role, msAgo: at - d.lastAt }))
    }
    return out
  }

  // Directors seen but no lease holder: nobody may hold the VIPs.
  #active(sample: PairSample, at: number): WatchEvent[] {
    if (sample.holder) {
      this.#holderAt = at
      if (!this.#noActive) return []
      this.#noActive = false
      return [alert('active-back', `director ${sample.holder} holds the lease again (epoch ${sample.epoch})`, { holder: sample.holder, epoch: sample.epoch })]
    }
    if (this.#noActive || at - this.#holderAt <= this.#downAfterMs) return []
    this.#noActive = true
    return [alert('no-active', `no director holds the lease for ${at - this.#holderAt} ms though ${Object.keys(sample.seen).join(', ')} ${Object.keys(sample.seen).length === 1 ? 'is' : 'are'} seen: the VIPs may have no holder`, { directors: sample.seen, epoch: sample.epoch })]
  }
}

const alert = (kind: WatchAlertKind, message: string, detail: Record<string, unknown>): WatchEvent => ({ kind, alert: true, message, detail })
const note = (kind: 'pair-seen' | 'director-seen' | 'director-forgotten', message: string, detail: Record<string, unknown>): WatchEvent => ({ kind, alert: false, message, detail })
