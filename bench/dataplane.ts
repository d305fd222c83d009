// The data plane, in the lab guest (real IPVS): HTTP load from the client namespace with wrk through the VIP with
// direct routing (the services kept by lvs-director running in dir-a, its health checks on), against the same
// load straight to one real server and to all three at once, and through HAProxy on the director (layer 4 and
// layer 7) to the same servers; and a UDP datagram rate through the VIP's SIP port
// against the same datagrams sent straight to the servers. Every configuration runs once a round, in an order that
// turns each round (so a slow spell of the emulated guest does not land on one of them), medians over the rounds.
// Around every run, where the guest's CPU went (servers, client, HAProxy, director, the rest, idle): in one guest
// they all share its 2 vCPUs, and that sharing is what decides the ratios between configurations.
//
//   npm run lab -- --script bench/suite-dataplane-full.sh --out DIR        (DIR/dataplane.json)
//   in the guest: node dist/bench/dataplane.js [--seconds 10] [--rounds 3] [--connections 24] [--datagrams 20000]
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { DirectorDaemon, scenarioDir, weights, writeConfig } from '../test/lab/guest/director.js'
import { Lab } from '../test/lab/guest/lab.js'
import { host, vip } from '../test/lab/topology.js'
import { cpuShares, cpuSnapshot, formatShares, type CpuShares } from './cpu-shares.js'
import { median } from './ipvs-measure.js'
import { parseWrk, type WrkResult } from './wrk.js'

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '24' },
    datagrams: { type: 'string', default: '20000' },
  },
})
const SECONDS = Number(args.seconds)
const ROUNDS = Number(args.rounds)
const CONNECTIONS = Number(args.connections)
const DATAGRAMS = Number(args.datagrams)
const REALS = ['rs1', 'rs2', 'rs3'].map(host)
const DIRECTOR = host('dir-a')
const SIP_PORT = 5060
const HAPROXY = { l4: 8081, l7: 8082 }
const udpRateJs = fileURLToPath(new URL('./udp-rate.js', import.meta.url))
const t0 = Date.now()
const progress = (line: string) => process.stderr.write(`dataplane +${((Date.now() - t0) / 1000).toFixed(0)} s: ${line}\n`)

/** Who takes the guest's CPU during a run: processes by command line; the client is wrk (this process's child). */
const CPU_GROUPS = { servers: /echo-server\.js/, haproxy: /^haproxy /, director: /lvs-director\.js run / }

const lab = new Lab()

type Run = WrkResult & { cpu: CpuShares }

async function wrk(urls: string[]): Promise<Run> {
  // Several targets at once (straight to every server): one wrk each, the connections shared out, rates summed.
  const each = Math.max(1, Math.floor(CONNECTIONS / urls.length))
  const before = cpuSnapshot(CPU_GROUPS, { children: 'client' })
  const runs = await Promise.all(urls.map((url) => lab.run('client', ['wrk', '-t', '1', '-c', String(each), '-d', `${SECONDS}s`, '--latency', url], { timeoutMs: (SECONDS + 60) * 1000 })))
  const cpu = cpuShares(before, cpuSnapshot(CPU_GROUPS, { children: 'client' }))
  const r = runs.map(parseWrk)
  return {
    rps: r.reduce((s, x) => s + x.rps, 0),
    p50Ms: median(r.map((x) => x.p50Ms)),
    p99Ms: Math.max(...r.map((x) => x.p99Ms)),
    errors: r.reduce((s, x) => s + x.errors, 0),
    non2xx: r.reduce((s, x) => s + x.non2xx, 0),
    cpu,
  }
}

/** lvs-director in dir-a keeping the DR services (HTTP on 80 checked with GET /, UDP on 5060), once all are in. */
async function director(): Promise<DirectorDaemon> {
  const dir = scenarioDir('dataplane')
  const destinations = REALS.map((r) => ({ address: r.ip4 }))
  const cfg = writeConfig(dir, {
    services: [
      { name: 'web', profile: 'web', address: vip.ip4, check: { kind: 'http', path: '/', interval: 2, timeout: 2 }, destinations },
      // The servers' port 5060 is the lab's UDP echo, not SIP: kept in by an 'on' check.
      { name: 'udp', protocol: 'udp', address: vip.ip4, port: SIP_PORT, scheduler: 'rr', check: { kind: 'on' }, destinations },
    ],
  })
  const d = await DirectorDaemon.start(lab, DIRECTOR.ns, [cfg])
  const all = Object.fromEntries(REALS.map((r) => [r.ip4, 1]))
  for (const key of [`tcp/${vip.ip4}:80`, `udp/${vip.ip4}:${SIP_PORT}`]) {
    for (let i = 0; JSON.stringify(await weights(lab, DIRECTOR.ns, key)) !== JSON.stringify(all); i++) {
      if (i >= 120) throw new Error(`lvs-director did not put ${REALS.map((r) => r.ns).join(', ')} in ${key}: ${d.proc.output().slice(-2000)}`)
      await new Promise((r) => setTimeout(r, 500))
    }
  }
  return d
}

