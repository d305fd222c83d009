// The scheduler: rise/fall, one event per transition, timeouts, jitter, the concurrency bound, sharing and close,
// with a fake clock; then end to end with the real clock against a real TCP listener (also with the connect check
// on the native engine).
import t, { type Test } from 'tap'
import net from 'node:net'
import { createScheduler, type ChangeEvent, type CheckOptions, type Scheduler } from '../../healthchecks/scheduler.js'
import { checkKey } from '../../healthchecks/check-key.js'
import type { Checker, CheckResult } from '../../healthchecks/checker.js'
import { systemClock } from '../../src/clock.js'
import { createConnectChecker } from '../../healthchecks/connect.js'
import { parseCheckSpec, type ConnectCheckSpec } from '../../healthchecks/spec.js'
import { createTcpEngine } from '../../healthchecks/tcp-connect.js'
import { createFakeClock } from '../helpers/fake-clock.js'
import { createFakeChecker, type FakeChecker } from '../helpers/fake-checker.js'

const target = { address: '127.0.0.1', port: 80, protocol: 'tcp' as const }

function setup(t: Test, opts: { maxConcurrent?: number; random?: () => number } = {}) {
  const clock = createFakeClock()
  const lines: { level: string; obj: object; msg: string }[] = []
  const log = {
    info: (obj: object, msg: string) => lines.push({ level: 'info', obj, msg }),
    warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj, msg }),
  }
  // random 0: every first run is due at once, so tests can count intervals from 0.
  const scheduler = createScheduler({ clock, log, maxConcurrent: opts.maxConcurrent ?? 100, random: opts.random ?? (() => 0) })
  const events: ChangeEvent[] = []
  scheduler.on('change', (e) => events.push(e))
  t.teardown(() => scheduler.close())
  return { clock, scheduler, events, lines }
}

function options(checker: Checker, extra: Partial<CheckOptions> = {}): CheckOptions {
  return { checker, target, interval: 1000, timeout: 500, rise: 2, fall: 3, ...extra }
}

t.test('an up server goes down after exactly `fall` consecutive failures', async (t) => {
  const { clock, scheduler, events } = setup(t)
  const fake = createFakeChecker(clock, 'fail')
  scheduler.add('rs1', options(fake, { initial: 'up', fall: 3 }))
  await clock.advance(100) // probe 1 done
  t.equal(scheduler.get('rs1')?.health, 'up', 'still up after 1 failure')
  t.equal(scheduler.get('rs1')?.failures, 1)
  await clock.advance(1000) // probe 2
  t.equal(scheduler.get('rs1')?.health, 'up', 'still up after 2 failures')
  t.equal(events.length, 0)
  await clock.advance(1000) // probe 3
  t.equal(scheduler.get('rs1')?.health, 'down', 'down after the 3rd failure')
  t.equal(events.length, 1)
  t.match(events[0], { id: 'rs1', from: 'up', to: 'down', reason: 'ECONNREFUSED', code: 'refused' })
  await clock.advance(3000)
  t.equal(events.length, 1, 'more failures make no more events')
  t.equal(fake.calls, 6)
})

t.test('one success resets the failure count', async (t) => {
  const { clock, scheduler, events } = setup(t)
  const fake = createFakeChecker(clock, 'fail')
  scheduler.add('rs1', options(fake, { initial: 'up', fall: 2 }))
  await clock.advance(100)
  fake.outcome = 'ok'
  await clock.advance(1000)
  fake.outcome = 'fail'
  await clock.advance(1000)
  t.equal(scheduler.get('rs1')?.health, 'up', 'fail, ok, fail is not two consecutive failures')
  await clock.advance(1000)
  t.equal(scheduler.get('rs1')?.health, 'down')
  t.equal(events.length, 1)
})

t.test('a down server comes up after exactly `rise` consecutive successes', async (t) => {
  const { clock, scheduler, events } = setup(t)
  const fake = createFakeChecker(clock, 'ok')
  scheduler.add('rs1', options(fake, { initial: 'down', rise: 3 }))
  await clock.advance(100)
  await clock.advance(1000)
  t.equal(scheduler.get('rs1')?.health, 'down', 'still down after 2 successes')
  await clock.advance(1000)
  t.equal(scheduler.get('rs1')?.health, 'up', 'up after the 3rd')
  t.same(events.map((e) => [e.from, e.to]), [['down', 'up']])
  t.equal(events[0]?.at, 2010, 'the event carries the clock time of the transition')
  t.equal(scheduler.get('rs1')?.lastChangeAt, 2010)
})

