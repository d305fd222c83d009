// The lab itself works: the guest kernel has IPVS per namespace, and LVS-DR carries a client's requests to
// both real servers through the VIP (IPv4 and IPv6), with replies bypassing the director. Raw ipvsadm only.
import { assert, byRole, host, vip, type Host, type Lab, type Scenario } from './scenario.js'

const director = 'dir-a'
const client = 'client'
const rs1 = host('rs1')
const rs2 = host('rs2')

/** The service line's counters of `ipvsadm -Ln --stats --exact` for `service` (e.g. "TCP  192.0.2.100:80"). */
async function serviceStats(lab: Lab, ns: string, service: string): Promise<{ conns: number; inPkts: number; outPkts: number }> {
  const table = await lab.ipvsadm(ns, ['-Ln', '--stats', '--exact'])
  const line = table.split('\n').find((l) => l.replace(/\s+/g, ' ').startsWith(`${service} `))
  assert.ok(line, `ipvsadm -Ln --stats lists ${service}`, table)
  const [conns, inPkts, outPkts] = line.trim().split(/\s+/).slice(2, 5).map(Number) as [number, number, number]
  return { conns, inPkts, outPkts }
}

/** Programs a round-robin DR service on `vipAddr` with rs1 and rs2, the way an operator types it. */
async function addDrService(lab: Lab, vipAddr: string, rsAddr: (h: Host) => string): Promise<string> {
  const bracket = (a: string) => (a.includes(':') ? `[${a}]` : a)
  const svc = `${bracket(vipAddr)}:80`
  await lab.ipvsadm(director, ['-A', '-t', svc, '-s', 'rr'])
  for (const rs of [rs1, rs2]) await lab.ipvsadm(director, ['-a', '-t', svc, '-r', `${bracket(rsAddr(rs))}:80`, '-g'])
  return svc
}

async function drEndToEnd(lab: Lab, vipAddr: string, rsAddr: (h: Host) => string): Promise<void> {
  await lab.echoServers([rs1.ns, rs2.ns])
  const svc = await addDrService(lab, vipAddr, rsAddr)
  const replies = await lab.httpGet(client, lab.url(vipAddr), { count: 6 })
  assert.ok(replies.every((r) => r.ok && r.status === 200), 'every request through the VIP is answered', replies)
  assert.same([...new Set(replies.map((r) => r.body))].sort(), [rs1.ns, rs2.ns], 'round robin reaches both real servers')
  // The kernel folds its per-CPU counters into the totals ipvsadm shows every 2 s: poll until they land.
  const stats = await assert.eventually(async () => {
    const s = await serviceStats(lab, director, `TCP ${svc}`)
    assert.ok(s.conns >= 6 && s.inPkts > 0, 'the director counted the client connections and packets', s)
    return s
  }, 'the director counted the client connections and packets', { tries: 10, intervalMs: 1000 })
  assert.equal(stats.outPkts, 0, 'replies bypass the director (direct routing): OutPkts stays 0')
}