function haproxyConfig(): string {
  const servers = REALS.map((r) => `  server ${r.ns} ${r.ip4}:80`).join('\n')
  return [
    'global', '  maxconn 4096', 'defaults', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s',
    `frontend l4`, '  mode tcp', `  bind ${DIRECTOR.ip4}:${HAPROXY.l4}`, '  default_backend rs4',
    'backend rs4', '  mode tcp', '  balance roundrobin', servers,
    `frontend l7`, '  mode http', `  bind ${DIRECTOR.ip4}:${HAPROXY.l7}`, '  default_backend rs7',
    'backend rs7', '  mode http', '  balance roundrobin', '  http-reuse always', servers, '',
  ].join('\n')
}

async function udpRate(targets: string[]): Promise<{ sent: number; received: number; perSec: number }> {
  const out = await lab.run('client', [process.execPath, udpRateJs, '--targets', targets.join(','), '--count', String(DATAGRAMS)], { timeoutMs: 300_000 })
  return JSON.parse(out) as { sent: number; received: number; perSec: number }
}

async function main(): Promise<void> {
  progress('echo servers (HTTP on 80, UDP on 5060) on rs1-rs3, lvs-director with the DR services on dir-a, HAProxy on dir-a')
  await Promise.all([lab.echoServers(REALS.map((r) => r.ns), { port: 80 }), lab.echoServers(REALS.map((r) => r.ns), { port: SIP_PORT })])
  await lab.ipvsadm(DIRECTOR.ns, ['-C'])
  const lvs = await director()
  const cfg = '/tmp/lvs-bench-haproxy.cfg'
  writeFileSync(cfg, haproxyConfig())
  const haproxy = lab.spawn(DIRECTOR.ns, ['haproxy', '-db', '-f', cfg])
  try {
    // HAProxy starts in the background: asked until both frontends answer (bounded; its output if it gave up).
    for (const port of [HAPROXY.l4, HAPROXY.l7]) {
      for (let i = 0; ; i++) {
        const reply = (await lab.httpGet('client', `http://${DIRECTOR.ip4}:${port}/`, { timeoutMs: 5000 }))[0]
        if (reply?.status === 200) break
        if (haproxy.child.exitCode !== null || i >= 60) throw new Error(`HAProxy on ${port} does not answer (${JSON.stringify(reply)}): ${haproxy.output().slice(-2000)}`)
        await new Promise((r) => setTimeout(r, 1000))
      }
    }
    const configs: Record<string, string[]> = {
      'direct, one real server': [`http://${REALS[0]!.ip4}/`],
      'direct, all three real servers': REALS.map((r) => `http://${r.ip4}/`),
      'IPVS DR through the VIP': [`http://${vip.ip4}/`],
      'HAProxy layer 4 (mode tcp)': [`http://${DIRECTOR.ip4}:${HAPROXY.l4}/`],
      'HAProxy layer 7 (mode http)': [`http://${DIRECTOR.ip4}:${HAPROXY.l7}/`],
    }
    const names = Object.keys(configs)
    const http: Record<string, Run[]> = Object.fromEntries(names.map((n) => [n, []]))
    for (let round = 0; round < ROUNDS; round++) {
      const order = names.map((_n, i) => names[(i + round) % names.length]!)
      for (const name of order) {
        const r = await wrk(configs[name]!)
        http[name]!.push(r)
        progress(`round ${round + 1}/${ROUNDS}, ${name}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms${r.errors || r.non2xx ? `, ${r.errors} socket errors, ${r.non2xx} non-2xx` : ''}; CPU: ${formatShares(r.cpu)}`)
      }
    }
    progress(`UDP: ${DATAGRAMS} datagrams through the VIP's port ${SIP_PORT}, then straight to the servers`)
    const udp = { vip: await udpRate([`${vip.ip4}:${SIP_PORT}`]), direct: await udpRate(REALS.map((r) => `${r.ip4}:${SIP_PORT}`)) }
    const summary = Object.fromEntries(names.map((n) => [n, {
      rps: Math.round(median(http[n]!.map((r) => r.rps))),
      p50Ms: median(http[n]!.map((r) => r.p50Ms)),
      p99Ms: median(http[n]!.map((r) => r.p99Ms)),
      errors: http[n]!.reduce((s, r) => s + r.errors + r.non2xx, 0),
      cpu: Object.fromEntries(Object.keys(http[n]![0]!.cpu).map((k) => [k, median(http[n]!.map((r) => r.cpu[k]!))])),
    }]))
    const report = { bench: 'dataplane', seconds: SECONDS, rounds: ROUNDS, connections: CONNECTIONS, realServers: REALS.length, http: summary, runs: http, udp, elapsedS: Math.round((Date.now() - t0) / 1000) }
    if (process.env.LAB_OUT) writeFileSync(join(process.env.LAB_OUT, 'dataplane.json'), `${JSON.stringify(report)}\n`)
    process.stdout.write(`${JSON.stringify(report)}\n`)
  } finally {
    await haproxy.stop()
    await lvs.stop()
    await lab.close()
  }
}

await main()
