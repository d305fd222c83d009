// The ipvsadm wrapper against the real kernel: tables applied through one `ipvsadm -R` equal what the kernel shows,
// DR traffic flows, edits keep connections, foreign entries survive, a bad entry is named while the rest applies,
// the parsers read real `-Sn` / `-Ln --exact --stats --rate` output, and the netlink read sees what ipvsadm sees.
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { applyPlan, type ApplyResult } from '../../src/ipvs/apply.js'
import { opKey } from '../../src/ipvs/commands.js'
import { diff, type Plan } from '../../src/ipvs/diff.js'
import { nodeExec, type Exec } from '../../src/exec.js'
import { Ipvsadm } from '../../src/ipvs/ipvsadm.js'
import { destinationKey, parseTable, serviceKey, type Table } from '../../src/ipvs/model.js'
import { parseList, parseSave, type SavedTable } from '../../src/ipvs/parse.js'
import { loadConfig } from '../../src/config/load.js'
import { staticTable } from '../../src/reconcile/expand.js'
import { assert, host, vip, type Lab, type Scenario } from './scenario.js'

const dirA = 'dir-a'
const client = 'client'
const [rs1, rs2, rs3] = [host('rs1'), host('rs2'), host('rs3')]
const connJs = fileURLToPath(new URL('./ipvs-conn.js', import.meta.url))
const netlinkJs = fileURLToPath(new URL('./guest/netlink-read.js', import.meta.url))
// dist/test/lab/ → the project: the compiled CLI and the example table.
const cliJs = fileURLToPath(new URL('../../src/cli-main.js', import.meta.url))
const webYaml = fileURLToPath(new URL('../../../etc/web.yaml', import.meta.url))

/** ipvsadm in a director namespace: the wrapper's Exec, prefixed with `ip netns exec`. */
function director(ns = dirA): Ipvsadm {
  const exec: Exec = (file, argv, o) => nodeExec('ip', ['netns', 'exec', ns, file, ...argv], o)
  return new Ipvsadm({ exec, timeoutMs: 60_000 })
}

/** One reconcile as the director does it: read, diff, apply. */
async function reconcile(ipvs: Ipvsadm, desired: Table, owned: ReadonlySet<string>, adopt = false): Promise<{ plan: Plan; res: ApplyResult }> {
  const kernel = await ipvs.read()
  const plan = diff(desired, kernel, owned, { adopt })
  return { plan, res: await applyPlan(ipvs, plan, kernel, owned) }
}

/** A table in a comparable form: services and real servers sorted by key. */
function sorted(t: Table): Table {
  return {
    services: [...t.services]
      .sort((a, b) => serviceKey(a).localeCompare(serviceKey(b)))
      .map((s) => ({ ...s, destinations: [...s.destinations].sort((a, b) => destinationKey(a).localeCompare(destinationKey(b))) })),
  }
}

const web = (weights: [number, number, number] = [1, 1, 1], port = 80) => ({
  protocol: 'tcp', address: vip.ip4, port, scheduler: 'rr',
  destinations: [rs1, rs2, rs3].map((h, i) => ({ address: h.ip4, weight: weights[i] })),
})

// Every feature the model has that the guest kernel's modules carry.
const everything = parseTable({ services: [
  { ...web([1, 2, 3]), scheduler: 'wrr', destinations: [
    { address: rs1.ip4, weight: 1, upperThreshold: 500, lowerThreshold: 100 },
    { address: rs2.ip4, weight: 2, forwarding: 'nat', port: 8080 },
    { address: rs3.ip4, weight: 0, forwarding: 'tun' },
  ] },
  { protocol: 'udp', address: vip.ip4, port: 5060, scheduler: 'sh', flags: ['sh-fallback', 'sh-port'], persistent: 900,
    netmask: '255.255.255.0', pe: 'sip', ops: true, destinations: [{ address: rs1.ip4 }, { address: rs2.ip4 }] },
  { protocol: 'tcp', address: vip.ip6, port: 443, scheduler: 'wlc', persistent: 300, netmask: 64,
    destinations: [{ address: rs1.ip6 }, { address: rs2.ip6, weight: 7 }] },
  { protocol: 'fwmark', fwmark: 7, scheduler: 'mh', flags: ['mh-fallback', 'mh-port'], destinations: [{ address: rs1.ip4 }, { address: rs3.ip4, port: 80 }] },
  { protocol: 'fwmark', fwmark: 8, family: 'inet6', scheduler: 'rr', persistent: 60, destinations: [{ address: rs2.ip6 }] },
] })

