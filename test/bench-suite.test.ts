// The benchmark suite's own logic (bench/suite-*.ts): a program's JSON turned into figures against their references,
// targets judged from the ratio, and the report and its SVG charts written. The programs themselves run in
// `npm run bench` (and its --quick mode); here their JSON is given.
import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { renderCharts } from '../bench/suite-charts.js'
import { lastJson, PARTS, type Figure } from '../bench/suite-parts.js'
import { reportMarkdown, type SuiteResults } from '../bench/suite-report.js'
import { parseWrk } from '../bench/wrk.js'

const part = (name: string) => PARTS.find((p) => p.name === name)!
const fig = (figures: Figure[], re: RegExp) => figures.find((f) => re.test(f.name))!

t.test('every part has a full and a quick command, and its estimate', async (t) => {
  t.same(PARTS.map((p) => p.name), ['healthchecks', 'api', 'memory', 'sync-lag', 'failover', 'ipvs-program', 'checks', 'director', 'dataplane'])
  for (const p of PARTS) {
    t.not(p.argv('full').join(' '), p.argv('quick').join(' '), `${p.name}: quick differs`)
    t.ok(p.estimateS.quick < p.estimateS.full, `${p.name}: quick is shorter`)
  }
})

t.test('lastJson takes the last JSON line of a program that also prints a table', async (t) => {
  t.same(lastJson('| a | b |\n{"x":1}\nnot json\n{"x":2}\n'), { x: 2 })
  t.throws(() => lastJson('| only | a table |\n'), /no JSON line/)
})

t.test('IPVS programming: the wrapper against raw -R and -a, the targets judged on the ratios', async (t) => {
  const timing = (ms: number) => ({ medianMs: ms, samplesMs: [ms] })
  const report = {
    kernel: '6.1.0', vcpus: 2, cpu: 'TCG', ipvsadm: 'ipvsadm v1.31',
    sizes: [{ services: 100, rules: 500, raw: timing(200), wrapper: timing(260) }, { services: 10000, rules: 50000, raw: timing(18000), wrapper: timing(18500) }],
    incremental: { tableRules: 50000, raw: timing(66), wrapper: timing(70) },
  }
  const out = part('ipvs-program').parse(JSON.stringify(report))
  const small = fig(out.figures, /^program 100 services/)
  t.match(small, { value: 260, reference: { value: 200 }, ratio: 1.3, target: { met: false } }, '1.3 x raw -R misses 1.05')
  t.match(fig(out.figures, /^program 10,000 services/), { ratio: 1.028, target: { met: true } })
  t.match(fig(out.figures, /one change on a 50,000-rule table/), { value: 70, reference: { value: 66 }, ratio: 1.061, target: { met: true } })
  t.equal(out.series!.program!.length, 4, 'raw and ours at each size, for the chart')
})

t.test('healthchecks: probes/s against the rate asked, and CPU per probe against the same check through a net.Socket', async (t) => {
  const run = (probesPerSec: number, cpuCores: number) => ({ n: 1000, probesPerSec, targetPerSec: 1000, cpuCores, schedulerUsPerProbe: 20, detectP50Ms: 1500, boundMs: 3000, falseDowns: 0 })
  const out = part('healthchecks').parse(`| table |\n${JSON.stringify({ runs: [run(1000, 0.1)], references: [run(1000, 0.2)] })}\n`)
  t.match(fig(out.figures, /^probes\/s, 1000/), { ratio: 1, target: { met: true } })
  t.match(fig(out.figures, /^CPU per probe, 1000/), { value: 100, reference: { value: 200 }, ratio: 0.5, better: 'lower' })
  t.notOk(part('healthchecks').parse(JSON.stringify({ runs: [run(990, 0.1)] })).figures.some((f) => f.name.startsWith('CPU per probe')), 'an older run without references: no such figure')
})

t.test("checks: our probes per core against keepalived's on the same servers; the target at 10,000", async (t) => {
  const run = (who: string, n: number, probesPerSec: number, cpuCores: number) => ({ who, n, probesPerSec, cpuCores, probesPerCore: Math.round(probesPerSec / cpuCores), usPerProbe: (cpuCores * 1e6) / probesPerSec })
  const out = part('checks').parse(JSON.stringify({
    keepalived: 'Keepalived v2.2.7', runs: [run('lvs-director', 1000, 1000, 0.1), run('keepalived', 1000, 1000, 0.05), run('lvs-director', 10000, 8000, 1), run('keepalived', 10000, 6000, 1)],
  }))
  t.match(fig(out.figures, /per CPU core, 1,000/), { value: 10000, reference: { value: 20000 }, ratio: 0.5 })
  t.notOk(fig(out.figures, /per CPU core, 1,000/).target, 'no target at 1,000')
  t.match(fig(out.figures, /per CPU core, 10,000/), { ratio: 1.333, target: { met: true } })
  t.equal(out.series!.probesPerCore!.length, 4, 'both checkers at both sizes, for the chart')
  // keepalived counted no probe at 10,000 (it did not get going in the window): no ratio, and the target is not met.
  const none = part('checks').parse(JSON.stringify({ keepalived: 'Keepalived v2.2.7', runs: [run('lvs-director', 10000, 8000, 1), { ...run('keepalived', 10000, 1, 1), probesPerSec: 0, probesPerCore: 0 }] }))
  const f = fig(none.figures, /per CPU core, 10,000/)
  t.equal(f.ratio, undefined, 'no ratio against nothing')
  t.match(f.target, { met: false, text: /the reference measured nothing/ })
})

