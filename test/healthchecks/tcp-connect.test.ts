// The native bare connect (native/connect.c through healthchecks/tcp-connect.ts) against real sockets on
// loopback: which targets it takes, a hung connect ended by the abort (its socket closed), many probes in flight
// each ending with its own result; then the engine: cadence, refused, timeout, the in-flight bound, remove, the
// reset close, close, bad arguments. (test/healthchecks/connect.test.ts runs the connect check, which uses
// it, against listening and closed ports on 127.0.0.1 and ::1.)
import t, { type Test } from 'tap'
import net from 'node:net'
import { spawn } from 'node:child_process'
import { bareTcpTarget, createTcpEngine, nativeConnect, type TcpEngine } from '../../healthchecks/tcp-connect.js'
import type { CheckResult } from '../../healthchecks/checker.js'
import { closedTcpPort, listenTcp } from './helpers.js'

t.test('numeric addresses go the native way; a name or a zone is left to net.Socket', async (t) => {
  const never = new AbortController().signal
  t.equal(nativeConnect('localhost', 80, never), undefined)
  t.equal(nativeConnect('fe80::1%lo', 80, never), undefined)
  const port = await closedTcpPort('127.0.0.1')
  const r = await nativeConnect('127.0.0.1', port, never)
  t.match(r, { ok: false, code: 'refused', message: 'ECONNREFUSED' })
})

t.test('a connect that hangs (the server\'s accept queue is full) ends at the abort, and its socket is closed', async (t) => {
  const port = await hungPort(t)
  const before = await socketsTo(port)
  const ac = new AbortController()
  const probe = nativeConnect('127.0.0.1', port, ac.signal)!
  let settled = false
  void probe.then(() => { settled = true })
  // The probe's SYN is out (its socket shows in the kernel's table): it waits for an answer that never comes.
  await until(async () => (await socketsTo(port)) > before)
  t.notOk(settled, 'still waiting')
  ac.abort()
  t.match(await probe, { ok: false, code: 'timeout' })
  t.equal(await socketsTo(port), before, "the probe's socket is gone")
})

t.test('many probes in flight: each ends with its own result', async (t) => {
  const server = net.createServer((s) => s.destroy())
  const open = await listenTcp(server, '127.0.0.1')
  t.teardown(() => { server.close() })
  const closed = await closedTcpPort('127.0.0.1')
  const never = new AbortController().signal
  const results = await Promise.all(Array.from({ length: 400 }, (_, i) => nativeConnect('127.0.0.1', i % 2 ? closed : open, never)!))
  t.same(results.map((r) => r.ok), Array.from({ length: 400 }, (_, i) => i % 2 === 0))
  t.ok(results.filter((r) => !r.ok).every((r) => r.code === 'refused'))
})

