// The watcher's loop: read the pair's marks every interval, judge them (src/ha/pair-watch.ts), raise each state
// change (an alert: webhook and log line; a first sighting: a log line). Its reader, alerts, log and clock are
// passed in; `close()` stops the timer and waits for a read in flight.
import type { Clock, TimerHandle } from '../clock.js'
import type { PairSample, PairWatch, WatchAlertKind } from './pair-watch.js'

export interface PairWatcherOptions {
  marks: { read(): Promise<PairSample> }
  watch: PairWatch
  alerts: { raise(kind: WatchAlertKind, message: string, detail?: Record<string, unknown>): void }
  log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void }
  clock: Clock
  /** Milliseconds between reads. */
  intervalMs: number
}

/** Polls the pair's marks until closed. */
export class PairWatcher {
  readonly #o: PairWatcherOptions
  #timer: TimerHandle | undefined
  #polling: Promise<void> | undefined
  #closing: Promise<void> | undefined
  /** Reads made and reads failed. */
  readonly counts = { reads: 0, failed: 0 }

  constructor(o: PairWatcherOptions) {
    if (!(o.intervalMs > 0)) throw new TypeError('pair watcher: intervalMs must be > 0')
    this.#o = o
  }

  /** The first read now, then one every interval. */
  start(): void {
    if (this.#closing || this.#polling || this.#timer) return
    this.#poll()
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#timer) this.#o.clock.clearTimeout(this.#timer)
      this.#timer = undefined
      await this.#polling
    })()
    return this.#closing
  }

  #poll(): void {
    this.#timer = undefined
    this.#polling = this.#once().catch((err: Error) => this.#o.log.error({ err }, 'pair watch failed')).finally(() => {
      this.#polling = undefined
      if (!this.#closing) this.#timer = this.#o.clock.setTimeout(() => this.#poll(), this.#o.intervalMs)
    })
  }

  async #once(): Promise<void> {
    const { watch, clock } = this.#o
    this.counts.reads++
    let sample: PairSample | undefined
    let reason = ''
    try {
      sample = await this.#o.marks.read()
    } catch (err) {
      this.counts.failed++
      reason = (err as Error).message
    }
    const events = sample ? watch.observe(sample, clock.now()) : watch.unreachable(clock.now(), reason)
    for (const e of events) {
      if (e.alert) this.#o.alerts.raise(e.kind, e.message, e.detail)
      else this.#o.log.info(e.detail, e.message)
    }
  }
}
