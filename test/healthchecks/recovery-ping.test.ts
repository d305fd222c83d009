// Ping and the DR guard through the real scheduler: loopback stays up on both families; a host in a namespace the
// test creates goes down (after `fall` failures) when the test takes its link down or its VIP away, and comes back
// (after `rise` replies).
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import readline from 'node:readline'
import { addCheck, startScheduler, waiters, type Seen } from './recovery-harness.js'
import { createNetns, fixtureArgv, ip, nsExec } from '../helpers/netns.js'

const fixture = new URL('../fixtures/ping-recovery-child.ts', import.meta.url)

t.test('127.0.0.1 and ::1 stay up: one event each, none per probe', async (t) => {
  const sched = startScheduler(t)
  for (const [id, address] of [['v4', '127.0.0.1'], ['v6', '::1']] as const) {
    addCheck(sched, id, { spec: { kind: 'ping' }, real: { address, port: 0 }, virtual: { protocol: 'tcp' } })
  }
  await sched.event('v4', 1)
  await sched.event('v6', 1)
  await sched.probes(6)
  t.match(sched.of('v4'), [{ from: 'unknown', to: 'up', reason: 'echo reply from 127.0.0.1' }])
  t.match(sched.of('v6'), [{ from: 'unknown', to: 'up', reason: 'echo reply from ::1' }])
  t.equal(sched.events.length, 2, 'no event per probe')
  for (const id of ['v4', 'v6']) t.match(sched.scheduler.get(id), { health: 'up', failures: 0 }, `${id} never failed`)
})

type Line = { type: 'ready' } | { type: 'probes'; completed: number } | (Seen & { type: 'change' })

/** Starts the scheduler fixture in namespace `ns` and waits until it runs; its output lines are collected as they come. */
async function startChild(t: Test, ns: string, input: object) {
  const argv = ['netns', 'exec', ns, ...fixtureArgv(fixture, input)]
  const child = spawn('ip', argv, { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.teardown(async () => {
    child.stdin.end() // the fixture stops on end of input
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  })
  const lines: Line[] = []
  // The waits below are bounded from the moment the child runs, so its start-up (seconds of TypeScript loading on a
  // loaded machine) is waited for, not raced; a child that dies first fails the test instead of hanging it.
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the fixture exited (${code}) before it was ready`)))
    readline.createInterface({ input: child.stdout }).on('line', (l) => {
      if (process.env.DEBUG_PING) console.error(l)
      const line = JSON.parse(l) as Line
      if (line.type === 'ready') resolve()
      lines.push(line)
    })
  })
  await ready
  const changes = (id: string) => lines.filter((l): l is Seen & { type: 'change' } => l.type === 'change' && l.id === id)
  const completed = () => lines.reduce((n, l) => (l.type === 'probes' ? l.completed : n), 0)
  return { changes, ...waiters(changes, completed) }
}

/** A director namespace and a host namespace joined by a veth: 198.51.100.1-2/24 and 2001:db8::1-2/64. */
async function pair(t: Test): Promise<{ director: string; host: string }> {
  const director = await createNetns(t, 'lvsrd')
  const host = await createNetns(t, 'lvsrh')
  // No duplicate address detection (link-local addresses included), so IPv6 answers from the first probe; and
  // the host keeps its IPv6 address while its link is down, as a real server's configuration would.
  for (const ns of [director, host]) await nsExec(ns, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0')
  await nsExec(host, 'sysctl', '-qw', 'net.ipv6.conf.all.keep_addr_on_down=1')
  await ip('-n', director, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'h0', 'netns', host)
  await ip('-n', director, 'addr', 'add', '198.51.100.1/24', 'dev', 'd0')
  await ip('-n', director, 'addr', 'add', '2001:db8::1/64', 'dev', 'd0', 'nodad')
  await ip('-n', host, 'addr', 'add', '198.51.100.2/24', 'dev', 'h0')
  await ip('-n', host, 'addr', 'add', '2001:db8::2/64', 'dev', 'h0', 'nodad')
  await ip('-n', director, 'link', 'set', 'd0', 'up')
  await ip('-n', host, 'link', 'set', 'h0', 'up')
  return { director, host }
}

t.test('a host in a namespace: its link goes down (timeouts) and comes back up, on IPv4 and IPv6', async (t) => {
  const { director, host } = await pair(t)
  const timing = { interval: 0.15, timeout: 0.5, fall: 2, rise: 2 }
  const ids = ['v4', 'v6'] as const
  const child = await startChild(t, director, {
    timing,
    checks: [
      { id: 'v4', address: '198.51.100.2' },
      { id: 'v6', address: '2001:db8::2' },
    ],
  })
  for (const id of ids) t.match(await child.event(id, 1), { from: 'unknown', to: 'up' }, `${id} up`)
  await ip('-n', host, 'link', 'set', 'h0', 'down')
  for (const id of ids) {
    const down = await child.event(id, 2)
    t.match(down, { from: 'up', to: 'down', code: 'timeout' }, `${id} down: ${down.reason}`)
    t.equal(down.status.failures, timing.fall, `${id}: down on failure #${timing.fall} in a row, not before`)
  }
  await child.probes(4)
  for (const id of ids) t.equal(child.changes(id).length, 2, `${id}: no event for failing probes once down`)
  await ip('-n', host, 'link', 'set', 'h0', 'up')
  for (const id of ids) {
    const up = await child.event(id, 3)
    t.match(up, { from: 'down', to: 'up' }, `${id} up again: ${up.reason}`)
    t.equal(up.status.successes, timing.rise, `${id}: up on success #${timing.rise} in a row, not before`)
  }
  await child.probes(4)
  for (const id of ids) {
    t.same(child.changes(id).map((e) => `${e.from}->${e.to}`), ['unknown->up', 'up->down', 'down->up'], `${id}: one event per transition`)
  }
})