/** Sockets of this machine from or to 127.0.0.1:port (from /proc/net/tcp), in state `st` (hex, '06': TIME_WAIT) or any. */
async function socketsTo(port: number, st?: string): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const hex = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`
  return (await readFile('/proc/net/tcp', 'utf8')).split('\n').filter((l) => {
    const f = l.trim().split(/\s+/)
    return (f[1] === hex || f[2] === hex) && (st === undefined || f[3] === st)
  }).length
}

/** Polls `cond` on each turn of the event loop until it holds (bounded: 2,000 turns). */
async function until(cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await cond()) return
    await new Promise((r) => setImmediate(r))
  }
  throw new Error('condition never held')
}

// The engine: whole cadences in native code, results a batch at a time.

/** An engine for one test, closed with it. */
function engineFor(t: Test, maxInFlight = 100): TcpEngine {
  const engine = createTcpEngine(maxInFlight)
  if (!engine) throw new Error('the native module is not built')
  t.teardown(() => engine.close())
  // The engine's handles are unref'd (a daemon has other handles): hold the loop open for the test.
  const keepAlive = setInterval(() => {}, 1000)
  t.teardown(() => clearInterval(keepAlive))
  return engine
}

/** The next `n` results of a target. */
function collect(n: number): { results: CheckResult[]; done: Promise<CheckResult[]>; onResult: (r: CheckResult) => void } {
  const results: CheckResult[] = []
  let resolve!: (r: CheckResult[]) => void
  const done = new Promise<CheckResult[]>((r) => { resolve = r })
  return { results, done, onResult: (r) => { results.push(r); if (results.length === n) resolve(results) } }
}

/** A listener with backlog 0 that never accepts, its queue filled: connects to it hang. Returns its port. */
async function hungPort(t: Test): Promise<number> {
  const py = spawn('python3', ['-c', "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()"], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => { py.stdin.end(); py.kill() })
  const port = Number(await new Promise<string>((resolve) => py.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))))
  const filler = net.connect(port, '127.0.0.1')
  t.teardown(() => { filler.destroy() })
  await new Promise((resolve) => filler.once('connect', resolve))
  return port
}

t.test('engine: a target is probed on its cadence, each probe one connection the server accepts', async (t) => {
  let accepted = 0
  const server = net.createServer((s) => { accepted++; s.destroy() })
  const port = await listenTcp(server, '127.0.0.1')
  t.teardown(() => { server.close() })
  const engine = engineFor(t)
  const c = collect(5)
  const id = engine.add({ family: 4, address: '127.0.0.1', port }, 20, 1000, 0, c.onResult)
  const results = await c.done
  t.ok(engine.remove(id), 'removed')
  t.notOk(engine.remove(id), 'a second remove finds nothing')
  t.ok(results.every((r) => r.ok && r.message === 'connected' && r.durationMs >= 0 && r.durationMs < 1000), 'five connects')
  await until(async () => accepted >= 5)
  t.match(engine.stats(), { completed: 5, timeouts: 0, inFlight: 0, queued: 0, targets: 0 })
})

t.test('engine: a closed port is refused, on IPv6 too', async (t) => {
  const engine = engineFor(t)
  for (const address of ['127.0.0.1', '::1']) {
    const c = collect(1)
    const port = await closedTcpPort(address)
    engine.add(bareTcpTarget(address, port)!, 0, 1000, 0, c.onResult)
    t.match(await c.done, [{ ok: false, code: 'refused', message: 'ECONNREFUSED' }], address)
  }
  t.equal(engine.stats().targets, 0, 'a one-off target is gone after its probe')
})

t.test('engine: a probe with no answer ends at its timeout, its socket closed, and the cadence goes on', async (t) => {
  const port = await hungPort(t)
  const before = await socketsTo(port)
  const engine = engineFor(t)
  const c = collect(2)
  const id = engine.add({ family: 4, address: '127.0.0.1', port }, 50, 100, 0, c.onResult)
  const [first, second] = await c.done
  engine.remove(id)
  t.match(first, { ok: false, code: 'timeout', message: 'timeout after 100 ms' })
  t.ok(first!.durationMs >= 99, `ended at the timeout (${first!.durationMs} ms)`)
  t.match(second, { ok: false, code: 'timeout' }, 'probed again')
  t.ok(engine.stats().late >= 1, 'a probe that ran past its next slot makes the next one late')
  t.equal(await socketsTo(port), before, 'no probe socket is left')
})

t.test('engine: past maxInFlight a due target waits its turn, and its timeout counts from its start', async (t) => {
  const port = await hungPort(t)
  const engine = engineFor(t, 1)
  const a = collect(1)
  const b = collect(1)
  engine.add({ family: 4, address: '127.0.0.1', port }, 0, 300, 0, a.onResult)
  engine.add({ family: 4, address: '127.0.0.1', port }, 0, 300, 0, b.onResult)
  await until(async () => engine.stats().started === 1)
  t.match(engine.stats(), { inFlight: 1, queued: 1 })
  const [ra] = await a.done
  t.equal(b.results.length, 0, 'the second starts once the first ends')
  const [rb] = await b.done
  t.match([ra, rb], [{ code: 'timeout' }, { code: 'timeout' }])
  t.ok(rb!.durationMs < 600, `its own timeout (${rb!.durationMs} ms), not the wait before it`)
})

t.test('engine: removing a target closes its probe in flight and reports nothing', async (t) => {
  const port = await hungPort(t)
  const before = await socketsTo(port)
  const engine = engineFor(t)
  const c = collect(1)
  const id = engine.add({ family: 4, address: '127.0.0.1', port }, 1000, 0, 0, c.onResult)
  await until(async () => (await socketsTo(port)) > before)
  t.match(engine.stats(), { inFlight: 1 })
  t.ok(engine.remove(id))
  t.equal(await socketsTo(port), before, 'its socket is gone')
  t.match(engine.stats(), { inFlight: 0, targets: 0 })
  t.equal(c.results.length, 0)
})

t.test('engine: a connected probe closes with a reset, leaving no TIME_WAIT socket behind', async (t) => {
  const server = net.createServer((s) => s.destroy())
  const port = await listenTcp(server, '127.0.0.1')
  t.teardown(() => { server.close() })
  const engine = engineFor(t)
  const c = collect(3)
  const id = engine.add({ family: 4, address: '127.0.0.1', port }, 10, 1000, 0, c.onResult)
  await c.done
  engine.remove(id)
  t.equal(await socketsTo(port, '06'), 0, 'no socket of the probes in TIME_WAIT, on either side')
  // The reference: a net.Socket that connects and ends the usual way leaves one (here on the server's side).
  const s = net.connect(port, '127.0.0.1')
  await new Promise((resolve) => s.once('close', resolve).once('connect', () => s.end()))
  await until(async () => (await socketsTo(port, '06')) > 0)
  t.pass('a FIN close leaves TIME_WAIT, which the engine avoids')
})

t.test('engine: close ends every target and their sockets; the engine takes no target after', async (t) => {
  const port = await hungPort(t)
  const before = await socketsTo(port)
  const engine = engineFor(t)
  for (let i = 0; i < 3; i++) engine.add({ family: 4, address: '127.0.0.1', port }, 1000, 0, 0, () => t.fail('no result after close'))
  await until(async () => engine.stats().inFlight === 3)
  engine.close()
  engine.close()
  t.equal(await socketsTo(port), before, 'every probe socket is gone')
  t.throws(() => engine.add({ family: 4, address: '127.0.0.1', port }, 1000, 0, 0, () => {}))
  await new Promise((r) => setTimeout(r, 50))
})

t.test('engine: bad arguments are refused with EINVAL, before any socket', async (t) => {
  const engine = engineFor(t)
  t.throws(() => engine.add({ family: 4, address: '::1', port: 80 }, 1000, 0, 0, () => {}), { code: 'EINVAL' })
  t.throws(() => engine.add({ family: 4, address: '127.0.0.1', port: 70000 }, 1000, 0, 0, () => {}), { code: 'EINVAL' })
  t.throws(() => engine.add({ family: 4, address: '127.0.0.1', port: 80 }, -1, 0, 0, () => {}), { code: 'EINVAL' })
  t.equal(engine.stats().targets, 0)
})

t.test('engine: a long queue of probes that fail at once drains in one loop, not one nested call each', async (t) => {
  // A multicast destination fails in connect() itself (ENETUNREACH, no packet sent). Behind one hung probe that
  // holds the only slot, 200,000 of them queue; when it times out they all run from one pump (each nested in the
  // one before, as they were, they overflowed the native stack: SIGSEGV).
  const port = await hungPort(t)
  const engine = engineFor(t, 1)
  const hung = collect(1)
  engine.add({ family: 4, address: '127.0.0.1', port }, 0, 200, 0, hung.onResult)
  await until(async () => engine.stats().inFlight === 1)
  const n = 200_000
  const failed = collect(n)
  for (let i = 0; i < n; i++) engine.add({ family: 4, address: '224.0.0.1', port: 80 }, 0, 1000, 0, failed.onResult)
  const results = await failed.done
  t.match(await hung.done, [{ code: 'timeout' }])
  t.ok(results.every((r) => !r.ok && r.code === 'unreachable'), `all ${n} unreachable (${results[0]?.message})`)
  t.match(engine.stats(), { inFlight: 0, queued: 0, targets: 0 })
})
