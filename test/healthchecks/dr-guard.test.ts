// The DR guard against real network namespaces: a director, a real server that holds the VIP on its loopback
// (with the ARP sysctls a DR real server needs) and one that does not. Also the router's argv, with a fake runner.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { createIpGuardRouter, openGuardRouter } from '../../healthchecks/guard-router.js'
import { createDrGuardChecker } from '../../healthchecks/dr-guard.js'
import type { CheckResult } from '../../healthchecks/checker.js'
import { createNetns, ip, nsExec, runFixture } from '../helpers/netns.js'

const fixture = new URL('../fixtures/dr-guard-child.ts', import.meta.url)
const VIP = '192.0.2.100'
const VIP6 = '2001:db8:100::100'

interface ChildOutput {
  results: (CheckResult & { via: string })[]
  rulesDuring: string
  routesDuring: string
  rulesAfter: string
  routesAfter: string
  acceptLocalDuring: string
  acceptLocalAfter: string
}

/** A director namespace wired by a veth to each real server namespace; `good` servers hold the VIP on lo. */
async function lab(t: Test, reals: { name: string; holdsVip: boolean }[], directorHoldsVip: boolean) {
  const dir = await createNetns(t, 'lvsg-dir')
  const addresses: Record<string, { v4: string; v6: string }> = {}
  let n = 0
  for (const real of reals) {
    n++
    const ns = await createNetns(t, `lvsg-${real.name}`)
    await ip('link', 'add', `g${n}`, 'netns', dir, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
    await ip('-n', dir, 'addr', 'add', `198.51.100.${n * 4 + 1}/30`, 'dev', `g${n}`)
    await ip('-n', dir, '-6', 'addr', 'add', `2001:db8:${n}::1/64`, 'dev', `g${n}`, 'nodad')
    await ip('-n', dir, 'link', 'set', `g${n}`, 'up')
    await ip('-n', ns, 'addr', 'add', `198.51.100.${n * 4 + 2}/30`, 'dev', 'eth0')
    await ip('-n', ns, '-6', 'addr', 'add', `2001:db8:${n}::2/64`, 'dev', 'eth0', 'nodad')
    await ip('-n', ns, 'link', 'set', 'eth0', 'up')
    // What a DR real server needs: the VIP on lo, and no ARP answers for it on the wire.
    await nsExec(ns, 'sysctl', '-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2')
    if (real.holdsVip) {
      await ip('-n', ns, 'addr', 'add', `${VIP}/32`, 'dev', 'lo')
      await ip('-n', ns, '-6', 'addr', 'add', `${VIP6}/128`, 'dev', 'lo', 'nodad')
    }
    addresses[real.name] = { v4: `198.51.100.${n * 4 + 2}`, v6: `2001:db8:${n}::2` }
  }
  if (directorHoldsVip) {
    await ip('-n', dir, 'addr', 'add', `${VIP}/32`, 'dev', 'lo')
    await ip('-n', dir, '-6', 'addr', 'add', `${VIP6}/128`, 'dev', 'lo', 'nodad')
  }
  return { dir, addresses }
}

t.test('a real server holding the VIP passes the guard; one without it times out (director holds the VIP too)', async (t) => {
  const { dir, addresses } = await lab(t, [{ name: 'good', holdsVip: true }, { name: 'bad', holdsVip: false }], true)
  const rulesBefore = await ip('-n', dir, 'rule', 'show')
  const stateFile = join(t.testdir(), 'dr-guard.json')
  const out = await runFixture<ChildOutput>(
    fixture,
    { vip: VIP, reals: [addresses.good!.v4, addresses.bad!.v4], timeoutMs: 1500, vipIsLocal: true, stateFile },
    { ns: dir },
  )
  t.match(out.results[0], { via: addresses.good!.v4, ok: true }, 'the good real server answers for the VIP')
  t.match(out.results[1], { via: addresses.bad!.v4, ok: false, code: 'timeout' }, 'the bad one is caught')
  t.match(out.results[1]?.message, /does not answer for 192\.0\.2\.100/)
  t.match(out.rulesDuring, /fwmark 0x4c560000 lookup 1280704512/, 'one fwmark rule per real server')
  t.match(out.rulesDuring, /fwmark 0x4c560001 lookup 1280704513/)
  t.notMatch(out.rulesDuring, /^0:\s+from all lookup local/m, 'the local rule moved after ours')
  t.match(out.routesDuring, new RegExp(`192\\.0\\.2\\.100 via ${addresses.good!.v4.replace(/\./g, '\\.')} dev g1 table 1280704512`))
  t.equal(out.rulesAfter, rulesBefore, 'close() left the rules as they were')
  t.notMatch(out.routesAfter, /table 128070451/, 'and removed its routes')
  t.equal(out.acceptLocalDuring, '1', 'accept_local on while the guard runs')
  t.equal(out.acceptLocalAfter, '0', 'and back to its earlier value after close()')
  // Without the guard's mark the director still reaches its own VIP locally: nothing else was disturbed.
  t.equal((await ip('-n', dir, 'route', 'get', VIP)).startsWith('local 192.0.2.100'), true)
})

t.test('the guard works on IPv6 too', async (t) => {
  const { dir, addresses } = await lab(t, [{ name: 'good6', holdsVip: true }, { name: 'bad6', holdsVip: false }], true)
  const out = await runFixture<ChildOutput>(
    fixture,
    { vip: VIP6, reals: [addresses.good6!.v6, addresses.bad6!.v6], timeoutMs: 2500, vipIsLocal: true, stateFile: join(t.testdir(), 's') },
    { ns: dir },
  )
  t.match(out.results[0], { ok: true }, 'holds the VIP')
  t.match(out.results[1], { ok: false, code: /^(timeout|unreachable)$/, message: /does not answer for 2001:db8:100::100/ }, 'lacks the VIP (Linux answers with ICMPv6 unreachable)')
  t.notMatch(out.rulesAfter, /fwmark/, 'rules removed')
  t.match(out.rulesAfter, /^0:\s+from all lookup local/m, 'the local rule is back at pref 0')
})

t.test('on a director that never holds the VIP the local rule can stay where it is', async (t) => {
  const { dir, addresses } = await lab(t, [{ name: 'good', holdsVip: true }, { name: 'bad', holdsVip: false }], false)
  const out = await runFixture<ChildOutput>(
    fixture,
    { vip: VIP, reals: [addresses.good!.v4, addresses.bad!.v4], timeoutMs: 1500, vipIsLocal: false, stateFile: join(t.testdir(), 's') },
    { ns: dir },
  )
  t.match(out.results[0], { ok: true })
  t.match(out.results[1], { ok: false, code: 'timeout' })
  t.match(out.rulesDuring, /^0:\s+from all lookup local/m, 'local rule untouched')
})

t.test('a director that does not ask for the DR guard gets no router (its host routing is left alone)', async (t) => {
  t.equal(await openGuardRouter(), undefined)
  t.equal(await openGuardRouter({ drGuard: false }), undefined)
})

t.test('a director started after a crashed one removes what that run left and restores accept_local', async (t) => {
  const { dir, addresses } = await lab(t, [{ name: 'good', holdsVip: true }], true)
  const rulesBefore = await ip('-n', dir, 'rule', 'show')
  const stateFile = join(t.testdir(), 'dr-guard.json')
  const input = { vip: VIP, reals: [addresses.good!.v4], timeoutMs: 1500, vipIsLocal: true, stateFile, crash: true }
  const crashed = await runFixture<ChildOutput>(fixture, input, { ns: dir })
  t.match(crashed.results[0], { ok: true })
  const left = await ip('-n', dir, 'rule', 'show')
  t.match(left, /fwmark 0x4c560000 lookup 1280704512/, 'the crashed run left its rule')
  t.notMatch(left, /^0:\s+from all lookup local/m, 'and the local rule moved')
  t.match(await ip('-n', dir, 'route', 'show', 'table', '1280704512'), /192\.0\.2\.100 via/, 'and its route')
  // A route whose rule is already gone (a crash between the two deletes) is ours too, by its table.
  await ip('-n', dir, 'route', 'add', '192.0.2.200/32', 'via', addresses.good!.v4, 'table', '1280704999')
  const restarted = await runFixture<ChildOutput>(fixture, { ...input, reals: [], crash: false }, { ns: dir })
  t.equal(restarted.rulesDuring, rulesBefore, 'start-up put the rules back as they were')
  t.notMatch(restarted.routesDuring, /table 128070/, 'and removed the routes in our tables')
  t.equal(restarted.acceptLocalDuring, '0', 'and restored accept_local from the state file')
  t.equal(restarted.rulesAfter, rulesBefore)
})

t.test('the router builds argv arrays, reference-counts routes, and cleans up', async (t) => {
  const calls: string[] = []
  const router = createIpGuardRouter({
    vipIsLocal: false,
    run: async (file, args) => {
      calls.push([file, ...args].join(' '))
      if (args.includes('get')) return `${args.at(-1)} dev eth1 src 198.51.100.1 uid 0\n    cache\n`
      return ''
    },
  })
  const a = { vip: VIP, via: '198.51.100.2' }
  const b = { vip: '192.0.2.101', via: '198.51.100.2' }
  const c = { vip: VIP, via: '198.51.100.6' }
  t.equal(await router.ensure(a), 0x4c560000)
  t.equal(await router.ensure(a), 0x4c560000, 'the same real server keeps its mark')
  t.equal(await router.ensure(b), 0x4c560000, 'another VIP through the same real server shares the mark')
  t.equal(await router.ensure(c), 0x4c560001, 'another real server gets the next mark')
  t.same(calls.filter((x) => / add | replace /.test(x)), [
    'ip -4 rule add pref 90 fwmark 1280704512 lookup 1280704512',
    'ip -4 route replace 192.0.2.100/32 via 198.51.100.2 src 198.51.100.1 table 1280704512',
    'ip -4 route replace 192.0.2.101/32 via 198.51.100.2 src 198.51.100.1 table 1280704512',
    'ip -4 rule add pref 90 fwmark 1280704513 lookup 1280704513',
    'ip -4 route replace 192.0.2.100/32 via 198.51.100.6 src 198.51.100.1 table 1280704513',
  ])
  calls.length = 0
  await router.release(a)
  t.same(calls, [], 'still referenced once: nothing removed')
  await router.release(a)
  t.same(calls, ['ip -4 route del 192.0.2.100/32 table 1280704512'], 'last reference of the route: route removed, rule kept for b')
  calls.length = 0
  await router.close()
  t.same(calls.sort(), [
    'ip -4 route flush table 1280704512',
    'ip -4 route flush table 1280704513',
    'ip -4 rule del pref 90 fwmark 1280704512 lookup 1280704512',
    'ip -4 rule del pref 90 fwmark 1280704513 lookup 1280704513',
  ])
  await t.rejects(router.ensure({ vip: VIP, via: '2001:db8::2' }), { code: 'LVS_ERR_IP_COMMAND_FAILED' }, 'mixed families are refused')
})

t.test('by default the router moves the local rule after its own (once per family) and puts it back on close', async (t) => {
  const calls: string[] = []
  const router = createIpGuardRouter({
    stateFile: join(t.testdir(), 'run', 'dr-guard.json'),
    run: async (file, args) => {
      calls.push([file, ...args].join(' '))
      if (args[0] === '-n') return '0\n' // accept_local before
      return args.includes('get') ? 'x dev eth1 src 198.51.100.1\n' : ''
    },
  })
  await router.ensure({ vip: VIP, via: '198.51.100.2' })
  await router.ensure({ vip: VIP, via: '198.51.100.6' })
  const prep = calls.filter((c) => /lookup local|sysctl/.test(c))
  t.same(prep, [
    'ip -4 rule del pref 100 lookup local',
    'ip -4 rule add pref 100 lookup local',
    'ip -4 rule del pref 0 lookup local',
    'sysctl -n net.ipv4.conf.all.accept_local',
    'sysctl -qw net.ipv4.conf.all.accept_local=1',
  ], 'the new place is added before the old one goes, so local delivery never lapses')
  calls.length = 0
  await router.close()
  t.same(calls.filter((c) => /lookup local|sysctl/.test(c)), [
    'ip -4 rule add pref 0 lookup local',
    'ip -4 rule del pref 100 lookup local',
    'sysctl -qw net.ipv4.conf.all.accept_local=0',
  ], 'the local rule and accept_local are put back as they were')
})

t.test('prepare() installs the route before any probe, so the set-up is not inside a probe\'s timeout', async (t) => {
  const calls: string[] = []
  const router = createIpGuardRouter({
    vipIsLocal: false,
    run: async (file, args) => {
      calls.push([file, ...args].join(' '))
      return args.includes('get') ? 'x dev eth1 src 198.51.100.1\n' : ''
    },
  })
  const checker = createDrGuardChecker({}, { router })
  t.teardown(() => checker.close?.())
  await checker.prepare?.({ address: '198.51.100.2', port: 80, protocol: 'tcp', virtualAddress: VIP })
  t.ok(calls.includes(`ip -4 route replace ${VIP}/32 via 198.51.100.2 src 198.51.100.1 table 1280704512`), 'route in place')
  await checker.prepare?.({ address: '198.51.100.2', port: 80, protocol: 'tcp' })
  t.pass('a target without a VIP prepares nothing and does not throw')
})

t.test('a failed route setup is a setup-failed result, and a target without a VIP a bad-target one', async (t) => {
  const router = createIpGuardRouter({
    run: async () => {
      throw new Error('RTNETLINK answers: Operation not permitted')
    },
  })
  const checker = createDrGuardChecker({}, { router })
  t.teardown(() => checker.close?.())
  const signal = new AbortController().signal
  t.match(await checker.check({ address: '198.51.100.2', port: 80, protocol: 'tcp', virtualAddress: VIP }, signal), {
    ok: false,
    code: 'setup-failed',
    message: /Operation not permitted/,
  })
  t.match(await checker.check({ address: '198.51.100.2', port: 80, protocol: 'tcp' }, signal), { ok: false, code: 'bad-target' })
  t.match(await checker.check({ address: '198.51.100.2', port: 0, protocol: 'tcp', virtualAddress: '42' }, signal), {
    ok: false,
    code: 'bad-target',
    message: /virtual IP address, got 42/,
  }, 'a fwmark service (no VIP) is refused clearly')
})