t.test('the DR guard: a real server that loses the VIP from lo goes down, and comes back with it, on IPv4 and IPv6', async (t) => {
  const { director, host } = await pair(t)
  const vips = { v4: '192.0.2.100', v6: '2001:db8:100::100' } as const
  const onLo = (verb: 'add' | 'del') =>
    Promise.all([ip('-n', host, 'addr', verb, `${vips.v4}/32`, 'dev', 'lo'), ip('-n', host, '-6', 'addr', verb, `${vips.v6}/128`, 'dev', 'lo')])
  await nsExec(host, 'sysctl', '-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2')
  await onLo('add')
  const timing = { interval: 0.15, timeout: 0.5, fall: 2, rise: 2 }
  const ids = ['v4', 'v6'] as const
  const child = await startChild(t, director, {
    kind: 'dr-guard',
    timing,
    checks: [
      { id: 'v4', address: '198.51.100.2', vip: vips.v4 },
      { id: 'v6', address: '2001:db8::2', vip: vips.v6 },
    ],
  })
  for (const id of ids) t.match(await child.event(id, 1), { from: 'unknown', to: 'up' }, `${id} up while the real server holds the VIP`)
  await onLo('del')
  for (const id of ids) {
    const down = await child.event(id, 2)
    // Linux answers an IPv6 echo for an address it lacks with ICMPv6 unreachable; IPv4 stays silent.
    t.match(down, { from: 'up', to: 'down', code: /^(timeout|unreachable)$/ }, `${id} down: ${down.reason}`)
    t.equal(down.status.failures, timing.fall, `${id}: down on failure #${timing.fall} in a row, not before`)
  }
  await onLo('add')
  for (const id of ids) {
    const up = await child.event(id, 3)
    t.match(up, { from: 'down', to: 'up' }, `${id} up again: ${up.reason}`)
    t.equal(up.status.successes, timing.rise, `${id}: up on success #${timing.rise} in a row, not before`)
  }
  for (const id of ids) {
    t.same(child.changes(id).map((e) => `${e.from}->${e.to}`), ['unknown->up', 'up->down', 'down->up'], `${id}: one event per transition`)
  }
})
