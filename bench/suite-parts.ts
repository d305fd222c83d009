// The benchmark suite's parts (bench/suite.ts): what each runs, in full and quick mode, and how its program's JSON
// becomes figures. A figure is measured against a reference taken in the same run (same process, host or guest
// boot), given as both absolute numbers and their ratio, with the target the issue sets where it sets one.
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatShares } from './cpu-shares.js'
import type { Report as IpvsReport } from './ipvs-report.js'
import { median, percentile } from './ipvs-measure.js'

export type Mode = 'full' | 'quick'

/** One measured figure. `ratio` is value / reference.value; `better` says which way a ratio is good. */
export interface Figure {
  name: string
  value: number
  unit: string
  reference?: { name: string; value: number }
  ratio?: number
  better?: 'higher' | 'lower'
  target?: { text: string; met: boolean }
}

/** What one part leaves in results.json: its figures, the series its charts draw, or why it failed. */
export interface PartOutput {
  figures: Figure[]
  series?: Record<string, Array<Record<string, string | number>>>
  notes?: string[]
  error?: string
}

export interface Part {
  name: string
  title: string
  where: 'host' | 'lab (real IPVS, emulated guest)'
  /** Seconds it takes, roughly, for the progress line's "left". */
  estimateS: Record<Mode, number>
  argv(mode: Mode): string[]
  /** The command that reproduces the part's figures, as a user types it. */
  command(mode: Mode): string
  /** Where the program leaves its JSON; unset: the last JSON line of its stdout. */
  outFile?: string
  /** The figures of the program's JSON (the out file's text, or its stdout). */
  parse(output: string): PartOutput
}

const NODE = process.execPath
/** The last line of `stdout` that is a JSON object. */
export function lastJson<T>(stdout: string): T {
  const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'))
  if (!line) throw new Error('no JSON line in the output')
  return JSON.parse(line) as T
}

const round = (x: number, digits = 0) => Number(x.toFixed(digits))
function compare(name: string, value: number, unit: string, reference: { name: string; value: number }, better: 'higher' | 'lower', target?: { text: string; met: (ratio: number, value: number) => boolean }): Figure {
  if (!(reference.value > 0 && Number.isFinite(reference.value))) {
    // A reference that measured nothing (its program did not get going): nothing to compare with, no target met.
    return { name, value, unit, reference, better, ...(target ? { target: { text: `${target.text} (the reference measured nothing)`, met: false } } : {}) }
  }
  const ratio = round(value / reference.value, 3)
  return { name, value, unit, reference, ratio, better, ...(target ? { target: { text: target.text, met: target.met(ratio, value) } } : {}) }
}

// --- health checks (host): probes per second and CPU per probe at 1,000 and 10,000 real servers

interface HealthRun { n: number; probesPerSec: number; targetPerSec: number; cpuCores: number; schedulerUsPerProbe: number; detectP50Ms: number; boundMs: number; falseDowns: number }

const healthchecks: Part = {
  name: 'healthchecks',
  title: 'Health checks: TCP connect probes on loopback (1 s interval)',
  where: 'host',
  estimateS: { full: 200, quick: 25 },
  argv: (m) => [NODE, 'dist/bench/healthchecks.bench.js', '--n', m === 'quick' ? '1000' : '1000,10000', '--seconds', m === 'quick' ? '4' : '15'],
  command: (m) => `node dist/bench/healthchecks.bench.js --n ${m === 'quick' ? '1000 --seconds 4' : '1000,10000 --seconds 15'}`,
  parse(stdout) {
    const { runs, references = [] } = lastJson<{ runs: HealthRun[]; references?: HealthRun[] }>(stdout)
    const figures: Figure[] = []
    const usPerProbe = (r: HealthRun) => round((r.cpuCores * 1e6) / r.probesPerSec, 1)
    for (const r of runs) {
      figures.push(compare(`probes/s, ${r.n} real servers`, r.probesPerSec, 'probes/s', { name: 'the rate asked (N per interval)', value: r.targetPerSec }, 'higher', { text: '>= 0.99 of the rate asked', met: (q) => q >= 0.99 }))
      figures.push({ name: `probes per CPU core, ${r.n} real servers`, value: round(r.probesPerSec / r.cpuCores), unit: 'probes/s/core', better: 'higher' })
      const ref = references.find((x) => x.n === r.n)
      if (ref) figures.push(compare(`CPU per probe, ${r.n} real servers`, usPerProbe(r), 'µs', { name: 'the same check through a Node net.Socket', value: usPerProbe(ref) }, 'lower'))
      figures.push(compare(`death to down (p50), ${r.n} real servers`, r.detectP50Ms, 'ms', { name: 'interval x fall + timeout', value: r.boundMs }, 'lower', { text: '<= the bound', met: (q) => q <= 1 }))
    }
    return { figures, series: { probesPerCore: runs.map((r) => ({ realServers: r.n, who: 'lvs-director', probesPerCore: round(r.probesPerSec / r.cpuCores) })) }, notes: ["keepalived's TCP_CHECK on the same kind of servers, for checks per core: the `checks` part (in the lab guest, where keepalived has IPVS)."] }
  },
}