t.test('from unknown (the default) the first result decides, then hysteresis applies', async (t) => {
  const { clock, scheduler, events } = setup(t)
  const good = createFakeChecker(clock, 'ok')
  const bad = createFakeChecker(clock, 'fail')
  scheduler.add('good', options(good))
  scheduler.add('bad', options(bad))
  t.equal(scheduler.get('good')?.health, 'unknown')
  await clock.advance(100)
  t.equal(scheduler.get('good')?.health, 'up')
  t.equal(scheduler.get('bad')?.health, 'down')
  t.same(events.map((e) => `${e.id}:${e.from}->${e.to}`).sort(), ['bad:unknown->down', 'good:unknown->up'])
})

t.test('one event and one log line per transition, none per probe', async (t) => {
  const { clock, scheduler, events, lines } = setup(t, { random: () => 0.5 }) // probes at 500, 1500, ...
  const fake = createFakeChecker(clock, 'ok')
  scheduler.add('rs1', options(fake, { rise: 1, fall: 1 }))
  const script = ['ok', 'ok', 'fail', 'fail', 'fail', 'ok', 'ok', 'fail', 'ok', 'ok'] as const
  for (const outcome of script) {
    fake.outcome = outcome
    await clock.advance(1000)
  }
  t.equal(fake.calls, 10)
  t.same(events.map((e) => e.to), ['up', 'down', 'up', 'down', 'up'])
  t.equal(lines.length, 5, 'one log line per transition')
  t.same(lines.map((l) => l.level), ['info', 'warn', 'info', 'warn', 'info'], 'down logs at warn')
  t.match(lines[1], { msg: 'real server down', obj: { check: 'rs1', from: 'up', to: 'down', reason: 'ECONNREFUSED' } })
})

t.test('a probe that outlives its timeout is aborted and counts as a failure with code timeout', async (t) => {
  const { clock, scheduler, events } = setup(t)
  const fake = createFakeChecker(clock, 'hang')
  scheduler.add('rs1', options(fake, { initial: 'up', fall: 1, timeout: 300 }))
  await clock.advance(299)
  t.equal(scheduler.get('rs1')?.health, 'up', 'nothing decided before the deadline')
  await clock.advance(1)
  t.equal(fake.signals[0]?.aborted, true, 'the probe signal was aborted at the deadline')
  t.equal(scheduler.get('rs1')?.health, 'down')
  t.match(events[0], { to: 'down', code: 'timeout', reason: 'timeout after 300 ms' })
  t.equal(scheduler.stats().timeouts, 1)
})

t.test('a probe that ignores its abort still fails at the deadline and never runs twice at once', async (t) => {
  const { clock, scheduler } = setup(t)
  const fake = createFakeChecker(clock, 'ignore-abort')
  scheduler.add('rs1', options(fake, { initial: 'up', fall: 1, timeout: 300 }))
  await clock.advance(300)
  t.equal(scheduler.get('rs1')?.health, 'down', 'counted as a timeout at the deadline')
  t.equal(scheduler.get('rs1')?.lastResult?.code, 'timeout')
  await clock.advance(2500)
  t.equal(fake.calls, 1, 'no second probe while the first is still running')
  t.ok(scheduler.stats().skipped >= 2, 'the slots it blocked are counted as skipped')
  fake.release()
  fake.outcome = 'ok'
  await clock.advance(1000)
  t.equal(fake.calls, 2, 'probing resumes once the stuck probe settles')
  t.equal(scheduler.get('rs1')?.lastResult?.ok, true)
  t.equal(scheduler.get('rs1')?.lastResult?.code, undefined, 'the late answer of the stuck probe was not used')
})

t.test('a checker that never settles, even after its abort, still lets health move on the cadence', async (t) => {
  const { clock, scheduler, events } = setup(t)
  const fake = createFakeChecker(clock, 'ignore-abort') // never released
  scheduler.add('rs1', options(fake, { initial: 'up', fall: 3, timeout: 300 }))
  await clock.advance(300)
  t.match(scheduler.get('rs1'), { health: 'up', failures: 1, lastResult: { code: 'timeout' } }, 'the deadline is the first failure')
  await clock.advance(700) // slot at 1000: 1000 ms old, within timeout + the 1000 ms grace
  t.equal(scheduler.get('rs1')?.failures, 1, 'a slot within the grace is only skipped')
  await clock.advance(1000) // slot at 2000: hung
  t.match(scheduler.get('rs1'), { health: 'up', failures: 2, lastResult: { ok: false, code: 'hung' } })
  await clock.advance(1000) // slot at 3000
  t.equal(scheduler.get('rs1')?.health, 'down', 'down after `fall` failures although the probe never ended')
  t.match(events, [{ from: 'up', to: 'down', code: 'hung', at: 3000 }])
  t.equal(fake.calls, 1, 'still never two probes at once')
  t.match(scheduler.stats(), { hung: 2, skipped: 3, inFlight: 0 }, 'the hung probe holds no concurrency slot')
})

