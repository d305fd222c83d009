import { spawn } from 'node:child_process'
import { once } from 'node:events'
import t from 'tap'
import { cpuShares, cpuSnapshot, type CpuSnapshot } from '../bench/cpu-shares.js'

t.test('shares of the CPU between two snapshots: each group, the rest of the busy time, and idle', async (t) => {
  const a: CpuSnapshot = { groups: { servers: 100, haproxy: 0 }, busy: 1000, idle: 500 }
  const b: CpuSnapshot = { groups: { servers: 250, haproxy: 60 }, busy: 1190, idle: 510 }
  t.same(cpuShares(a, b), { servers: 0.75, haproxy: 0.3, rest: 0, idle: 0.05 }, 'a group over the busy time leaves no negative rest')
  const c: CpuSnapshot = { groups: { servers: 200, haproxy: 30 }, busy: 1150, idle: 550 }
  t.same(cpuShares(a, c), { servers: 0.5, haproxy: 0.15, rest: 0.1, idle: 0.25 })
  t.same(cpuShares(a, a), { servers: 0, haproxy: 0, rest: 0, idle: 0 }, 'an empty window is all zeros, not NaN')
})

t.test('a process that computes shows in its group, and a child run to its end in the children group', async (t) => {
  const groups = { spinner: /cpu-shares-spinner/ }
  const spin = (tag: string, ms: number) => spawn(process.execPath, ['-e', `const end = Date.now() + ${ms}; while (Date.now() < end); // ${tag}`], { stdio: 'ignore' })
  // A long-lived spinner (in the group while it runs) and a short one waited for before the second snapshot.
  const long = spin('cpu-shares-spinner', 60_000)
  t.teardown(() => void long.kill('SIGKILL'))
  const before = cpuSnapshot(groups, { children: 'client' })
  await once(spin('short', 400), 'exit')
  const shares = cpuShares(before, cpuSnapshot(groups, { children: 'client' }))
  t.ok(shares.spinner! > 0, `the running spinner's share (${shares.spinner})`)
  t.ok(shares.client! > 0, `the ended child's share (${shares.client})`)
  const sum = Object.values(shares).reduce((s, x) => s + x, 0)
  t.ok(sum > 0.95 && sum < 1.05, `the shares add up to the whole machine (${sum})`)
})
