// The director pair on the real kernel: `lvs-director run` in dir-a and in dir-b share their desired table
// through redis-server in the redis namespace, each programming its own IPVS table; a client polls the VIP
// throughout. Waits on events (log lines, `ipvsadm -Ln`, the client's replies), never on sleeps. The pair's roles
// (stall, heartbeat cut, forged heartbeats, writes through a kill -9, restart, switchover) are in
// pair-failover.lab.ts (run by hand: see its header), which imports the helpers below.
import { DirectorDaemon, note, scenarioDir, weights, writeConfig, type LogLine } from './guest/director.js'
import { assert, host, ScenarioFailure, vip, type Lab, type Scenario } from './scenario.js'

export const client = 'client'
export const [rs1, rs2, rs3] = [host('rs1'), host('rs2'), host('rs3')]
const WEB = `tcp/${vip.ip4}:80`
const httpCheck = { kind: 'http', path: '/', interval: 2, timeout: 2, fall: 2, rise: 1 }
const HEARTBEAT_KEY = 'lab-heartbeat-key-0123456789'

export type Redis = { host: string; port: number; password: string }

/**
 * Starts one director of the pair in `ns` with the web service on rs1 and rs2 and the table in Redis; with
 * `pair`, also its role: heartbeats with the other director on the VIP's segment, the VIP, the sync daemon, and a
 * service `writes` on the IPv6 VIP (one real server, check `on`) for pair-failover.lab.ts's writes.
 */
export async function pairDirector(lab: Lab, ns: string, redis: Redis, pair?: { priority: number; restart?: boolean }): Promise<DirectorDaemon> {
  const peer = ns === 'dir-a' ? 'dir-b' : 'dir-a'
  const role = pair && {
    node: ns, priority: pair.priority,
    // Scaled for emulation: the guest's main loops stall for 0.5 s, start-ups for 2.5 s, and a loaded guest leaves a
    // lease renew unanswered for over 1 s (TCG, a shared host): a 2 s dead interval (and so staleMs).
    heartbeat: { key: HEARTBEAT_KEY, paths: [{ local: host(ns).ip4, peer: host(peer).ip4 }], interval: 0.1, deadCount: 20, stallLimit: 6 },
    lease: { ttl: 4, margin: 1.5 },
    vips: [{ address: vip.ip4, interface: 'eth0' }],
    syncDaemon: { interface: 'eth0', syncid: 7 },
  }
  // A restart keeps the state directory: the VIPs and sync daemons a crashed run left are in it.
  if (pair?.restart) return DirectorDaemon.start(lab, ns, [`/tmp/lab-director/pair-${ns}/director.yaml`])
  const cfg = writeConfig(scenarioDir(`pair-${ns}`), {
    director: { redis: { host: redis.host, port: redis.port, password: redis.password, cluster: 'lab' }, ...(role ? { pair: role } : {}) },
    services: [
      { name: 'web', profile: 'web', address: vip.ip4, check: httpCheck, destinations: [{ address: rs1.ip4 }, { address: rs2.ip4 }] },
      ...(role ? [{ name: 'writes', profile: 'web', address: vip.ip6, check: { kind: 'on' }, destinations: [{ address: rs1.ip6 }] }] : []),
    ],
  })
  return DirectorDaemon.start(lab, ns, [cfg])
}

/** Whether `ns` holds the IPv4 VIP on eth0. */
export async function holdsVip(lab: Lab, ns: string): Promise<boolean> {
  return (await lab.run(null, ['ip', '-n', ns, '-j', 'addr', 'show', 'dev', 'eth0'])).includes(`"${vip.ip4}"`)
}

export async function kernelHas(lab: Lab, ns: string, want: Record<string, number>, what: string): Promise<void> {
  await assert.eventually(async () => assert.same(await weights(lab, ns, WEB), want, what), what, { tries: 120, intervalMs: 250 })
}

const auditAt = (l: LogLine) => Date.parse(l.audit!.at)

/** The failure with both directors' last log lines: what a reader needs to see why. */
export function withLogs(err: unknown, a: DirectorDaemon, b: DirectorDaemon): ScenarioFailure {
  const tail = (d: DirectorDaemon) => d.lines().slice(-30).map((l) => `${l.time} ${l.msg} ${JSON.stringify({ ...l, msg: undefined, time: undefined, level: undefined, pid: undefined, hostname: undefined })}`)
  return new ScenarioFailure((err as Error).message, { failure: (err as ScenarioFailure).details, dirA: tail(a), dirB: tail(b) })
}

/** The CLI against a director's API; under emulation on a busy host one run took 48 s to start. */
export const cli = (d: DirectorDaemon, args: string[]) => d.cli(args, { timeoutMs: 240_000 })

