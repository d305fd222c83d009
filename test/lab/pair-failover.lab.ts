// The director pair's failover on the real kernel: the active director is killed while a client polls the VIP,
// a long connection rides the sync daemon, the old active returns as standby, a planned switchover fails nothing.
// Not in the default lab run yet (it has passed its takeover part under emulation, not yet the whole): run it with
// `npm run lab -- --file test/lab/pair-failover.lab.ts`.
import { note } from './guest/director.js'
import { assert, vip, type Scenario } from './scenario.js'
import { cli, client, holdsVip, kernelHas, pairDirector, rs1, rs2, withLogs } from './pair.scenario.js'

export const scenarios: Scenario[] = [
  {
    name: 'the pair takes over: the active director is killed (-9, its link down) while a client polls the VIP every 20 ms: the standby takes the VIP, a long connection survives through the sync daemon; the old active returns as standby; a planned switchover fails no request',
    timeoutMs: 600_000,
    async run(lab) {
      await lab.echoServers([rs1.ns, rs2.ns])
      const redis = await lab.redisServer()
      // The pair holds the VIP itself: the lab's own VIP on dir-a goes (reset puts it back).
      await lab.run(null, ['ip', '-n', 'dir-a', 'addr', 'del', `${vip.ip4}/32`, 'dev', 'eth0'])
      let a = await pairDirector(lab, 'dir-a', redis, { priority: 150 })
      const b = await pairDirector(lab, 'dir-b', redis, { priority: 100 })
      try {
        await a.waitFor((l) => l.msg === 'role active', 'dir-a active', { timeoutMs: 120_000 })
        await b.waitFor((l) => l.msg === 'role standby', 'dir-b standby', { timeoutMs: 120_000 })
        assert.ok(await holdsVip(lab, 'dir-a') && !(await holdsVip(lab, 'dir-b')), 'the VIP is on the active only')
        const two = { [rs1.ip4]: 1, [rs2.ip4]: 1 }
        await kernelHas(lab, 'dir-a', two, 'the active serves rs1 and rs2')
        await kernelHas(lab, 'dir-b', two, "the standby's kernel is programmed too")

        const url = lab.url(vip.ip4)
        // A long timeout: a request caught by the failover waits for TCP's retransmission (backing off to seconds).
        const held = await lab.probe(client, url, { intervalMs: 250, keepAlive: true, timeoutMs: 20_000 })
        const probe = await lab.probe(client, url, { intervalMs: 20, timeoutMs: 500 })
        const port = held.replies()[0]!.localPort
        // The standby's kernel learns the held connection from the active's sync daemon.
        await assert.eventually(async () => {
          const conns = await lab.ipvsadm('dir-b', ['-Lnc'])
          assert.ok(conns.includes(`:${port}`), "the held connection is in the standby's connection table (sync daemon)", conns)
        }, 'connection synced', { tries: 60, intervalMs: 500 })

        // The active dies.
        const fromB = b.lines().length
        const killedAt = Date.now()
        a.proc.child.kill('SIGKILL')
        await lab.run(null, ['ip', '-n', 'dir-a', 'link', 'set', 'eth0', 'down'])
        const downAt = Date.now()
        const took = await b.waitFor((l) => l.msg === 'role active', 'dir-b takes over', { from: fromB, timeoutMs: 60_000 })
        await assert.eventually(async () => assert.ok(probe.replies().some((r) => r.ok && r.at > took.time), 'answered through dir-b'), 'the client answered again', { tries: 120, intervalMs: 250 })
        const heldSeen = held.replies().length
        await assert.eventually(async () => assert.ok(held.replies().length >= heldSeen + 2, 'the held connection keeps being answered'), 'held connection after the takeover', { tries: 120, intervalMs: 250 })
        // The gap: the longest time between two answered requests around the death (dir-a's kernel goes on
        // forwarding after the kill until its link is down).
        const ok = probe.replies().filter((r) => r.ok && r.at > killedAt - 1000)
        const gap = Math.max(...ok.slice(1).map((r, i) => r.at - ok[i]!.at))
        note(`pair failover: dir-b active ${took.time - killedAt} ms after the kill (dir-a's link down at +${downAt - killedAt} ms); the client's longest time without an answer ${gap} ms (polling every 20 ms, 500 ms timeout)`)
        assert.ok(await holdsVip(lab, 'dir-b'), 'dir-b holds the VIP')
        const heldAll = held.replies()
        assert.ok(heldAll.every((r) => r.ok && r.localPort === port), 'the long connection survived the failover (one connection, every request answered)', heldAll)
        await held.stop()

        // The old active comes back: no preemption, and the VIP its crash left is removed.
        await lab.run(null, ['ip', '-n', 'dir-a', 'link', 'set', 'eth0', 'up'])
        a = await pairDirector(lab, 'dir-a', redis, { priority: 150, restart: true })
        await a.waitFor((l) => l.msg === 'role standby', 'dir-a back as standby', { timeoutMs: 120_000 })
        assert.ok(!(await holdsVip(lab, 'dir-a')), 'the returning director gave up the VIP its crash left')

        // A planned switchover back: no request fails.
        const sent = probe.replies().length
        const fromA = a.lines().length
        await cli(b, ['switchover'])
        await a.waitFor((l) => l.msg === 'role active', 'dir-a active again', { from: fromA, timeoutMs: 60_000 })
        await assert.eventually(async () => assert.ok(!(await holdsVip(lab, 'dir-b')), 'dir-b let the VIP go'), 'dir-b released', { tries: 60, intervalMs: 250 })
        const swAt = Date.now()
        await assert.eventually(async () => assert.ok(probe.replies().filter((r) => r.at > swAt).length >= 10, 'more replies'), 'replies after the switchover', { tries: 60, intervalMs: 250 })
        const during = (await probe.stop()).slice(sent)
        note(`pair switchover: ${during.length} requests during it, ${during.filter((r) => !r.ok).length} failed`)
        assert.same(during.filter((r) => !r.ok), [], 'no request failed during the planned switchover')
        await a.stop()
        await b.stop()
      } catch (err) {
        throw withLogs(err, a, b)
      } finally {
        await a.proc.stop()
        await b.proc.stop()
        await lab.run(null, ['ip', '-n', 'dir-a', 'link', 'set', 'eth0', 'up'])
      }
    },
  },
]