// --- failover gap and sync lag (host kernel, namespaces): bench/pair-host.bench.ts

interface PairTrial { gapMs: number; takeoverMs: number }
interface PairPart { part: string; label: string; trials: PairTrial[] }
interface PairResults { parts: PairPart[]; syncLag?: { writes: number; acknowledged: number; toTable: number[]; toKernel: number[]; ipvsadmProcess: number[] } }

const pairOut = (name: string) => join(tmpdir(), `lvs-bench-${name}.json`)

const failover: Part = {
  name: 'failover',
  title: 'Director pair failover: the gap a client polling the VIP every 20 ms sees after kill -9 of the active',
  where: 'host',
  estimateS: { full: 330, quick: 40 },
  argv: (m) => [NODE, 'dist/bench/pair-host.bench.js', '--only', m === 'quick' ? 'ours-default,keepalived-fast' : 'ours-default,keepalived-fast,keepalived', ...(m === 'quick' ? ['--trials', '3'] : ['--trials', '20', '--rounds', '2']), '--out', pairOut('failover')],
  command: (m) => `node dist/bench/pair-host.bench.js --only ${m === 'quick' ? 'ours-default,keepalived-fast --trials 3' : 'ours-default,keepalived-fast,keepalived --trials 20 --rounds 2'}`,
  outFile: pairOut('failover'),
  parse(output) {
    const r = JSON.parse(output) as PairResults
    const by = (p: string) => r.parts.find((x) => x.part === p)
    const ours = by('ours-default')!
    const gaps = (p: PairPart) => p.trials.map((t) => t.gapMs)
    const worst = (p: PairPart) => Math.max(...gaps(p))
    const figures: Figure[] = []
    for (const [peer, label] of [['keepalived-fast', 'keepalived, VRRPv3 advert_int 0.05'], ['keepalived', 'keepalived, defaults (advert_int 1)']] as const) {
      const k = by(peer)
      if (!k) continue
      const tuned = peer === 'keepalived-fast'
      figures.push(compare(`gap median, defaults, ${ours.trials.length} trials`, median(gaps(ours)), 'ms', { name: label, value: median(gaps(k)) }, 'lower', tuned ? { text: '<= 200 ms and no worse than the tuned keepalived', met: (q, v) => q <= 1 && v <= 200 } : undefined))
      figures.push(compare('gap worst, defaults', worst(ours), 'ms', { name: label, value: worst(k) }, 'lower', tuned ? { text: '<= 200 ms and no worse than the tuned keepalived', met: (q, v) => q <= 1 && v <= 200 } : undefined))
    }
    const series = r.parts.flatMap((p) => p.trials.map((t, i) => ({ pair: p.label, trial: i + 1, gapMs: t.gapMs })))
    return { figures, series: { gaps: series } }
  },
}