export const scenarios: Scenario[] = [
  {
    name: 'the guest kernel has IPVS, one table per director namespace',
    async run(lab) {
      const table = await lab.ipvsadm(director, ['-Ln'])
      assert.match(table, /^IP Virtual Server version \d+\.\d+\.\d+/m, 'ipvsadm -Ln shows the IPVS version header')
      await lab.ipvsadm(director, ['-A', '-t', `${vip.ip4}:80`, '-s', 'rr'])
      assert.match(await lab.ipvsadm(director, ['-Ln']), new RegExp(`TCP\\s+${vip.ip4}:80 rr`), 'the service appears in dir-a')
      assert.ok(!(await lab.ipvsadm('dir-b', ['-Ln'])).includes(vip.ip4), 'dir-b has its own, empty table')
      // The exec function handed to project code acts on its namespace's table only.
      const inB = lab.execIn('dir-b')
      const added = await inB('ipvsadm', ['-A', '-u', `${vip.ip4}:5060`, '-s', 'sh'])
      assert.equal(added.code, 0, 'execIn(dir-b) runs ipvsadm in dir-b')
      assert.match(await lab.ipvsadm('dir-b', ['-Ln']), new RegExp(`UDP\\s+${vip.ip4}:5060 sh`), 'the service is in dir-b')
      assert.ok(!(await lab.ipvsadm(director, ['-Ln'])).includes(':5060'), 'and not in dir-a')
    },
  },
  {
    name: 'LVS-DR over IPv4: a client gets answers from both real servers through the VIP; replies bypass the director',
    run: (lab) => drEndToEnd(lab, vip.ip4, (rs) => rs.ip4),
  },
  {
    name: 'LVS-DR over IPv6: the same through the IPv6 VIP',
    run: (lab) => drEndToEnd(lab, vip.ip6, (rs) => rs.ip6),
  },
  {
    name: 'an open connection through the VIP survives quiescing its real server (weight 0 with ipvsadm -e)',
    async run(lab) {
      await lab.echoServers([rs1.ns, rs2.ns])
      const svc = await addDrService(lab, vip.ip4, (rs) => rs.ip4)
      const probe = await lab.probe(client, lab.url(vip.ip4), { intervalMs: 100, keepAlive: true, timeoutMs: 5000 })
      const before = await assert.eventually(async () => {
        const r = probe.replies()
        assert.ok(r.length >= 3, 'three replies on the kept-alive connection', r)
        return r
      }, 'the probe gets replies through the VIP')
      const first = before[0]!
      assert.ok(first.ok && first.localPort, 'the first probe request was answered', first)
      const serving = [rs1, rs2].find((h) => h.ns === first.body)
      assert.ok(serving, 'a real server answered the probe', first)
      await lab.ipvsadm(director, ['-e', '-t', svc, '-r', `${serving.ip4}:80`, '-g', '-w', '0'])
      const editedAt = probe.replies().length
      const all = await assert.eventually(async () => {
        const r = probe.replies()
        assert.ok(r.length >= editedAt + 3, 'three more replies after the edit', r.length)
        return r
      }, 'the probe keeps getting replies after the edit')
      // Read while the connection is still open: once the probe stops it becomes inactive.
      const table = await lab.ipvsadm(director, ['-Ln'])
      assert.match(table, new RegExp(`-> ${serving.ip4.replaceAll('.', '\\.')}:80\\s+Route\\s+0\\s+1\\s`), 'the quiesced server keeps its one active connection')
      await probe.stop()
      const strays = all.filter((r) => !r.ok || r.body !== serving.ns || r.localPort !== first.localPort)
      assert.same(strays, [], `every reply came from ${serving.ns} over the same connection`)
    },
  },
  {
    name: 'LVS-DR over UDP with the SIP persistence engine: each Call-ID sticks to one real server across source ports',
    async run(lab) {
      await lab.echoServers([rs1.ns, rs2.ns], { port: 5060 })
      const svc = `${vip.ip4}:5060`
      await lab.ipvsadm(director, ['-A', '-u', svc, '-s', 'rr', '-p', '60', '--pe', 'sip'])
      for (const rs of [rs1, rs2]) await lab.ipvsadm(director, ['-a', '-u', svc, '-r', `${rs.ip4}:5060`, '-g'])
      const sip = (callId: string, seq: number) =>
        [`OPTIONS sip:lab@${vip.ip4} SIP/2.0`, `Via: SIP/2.0/UDP ${host(client).ip4}:5060`, `Call-ID: ${callId}`,
          `CSeq: ${seq} OPTIONS`, 'Content-Length: 0', '', ''].join('\r\n')
      const payloads = ['call-a@lab', 'call-b@lab'].flatMap((id) => [1, 2, 3].map((seq) => sip(id, seq)))
      const replies = await lab.udpExchange(client, vip.ip4, 5060, payloads, { newSocketEach: true })
      assert.ok(replies.every((r) => r.ok), 'every datagram through the VIP is answered', replies)
      assert.equal(new Set(replies.map((r) => r.localPort)).size, payloads.length, 'each datagram left from its own source port')
      const a = new Set(replies.slice(0, 3).map((r) => r.body))
      const b = new Set(replies.slice(3).map((r) => r.body))
      assert.ok(a.size === 1 && b.size === 1, 'all datagrams of one Call-ID reach the same real server', replies)
      assert.ok([...a][0] !== [...b][0], 'the two calls were scheduled round robin onto different real servers', replies)
    },
  },
  {
    name: 'a director namespace reaches the Redis server in the redis namespace over the bridge',
    async run(lab) {
      const redis = await lab.redisServer()
      const cli = ['redis-cli', '--no-auth-warning', '-h', redis.host, '-p', String(redis.port), '-a', redis.password]
      assert.equal((await lab.run(director, [...cli, 'SET', 'lab:smoke', 'ok'])).trim(), 'OK', 'dir-a writes a key')
      assert.equal((await lab.run('dir-b', [...cli, 'GET', 'lab:smoke'])).trim(), 'ok', 'dir-b reads it back')
    },
  },
  {
    name: 'reset leaves every director with an empty table and the VIP on dir-a only',
    async run(lab) {
      await lab.ipvsadm('dir-b', ['-A', '-u', `${vip.ip4}:5060`, '-s', 'sh'])
      await lab.reset()
      for (const d of byRole('director')) {
        const table = await lab.ipvsadm(d.ns, ['-Sn'])
        assert.equal(table.trim(), '', `${d.ns} has no services after reset`)
      }
      const addrA = await lab.run(null, ['ip', '-n', 'dir-a', 'addr', 'show', 'dev', 'eth0'])
      const addrB = await lab.run(null, ['ip', '-n', 'dir-b', 'addr', 'show', 'dev', 'eth0'])
      assert.ok(addrA.includes(`${vip.ip4}/32`) && addrA.includes(`${vip.ip6}/128`), 'dir-a holds both VIPs', addrA)
      assert.ok(!addrB.includes(vip.ip4) && !addrB.includes(vip.ip6), 'dir-b holds no VIP', addrB)
    },
  },
]