export const scenarios: Scenario[] = [
  {
    name: "the pair's table through Redis: a real server added through dir-b's CLI reaches dir-a's kernel and takes traffic; Redis stopped: both keep serving and writes are refused; Redis back empty: refilled, nothing deleted, writes go on",
    timeoutMs: 600_000,
    async run(lab) {
      await lab.echoServers([rs1.ns, rs2.ns, rs3.ns])
      let redis = await lab.redisServer()
      const a = await pairDirector(lab, 'dir-a', redis)
      const b = await pairDirector(lab, 'dir-b', redis)
      try {
        const two = { [rs1.ip4]: 1, [rs2.ip4]: 1 }
        await kernelHas(lab, 'dir-a', two, 'dir-a serves rs1 and rs2')
        await kernelHas(lab, 'dir-b', two, "dir-b's kernel is programmed too (hot standby)")
        const probe = await lab.probe(client, lab.url(vip.ip4), { intervalMs: 100, timeoutMs: 1000 })

        // A write on dir-b reaches dir-a's kernel.
        const fromA = a.lines().length
        const out = await cli(b, ['real', 'add', 'web', rs3.ip4])
        assert.match(out, /admin enabled/, 'dir-b acknowledged the new real server')
        const written = await b.waitFor((l) => l.audit?.action === 'add-real', "dir-b's audit of the write")
        const synced = await a.waitFor((l) => l.audit?.actor === 'peer' && l.audit.action === 'sync', "dir-a's audit of the peer's change", { from: fromA })
        const applied = await a.waitFor((l) => l.msg === 'kernel table updated' && l.time >= synced.time, "dir-a's kernel update", { from: fromA })
        // dir-b audits a write once its own kernel has it: a negative figure means dir-a was there first.
        note(`pair: dir-b's write in dir-a's table ${auditAt(synced) - auditAt(written)} ms after dir-b's audit of it, in dir-a's kernel ${applied.time - auditAt(written)} ms after`)
        const three = { [rs1.ip4]: 1, [rs2.ip4]: 1, [rs3.ip4]: 1 }
        await kernelHas(lab, 'dir-a', three, "the real server added on dir-b is in dir-a's kernel and up")
        await assert.eventually(async () => {
          const replies = await lab.httpGet(client, lab.url(vip.ip4), { count: 6 })
          assert.ok(replies.some((r) => r.body === rs3.ns), 'rs3 answers through the VIP on dir-a', replies)
        }, 'rs3 takes traffic', { tries: 10, intervalMs: 500 })

        // Redis stops: both directors keep their kernels and the VIP keeps answering; writes are refused.
        await redis.process.stop()
        const refused = await cli(a, ['real', 'drain', 'web', rs1.ip4]).then(() => 'accepted', (err: ScenarioFailure) => JSON.stringify(err.details))
        assert.match(refused, /LVS_ERR_STORE_UNAVAILABLE/, 'a write with Redis down is refused with its code')
        assert.same(await weights(lab, 'dir-a', WEB), three, "dir-a's kernel unchanged")
        assert.same(await weights(lab, 'dir-b', WEB), three, "dir-b's kernel unchanged")

        // Redis back, empty (the lab's Redis keeps no data): refilled from the directors' table.
        const [markA, markB] = [a.lines().length, b.lines().length]
        redis = await lab.redisServer()
        await a.waitFor((l) => l.msg === 'following the shared table again', 'dir-a following Redis again', { from: markA })
        await b.waitFor((l) => l.msg === 'following the shared table again', 'dir-b following Redis again', { from: markB })
        assert.same(await weights(lab, 'dir-a', WEB), three, 'nothing deleted on dir-a')
        assert.same(await weights(lab, 'dir-b', WEB), three, 'nothing deleted on dir-b')
        await cli(a, ['real', 'drain', 'web', rs1.ip4])
        // rs1 has no connection open: its drain ends at once and it leaves the table, on both directors.
        await kernelHas(lab, 'dir-b', { [rs2.ip4]: 1, [rs3.ip4]: 1 }, "a drain on dir-a after Redis came back reaches dir-b's kernel")

        const replies = await probe.stop()
        const failed = replies.filter((r) => !r.ok)
        note(`pair: the client sent ${replies.length} requests through the VIP during the scenario, ${failed.length} failed`)
        assert.same(failed, [], 'no request through the VIP failed, Redis down included')
        await a.stop()
        await b.stop()
      } catch (err) {
        throw withLogs(err, a, b)
      } finally {
        await a.proc.stop()
        await b.proc.stop()
      }
    },
  },
]
