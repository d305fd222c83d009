// Recovery through rise/fall for every check kind, end to end: the real scheduler on the real clock drives the
// checker built from a spec against a loopback server the test breaks and heals; the user sees up, down (after
// `fall` failures, with the failure's code), up (after `rise` successes), one event per transition.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { addCheck, expectRecovery, startScheduler } from './recovery-harness.js'
import { dnsServer, httpServer, sipUa, tcpPort, udpPort } from './recovery-servers.js'

const tcp = { protocol: 'tcp' as const }
const udp = { protocol: 'udp' as const }
const script = fileURLToPath(new URL('../fixtures/check-file.sh', import.meta.url))

t.test('connect over TCP: the listener closes (refused) and reopens on the same port', async (t) => {
  for (const host of ['127.0.0.1', '::1']) {
    await t.test(host, async (t) => {
      const server = await tcpPort(t, host)
      await expectRecovery(t, { spec: { kind: 'connect' }, real: { address: host, port: server.port }, virtual: tcp }, server, {
        code: 'refused',
        reason: /ECONNREFUSED/,
      })
    })
  }
})

t.test('connect over UDP: the socket closes (ICMP port unreachable: refused) and is bound again', async (t) => {
  for (const host of ['127.0.0.1', '::1']) {
    await t.test(host, async (t) => {
      const server = await udpPort(t, host)
      // udpWait: silence for 0.2 s counts as up, so a probe is short next to the 1 s timeout.
      const input = { spec: { kind: 'connect', udpWait: 0.2 }, real: { address: host, port: server.port }, virtual: udp }
      await expectRecovery(t, input, server, { code: 'refused', reason: /ICMP port unreachable/ })
    })
  }
})

t.test('pbs: the server port closes and reopens', async (t) => {
  const server = await tcpPort(t, '127.0.0.1')
  await expectRecovery(t, { spec: { kind: 'pbs' }, real: { address: '127.0.0.1', port: server.port }, virtual: tcp }, server, {
    code: 'refused',
  })
})

t.test('pbs through a check address and port (a fwmark real server has port 0): that endpoint is what goes down and up', async (t) => {
  // A fwmark-style real server (port 0) whose PBS port comes from the check's `port`.
  const server = await tcpPort(t, '::1')
  const input = { spec: { kind: 'pbs', address: '::1', port: server.port }, real: { address: '198.51.100.7', port: 0 }, virtual: tcp }
  await expectRecovery(t, input, server, { code: 'refused' })
})

t.test('pbs with a qstat-style command: the port stays open, the command fails and passes again', async (t) => {
  const server = await tcpPort(t, '127.0.0.1')
  const { file, flip } = stateFile(t, 'broken')
  // check-file.sh takes the state file and four more words; {address} and {port} are filled in by the check.
  const spec = { kind: 'pbs', command: [script, file, '{address}', '{port}', 'pbs', 'server'] }
  const events = await expectRecovery(t, { spec, real: { address: '127.0.0.1', port: server.port }, virtual: tcp }, flip, {
    code: 'exit-code',
    reason: /^exit 1: file says broken$/,
  })
  t.match(events[0]?.reason, `up: 127.0.0.1:${server.port} -> pbs:server`, 'the command got the target filled in')
})

for (const kind of ['http', 'https'] as const) {
  t.test(`${kind}: the server answers 200, then 500, then 200 again`, async (t) => {
    for (const host of ['127.0.0.1', '::1']) {
      await t.test(host, async (t) => {
        const { port, state } = await httpServer(t, host, kind === 'https')
        const flip = { fail: () => void (state.status = 500), heal: () => void (state.status = 200) }
        await expectRecovery(t, { spec: { kind }, real: { address: host, port }, virtual: tcp }, flip, {
          code: 'bad-status',
          reason: /^HTTP 500$/,
        })
      })
    }
  })
}

t.test('http with a body regex: the right body, a wrong body (still 200), the right body again', async (t) => {
  const { port, state } = await httpServer(t, '127.0.0.1')
  const flip = { fail: () => void (state.body = 'maintenance\n'), heal: () => void (state.body = 'service healthy\n') }
  const spec = { kind: 'http', path: '/health', receive: 'healthy' }
  await expectRecovery(t, { spec, real: { address: '127.0.0.1', port }, virtual: tcp }, flip, { code: 'bad-body', reason: /HTTP 200, body does not match/ })
})

