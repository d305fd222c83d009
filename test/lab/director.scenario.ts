// The director daemon end to end on the real kernel: `lvs-director run` in dir-a runs its health checks against
// the real servers and keeps dir-a's IPVS table in line, while a client in its own namespace sends traffic
// through the VIP with DR. Each scenario waits on events (a log line of the daemon, `ipvsadm -Ln`, the client's
// replies), never on fixed sleeps; timing claims come from the daemon's own audit timestamps.
import { writeFileSync } from 'node:fs'
import type { ServiceView } from '../../src/api/control.js'
import { DirectorDaemon, kernel, note, scenarioDir, sipServer, weights, writeConfig } from './guest/director.js'
import { assert, host, vip, type HttpReply, type Lab, type ProbeReply, type Scenario } from './scenario.js'

const dirA = 'dir-a'
const client = 'client'
const [rs1, rs2, rs3] = [host('rs1'), host('rs2'), host('rs3')]
const WEB = `tcp/${vip.ip4}:80`
const WEB6 = `tcp/[${vip.ip6}]:80`
const SIP = `udp/${vip.ip4}:5060`
const PBS = `tcp/${vip.ip4}:15001`

/** Fast checks for the lab: a dead server is out within interval x fall + timeout = 6 s (timeouts of 1 s flapped on a busy host). */
const timing = { interval: 2, timeout: 2, fall: 2, rise: 1 }
const httpCheck = { kind: 'http', path: '/', ...timing }
/** The bound a transition must meet, doubled: TCG runs 10-50x slower than native and the host is shared. */
const allowedMs = (t: typeof timing) => 2 * (t.interval * t.fall + t.timeout) * 1000

const bodies = (replies: readonly (HttpReply | ProbeReply)[]) => [...new Set(replies.map((r) => r.body))].sort()

/** Waits for the audit line of `target` going down after log line `from`; checks it came within the bound. */
async function downWithinBound(d: DirectorDaemon, target: string, since: number, from: number, t = timing) {
  const down = await d.waitFor((l) => l.audit?.action === 'real down' && l.audit.target === target, `'real down' for ${target}`, { from, timeoutMs: 30_000 })
  const tookMs = Date.parse(down.audit!.at) - since
  note(`${target}: down ${tookMs} ms after its server stopped (interval x fall + timeout = ${(t.interval * t.fall + t.timeout) * 1000} ms)`)
  assert.ok(tookMs >= 0 && tookMs <= allowedMs(t), `${target} left within interval x fall + timeout (x2 for TCG): ${tookMs} ms`, down)
  const updated = await d.waitFor((l) => l.msg === 'kernel table updated' && l.time >= down.time, "'kernel table updated' after the transition", { from, timeoutMs: 30_000 })
  return { down, updated }
}

/** Waits until the probe has `n` replies sent after `t` (ms since the epoch). */
async function repliesAfter(probe: { replies(): ProbeReply[] }, t: number, n = 10): Promise<void> {
  await assert.eventually(async () => assert.ok(probe.replies().filter((r) => r.at > t).length >= n, `${n} probe replies after the kernel update`), 'the probe keeps going', { tries: 120, intervalMs: 250 })
}

const sipRequest = (callId: string, seq: number) =>
  [`OPTIONS sip:lab@${vip.ip4} SIP/2.0`, `Via: SIP/2.0/UDP ${host(client).ip4}:5060;branch=z9hG4bK${callId}${seq}`, `From: <sip:client@lab>;tag=1`,
    `To: <sip:lab@${vip.ip4}>`, `Call-ID: ${callId}`, `CSeq: ${seq} OPTIONS`, 'Content-Length: 0', '', ''].join('\r\n')

/** Sends two datagrams per call, each from a new source port; returns the answering server per call. */
async function sipCalls(lab: Lab, calls: readonly string[]): Promise<Record<string, string[]>> {
  const replies = await lab.udpExchange(client, vip.ip4, 5060, calls.flatMap((id) => [sipRequest(id, 1), sipRequest(id, 2)]), { newSocketEach: true })
  assert.ok(replies.every((r) => r.ok && /^SIP\/2\.0 200/.test(r.body ?? '')), 'every SIP datagram through the VIP is answered with 200', replies)
  const by: Record<string, string[]> = {}
  calls.forEach((id, i) => (by[id] = [i * 2, i * 2 + 1].map((j) => /Server: (\S+)/.exec(replies[j]!.body!)?.[1] ?? '?')))
  return by
}

