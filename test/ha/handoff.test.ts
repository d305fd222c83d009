// The planned switchover's handoff window (src/ha/handoff.ts) with the real nft and kernel, in namespaces this test
// makes: a connection opened through the old active goes on when its packets start reaching the new one, which
// passes them on to the old one while the window is open, and resets them once it is closed. (This host has no
// IPVS: the old active answers from a socket of its own where a director would forward by IPVS; the new active's
// rules see exactly what they would see after IPVS's hook, a packet of a connection it does not know.)
import t from 'tap'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { nodeExec, type Exec } from '../../src/exec.js'
import { HANDOFF_TABLE, handoffRuleset, openHandoff, type HandoffLog } from '../../src/ha/handoff.js'
import { heartbeatPath } from '../../src/ha/heartbeat-config.js'
import { checkVip } from '../../src/ha/vips.js'
import { createNetns, ip, nsExec, type Teardown } from '../helpers/netns.js'

const holdTs = fileURLToPath(new URL('../fixtures/tcp-hold.ts', import.meta.url))
const loader = process.execArgv.filter((a) => /typescript|enable-source-maps/.test(a))
const NET = '10.78.0'
const VIP = `${NET}.50`
const vips = [checkVip({ address: VIP, interface: 'eth0' })]
const paths = [heartbeatPath({ local: `${NET}.2`, peer: `${NET}.1` }, 0)]
const inNs = (ns: string): Exec => (file, argv, o) => nodeExec('ip', ['netns', 'exec', ns, file, ...argv], o)
const tables = async (ns: string) => (await nsExec(ns, 'nft', 'list', 'tables')).split('\n').filter((l) => l.includes(HANDOFF_TABLE))

function logger() {
  const lines: Array<{ level: string; msg: string }> = []
  const waiters: Array<{ msg: string; resolve: () => void }> = []
  const log: HandoffLog = {
    info: (_o, msg) => { lines.push({ level: 'info', msg }); for (const w of waiters.filter((x) => x.msg === msg)) w.resolve() },
    warn: (_o, msg) => lines.push({ level: 'warn', msg }),
  }
  const seen = (msg: string) => new Promise<void>((resolve) => (lines.some((l) => l.msg === msg) ? resolve() : waiters.push({ msg, resolve })))
  return { lines, log, seen }
}

/** A JSON-lines child in `ns`: its lines, a wait for one, stdin. */
function child(t: Teardown, ns: string, args: string[]) {
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, ...loader, holdTs, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => { proc.kill('SIGKILL') })
  const lines: Array<Record<string, unknown>> = []
  const waiters: Array<() => void> = []
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    try { lines.push(JSON.parse(l) as Record<string, unknown>) } catch { return }
    for (const w of waiters.splice(0)) w()
  })
  const next = (from: number) => new Promise<Record<string, unknown>>((resolve, reject) => {
    const check = () => (lines.length > from ? resolve(lines[from]!) : waiters.push(check))
    proc.once('exit', (code) => (lines.length > from ? resolve(lines[from]!) : reject(new Error(`exited ${code} before line ${from}`))))
    check()
  })
  return { proc, lines, next }
}