const syncLag: Part = {
  name: 'sync-lag',
  title: "Redis sync lag: an API write on the standby, to the active's table and kernel",
  where: 'host',
  estimateS: { full: 60, quick: 20 },
  argv: (m) => [NODE, 'dist/bench/pair-host.bench.js', '--only', 'sync-lag', '--writes', m === 'quick' ? '20' : '100', '--out', pairOut('sync-lag')],
  command: (m) => `node dist/bench/pair-host.bench.js --only sync-lag --writes ${m === 'quick' ? 20 : 100}`,
  outFile: pairOut('sync-lag'),
  parse(output) {
    const s = (JSON.parse(output) as PairResults).syncLag!
    const ref = { name: 'one stand-in ipvsadm process, spawn to exit', value: median(s.ipvsadmProcess) }
    return {
      figures: [
        compare("in the active's table, median", median(s.toTable), 'ms', ref, 'lower'),
        // The sync's target is on the table: the kernel step after it is one ipvsadm process, here a node stand-in
        // (~160 ms to start), and a write that arrives while one runs waits for it (p99: two of them).
        compare("in the active's table, p99", percentile(s.toTable, 99), 'ms', ref, 'lower', { text: 'p99 <= 100 ms', met: (_q, v) => v <= 100 }),
        compare("in the active's kernel (the stand-in's -R exited), median", median(s.toKernel), 'ms', ref, 'lower'),
        compare("in the active's kernel, p99", percentile(s.toKernel, 99), 'ms', ref, 'lower'),
      ],
      notes: [`${s.acknowledged} of ${s.writes} writes acknowledged. This host has no IPVS: the kernel step is a stand-in ipvsadm (a node program, ~160 ms a process where a real ipvsadm takes a few ms); the target (p99 <= 100 ms) is the sync's, to the active's table. The lab's API-to-kernel figures (part director) time the kernel step with real ipvsadm.`],
    }
  },
}

// --- the API and the daemon's memory (host, in-process fake ipvsadm): bench/director-host.bench.ts

interface Cannon { requests: { average: number }; latency: { p99: number } }
interface DirectorHost {
  throughput?: Array<{ services: number; ref: Cannon[]; read: Cannon[]; write: Cannon[] }>
  memory?: { services: number; reals: number; rssTailMedianMB: number; peakMB: number }
}

const api: Part = {
  name: 'api',
  title: 'REST API requests per second on loopback, against a bare fastify route in the same process',
  where: 'host',
  estimateS: { full: 90, quick: 15 },
  argv: (m) => [NODE, 'dist/bench/director-host.bench.js', '--only', 'throughput', ...(m === 'quick' ? ['--sizes', '100', '--seconds', '2', '--rounds', '1'] : ['--sizes', '100,10000', '--seconds', '5', '--rounds', '2'])],
  command: (m) => `node dist/bench/director-host.bench.js --only throughput ${m === 'quick' ? '--sizes 100 --seconds 2 --rounds 1' : '--sizes 100,10000 --seconds 5 --rounds 2'}`,
  parse(stdout) {
    const r = lastJson<DirectorHost>(stdout)
    const figures: Figure[] = []
    for (const t of r.throughput ?? []) {
      const ref = { name: 'fastify hello-world route', value: round(median(t.ref.map((c) => c.requests.average))) }
      figures.push(compare(`GET a service, ${t.services} services`, round(median(t.read.map((c) => c.requests.average))), 'req/s', ref, 'higher'))
      figures.push(compare(`PATCH a real server's weight, ${t.services} services`, round(median(t.write.map((c) => c.requests.average))), 'req/s', ref, 'higher'))
    }
    return { figures }
  },
}

const memory: Part = {
  name: 'memory',
  title: "The daemon's memory with every service's real servers checked every second",
  where: 'host',
  estimateS: { full: 75, quick: 25 },
  argv: (m) => [NODE, 'dist/bench/director-host.bench.js', '--only', 'memory', '--mem-services', m === 'quick' ? '1000' : '10000', '--mem-seconds', m === 'quick' ? '15' : '45'],
  command: (m) => `node dist/bench/director-host.bench.js --only memory --mem-services ${m === 'quick' ? '1000 --mem-seconds 15' : '10000 --mem-seconds 45'}`,
  parse(stdout) {
    const m = lastJson<DirectorHost>(stdout).memory!
    return { figures: [{ name: `RSS, ${m.services} services x 4 real servers`, value: round(m.rssTailMedianMB), unit: 'MB', better: 'lower', target: { text: '<= 250 MB', met: m.rssTailMedianMB <= 250 } }] }
  },
}