t.test('closing checkers are forgotten once closed, so add/remove churn keeps no list growing', async (t) => {
  const { clock, scheduler } = setup(t)
  for (let i = 0; i < 1000; i++) {
    scheduler.add(`rs${i}`, options(createFakeChecker(clock)))
    scheduler.remove(`rs${i}`)
  }
  t.equal(scheduler.stats().closing, 1000, 'the closes are pending until the next tick')
  await clock.advance(0)
  t.equal(scheduler.stats().closing, 0, 'and gone once settled')
  let finishClose = () => {}
  const slow: Checker = { kind: 'slow', check: () => new Promise(() => {}), close: () => new Promise((r) => (finishClose = r)) }
  scheduler.add('slow', options(slow))
  scheduler.remove('slow')
  await clock.advance(0)
  t.equal(scheduler.stats().closing, 1, 'a close still pending is the one counted')
  finishClose()
  await clock.advance(0)
  t.equal(scheduler.stats().closing, 0)
})

t.test('a checker\'s prepare() runs before its first probe, outside that probe\'s timeout', async (t) => {
  const { clock, scheduler } = setup(t)
  const fake = createFakeChecker(clock, 'ok')
  let prepared = -1
  const slowSetUp: Checker = {
    ...fake,
    check: (tg, signal) => fake.check(tg, signal),
    // Set-up (routes) that takes longer than the probe timeout.
    prepare: () => new Promise((resolve) => clock.setTimeout(() => resolve(void (prepared = clock.now())), 2000)),
  }
  scheduler.add('rs1', options(slowSetUp, { timeout: 500 }))
  await clock.advance(1999)
  t.equal(fake.calls, 0, 'no probe while preparing')
  await clock.advance(100)
  t.same(fake.startedAt, [2000], 'the first probe starts once prepare() is done')
  t.equal(prepared, 2000)
  t.match(scheduler.get('rs1'), { health: 'up', lastResult: { ok: true } }, 'and is not a timeout')
})

t.test('a check removed while its checker prepares never probes and leaves no timer', async (t) => {
  const { clock, scheduler } = setup(t)
  const fake = createFakeChecker(clock, 'ok')
  let done = () => {}
  scheduler.add('rs1', options({ ...fake, check: (tg, s) => fake.check(tg, s), prepare: () => new Promise<void>((r) => (done = r)) }))
  scheduler.remove('rs1')
  done()
  await clock.advance(5000)
  t.equal(fake.calls, 0)
  t.equal(clock.pending(), 0)
})

t.test('a checker that throws is a failed probe, not a crash', async (t) => {
  const { clock, scheduler, events } = setup(t)
  const thrower: Checker = { kind: 'bad', check: () => Promise.reject(new Error('boom')) }
  scheduler.add('rs1', options(thrower, { fall: 1 }))
  await clock.advance(10)
  t.match(events[0], { to: 'down', code: 'error', reason: 'boom' })
})

t.test('probes run on a fixed cadence from the jittered first run', async (t) => {
  const { clock, scheduler } = setup(t, { random: () => 0.25 })
  const fake = createFakeChecker(clock, 'ok', 400) // slow probes do not push the cadence
  scheduler.add('rs1', options(fake, { timeout: 900 }))
  await clock.advance(4000)
  t.same(fake.startedAt, [250, 1250, 2250, 3250])
})

t.test('a probe slower than its interval runs again as soon as it ends, never twice at once', async (t) => {
  const { clock, scheduler } = setup(t)
  const fake = createFakeChecker(clock, 'ok', 1500)
  scheduler.add('rs1', options(fake, { timeout: 2000 }))
  await clock.advance(4600)
  t.same(fake.startedAt, [0, 1500, 3000, 4500], 'back to back, not every other slot')
  t.equal(fake.maxInFlight, 1)
  t.equal(scheduler.stats().late, 3)
})

t.test('first runs are spread over one interval by the injected random source', async (t) => {
  const values = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
  let i = 0
  const { clock, scheduler } = setup(t, { random: () => values[i++]! })
  const fakes = values.map(() => createFakeChecker(clock, 'ok'))
  fakes.forEach((f, n) => scheduler.add(`rs${n}`, options(f)))
  await clock.advance(999)
  t.same(fakes.map((f) => f.startedAt[0]), [0, 100, 200, 300, 400, 500, 600, 700, 800, 900])
})

