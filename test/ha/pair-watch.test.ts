// The watcher's judgement of the pair from its marks in Redis, on made-up times: both directors gone is one
// "pair down" after downAfterMs and one "pair back" when one returns; one gone is "director lost"; seen but no
// lease holder is "no active"; Redis unreachable is its own alert and never taken for the pair down.
import t from 'tap'
import { PairWatch, type PairSample, type WatchEvent } from '../../src/ha/pair-watch.js'

const both: PairSample = { seen: { 'dir-a': 'active', 'dir-b': 'standby' }, holder: 'dir-a', epoch: 3 }
const onlyA: PairSample = { seen: { 'dir-a': 'active' }, holder: 'dir-a', epoch: 3 }
const onlyB: PairSample = { seen: { 'dir-b': 'active' }, holder: 'dir-b', epoch: 4 }
const none: PairSample = { seen: {}, holder: null, epoch: 3 }

type Step = [at: number, sample: PairSample | 'unreachable']

/** The events of each step, as `kind` (alerts) or `(kind)` (log lines only), skipping steps with none. */
function run(watch: PairWatch, steps: Step[]): Array<[number, string[]]> {
  const out: Array<[number, string[]]> = []
  for (const [at, s] of steps) {
    const events: WatchEvent[] = s === 'unreachable' ? watch.unreachable(at, 'ECONNREFUSED') : watch.observe(s, at)
    if (events.length) out.push([at, events.map((e) => (e.alert ? e.kind : `(${e.kind})`))])
  }
  return out
}

t.test('a pair seen at start is logged, not alerted', async (t) => {
  const w = new PairWatch({ downAfterMs: 2000 })
  t.same(run(w, [[0, both], [1000, both]]), [[0, ['(director-seen)', '(director-seen)', '(pair-seen)']]])
  t.match(w.state, { pair: 'up', redis: 'up', holder: 'dir-a', noActive: false })
})

t.test('both directors gone: one "pair down" once nothing was seen for downAfterMs, one "pair back" when one returns', async (t) => {
  const w = new PairWatch({ downAfterMs: 2000 })
  const events = run(w, [[0, both], [1000, both], [2000, none], [3000, none], [4000, none], [5000, none], [6000, none], [7000, onlyB], [8000, onlyB], [20000, onlyB], [21000, both]])
  t.same(events.slice(1), [[4000, ['pair-down']], [7000, ['pair-back']], [21000, ['director-back']]],
    'no "director lost" beside "pair down"; the one still away after "pair back" was reported with it; its return is')
  const down = new PairWatch({ downAfterMs: 2000 })
  down.observe(both, 0)
  const alert = down.observe(none, 2001)[0]!
  t.match(alert, { kind: 'pair-down', alert: true, message: /both directors are down as seen from Redis/, detail: { lastSeen: { 'dir-a': { role: 'active', msAgo: 2001 }, 'dir-b': { role: 'standby' } } } })
})

t.test('a watcher that starts with no director seen says "pair down" after downAfterMs', async (t) => {
  const w = new PairWatch({ downAfterMs: 2000 })
  t.same(run(w, [[100, none], [1100, none], [2100, none], [2200, none], [3100, onlyA]]), [[2200, ['pair-down']], [3100, ['(director-seen)', 'pair-back']]])
})

t.test('one director gone is "director lost" (the pair runs on the other), its return "director back"', async (t) => {
  const w = new PairWatch({ downAfterMs: 2000 })
  const events = run(w, [[0, both], [1000, onlyA], [2000, onlyA], [3000, onlyA], [4000, onlyA], [5000, both], [6000, both]])
  t.same(events.slice(1), [[3000, ['director-lost']], [5000, ['director-back']]])
  const w2 = new PairWatch({ downAfterMs: 2000 })
  w2.observe(both, 0)
  t.match(w2.observe(onlyA, 2500), [{ kind: 'director-lost', detail: { director: 'dir-b', role: 'standby' }, message: /dir-b \(standby\).*runs on dir-a alone/ }])
  t.match(w2.state.directors, [{ node: 'dir-a', lost: false }, { node: 'dir-b', lost: true }])
})

t.test('directors seen but no lease holder for downAfterMs is "no active"; a holder again is "active back"; a handover gap is nothing', async (t) => {
  const w = new PairWatch({ downAfterMs: 2000 })
  const gap: PairSample = { ...both, holder: null }
  const events = run(w, [[0, both], [1000, gap], [1500, both], [2000, gap], [3000, gap], [4000, gap], [4500, gap], [5000, { ...both, holder: 'dir-b', epoch: 4 }]])
  t.same(events.slice(1), [[4000, ['no-active']], [5000, ['active-back']]], 'counted from the last sample with a holder (1500)')
  t.same(w.state.holder, 'dir-b')
  t.equal(w.state.epoch, 4)
})

t.test('Redis unreachable: one alert after downAfterMs, never "pair down"; back (even empty) counts afresh', async (t) => {
  const w = new PairWatch({ downAfterMs: 2000 })
  const events = run(w, [[0, both], [1000, 'unreachable'], [2000, 'unreachable'], [3500, 'unreachable'], [10000, 'unreachable'], [11000, none], [12000, none], [12500, both]])
  t.same(events.slice(1), [[3500, ['watch-redis-lost']], [11000, ['watch-redis-back']]], 'the marks lapsed while Redis was away are not a pair down')
  t.same(run(w, [[13000, none], [14000, none], [15000, none]]), [[15000, ['pair-down']]], 'a pair down after Redis is back is still seen')
  const short = new PairWatch({ downAfterMs: 2000 })
  t.same(run(short, [[0, both], [1000, 'unreachable'], [2000, 'unreachable'], [2500, both]]).slice(1), [], 'a blip shorter than downAfterMs is nothing')
})

t.test('a director away for forgetAfterMs is forgotten: the watcher keeps no list that only grows', async (t) => {
  const w = new PairWatch({ downAfterMs: 2000, forgetAfterMs: 60_000 })
  const renamed: PairSample = { seen: { 'dir-a': 'active', 'dir-c': 'standby' }, holder: 'dir-a', epoch: 3 }
  const events = run(w, [[0, both], [1000, renamed], [3001, renamed], [59_000, renamed], [60_001, renamed], [61_000, renamed]])
  t.same(events.slice(1), [[1000, ['(director-seen)']], [3001, ['director-lost']], [60_001, ['(director-forgotten)']]])
  t.same(w.state.directors.map((d) => d.node), ['dir-a', 'dir-c'])
})
