// The native bare connect (native/connect.c through healthchecks/tcp-connect.ts) against real sockets on
// loopback: which targets it takes, a hung connect ended by the abort (its socket closed), and many probes in
// flight each ending with its own result. (test/healthchecks/connect.test.ts runs the connect check, which uses
// it, against listening and closed ports on 127.0.0.1 and ::1.)
import t from 'tap'
import net from 'node:net'
import { spawn } from 'node:child_process'
import { nativeConnect } from '../../healthchecks/tcp-connect.js'
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
  // A listener with backlog 0 that never accepts: one connection fills its queue, the SYNs after it are dropped.
  const py = spawn('python3', ['-c', "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()"], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => { py.stdin.end(); py.kill() })
  const port = Number(await new Promise<string>((resolve) => py.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))))
  const filler = net.connect(port, '127.0.0.1')
  t.teardown(() => { filler.destroy() })
  await new Promise((resolve) => filler.once('connect', resolve))
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

/** Sockets of this machine connected or connecting to 127.0.0.1:port (from /proc/net/tcp). */
async function socketsTo(port: number): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const hex = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`
  return (await readFile('/proc/net/tcp', 'utf8')).split('\n').filter((l) => l.split(/\s+/)[3] === hex).length
}

/** Polls `cond` on each turn of the event loop until it holds (bounded: 2,000 turns). */
async function until(cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await cond()) return
    await new Promise((r) => setImmediate(r))
  }
  throw new Error('condition never held')
}