t.test('with the default random source every first run lands within the first interval', async (t) => {
  const clock = createFakeClock()
  const scheduler = createScheduler({ clock, maxConcurrent: 1000 })
  t.teardown(() => scheduler.close())
  const fakes = Array.from({ length: 200 }, () => createFakeChecker(clock, 'ok', 1))
  fakes.forEach((f, n) => scheduler.add(`rs${n}`, options(f)))
  await clock.advance(1000)
  const starts = fakes.map((f) => f.startedAt[0]!)
  t.ok(starts.every((s) => s >= 0 && s < 1000), 'all within [0, interval)')
  const buckets = new Set(starts.map((s) => Math.floor(s / 100)))
  t.equal(buckets.size, 10, 'spread over the whole interval, not bunched')
})

t.test('no more than maxConcurrent probes run at once, and queued probes all get their turn', async (t) => {
  const { clock, scheduler } = setup(t, { maxConcurrent: 3 })
  let inFlight = 0
  let maxInFlight = 0
  const fakes = Array.from({ length: 12 }, () => createFakeChecker(clock, 'ok', 200))
  // Count in flight across all checkers, by wrapping them.
  fakes.forEach((f, n) => {
    const wrapped: Checker = {
      kind: 'wrapped',
      async check(tg, signal) {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        try {
          return await f.check(tg, signal)
        } finally {
          inFlight--
        }
      },
    }
    scheduler.add(`rs${n}`, options(wrapped, { interval: 1000, timeout: 500 }))
  })
  await clock.advance(10)
  t.equal(scheduler.stats().inFlight, 3)
  t.equal(scheduler.stats().queued, 9)
  await clock.advance(3000)
  t.equal(maxInFlight, 3, 'the bound was reached and never passed')
  t.ok(fakes.every((f) => f.calls >= 2), 'every check ran (FIFO queue, no starvation)')
  t.ok(fakes.every((f) => scheduler.get(`rs${fakes.indexOf(f)}`)?.health === 'up'))
})

t.test('a shared check runs once for two subscribers and keeps running until both are removed', async (t) => {
  const { clock, scheduler, events } = setup(t)
  const timing = { interval: 1000, timeout: 500 }
  const key = checkKey({ kind: 'connect' }, target, timing)
  t.equal(key, checkKey({ kind: 'connect' }, { port: 80, protocol: 'tcp', address: '127.0.0.1' }, timing), 'key ignores key order')
  t.not(key, checkKey({ kind: 'connect' }, { ...target, port: 81 }, timing), 'another port is another probe')
  const first = createFakeChecker(clock, 'fail')
  const second = createFakeChecker(clock, 'fail')
  scheduler.add('web/rs1', options(first, { key, fall: 1 }))
  scheduler.add('sip/rs1', options(second, { key, fall: 1 }))
  t.equal(scheduler.stats().probes, 1)
  await clock.advance(2500) // probes at 0, 1000, 2000
  t.equal(first.calls, 3, 'one probe per interval for both subscribers')
  t.equal(second.calls, 0, 'the duplicate checker never runs')
  await Promise.resolve()
  t.equal(second.closed, 1, 'the duplicate checker was closed at once')
  t.same(events.map((e) => e.id).sort(), ['sip/rs1', 'web/rs1'], 'the result fanned out to both')
  t.equal(scheduler.get('sip/rs1')?.key, key)
  t.ok(scheduler.remove('web/rs1'))
  await clock.advance(2000)
  t.equal(first.calls, 5, 'still running for the remaining subscriber')
  t.equal(first.closed, 0)
  t.equal(scheduler.get('web/rs1'), undefined)
  t.ok(scheduler.remove('sip/rs1'))
  t.notOk(scheduler.remove('sip/rs1'), 'removing twice reports false')
  await clock.advance(3000)
  t.equal(first.calls, 5, 'stopped after the last subscriber left')
  t.equal(first.closed, 1, 'and its checker was closed')
  t.equal(clock.pending(), 0, 'no timer left behind')
})

t.test('close() stops timers, aborts probes in flight, closes checkers, and is idempotent', async (t) => {
  const { clock, scheduler } = setup(t)
  const hanging = createFakeChecker(clock, 'hang')
  const quick = createFakeChecker(clock, 'ok')
  scheduler.add('a', options(hanging))
  scheduler.add('b', options(quick, { interval: 700 }))
  await clock.advance(100)
  t.equal(hanging.inFlight, 1)
  const closing = scheduler.close()
  t.equal(scheduler.close(), closing, 'the same promise on a second call')
  await closing
  t.equal(hanging.signals[0]?.aborted, true, 'the probe in flight was aborted')
  t.equal(hanging.closed + quick.closed, 2, 'both checkers closed')
  t.equal(clock.pending(), 0, 'no timers left')
  const calls = quick.calls
  await clock.advance(5000)
  t.equal(quick.calls, calls, 'nothing runs after close')
  t.throws(() => scheduler.add('c', options(quick)), { code: 'LVS_ERR_SCHEDULER_CLOSED' })
})