// --- IPVS programming (lab guest, real IPVS): bench/ipvs-program.ts against raw ipvsadm -R and -a

const labOut = join(tmpdir(), 'lvs-bench-lab')

/** A lab part's running: bench/suite-SCRIPT-{full,quick}.sh in the guest, which leaves `json` in $LAB_OUT. */
function inLab(script: string, json: string): Pick<Part, 'where' | 'argv' | 'command' | 'outFile'> {
  return {
    where: 'lab (real IPVS, emulated guest)',
    argv: (m) => [NODE, 'dist/test/lab/run.js', '--script', `bench/suite-${script}-${m}.sh`, '--out', labOut, '--timeout', '1800'],
    command: (m) => `npm run lab -- --script bench/suite-${script}-${m}.sh --out DIR`,
    outFile: join(labOut, json),
  }
}

const ipvs: Part = {
  name: 'ipvs-program',
  title: 'Programming the IPVS table: the wrapper against raw `ipvsadm -R` (full) and `ipvsadm -a` (one change)',
  estimateS: { full: 700, quick: 140 },
  ...inLab('ipvs', 'ipvs-program.json'),
  parse(output) {
    const r = JSON.parse(output) as IpvsReport
    const figures: Figure[] = r.sizes.map((s) =>
      compare(`program ${s.services.toLocaleString('en-US')} services x 4 (${s.rules.toLocaleString('en-US')} rules)`, round(s.wrapper.medianMs), 'ms', { name: 'one raw ipvsadm -R', value: round(s.raw.medianMs) }, 'lower', { text: '<= 1.05 x raw -R', met: (q) => q <= 1.05 }))
    const inc = r.incremental
    figures.push(compare(`one change on a ${inc.tableRules.toLocaleString('en-US')}-rule table`, round(inc.wrapper.medianMs), 'ms', { name: 'one raw ipvsadm -a', value: round(inc.raw.medianMs) }, 'lower', inc.tableRules >= 50_000 ? { text: '<= 1.1 x raw -a (50,000 rules)', met: (q) => q <= 1.1 } : undefined))
    const series = r.sizes.flatMap((s) => [
      { rules: s.rules, method: 'raw ipvsadm -R', seconds: round(s.raw.medianMs / 1000, 3) },
      { rules: s.rules, method: 'lvs-director', seconds: round(s.wrapper.medianMs / 1000, 3) },
    ])
    return { figures, series: { program: series }, notes: [`Guest: kernel ${r.kernel}, ${r.vcpus} vCPUs (${r.cpu}), ${r.ipvsadm}. Times are emulated (TCG): compare the ratios.`, 'Every ipvsadm process, raw and the wrapper\'s, is started with posix_spawn (src/exec.ts): no fork of the node process, whose page tables a fork copies, so neither side pays for the size of its heap.'] }
  },
}

// --- health checks against keepalived's (lab guest: keepalived needs IPVS): bench/checks-peer.ts

interface PeerRun { who: 'lvs-director' | 'keepalived'; n: number; probesPerSec: number; cpuCores: number; probesPerCore: number; usPerProbe: number; systemShare?: number }