t.test('http: the server stops answering (timeout), then answers again', async (t) => {
  const { port, state } = await httpServer(t, '::1')
  const flip = { fail: () => void (state.hang = true), heal: () => void (state.hang = false) }
  await expectRecovery(t, { spec: { kind: 'http', timeout: 0.3 }, real: { address: '::1', port }, virtual: tcp }, flip, { code: 'timeout' })
})

t.test('https with a body regex on ::1 and a virtualhost', async (t) => {
  const { port, state } = await httpServer(t, '::1', true)
  const flip = { fail: () => void (state.body = 'maintenance\n'), heal: () => void (state.body = 'service healthy\n') }
  const spec = { kind: 'https', virtualhost: 'www.example.test', receive: '^service healthy' }
  await expectRecovery(t, { spec, real: { address: '::1', port }, virtual: tcp }, flip, { code: 'bad-body' })
})

t.test('sip over UDP: 200, then 404, then 200', async (t) => {
  const { port, state } = await sipUa(t, '127.0.0.1', 'udp')
  const flip = { fail: () => void (state.mode = '404'), heal: () => void (state.mode = '200') }
  await expectRecovery(t, { spec: { kind: 'sip' }, real: { address: '127.0.0.1', port }, virtual: udp }, flip, {
    code: 'bad-status',
    reason: /^SIP 404 Not Found$/,
  })
})

t.test('sip over UDP: 200, then silence (timeout despite retransmissions), then 200', async (t) => {
  const { port, state } = await sipUa(t, '::1', 'udp')
  const flip = { fail: () => void (state.mode = 'silent'), heal: () => void (state.mode = '200') }
  // A timeout past the first retransmission (0.5 s), so a silent UA gets a second copy of each request.
  await expectRecovery(t, { spec: { kind: 'sip', timeout: 0.8 }, real: { address: '::1', port }, virtual: udp }, flip, { code: 'timeout' })
  t.ok([...state.copies.values()].some((n) => n >= 2), 'unanswered requests were retransmitted')
})

t.test('sip over TCP: 200, then 404, then 200', async (t) => {
  const { port, state } = await sipUa(t, '::1', 'tcp')
  const flip = { fail: () => void (state.mode = '404'), heal: () => void (state.mode = '200') }
  await expectRecovery(t, { spec: { kind: 'sip' }, real: { address: '::1', port }, virtual: tcp }, flip, { code: 'bad-status' })
})

t.test('sip over TCP (protocol set on a UDP service): 200, then silence, then 200', async (t) => {
  const { port, state } = await sipUa(t, '127.0.0.1', 'tcp')
  const flip = { fail: () => void (state.mode = 'silent'), heal: () => void (state.mode = '200') }
  const spec = { kind: 'sip', protocol: 'tcp', timeout: 0.3 }
  await expectRecovery(t, { spec, real: { address: '127.0.0.1', port }, virtual: udp }, flip, { code: 'timeout' })
})

t.test('dns: the right answer, a wrong answer, the right answer again', async (t) => {
  const { port, state } = await dnsServer(t, '127.0.0.1', 'www.example.test')
  const flip = { fail: () => void (state.address = '192.0.2.99'), heal: () => void (state.address = '192.0.2.10') }
  const spec = { kind: 'dns', name: 'www.example.test', answer: '192.0.2.10' }
  await expectRecovery(t, { spec, real: { address: '127.0.0.1', port }, virtual: udp }, flip, {
    code: 'bad-answer',
    reason: /got 192\.0\.2\.99/,
  })
})

t.test('dns: NOERROR, then NXDOMAIN, then NOERROR', async (t) => {
  const { port, state } = await dnsServer(t, '::1', 'www.example.test')
  const flip = { fail: () => void (state.nxdomain = true), heal: () => void (state.nxdomain = false) }
  const spec = { kind: 'dns', name: 'www.example.test' }
  await expectRecovery(t, { spec, real: { address: '::1', port }, virtual: udp }, flip, { code: 'bad-rcode', reason: /^NXDOMAIN$/ })
})

t.test('dns over UDP: the responder falls silent (timeout), then answers again', async (t) => {
  const { port, state } = await dnsServer(t, '127.0.0.1', 'www.example.test')
  const flip = { fail: () => void (state.silent = true), heal: () => void (state.silent = false) }
  const spec = { kind: 'dns', name: 'www.example.test', timeout: 0.3 }
  await expectRecovery(t, { spec, real: { address: '127.0.0.1', port }, virtual: udp }, flip, { code: 'timeout' })
})