t.test('failover: our gaps against keepalived tuned and default; the target is 0.2 s and no worse than the tuned one', async (t) => {
  const trials = (gaps: number[]) => gaps.map((gapMs) => ({ gapMs, takeoverMs: gapMs - 10 }))
  const results = (ours: number[]) => JSON.stringify({
    parts: [
      { part: 'ours-default', label: 'ours', trials: trials(ours) },
      { part: 'keepalived-fast', label: 'keepalived 0.05', trials: trials([160, 160, 181]) },
      { part: 'keepalived', label: 'keepalived 1', trials: trials([3000, 3040, 3500]) },
    ],
  })
  const good = part('failover').parse(results([140, 160, 180])).figures
  t.match(fig(good, /gap median/), { value: 160, reference: { value: 160 }, ratio: 1, target: { met: true } })
  t.match(good.filter((f) => /gap median/.test(f.name))[1], { reference: { name: /defaults/, value: 3040 }, ratio: 0.053 })
  t.notOk(good.filter((f) => /gap median/.test(f.name))[1]!.target, 'no target against the default timers')
  const slow = part('failover').parse(results([170, 170, 230])).figures
  t.match(fig(slow, /gap median/), { ratio: 1.063, target: { met: false } }, 'worse than the tuned keepalived')
  t.match(fig(slow, /gap worst/), { value: 230, target: { met: false } }, 'over 0.2 s')
})

t.test('the report names the run, each figure with its reference and ratio, missed targets, and links the SVG charts', async (t) => {
  const dir = t.testdir()
  const ipvs = part('ipvs-program').parse(JSON.stringify({
    kernel: '6.1.0', vcpus: 2, cpu: 'TCG', ipvsadm: 'v1.31',
    sizes: [100, 1000].map((services) => ({ services, rules: services * 5, raw: { medianMs: services * 2, samplesMs: [] }, wrapper: { medianMs: services * 2.2, samplesMs: [] } })),
    incremental: { tableRules: 5000, raw: { medianMs: 60, samplesMs: [] }, wrapper: { medianMs: 61, samplesMs: [] } },
  }))
  const results: SuiteResults = {
    started: '2026-12-02T14:00:00.000Z', finished: '2026-12-02T14:05:00.000Z', mode: 'quick', command: 'npm run bench -- --quick', commit: 'abc1234',
    machine: { cpu: 'AMD EPYC', cpus: 2, memoryGiB: 24, kernel: '6.18', node: 'v20.20.2' },
    parts: [
      { name: 'ipvs-program', title: 'IPVS programming', where: 'lab (real IPVS, emulated guest)', command: 'npm run lab -- --script bench/suite-ipvs-quick.sh --out DIR', seconds: 120, ...ipvs },
      { name: 'memory', title: 'Memory', where: 'host', command: 'node dist/bench/director-host.bench.js', seconds: 30, figures: [], error: 'exit 1\nstack' },
    ],
  }
  const charts = await renderCharts(results, dir)
  t.same(charts.map((c) => c.file).sort(), ['ipvs-program-program.svg', 'ratios.svg'])
  for (const f of readdirSync(dir)) t.match(readFileSync(join(dir, f), 'utf8'), /^<svg[^>]*>[\s\S]*<\/svg>\s*$/, `${f} is an SVG document`)
  t.match(readFileSync(join(dir, 'ratios.svg'), 'utf8'), /program 1,000 services/, 'the ratio chart names the figures')
  const md = reportMarkdown(results, charts)
  t.match(md, /at commit abc1234, with `npm run bench -- --quick`/)
  t.match(md, /2 x AMD EPYC, 24 GiB, kernel 6\.18/)
  t.match(md, /emulation, no KVM/, 'the lab is said to be emulated')
  t.match(md, /\| program 1,000 services x 4 \(5,000 rules\) \| 2,200 ms \| 2,000 ms \(one raw ipvsadm -R\) \| \*\*1\.10\*\* \(lower is better\) \| \*\*missed\*\*: <= 1\.05 x raw -R \|/)
  t.match(md, /Targets: 0 of 2 met/, "both sizes 1.1 x raw; the 5,000-rule change has no target")
  t.match(md, /!\[[^\]]+\]\(charts\/ipvs-program-program\.svg\)/)
  t.match(md, /\*\*Failed:\*\* exit 1\n/, 'a failed part says so, first line only')
})