const checks: Part = {
  name: 'checks',
  title: "Health checks against keepalived's TCP_CHECK: the same loopback real servers, each checked every second",
  estimateS: { full: 330, quick: 75 },
  ...inLab('checks', 'checks-peer.json'),
  parse(output) {
    const r = JSON.parse(output) as { keepalived: string; runs: PeerRun[] }
    const figures: Figure[] = []
    for (const ours of r.runs.filter((x) => x.who === 'lvs-director')) {
      const ka = r.runs.find((x) => x.who === 'keepalived' && x.n === ours.n)
      if (!ka) continue
      const n = ours.n.toLocaleString('en-US')
      figures.push(compare(`probes per CPU core, ${n} real servers`, ours.probesPerCore, 'probes/s/core', { name: `keepalived's TCP_CHECK`, value: ka.probesPerCore }, 'higher', ours.n >= 10_000 ? { text: ">= keepalived's (10,000 real servers)", met: (q) => q >= 1 } : undefined))
      figures.push(compare(`probes/s, ${n} real servers (${n} asked)`, ours.probesPerSec, 'probes/s', { name: `keepalived's TCP_CHECK`, value: ka.probesPerSec }, 'higher'))
    }
    return {
      figures,
      series: { probesPerCore: r.runs.map((x) => ({ realServers: x.n, who: x.who === 'keepalived' ? 'keepalived TCP_CHECK' : 'lvs-director', probesPerCore: x.probesPerCore })) },
      notes: [
        `${r.keepalived}, \`keepalived -C\` (checkers only) with \`delay_loop 1\`, \`connect_timeout 1\`; ours: the scheduler with the connect check, interval 1 s, timeout 1 s. Probes counted as connections the servers accepted; CPU of each checker's own processes. CPU per probe (µs, the kernel's share): ${r.runs.map((x) => `${x.who} ${x.usPerProbe}${x.systemShare === undefined ? '' : ` (${Math.round(x.systemShare * 100)}%)`} at ${x.n}`).join(', ')}.`,
        'The servers and the checker share the guest\'s 2 emulated vCPUs: where a checker cannot keep up with the rate asked, probes/s shows it.',
      ],
    }
  },
}

// --- the data plane (lab guest, real IPVS): bench/dataplane.ts

interface Http { rps: number; p50Ms: number; p99Ms: number; errors: number; cpu?: Record<string, number> }
interface Dataplane { realServers: number; http: Record<string, Http>; udp: { vip: { perSec: number; sent: number; received: number }; direct: { perSec: number } } }

const dataplane: Part = {
  name: 'dataplane',
  title: 'Data plane: HTTP through the VIP with IPVS DR (wrk from the client namespace), against the servers straight and HAProxy',
  estimateS: { full: 600, quick: 70 },
  ...inLab('dataplane', 'dataplane.json'),
  parse(output) {
    const r = JSON.parse(output) as Dataplane
    const h = (k: string) => r.http[k]!
    const dr = h('IPVS DR through the VIP')
    const all = h('direct, all three real servers')
    const one = h('direct, one real server')
    const per = (x: number) => round(x / r.realServers)
    const figures: Figure[] = [
      compare('DR requests/s per real server', per(dr.rps), 'req/s', { name: 'straight to all three servers, per server', value: per(all.rps) }, 'higher', { text: '>= 0.95 of direct', met: (q) => q >= 0.95 }),
      compare('DR requests/s', dr.rps, 'req/s', { name: 'straight to one real server', value: one.rps }, 'higher'),
      compare('DR latency p50', dr.p50Ms, 'ms', { name: 'straight to all three servers', value: all.p50Ms }, 'lower'),
      compare('DR latency p99', dr.p99Ms, 'ms', { name: 'straight to all three servers', value: all.p99Ms }, 'lower'),
      compare('DR requests/s', dr.rps, 'req/s', { name: 'HAProxy layer 4 on the director', value: h('HAProxy layer 4 (mode tcp)').rps }, 'higher', { text: '>= 1.8 x HAProxy', met: (q) => q >= 1.8 }),
      compare('DR requests/s', dr.rps, 'req/s', { name: 'HAProxy layer 7 on the director', value: h('HAProxy layer 7 (mode http)').rps }, 'higher', { text: '>= 1.8 x HAProxy', met: (q) => q >= 1.8 }),
      compare('UDP datagrams/s through the SIP port (5060)', r.udp.vip.perSec, 'datagrams/s', { name: 'straight to the three servers', value: r.udp.direct.perSec }, 'higher'),
    ]
    const errors = Object.entries(r.http).filter(([, x]) => x.errors > 0).map(([k, x]) => `${k}: ${x.errors} socket errors or non-2xx answers`)
    const cpu = Object.entries(r.http).flatMap(([k, x]) => (x.cpu ? [`${k}: ${formatShares(x.cpu)}`] : []))
    return {
      figures,
      series: { http: Object.entries(r.http).map(([config, x]) => ({ config, rps: x.rps, p99Ms: x.p99Ms })) },
      notes: [
        'One emulated guest holds the client (wrk), the director, the three servers (node HTTP echo servers) and HAProxy: they share its 2 vCPUs, so the figures compare configurations, not machines.',
        'DR: lvs-director (`lvs-director run`) in dir-a keeps the services (HTTP on port 80 with the web profile, checked with GET / every 2 s; UDP on 5060), and runs through every configuration.',
        ...(cpu.length ? [`Where the guest's CPU went (medians over the rounds; client: wrk; rest: the kernel and everything else; the kernel's network work is mostly counted to the process it ran for): ${cpu.join('; ')}. HAProxy's CPU comes out of the servers' share, and the servers' share sets the rate.`] : []),
        `UDP: ${r.udp.vip.received} of ${r.udp.vip.sent} datagrams answered through the VIP (the lab's echo server on port 5060, one answer a datagram).`,
        ...errors,
      ],
    }
  },
}