export const scenarios: Scenario[] = [
  {
    name: 'the daemon serves a web VIP: a client reaches every real server, a server added with `lvs-director real add` receives traffic, and after SIGTERM the kernel table keeps serving; a restart keeps the API-added server and rewrites nothing',
    timeoutMs: 600_000,
    async run(lab) {
      await lab.echoServers([rs1.ns, rs2.ns, rs3.ns])
      const dir = scenarioDir('web-restart')
      const cfg = writeConfig(dir, { services: [{ name: 'web', profile: 'web', address: vip.ip4, check: httpCheck, destinations: [{ address: rs1.ip4 }, { address: rs2.ip4 }] }] })
      let d = await DirectorDaemon.start(lab, dirA, [cfg])
      try {
        await assert.eventually(async () => assert.same(await weights(lab, dirA, WEB), { [rs1.ip4]: 1, [rs2.ip4]: 1 }, 'the checks put rs1 and rs2 in with weight 1'), 'both configured servers in', { tries: 60 })
        let replies = await lab.httpGet(client, lab.url(vip.ip4), { count: 6 })
        assert.ok(replies.every((r) => r.ok && r.status === 200), 'every request through the VIP answered', replies)
        assert.same(bodies(replies), [rs1.ns, rs2.ns], 'both real servers of the service answered')

        // A real server added through the API (the CLI) is checked, goes in, and takes new connections.
        const added = await d.cli(['real', 'add', 'web', rs3.ip4])
        assert.match(added, new RegExp(`^web ${rs3.ip4.replaceAll('.', '\\.')}:80: admin enabled`), 'the CLI acknowledged the new real server')
        await assert.eventually(async () => assert.same(await weights(lab, dirA, WEB), { [rs1.ip4]: 1, [rs2.ip4]: 1, [rs3.ip4]: 1 }, 'rs3 in with weight 1'), 'the added server in', { tries: 60 })
        assert.ok(d.audits().some((a) => a.actor === 'local' && a.action === 'add-real' && a.target === `service web real ${rs3.ip4}:80`), 'the API change is in the audit trail', d.audits())
        replies = await lab.httpGet(client, lab.url(vip.ip4), { count: 6 })
        assert.ok(replies.every((r) => r.ok), 'every request answered', replies)
        assert.ok(bodies(replies).includes(rs3.ns), 'the added server received traffic', replies)

        // SIGTERM: the daemon stops, the kernel table stays and serves.
        const conns = async () => Object.fromEntries((await kernel(lab, dirA, { stats: true })).find((s) => s.key === WEB)!.destinations.map((x) => [x.address, x.stats?.conns ?? 0]))
        await d.stop()
        assert.same(await weights(lab, dirA, WEB), { [rs1.ip4]: 1, [rs2.ip4]: 1, [rs3.ip4]: 1 }, 'after SIGTERM the kernel table is left as it was')
        replies = await lab.httpGet(client, lab.url(vip.ip4), { count: 3 })
        assert.ok(replies.every((r) => r.ok), 'the client is served while the daemon is down', replies)
        const before = await assert.eventually(async () => {
          const c = await conns()
          assert.ok(Object.values(c).reduce((a, b) => a + b, 0) >= 15, 'the kernel counted the 15 connections so far', c)
          return c
        }, 'counters settle', { tries: 10, intervalMs: 1000 })

        // Restart: the API-added server is still there, nothing flaps, no ipvsadm -R rewrites a weight.
        d = await DirectorDaemon.start(lab, dirA, [cfg])
        const view = await assert.eventually(async () => {
          const st = JSON.parse(await d.cli(['status', '--json'])) as { services: ServiceView[] }
          const reals = st.services.find((s) => s.name === 'web')?.destinations ?? []
          assert.ok(reals.length === 3 && reals.every((r) => r.health.state === 'up' && r.health.lastResult?.ok), 'every real server checked and up after the restart', reals)
          return reals
        }, 'the first checks after the restart', { tries: 20, intervalMs: 500 })
        assert.same(view.map((r) => [r.address, r.admin, r.effectiveWeight]).sort(), [[rs1.ip4, 'enabled', 1], [rs2.ip4, 'enabled', 1], [rs3.ip4, 'enabled', 1]], 'the API-added rs3 survived the restart')
        assert.same(d.lines().filter((l) => l.msg === 'kernel table updated'), [], 'the restart wrote nothing to the kernel (no ipvsadm -R)')
        assert.same(d.audits().filter((a) => a.actor === 'health'), [], 'no health transition after the restart (no flap)')
        assert.same(await weights(lab, dirA, WEB), { [rs1.ip4]: 1, [rs2.ip4]: 1, [rs3.ip4]: 1 }, 'kernel weights unchanged')
        const after = await conns()
        assert.ok(Object.keys(before).every((a) => (after[a] ?? -1) >= before[a]!), 'no real server was re-created (its connection counter did not reset)', { before, after })
        await d.stop()
      } finally {
        await d.proc.stop()
      }
    },
  },
  {
    name: 'a real server whose web server is killed leaves the pool within interval x fall + timeout and the client stops failing; a drained server takes no new connections while its open one finishes, and leaves the kernel once it closes',
    timeoutMs: 600_000,
    async run(lab) {
      const [, echo2] = await lab.echoServers([rs1.ns, rs2.ns, rs3.ns])
      const dir = scenarioDir('web-kill-drain')
      const cfg = writeConfig(dir, { services: [{ name: 'web', profile: 'web', address: vip.ip4, check: httpCheck, drainTimeout: 120,
        destinations: [rs1, rs2, rs3].map((h) => ({ address: h.ip4 })) }] })
      const d = await DirectorDaemon.start(lab, dirA, [cfg])
      try {
        await assert.eventually(async () => assert.same(await weights(lab, dirA, WEB), { [rs1.ip4]: 1, [rs2.ip4]: 1, [rs3.ip4]: 1 }, 'all three in'), 'all three in', { tries: 60 })
        const url = lab.url(vip.ip4)
        const probe = await lab.probe(client, url, { intervalMs: 100, timeoutMs: 1000 })
        await repliesAfter(probe, 0, 5)
        const from = d.lines().length
        const killedAt = Date.now()
        await echo2!.stop()
        const { updated } = await downWithinBound(d, `service web real ${rs2.ip4}:80`, killedAt, from)
        assert.equal((await weights(lab, dirA, WEB))[rs2.ip4], 0, 'rs2 quiesced: weight 0 in the kernel (quiescent)')
        // The kernel's count of connections it scheduled to rs2: a new scheduling decision adds one.
        const scheduledToRs2 = async () => (await kernel(lab, dirA, { stats: true })).find((s) => s.key === WEB)!.destinations.find((x) => x.address === rs2.ip4)?.stats?.conns ?? -1
        const rs2Before = await scheduledToRs2()
        await repliesAfter(probe, updated.time, 10)
        const all = await probe.stop()
        const rs2After = await scheduledToRs2()
        const failed = all.filter((r) => !r.ok)
        const late = all.filter((r) => r.at > updated.time)
        const lateFailed = late.filter((r) => !r.ok)
        note(`web: ${failed.length - lateFailed.length} failed requests between the kill and the kernel update, ${late.length} after it, ${lateFailed.length} of them failed`)
        assert.equal(rs2After, rs2Before, 'after the kernel update IPVS scheduled no new connection to rs2')
        assert.ok(failed.every((r) => r.at >= killedAt - 100), 'no request failed before the kill', failed)
        // A request after the update can still meet rs2 when its client port matches a connection entry the
        // kernel keeps from before (weight 0 keeps entries; DR entries linger in FIN_WAIT, and -C between
        // scenarios revives a re-added server's entries): the kernel reuses the entry rather than scheduling,
        // which the unchanged counter above shows. Such a request is refused by rs2's closed port at once.
        assert.ok(lateFailed.every((r) => /ECONNREFUSED/.test(r.error ?? '')), 'a request after the update fails only by meeting a kernel-kept entry to rs2 (refused), never by a new scheduling to it', lateFailed)
        assert.ok(lateFailed.length <= late.length / 5, 'nearly every request sent after the kernel update succeeded', late)
        assert.ok(late.every((r) => r.body !== rs2.ns), 'none reached rs2', late)

        // Drain: hold a keep-alive connection to one up server, drain that server.
        const held = await lab.probe(client, url, { intervalMs: 200, keepAlive: true })
        const first = held.replies()[0]!
        assert.ok(first.ok && (first.body === rs1.ns || first.body === rs3.ns), 'the held connection reached an up server', first)
        const serving = host(first.body!)
        const other = serving === rs1 ? rs3 : rs1
        const activeOf = async () => (await kernel(lab, dirA)).find((s) => s.key === WEB)?.destinations.find((x) => x.address === serving.ip4)
        await assert.eventually(async () => assert.ok(((await activeOf())?.activeConns ?? 0) >= 1, 'the held connection is active in the kernel'), 'held connection active')
        const out = await d.cli(['real', 'drain', 'web', serving.ip4])
        assert.match(out, /admin draining, weight 1, effective 0/, 'the CLI reports the drain')
        await assert.eventually(async () => assert.equal((await weights(lab, dirA, WEB))[serving.ip4], 0, 'the drained server has weight 0'), 'drain in the kernel')
        const fresh = await lab.httpGet(client, url, { count: 4 })
        assert.ok(fresh.every((r) => r.ok && r.body === other.ns), `new connections all go to ${other.ns}, none to the drained ${serving.ns}`, fresh)
        const seen = held.replies().length
        await assert.eventually(async () => assert.ok(held.replies().length >= seen + 3, 'the held connection keeps being answered'), 'held connection alive', { tries: 40 })
        const d1 = await activeOf()
        assert.ok(d1 && d1.weight === 0 && (d1.activeConns ?? 0) >= 1, 'the drained server stays in the kernel with its open connection', d1)
        assert.ok(!d.lines().some((l) => l.msg === 'drain finished: real server removed'), 'not removed while its connection is open')

        const fromClose = d.lines().length
        const closedAt = Date.now()
        const heldAll = await held.stop()
        assert.ok(heldAll.every((r) => r.ok && r.body === serving.ns && r.localPort === first.localPort), `every request of the held connection answered by ${serving.ns} on one connection`, heldAll)
        const removed = await d.waitFor((l) => l.msg === 'drain finished: real server removed' && l.real === `${serving.ip4}:80`, "'drain finished'", { from: fromClose, timeoutMs: 30_000 })
        assert.equal(removed.why, 'connections ended', 'removed because its connections ended, not by the timeout')
        assert.ok(removed.time >= closedAt, 'removed after the connection closed', { removed, closedAt })
        await assert.eventually(async () => assert.ok(!((await weights(lab, dirA, WEB))[serving.ip4] !== undefined), 'the drained server is gone from the kernel'), 'drained server removed')
        note(`drain: ${serving.ns} removed ${removed.time - closedAt} ms after its last connection closed`)
        // The held connection's entry (FIN_WAIT, two minutes) and the probe's to it: with expire_nodest_conn, which
        // the director sets while it runs, the kernel drops them with the real server, so a new connection from one
        // of their ports is scheduled afresh rather than dropped until the entry times out.
        const sysctl = async () => (await lab.run(dirA, ['sysctl', '-n', 'net.ipv4.vs.expire_nodest_conn'])).trim()
        assert.equal(await sysctl(), '1', 'expire_nodest_conn is on while the director runs')
        const entriesTo = async (ip: string) => (await lab.run(dirA, ['ipvsadm', '-Lnc'])).split('\n').filter((l) => l.split(/\s+/)[5]?.startsWith(`${ip}:`))
        await assert.eventually(async () => assert.same(await entriesTo(serving.ip4), [], `no connection entry to the removed ${serving.ns} is left in the kernel`), 'entries of the removed server expired')
        await d.stop()
        assert.equal(await sysctl(), '0', 'and back to its earlier value after the director stops')
      } finally {
        await d.proc.stop()
      }
    },
  },
  {
    name: 'SIP through the daemon: datagrams of one Call-ID land on one real server while other calls spread, and a SIP server that stops answering OPTIONS leaves within interval x fall + timeout',
    timeoutMs: 420_000,
    async run(lab) {
      const sips = await Promise.all([rs1, rs2].map((h) => sipServer(lab, h.ns)))
      const dir = scenarioDir('sip')
      const check = { kind: 'sip', ...timing }
      const cfg = writeConfig(dir, { services: [{ name: 'sip', profile: 'sip', address: vip.ip4, check, destinations: [{ address: rs1.ip4 }, { address: rs2.ip4 }] }] })
      const d = await DirectorDaemon.start(lab, dirA, [cfg])
      try {
        await assert.eventually(async () => assert.same(await weights(lab, dirA, SIP), { [rs1.ip4]: 1, [rs2.ip4]: 1 }, 'both SIP servers in'), 'both SIP servers in', { tries: 60 })
        const svc = (await kernel(lab, dirA)).find((s) => s.key === SIP)!
        assert.same([svc.scheduler, svc.pe, svc.persistent], ['rr', 'sip', 900], 'the sip profile: rr, pe sip, persistent 900')
        const calls = await sipCalls(lab, ['call-a@lab', 'call-b@lab', 'call-c@lab', 'call-d@lab'])
        assert.ok(Object.values(calls).every((s) => new Set(s).size === 1), 'both datagrams of each call (from different source ports) reached one server', calls)
        assert.same([...new Set(Object.values(calls).flat())].sort(), [rs1.ns, rs2.ns], 'the calls spread over both servers')

        const from = d.lines().length
        const silencedAt = Date.now()
        sips[0]!.child.kill('SIGUSR2') // rs1's responder keeps its socket, answers nothing
        await downWithinBound(d, `service sip real ${rs1.ip4}:5060`, silencedAt, from)
        assert.equal((await weights(lab, dirA, SIP))[rs1.ip4], 0, 'rs1 quiesced: weight 0, its calls keep their persistence')
        const later = await sipCalls(lab, ['call-e@lab', 'call-f@lab', 'call-g@lab'])
        assert.ok(Object.values(later).flat().every((s) => s === rs2.ns), 'new calls all go to rs2', later)
        await d.stop()
      } finally {
        await d.proc.stop()
        await Promise.all(sips.map((s) => s.stop()))
      }
    },
  },
  {
    name: 'the PBS service (profile pbs, scheduler fo) fails over to its spare when the primary\'s 15001 listener stops, and an IPv6 VIP with DR serves every real server, both run by one daemon',
    timeoutMs: 420_000,
    async run(lab) {
      const [pbs1, pbs2] = await lab.echoServers([rs1.ns, rs2.ns], { port: 15001 })
      try {
        await lab.echoServers([rs1.ns, rs2.ns, rs3.ns])
        const dir = scenarioDir('pbs-ipv6')
        const cfg = writeConfig(dir, { services: [
          { name: 'pbs', profile: 'pbs', address: vip.ip4, check: { kind: 'pbs', ...timing }, quiescent: false,
            destinations: [{ address: rs1.ip4, weight: 100 }, { address: rs2.ip4, weight: 1 }] },
          { name: 'web6', profile: 'web', address: vip.ip6, scheduler: 'rr', check: httpCheck, destinations: [rs1, rs2, rs3].map((h) => ({ address: h.ip6 })) },
        ] })
        // The IPv6 VIP deprecated (preferred_lft 0) on dir-a's eth0: otherwise Linux picks it as the source of
        // the director's own traffic to the real servers (a /128 beats the /64 address on prefix match), their
        // replies go to their own lo, and every IPv6 health check times out. reset() puts it back as it was.
        await lab.run(null, ['ip', '-n', dirA, 'addr', 'change', `${vip.ip6}/128`, 'dev', 'eth0', 'preferred_lft', '0'])
        const d = await DirectorDaemon.start(lab, dirA, [cfg])
        try {
          await assert.eventually(async () => {
            assert.same(await weights(lab, dirA, PBS), { [rs1.ip4]: 100, [rs2.ip4]: 1 }, 'pbs: primary 100, spare 1')
            assert.same(await weights(lab, dirA, WEB6), { [rs1.ip6]: 1, [rs2.ip6]: 1, [rs3.ip6]: 1 }, 'web6: the three IPv6 real servers')
          }, 'both services in', { tries: 60 })
          assert.equal((await kernel(lab, dirA)).find((s) => s.key === PBS)?.scheduler, 'fo', 'pbs is scheduled fo')
          const v6 = await lab.httpGet(client, lab.url(vip.ip6), { count: 6 })
          assert.ok(v6.every((r) => r.ok), 'every request to the IPv6 VIP answered', v6)
          assert.same(bodies(v6), [rs1.ns, rs2.ns, rs3.ns], 'each IPv6 real server answered through the VIP')
          const pbsUrl = lab.url(vip.ip4, 15001)
          const probe = await lab.probe(client, pbsUrl, { intervalMs: 100, timeoutMs: 1000 })
          await repliesAfter(probe, 0, 15) // some sent over a timeout (1 s) before the stop: they ended before it
          const from = d.lines().length
          const stoppedAt = Date.now()
          await pbs1!.stop()
          const { updated } = await downWithinBound(d, `service pbs real ${rs1.ip4}:15001`, stoppedAt, from)
          assert.same(await weights(lab, dirA, PBS), { [rs2.ip4]: 1 }, 'the primary is removed (quiescent false): the spare alone')
          await repliesAfter(probe, updated.time, 10)
          const all = await probe.stop()
          // A request sent in the last timeout before the stop may meet the stopped listener: not "before".
          assert.same(bodies(all.filter((r) => r.at < stoppedAt - 1000)), [rs1.ns], 'before: every PBS connection went to the primary')
          const late = all.filter((r) => r.at > updated.time)
          assert.ok(late.every((r) => r.ok && r.body === rs2.ns), 'after the kernel update every PBS connection is served by the spare', late)
          note(`pbs: ${all.filter((r) => !r.ok).length} failed connections during the failover`)
          await d.stop()
        } finally {
          await d.proc.stop()
        }
      } finally {
        await Promise.all([pbs1!.stop(), pbs2!.stop()])
      }
    },
  },
  {
    name: 'an ldirectord.cf runs unchanged (`run --ldirectord`): its checks put the real servers in and traffic flows through the VIP',
    timeoutMs: 360_000,
    async run(lab) {
      await lab.echoServers([rs1.ns, rs2.ns, rs3.ns])
      const dir = scenarioDir('ldirectord')
      const cf = `${dir}/ldirectord.cf`
      writeFileSync(cf, [
        '# etc/ldirectord.cf\'s web virtual, with the lab\'s addresses and fast checks',
        'negotiatetimeout=2', 'checkinterval=2', 'failurecount=2', 'quiescent=yes', '',
        `virtual=${vip.ip4}:80`,
        '\tservicename=web',
        `\treal=${rs1.ip4}:80 gate 10`, `\treal=${rs2.ip4}:80 gate 10`, `\treal=${rs3.ip4}:80 gate 5`,
        '\tservice=http', '\tprotocol=tcp', '\tchecktype=negotiate', '\trequest="/healthz"', '\treceive="rs"', '',
      ].join('\n'))
      const d = await DirectorDaemon.start(lab, dirA, ['--ldirectord', cf, '--state-dir', `${dir}/state`])
      try {
        await assert.eventually(async () => assert.same(await weights(lab, dirA, WEB), { [rs1.ip4]: 10, [rs2.ip4]: 10, [rs3.ip4]: 5 }, 'the three real servers in with their weights'), 'ldirectord reals in', { tries: 60 })
        const replies = await lab.httpGet(client, lab.url(vip.ip4), { count: 15 })
        assert.ok(replies.every((r) => r.ok), 'every request answered', replies)
        assert.same(bodies(replies), [rs1.ns, rs2.ns, rs3.ns], 'each real server answered (ldirectord\'s default scheduler, wrr, with weights 10, 10, 5)')
        assert.same(d.lines().filter((l) => l.level >= 40).map((l) => l.msg), [], 'no warning about the file')
        await d.stop()
      } finally {
        await d.proc.stop()
      }
    },
  },
]