export const scenarios: Scenario[] = [
  {
    name: 'a desired table with every feature, applied in one ipvsadm -R, equals what ipvsadm -Sn shows; a second apply is empty',
    async run() {
      const ipvs = director()
      const { res } = await reconcile(ipvs, everything, new Set())
      assert.same(res.failed, [], 'no entry failed')
      assert.equal(res.batches, 1, 'one ipvsadm -R')
      assert.equal(res.reads, 0, 'no table read after a clean batch')
      const kernel = await ipvs.read()
      assert.same(sorted(kernel), sorted(everything), 'the kernel holds exactly the desired table')
      assert.same(sorted(res.kernel), sorted(kernel), "the director's view is the kernel's")
      assert.same(diff(everything, kernel, res.owned).ops, [], 'nothing left to do')
    },
  },
  {
    name: 'the table read over netlink in-process equals the one ipvsadm -Sn and -Ln --thresholds read (tunnels, other protocols)',
    async run(lab) {
      const ipvs = director()
      const tunnels = parseTable({ services: [...everything.services, { protocol: 'tcp', address: vip.ip4, port: 8443, scheduler: 'rr', destinations: [
        { address: rs1.ip4, forwarding: 'tun', tunType: 'gue', tunPort: 6080, tunChecksum: 'csum' },
        { address: rs2.ip4, forwarding: 'tun', tunType: 'gre' },
        { address: rs3.ip4, forwarding: 'tun', tunType: 'gue', tunPort: 6081, tunChecksum: 'remcsum' },
      ] }] })
      const { res } = await reconcile(ipvs, tunnels, new Set())
      assert.same(res.failed, [], 'applied')
      // Another tool's SCTP service: both reads skip it and its real server alike.
      await lab.ipvsadm(dirA, ['-A', '--sctp-service', `${vip.ip4}:3868`, '-s', 'rr'])
      await lab.ipvsadm(dirA, ['-a', '--sctp-service', `${vip.ip4}:3868`, '-r', `${rs1.ip4}:3868`, '-g'])
      const byProcesses = await ipvs.read()
      const out = await lab.exec(dirA, [process.execPath, netlinkJs])
      assert.ok(out.code === 0, 'the netlink read ran', out)
      const byNetlink = JSON.parse(out.stdout) as SavedTable
      assert.same(sorted(byNetlink), sorted(tunnels), 'the netlink read is the table applied')
      assert.same(sorted(byNetlink), sorted(byProcesses), 'and what ipvsadm reads')
      assert.same([...(byNetlink.skipped ?? [])].sort(), [...(byProcesses.skipped ?? [])].sort(), 'the same entries of other protocols skipped')
      assert.equal(byNetlink.skipped?.length, 2, 'the SCTP service and its real server')
    },
  },
  {
    name: "real ipvsadm -Sn and -Ln --exact with --stats, --rate and --thresholds output parses (after DR traffic)",
    async run(lab) {
      const ipvs = director()
      await lab.echoServers([rs1.ns, rs2.ns, rs3.ns])
      await reconcile(ipvs, everything, new Set())
      const replies = await lab.httpGet(client, lab.url(vip.ip4), { count: 3 })
      assert.ok(replies.some((r) => r.ok), 'traffic went through the VIP', replies)
      const save = await lab.ipvsadm(dirA, ['-Sn'])
      assert.same(sorted(parseSave(save)).services.map(serviceKey), sorted(everything).services.map(serviceKey), '-Sn parses to the same services')
      const keys = everything.services.map(serviceKey).sort()
      for (const extra of [[], ['--stats'], ['--rate'], ['--thresholds']]) {
        const text = await lab.ipvsadm(dirA, ['-Ln', '--exact', ...extra])
        const listing = parseList(text)
        assert.same(listing.services.map((s) => s.key).sort(), keys, `-Ln --exact ${extra.join(' ')} lists every service`)
        assert.equal(listing.services.reduce((n, s) => n + s.destinations.length, 0), 10, `-Ln ${extra.join(' ')} lists every real server`)
      }
      const stats = await assert.eventually(async () => {
        const l = await ipvs.list({ stats: true })
        const s = l.services.find((x) => x.key === `tcp/${vip.ip4}:80`)
        assert.ok(s?.stats && s.stats.conns >= 1 && s.stats.inPkts >= 1, 'the web service counted connections', l)
        return s.stats
      }, 'stats appear', { tries: 10, intervalMs: 1000 })
      assert.equal(stats.outPkts, 0, 'DR replies bypass the director')
      const plain = await ipvs.list()
      const svc = plain.services.find((x) => x.key === `udp/${vip.ip4}:5060`)!
      assert.same([svc.scheduler, svc.flags, svc.persistent, svc.netmask, svc.pe, svc.ops], ['sh', ['sh-fallback', 'sh-port'], 900, '255.255.255.0', 'sip', true], '-Ln shows the SIP service as applied')
      const th = (await ipvs.list({ thresholds: true })).services.find((x) => x.key === `tcp/${vip.ip4}:80`)!
      const rs1th = th.destinations.find((d) => d.address === rs1.ip4)!
      assert.same([rs1th.upperThreshold, rs1th.lowerThreshold], [500, 100], '-Ln --thresholds shows the thresholds as applied')
    },
  },
  {
    name: 'a client in its own namespace gets answers from each real server through the VIP with DR',
    async run(lab) {
      await lab.echoServers([rs1.ns, rs2.ns, rs3.ns])
      const { res } = await reconcile(director(), parseTable({ services: [web()] }), new Set())
      assert.same(res.failed, [], 'applied')
      const replies = await lab.httpGet(client, lab.url(vip.ip4), { count: 6 })
      assert.ok(replies.every((r) => r.ok && r.status === 200), 'every request answered', replies)
      assert.same([...new Set(replies.map((r) => r.body))].sort(), [rs1.ns, rs2.ns, rs3.ns], 'each real server answered')
    },
  },
  {
    name: 'a weight change is an in-place -e and keeps an open connection through the VIP alive',
    async run(lab) {
      const ipvs = director()
      const servers = [rs1, rs2].map((h) => lab.spawn(h.ns, [process.execPath, connJs, '--serve', '--name', h.ns, '--port', '9000']))
      await assert.eventually(async () => assert.ok(servers.every((s) => s.output().includes('listening')), 'servers listening'), 'servers listening', { tries: 120, intervalMs: 500 })
      const table = (w1: number, w2: number) => parseTable({ services: [{ protocol: 'tcp', address: vip.ip4, port: 9000, scheduler: 'rr',
        destinations: [{ address: rs1.ip4, weight: w1 }, { address: rs2.ip4, weight: w2 }] }] })
      const first = await reconcile(ipvs, table(1, 1), new Set())
      const flag = `/tmp/ipvs-hold-${process.pid}`
      const holder = lab.spawn(client, [process.execPath, connJs, '--hold', '--host', vip.ip4, '--port', '9000', '--flag', flag])
      const served = await assert.eventually(async () => {
        const m = /first (rs\d) one/.exec(holder.output())
        assert.ok(m, 'the held connection got its first answer', holder.output())
        return m[1]!
      }, 'first answer', { tries: 120, intervalMs: 500 })
      // Quiesce the server holding the connection, and weight the other up.
      const next = served === rs1.ns ? table(0, 5) : table(5, 0)
      const { plan, res } = await reconcile(ipvs, next, first.res.owned)
      assert.same(plan.ops.map((o) => o.kind), ['edit-dest', 'edit-dest'], 'two -e lines, no delete')
      assert.same(res.failed, [], 'applied')
      await writeFile(flag, 'go')
      const second = await assert.eventually(async () => {
        const m = /second (rs\d) two/.exec(holder.output())
        assert.ok(m, 'the same connection answered again', holder.output())
        return m[1]!
      }, 'second answer', { tries: 120, intervalMs: 500 })
      assert.equal(second, served, 'the same real server answered on the same connection')
      assert.ok(!/closed|error/.test(holder.output()), 'the connection never broke', holder.output())
      const weights = (await ipvs.read()).services[0]!.destinations.map((d) => [d.address, d.weight])
      assert.same(weights.sort(), (served === rs1.ns ? [[rs1.ip4, 0], [rs2.ip4, 5]] : [[rs1.ip4, 5], [rs2.ip4, 0]]), 'weights as applied')
    },
  },
  {
    name: 'foreign entries (an operator service, an operator real server in our service) survive a reconcile',
    async run(lab) {
      const ipvs = director()
      const first = await reconcile(ipvs, parseTable({ services: [web()] }), new Set())
      await lab.ipvsadm(dirA, ['-A', '-u', `${vip.ip4}:53`, '-s', 'rr'])
      await lab.ipvsadm(dirA, ['-a', '-u', `${vip.ip4}:53`, '-r', `${rs3.ip4}:53`, '-g'])
      await lab.ipvsadm(dirA, ['-A', '-t', `${vip.ip4}:81`, '-s', 'wlc'])
      // An operator adds a real server by hand to the director's own service.
      await lab.ipvsadm(dirA, ['-a', '-t', `${vip.ip4}:80`, '-r', `${host('dir-b').ip4}:80`, '-g', '-w', '3'])
      const want = parseTable({ services: [{ ...web([4, 1, 1]), destinations: web([4, 1, 1]).destinations.slice(0, 2) }] })
      const { plan, res } = await reconcile(ipvs, want, first.res.owned)
      assert.same(res.failed, [], 'applied')
      assert.same(plan.ops.map(opKey), [`tcp/${vip.ip4}:80 -> ${rs1.ip4}:80`, `tcp/${vip.ip4}:80 -> ${rs3.ip4}:80`], 'only owned entries change')
      assert.same(plan.foreign.sort(), [
        `tcp/${vip.ip4}:80 -> ${host('dir-b').ip4}:80`, `tcp/${vip.ip4}:81`, `udp/${vip.ip4}:53`, `udp/${vip.ip4}:53 -> ${rs3.ip4}:53`,
      ].sort(), 'foreign entries reported')
      const save = await lab.ipvsadm(dirA, ['-Sn'])
      assert.match(save, new RegExp(`-A -u ${vip.ip4}:53 -s rr`), 'the operator service is still there')
      assert.match(save, new RegExp(`-a -u ${vip.ip4}:53 -r ${rs3.ip4}:53 -g -w 1`), 'with its real server')
      assert.match(save, new RegExp(`-A -t ${vip.ip4}:81 -s wlc`), 'the second operator service too')
      assert.match(save, new RegExp(`-a -t ${vip.ip4}:80 -r ${host('dir-b').ip4}:80 -g -w 3`), 'the hand-added real server in our service is kept')
      assert.ok(!save.includes(`-r ${rs3.ip4}:80`), 'the owned real server no longer wanted is gone')
    },
  },
  {
    name: 'a plan with bad entries applies the rest in one batch and names each bad one with the kernel message',
    async run(lab) {
      const ipvs = director()
      // ipvsadm -R itself: a failing middle line does not stop it, and the exit status is the last line's.
      const raw = await ipvs.restore([`-A -t ${vip.ip4}:7 -s rr`, `-a -t ${vip.ip4}:8 -r ${rs1.ip4}:8 -g`, `-D -t ${vip.ip4}:7`])
      assert.equal(raw.code, 0, 'exit status 0 although a middle line failed')
      assert.match(raw.stderr, /Service not defined/, 'the failed line printed its message')
      // Two faults the model cannot see: the subnet's broadcast address as a real server (the kernel refuses
      // a non-unicast destination), and a scheduler this kernel lacks (twos is not in 6.1).
      const broadcast = '192.0.2.255'
      const bad = parseTable({ services: [
        { ...web(), destinations: [{ address: rs1.ip4 }, { address: broadcast }, { address: rs2.ip4 }] },
        { protocol: 'udp', address: vip.ip4, port: 5060, scheduler: 'rr', destinations: [{ address: rs3.ip4 }] },
        { protocol: 'tcp', address: vip.ip4, port: 8443, scheduler: 'twos', destinations: [{ address: rs3.ip4 }] },
      ] })
      const { res } = await reconcile(ipvs, bad, new Set())
      const failed = Object.fromEntries(res.failed.map((f) => [f.key, f.error]))
      assert.same(Object.keys(failed).sort(), [`tcp/${vip.ip4}:80 -> ${broadcast}:80`, `tcp/${vip.ip4}:8443`, `tcp/${vip.ip4}:8443 -> ${rs3.ip4}:8443`].sort(), 'exactly the bad entries failed')
      assert.match(failed[`tcp/${vip.ip4}:80 -> ${broadcast}:80`]!, /Invalid operation|not unicast/, 'the broadcast real server carries the kernel message')
      assert.match(failed[`tcp/${vip.ip4}:8443`]!, /Scheduler or persistence engine not found/, 'the twos service carries its message')
      assert.match(failed[`tcp/${vip.ip4}:8443 -> ${rs3.ip4}:8443`]!, /Service not defined/, 'and its real server its own')
      assert.equal(res.batches, 1, 'one ipvsadm -R: it went on after the failed lines')
      assert.equal(res.reads, 1, 'one table read to find out')
      const kernel = await ipvs.read()
      assert.same(sorted(res.kernel), sorted(kernel), "the director's view is the kernel's")
      assert.same(kernel.services.flatMap((s) => s.destinations.map((d) => d.address)).sort(), [rs1.ip4, rs2.ip4, rs3.ip4].sort(), 'the rest is applied')
      assert.ok(!res.owned.has(`tcp/${vip.ip4}:80 -> ${broadcast}:80`), 'the failed entry is not owned')
      const again = await reconcile(ipvs, bad, res.owned)
      assert.same(again.plan.ops.map(opKey).sort(), Object.keys(failed).sort(), 'the next reconcile retries only the failed ones')
    },
  },
  {
    name: 'IPv6 and fwmark services round-trip through the kernel, and their edits are -E in place',
    async run() {
      const ipvs = director()
      const v6fw = (netmask: number, flags: string[]) => parseTable({ services: [
        { protocol: 'tcp', address: vip.ip6, port: 80, scheduler: 'mh', flags, persistent: 120, netmask,
          destinations: [{ address: rs1.ip6 }, { address: rs2.ip6, forwarding: 'nat', port: 8080 }] },
        { protocol: 'fwmark', fwmark: 21, family: 'inet6', scheduler: 'sh', flags: ['sh-port'], destinations: [{ address: rs3.ip6 }] },
        { protocol: 'fwmark', fwmark: 22, scheduler: 'wlc', ops: true, destinations: [{ address: rs3.ip4 }] },
      ] })
      const first = await reconcile(ipvs, v6fw(64, ['mh-port']), new Set())
      assert.same(first.res.failed, [], 'applied')
      assert.same(sorted(await ipvs.read()), sorted(v6fw(64, ['mh-port'])), 'IPv6 and fwmark services read back equal')
      const { plan } = await reconcile(ipvs, v6fw(48, ['mh-fallback']), first.res.owned)
      assert.same(plan.ops.map((o) => o.kind), ['edit-service'], 'netmask and flag changes are one -E')
      assert.same(sorted(await ipvs.read()), sorted(v6fw(48, ['mh-fallback'])), 'the edit reached the kernel')
    },
  },
  {
    name: 'the connection-sync daemon (master and backup) and the timeouts are driven through the wrapper',
    async run() {
      const a = director('dir-a')
      const b = director('dir-b')
      await a.startDaemon({ state: 'master', mcastInterface: 'eth0', syncid: 7 })
      await b.startDaemon({ state: 'backup', mcastInterface: 'eth0', syncid: 7, mcastGroup: '224.0.0.81', mcastPort: 8848, mcastTtl: 1 })
      const da = await a.daemons()
      const db = await b.daemons()
      assert.same(da.map((d) => [d.state, d.mcastInterface, d.syncid]), [['master', 'eth0', 7]], 'dir-a runs a master daemon')
      assert.same(db.map((d) => [d.state, d.mcastInterface, d.syncid, d.mcastGroup, d.mcastPort]), [['backup', 'eth0', 7, '224.0.0.81', 8848]], 'dir-b runs a backup daemon')
      await a.setTimeouts({ tcp: 600, tcpfin: 60, udp: 120 })
      assert.same(await a.timeouts(), { tcp: 600, tcpfin: 60, udp: 120 }, 'timeouts set')
      await a.setTimeouts({ udp: 30 })
      assert.same(await a.timeouts(), { tcp: 600, tcpfin: 60, udp: 30 }, '0 keeps a timeout as it was')
      await a.stopDaemon('master')
      assert.same(await a.daemons(), [], 'the master daemon stopped')
      const err = await a.stopDaemon('master').then(() => undefined, (e: Error & { code?: string }) => e)
      assert.equal(err?.code, 'LVS_ERR_IPVSADM_FAILED', 'stopping it twice is a coded error')
      assert.match(err!.message, /No daemon is running/, "with ipvsadm's words")
    },
  },
  {
    name: 'the lvs-director command: apply etc/web.yaml matches the kernel, a second apply changes nothing, show --stats lists it',
    async run(lab) {
      const cli = (...args: string[]) => lab.exec(dirA, [process.execPath, cliJs, ...args])
      const state = `/tmp/owned-${process.pid}.json`
      const first = await cli('apply', webYaml, '--state', state)
      assert.equal(first.code, 0, `apply exits 0 (${first.stderr})`)
      assert.match(first.stdout, /^applied 8 change\(s\) with 1 ipvsadm -R/, 'one batch')
      assert.same(sorted(await director().read()), sorted(staticTable((await loadConfig(webYaml)).services)), 'the kernel holds the file')
      const again = await cli('apply', webYaml, '--state', state, '--json')
      assert.same(JSON.parse(again.stdout).applied, [], 'the second apply changes nothing')
      await lab.echoServers([rs1.ns, rs2.ns, rs3.ns])
      const replies = await lab.httpGet(client, lab.url(vip.ip4), { count: 4 })
      assert.ok(replies.every((r) => r.ok), 'the VIP answers', replies)
      const show = await assert.eventually(async () => {
        const r = await cli('show', '--stats', '--json')
        const web = (JSON.parse(r.stdout) as { services: Array<{ key: string; stats?: { conns: number } }> }).services.find((x) => x.key === `tcp/${vip.ip4}:80`)
        assert.ok(web?.stats && web.stats.conns >= 4, 'show --stats counts the connections', r)
        return r
      }, 'show --stats', { tries: 5, intervalMs: 1000 })
      assert.equal(show.code, 0, 'show exits 0')
      const text = await cli('show', '--stats')
      assert.match(text.stdout, new RegExp(`TCP  ${vip.ip4}:80\\s+wrr\\s+\\d+`), 'show --stats prints the service with its counters')
    },
  },
]