t.test("wrk's --latency output: rate, percentiles in their units, socket errors and non-2xx answers", async (t) => {
  const out = [
    'Running 10s test @ http://192.0.2.100/', '  1 threads and 24 connections',
    '  Thread Stats   Avg      Stdev     Max   +/- Stdev', '    Latency    12.03ms    4.11ms  80.27ms   75.00%',
    '  Latency Distribution', '     50%  850.00us', '     75%   14.00ms', '     90%   17.00ms', '     99%    1.20s',
    '  12040 requests in 10.00s, 1.49MB read', '  Socket errors: connect 0, read 2, write 0, timeout 1', '  Non-2xx or 3xx responses: 4',
    'Requests/sec:   1203.75', 'Transfer/sec:    152.40KB', '',
  ].join('\n')
  t.same(parseWrk(out), { rps: 1203.75, p50Ms: 0.85, p99Ms: 1200, errors: 3, non2xx: 4 })
  t.throws(() => parseWrk('unable to connect to 192.0.2.100:80 Connection refused\n'), /no Requests\/sec|no 50% latency/)
})

t.test('data plane: DR per real server against the servers straight, and against HAProxy, with the targets', async (t) => {
  const http = (rps: number, p99Ms = 20) => ({ rps, p50Ms: 5, p99Ms, errors: 0 })
  const report = (dr: number) => JSON.stringify({
    realServers: 3,
    http: {
      'direct, one real server': http(1000), 'direct, all three real servers': http(3000), 'IPVS DR through the VIP': http(dr),
      'HAProxy layer 4 (mode tcp)': http(1500), 'HAProxy layer 7 (mode http)': http(1000),
    },
    udp: { vip: { perSec: 9000, sent: 100, received: 100 }, direct: { perSec: 10000 } },
  })
  const good = part('dataplane').parse(report(2910)).figures
  t.match(fig(good, /per real server/), { value: 970, reference: { value: 1000 }, ratio: 0.97, target: { met: true } })
  t.match(good.filter((f) => f.reference?.name.startsWith('HAProxy')).map((f) => [f.ratio, f.target?.met]), [[1.94, true], [2.91, true]])
  const bad = part('dataplane').parse(report(2500)).figures
  t.match(fig(bad, /per real server/), { ratio: 0.833, target: { met: false } })
  t.match(bad.find((f) => f.reference?.name.includes('layer 4')), { ratio: 1.667, target: { met: false } })
  t.match(fig(good, /UDP/), { value: 9000, reference: { value: 10000 }, ratio: 0.9 })
  t.notOk((part('dataplane').parse(report(2910)).notes ?? []).some((n) => n.startsWith("Where the guest's CPU went")), 'no CPU note without CPU figures')

  const withCpu = JSON.parse(report(2910))
  withCpu.http['IPVS DR through the VIP'].cpu = { servers: 0.752, haproxy: 0, director: 0.017, client: 0.2, rest: 0.004, idle: 0.027 }
  withCpu.http['HAProxy layer 4 (mode tcp)'].cpu = { servers: 0.51, haproxy: 0.3, director: 0.016, client: 0.17, rest: 0.002, idle: 0.002 }
  const note = (part('dataplane').parse(JSON.stringify(withCpu)).notes ?? []).find((n) => n.startsWith("Where the guest's CPU went"))
  t.match(note, /IPVS DR through the VIP: servers 75%, director 2%, client 20%, idle 3%; HAProxy layer 4 \(mode tcp\): servers 51%, haproxy 30%, director 2%, client 17%\./, 'each configuration with the shares of 0.5% and more')
})

t.test('director: the quick run (parts 1-2) and the full one (with the burst) both give figures against raw ipvsadm', async (t) => {
  const st = (p50: number, p99: number) => ({ n: 20, p50, p99, min: p50, max: p99 })
  const quick = part('director').parse(`| table |\n${JSON.stringify({ transitions: st(166, 265), transitionsRaw: st(141, 174), apiWrite: st(186, 344), apiWriteRaw: st(151, 176) })}\n`).figures
  t.match(fig(quick, /health transition.*p50/), { value: 166, reference: { value: 141 }, ratio: 1.177 })
  t.match(fig(quick, /API POST.*p99/), { value: 344, reference: { value: 176 }, ratio: 1.955 })
  t.notOk(quick.some((f) => /POSTs into/.test(f.name)), 'no burst in the quick run')
  const full = part('director').parse(JSON.stringify({
    transitions: { raw: st(141, 174), transitionToKernel: st(166, 265) }, apiWrite: { raw: st(151, 176), present: st(186, 344) },
    burst: { n: 1000, rawMedian: 1000, dirMedian: 29000, floorMedian: 10600 }, table: { rules: 50000 },
  })).figures
  t.match(fig(full, /1000 API POSTs into a 50,000-rule table/), { value: 29000, reference: { value: 1000 }, ratio: 29 })
})