/** A state file saying "up" (removed in teardown) that check-file.sh reads; fail() writes `failWord` into it. */
function stateFile(t: Test, failWord: string) {
  const dir = mkdtempSync(join(tmpdir(), 'lvs-recovery-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'state')
  writeFileSync(file, 'up\n')
  return { file, flip: { fail: () => writeFileSync(file, `${failWord}\n`), heal: () => writeFileSync(file, 'up\n') } }
}

t.test('external: a command whose verdict follows a file the test writes', async (t) => {
  const { file, flip } = stateFile(t, 'broken')
  const input = {
    spec: { kind: 'external', command: [script, file] },
    real: { address: '192.0.2.20', port: 8080 },
    virtual: { address: '198.51.100.1', port: 80, protocol: 'tcp' as const },
  }
  const events = await expectRecovery(t, input, flip, { code: 'exit-code', reason: /^exit 1: file says broken$/ })
  t.equal(events[0]?.reason, 'exit 0: up: 198.51.100.1:80 -> 192.0.2.20:8080', 'argv ended with vip, vport, rip, rport')
})

t.test('external: a command that hangs is killed at the timeout (down: timeout) and passes again later', async (t) => {
  const { file, flip } = stateFile(t, 'hang')
  // A 2 s timeout: the healthy runs of the script (a process started per probe) must never be mistaken for a hang.
  const input = { spec: { kind: 'external', command: [script, file], timeout: 2, grace: 0.2 }, real: { address: '192.0.2.20', port: 8080 }, virtual: tcp }
  await expectRecovery(t, input, flip, { code: 'timeout' })
})

t.test('on stays up and off stays down: one event each, none per probe', async (t) => {
  const sched = startScheduler(t)
  const real = { address: '192.0.2.30', port: 80 }
  addCheck(sched, 'on', { spec: { kind: 'on' }, real, virtual: tcp })
  addCheck(sched, 'off', { spec: { kind: 'off' }, real, virtual: tcp })
  await sched.event('on', 1)
  await sched.event('off', 1)
  await sched.probes(6)
  t.match(sched.of('on'), [{ from: 'unknown', to: 'up', reason: 'check is on' }])
  t.match(sched.of('off'), [{ from: 'unknown', to: 'down', code: 'off' }])
  t.equal(sched.of('on').length + sched.of('off').length, 2)
  t.ok(sched.scheduler.get('off')!.failures >= 3, 'off kept failing, silently')
})

t.test('two services on one real server share one probe; each gets its own down and up from its own rise/fall', async (t) => {
  const { port, state } = await httpServer(t, '127.0.0.1')
  const sched = startScheduler(t)
  const real = { address: '127.0.0.1', port }
  // The same real server behind two virtual services, checked the same way; only rise/fall differ.
  const web = addCheck(sched, 'web', { spec: { kind: 'http', path: '/' }, real, virtual: { address: '198.51.100.1', port: 80, protocol: 'tcp' } })
  const alt = addCheck(sched, 'alt', {
    spec: { kind: 'http', path: '/', fall: 3, rise: 1 },
    real,
    virtual: { address: '198.51.100.1', port: 8080, protocol: 'tcp' },
  })
  t.equal(alt.key, web.key, 'one probe key')
  t.match(sched.scheduler.stats(), { probes: 1, subscribers: 2 })
  t.match(await sched.event('web', 1), { to: 'up' })
  t.match(await sched.event('alt', 1), { to: 'up' })
  state.status = 503
  const webDown = await sched.event('web', 2)
  const altDown = await sched.event('alt', 2)
  t.match(webDown, { to: 'down', code: 'bad-status', reason: 'HTTP 503', status: { failures: 2 } }, 'web: down on failure #2')
  t.match(altDown, { to: 'down', code: 'bad-status', status: { failures: 3 } }, 'alt: down on failure #3')
  state.status = 200
  const okBefore = state.okHits
  t.match(await sched.event('web', 3), { from: 'down', to: 'up', status: { successes: 2 } }, 'web: up on success #2')
  t.match(await sched.event('alt', 3), { from: 'down', to: 'up', status: { successes: 1 } }, 'alt: up on success #1')
  await sched.probes(2)
  t.equal(sched.events.length, 6, 'three events each, none per probe')
  // One request per probe at the server, not one per service: since the heal the server answered 200 as often as
  // each service counted a success (plus at most the one probe in flight).
  const webOk = sched.scheduler.get('web')!.successes
  t.equal(sched.scheduler.get('alt')!.successes, webOk, 'both services saw the same results')
  const served = state.okHits - okBefore
  t.ok(served >= webOk && served <= webOk + 1, `${served} requests served 200 for ${webOk} successes`)
  t.equal(sched.scheduler.stats().probes, 1)
})
