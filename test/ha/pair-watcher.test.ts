// The watcher's loop on a fake clock: a read every interval, each alert raised once, first sightings logged,
// Redis failing counted and judged, and close() leaving no timer behind (even with a read in flight).
import t from 'tap'
import { PairWatch, type PairSample } from '../../src/ha/pair-watch.js'
import { PairWatcher } from '../../src/ha/pair-watcher.js'
import { createFakeClock } from '../helpers/fake-clock.js'

function setup(next: () => Promise<PairSample>) {
  const clock = createFakeClock(0)
  const raised: string[] = []
  const logged: string[] = []
  const watcher = new PairWatcher({
    marks: { read: next },
    watch: new PairWatch({ downAfterMs: 2000 }),
    alerts: { raise: (kind) => raised.push(kind) },
    log: { info: (_o, msg) => logged.push(msg), error: (_o, msg) => logged.push(`error: ${msg}`) },
    clock,
    intervalMs: 500,
  })
  return { clock, raised, logged, watcher }
}

t.test('reads every interval and raises each state change once', async (t) => {
  let sample: PairSample = { seen: { 'dir-a': 'active' }, holder: 'dir-a', epoch: 1 }
  const { clock, raised, logged, watcher } = setup(async () => sample)
  watcher.start()
  await clock.advance(1000)
  t.same(logged, ['director dir-a seen in Redis', 'the pair is seen in Redis: dir-a'])
  sample = { seen: {}, holder: null, epoch: 1 }
  await clock.advance(5000)
  t.same(raised, ['pair-down'], 'once, however many reads')
  t.equal(watcher.counts.reads, 13, 'one read at start, then one every 500 ms')
  sample = { seen: { 'dir-b': 'standby' }, holder: 'dir-b', epoch: 2 }
  await clock.advance(500)
  t.same(raised, ['pair-down', 'pair-back'])
  await watcher.close()
  t.equal(clock.pending(), 0, 'no timer left')
})

t.test('a read that fails counts as Redis unreachable', async (t) => {
  const { clock, raised, watcher } = setup(async () => { throw new Error('connect ECONNREFUSED') })
  watcher.start()
  await clock.advance(3000)
  t.same(raised, ['watch-redis-lost'])
  t.equal(watcher.counts.failed, watcher.counts.reads)
  await watcher.close()
})

t.test('close() waits for a read in flight and arms nothing after it', async (t) => {
  let answer: (s: PairSample) => void = () => {}
  const { clock, watcher } = setup(() => new Promise((resolve) => { answer = resolve }))
  watcher.start()
  let closed = false
  const closing = watcher.close().then(() => { closed = true })
  await clock.advance(0)
  t.notOk(closed, 'waits for the read')
  answer({ seen: {}, holder: null, epoch: 0 })
  await closing
  t.equal(clock.pending(), 0)
})