t.test('the ruleset: per family with a peer, one rule per VIP, after IPVS, all but a bare SYN', async (t) => {
  const v6 = checkVip({ address: '2001:db8::100', interface: 'eth1' })
  const text = handoffRuleset([...vips, v6], paths)!
  t.match(text, /table ip lvs_director_handoff \{/)
  t.match(text, /type filter hook input priority 99; policy accept;\n {4}meta l4proto tcp socket transparent \{ 0, 1 \} accept\n/, 'after IPVS; a local socket\'s packets first stay here')
  t.match(text, `ip daddr ${VIP} tcp flags & (fin | syn | rst | ack) != syn dup to ${NET}.1 device "eth0" drop`)
  t.notMatch(text, /ip6/, 'no IPv6 peer: the IPv6 VIP has no rule')
  const both = handoffRuleset([...vips, v6], [...paths, heartbeatPath({ local: '[2001:db8::2]:694', peer: '[2001:db8::1]:694' }, 1)])!
  t.match(both, 'ip6 daddr 2001:db8::100 tcp flags & (fin | syn | rst | ack) != syn dup to 2001:db8::1 device "eth1" drop')
  t.equal(handoffRuleset([v6], paths), undefined, 'nothing to forward: no ruleset')
})

t.test('a connection opened through the old active goes on through the new one while the window is open, and is reset after it', { timeout: 120_000 }, async (t) => {
  const sw = await createNetns(t, 'hosw')
  await ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge')
  await ip('-n', sw, 'link', 'set', 'br0', 'up')
  const ns: Record<'old' | 'new' | 'client', string> = { old: '', new: '', client: '' }
  const mac: Record<string, string> = {}
  for (const [name, n] of [['old', 1], ['new', 2], ['client', 200]] as const) {
    ns[name] = await createNetns(t, `ho${name}`)
    await ip('-n', sw, 'link', 'add', `p${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns[name])
    await ip('-n', sw, 'link', 'set', `p${n}`, 'master', 'br0', 'up')
    await ip('-n', ns[name], 'addr', 'add', `${NET}.${n}/24`, 'dev', 'eth0')
    await ip('-n', ns[name], 'link', 'set', 'eth0', 'up')
    mac[name] = (JSON.parse(await ip('-j', '-n', ns[name], 'link', 'show', 'eth0')) as Array<{ address: string }>)[0]!.address
  }
  // Both directors hold the VIP (the old one keeps it through the window); the client's neighbour entry says which
  // one its packets reach, as a gratuitous ARP would.
  for (const d of ['old', 'new'] as const) await ip('-n', ns[d], 'addr', 'add', `${VIP}/32`, 'dev', 'eth0')
  const via = (d: 'old' | 'new') => ip('-n', ns.client, 'neigh', 'replace', VIP, 'lladdr', mac[d]!, 'dev', 'eth0', 'nud', 'permanent')

  const server = child(t, ns.old, ['serve', 'old', '9000'])
  t.same(await server.next(0), { listening: true })
  await via('old')
  const client = child(t, ns.client, ['hold', VIP, '9000'])
  t.same(await client.next(0), { reply: 'old one' }, 'the connection is opened through the old active')

  const { log, lines } = logger()
  const handoff = await openHandoff({ exec: inNs(ns.new), vips, paths, windowMs: 60_000, log })
  await handoff.open()
  t.equal((await tables(ns.new)).length, 1, 'the window is open: its table is in the new active')
  await via('new') // the VIP moved: the client's next packets reach the new active
  client.proc.stdin!.write('go\n')
  t.same(await client.next(1), { reply: 'old line1' }, 'its next request reaches the new active, which passes it to the old one: answered')

  await handoff.close()
  t.same(await tables(ns.new), [], 'the window closed: its table is gone')
  t.same(lines.map((l) => l.msg), ['handoff window open: what the old active still serves goes to it', 'handoff window closed'], 'one line each')
  client.proc.stdin!.write('go\n')
  const after = await client.next(2)
  t.match(after, { error: /ECONNRESET/ }, 'after the window the new active, which never knew the connection, resets it', after)
})

t.test('the window closes by itself; a window a crashed run left is removed at start; no nft: one warning, nothing thrown', { timeout: 60_000 }, async (t) => {
  const ns = await createNetns(t, 'hotimer')
  await ip('-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1')
  const l = logger()
  const short = await openHandoff({ exec: inNs(ns), vips, paths, windowMs: 200, log: l.log })
  await short.open()
  await l.seen('handoff window closed')
  t.same(await tables(ns), [], 'gone after windowMs')

  // A run that crashed with its window open.
  await nodeExec('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: handoffRuleset(vips, paths)!, timeoutMs: 10_000 })
  t.equal((await tables(ns)).length, 1, 'left by a crashed run')
  await openHandoff({ exec: inNs(ns), vips, paths, windowMs: 200 })
  t.same(await tables(ns), [], 'removed when the next run opens its handoff')

  const calls: string[] = []
  const missing = logger()
  const none = await openHandoff({ exec: (file, argv, o) => { calls.push(file); return nodeExec(file, argv, o) }, vips, paths, windowMs: 200, nftPath: '/nonexistent/nft', log: missing.log })
  await none.open()
  await none.close()
  t.equal(missing.lines.filter((x) => x.level === 'warn').length, 1, 'one warning')
  t.same(calls, ['/nonexistent/nft'], 'and nft is not tried again')
})