// --- the director daemon against raw ipvsadm (lab guest, real IPVS): bench/director.bench.ts

interface Stats { n: number; p50: number; p99: number }
type DirectorQuick = { transitions: Stats; transitionsRaw: Stats; apiWrite: Stats; apiWriteRaw: Stats }
type DirectorFull = { transitions: { raw: Stats; transitionToKernel: Stats }; apiWrite: { raw: Stats; present: Stats }; burst: { n: number; rawMedian: number; dirMedian: number; floorMedian: number }; table: { rules: number } }

const director: Part = {
  name: 'director',
  title: 'The director daemon: a health transition and an API write to the kernel, and a burst of API writes, against raw ipvsadm',
  where: 'lab (real IPVS, emulated guest)',
  estimateS: { full: 1500, quick: 75 },
  argv: (m) => [NODE, 'dist/test/lab/run.js', '--script', m === 'quick' ? 'bench/director-quick.sh' : 'bench/director-busy.sh', '--timeout', '2700'],
  command: (m) => `npm run lab -- --script ${m === 'quick' ? 'bench/director-quick.sh' : 'bench/director-busy.sh --timeout 2700'}`,
  parse(stdout) {
    const r = lastJson<DirectorQuick | DirectorFull>(stdout)
    const full = 'burst' in r
    const transition = full ? r.transitions.transitionToKernel : (r as DirectorQuick).transitions
    const transitionRaw = full ? r.transitions.raw : (r as DirectorQuick).transitionsRaw
    const write = full ? r.apiWrite.present : (r as DirectorQuick).apiWrite
    const writeRaw = full ? r.apiWrite.raw : (r as DirectorQuick).apiWriteRaw
    const figures: Figure[] = []
    for (const p of ['p50', 'p99'] as const) {
      figures.push(compare(`health transition to the kernel (weight 0), ${p}`, round(transition[p], 1), 'ms', { name: 'one raw ipvsadm -e', value: round(transitionRaw[p], 1) }, 'lower'))
      figures.push(compare(`API POST of a real server to the kernel, ${p}`, round(write[p], 1), 'ms', { name: 'one raw ipvsadm -a', value: round(writeRaw[p], 1) }, 'lower'))
    }
    if (full) {
      const b = (r as DirectorFull).burst
      figures.push(compare(`${b.n} API POSTs into a ${(r as DirectorFull).table.rules.toLocaleString('en-US')}-rule table, all in the kernel`, round(b.dirMedian), 'ms', { name: 'one raw ipvsadm -R of the same real servers', value: round(b.rawMedian) }, 'lower'))
      figures.push(compare(`the same ${b.n} POSTs to a bare fastify route (the HTTP floor)`, round(b.floorMedian), 'ms', { name: 'one raw ipvsadm -R', value: round(b.rawMedian) }, 'lower'))
    }
    return { figures, notes: [`${transition.n} transitions, ${write.n} writes. Times are emulated (TCG): compare the ratios.`] }
  },
}

export const PARTS: Part[] = [healthchecks, api, memory, syncLag, failover, ipvs, checks, director, dataplane]
