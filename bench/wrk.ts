// wrk's output (`wrk --latency`), read: requests per second, latency percentiles, and what went wrong.

/** One wrk run: requests per second, latency percentiles (ms), socket errors and non-2xx answers. */
export interface WrkResult { rps: number; p50Ms: number; p99Ms: number; errors: number; non2xx: number }

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 }

/** Reads wrk's --latency output; throws when it has no rate or no latency distribution. */
export function parseWrk(text: string): WrkResult {
  const ms = (pct: string) => {
    const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text)
    if (!m) throw new Error(`wrk: no ${pct}% latency in ${JSON.stringify(text.slice(0, 400))}`)
    return Number(m[1]) * UNIT_MS[m[2]!]!
  }
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text)
  if (!rps) throw new Error(`wrk: no Requests/sec in ${JSON.stringify(text.slice(0, 400))}`)
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text)
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text)
  return {
    rps: Number(rps[1]),
    p50Ms: ms('50'),
    p99Ms: ms('99'),
    errors: socket ? socket.slice(1).reduce((s, n) => s + Number(n), 0) : 0,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  }
}