t.test('bad options get a coded error', async (t) => {
  const { clock, scheduler } = setup(t)
  const fake = createFakeChecker(clock)
  scheduler.add('rs1', options(fake))
  t.throws(() => scheduler.add('rs1', options(fake)), { code: 'LVS_ERR_INVALID_CHECK', message: /already scheduled/ })
  t.throws(() => scheduler.add('rs2', options(fake, { interval: 0 })), { code: 'LVS_ERR_INVALID_CHECK', message: /interval/ })
  t.throws(() => scheduler.add('rs3', options(fake, { fall: 0 })), { code: 'LVS_ERR_INVALID_CHECK', message: /fall/ })
  t.throws(() => createScheduler({ clock, maxConcurrent: 0 }), { code: 'LVS_ERR_INVALID_CHECK' })
})

/** A small TCP-connect checker, enough to drive the scheduler against a real socket. */
function tcpConnectChecker(): Checker {
  return {
    kind: 'tcp-test',
    check: (tg, signal) =>
      new Promise<CheckResult>((resolve) => {
        const start = performance.now()
        const socket = net.connect({ host: tg.address, port: tg.port, signal })
        const done = (r: Omit<CheckResult, 'durationMs'>) => {
          socket.destroy()
          resolve({ ...r, durationMs: performance.now() - start })
        }
        socket.once('connect', () => done({ ok: true, message: 'connected' }))
        socket.once('error', (err: NodeJS.ErrnoException) =>
          done({ ok: false, code: err.name === 'AbortError' ? 'timeout' : 'refused', message: err.code ?? err.message }),
        )
      }),
  }
}

function listen(port = 0): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((s) => s.destroy())
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve(server))
  })
}

for (const native of [false, true]) {
  t.test(`end to end with the real clock${native ? ', the connect check on the native engine' : ''}: a real listener killed goes down, restarted comes back up`, async (t) => {
    // The scheduler's timers are unref'd (a daemon has other handles); hold the loop open for the test.
    // The timeout is generous so a loaded test machine cannot turn a live server into a timeout.
    const keepAlive = setInterval(() => {}, 1000)
    let server = await listen()
    const port = (server.address() as net.AddressInfo).port
    // native: the project's connect check, whose bare connect the scheduler hands to the engine (its whole cadence).
    const tcpEngine = native ? createTcpEngine(10) : undefined
    if (native && !tcpEngine) throw new Error('the native module is not built')
    const scheduler: Scheduler = createScheduler({ clock: systemClock, maxConcurrent: 10, tcpEngine })
    const checker = native ? createConnectChecker(parseCheckSpec({ kind: 'connect' }) as ConnectCheckSpec) : tcpConnectChecker()
    t.teardown(async () => {
      await scheduler.close()
      server.close()
      clearInterval(keepAlive)
    })
    const changes: string[] = []
    scheduler.on('change', (e) => changes.push(`${e.from}->${e.to}`))
    const waitFor = (to: string) =>
      new Promise<ChangeEvent>((resolve) => {
        const l = (e: ChangeEvent) => {
          if (e.to === to) {
            scheduler.off('change', l)
            resolve(e)
          }
        }
        scheduler.on('change', l)
      })
    const up = waitFor('up')
    scheduler.add('rs', { checker, target: { address: '127.0.0.1', port, protocol: 'tcp' }, interval: 100, timeout: 1000, rise: 2, fall: 2 })
    await up
    const down = waitFor('down')
    await new Promise<void>((resolve) => server.close(() => resolve()))
    const d = await down
    t.equal(d.code, 'refused', 'a closed port is refused')
    const again = waitFor('up')
    server = await listen(port)
    await again
    t.same(changes, ['unknown->up', 'up->down', 'down->up'])
    if (native) {
      const stats = scheduler.stats()
      t.ok(stats.completed >= 5 && stats.started >= stats.completed, 'the engine\'s probes count in the scheduler\'s stats')
      t.equal(tcpEngine!.stats().targets, 1)
      await scheduler.close()
      t.throws(() => tcpEngine!.add({ family: 4, address: '127.0.0.1', port }, 100, 100, 0, () => {}), 'closing the scheduler closes its engine')
    }
  })
}
