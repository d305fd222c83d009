// The status page in a real browser: Debian's Chromium driven by playwright-core against the daemon as a process,
// with real HTTP real servers on loopback (ipvsadm is the stand-in: this host has no IPVS). A bad token is refused;
// the admin token's page shows every real server live; one killed turns red within its check's bounds; a drain
// clicked (and confirmed) on the page reaches the director's table, its kernel-facing state and the API; a read
// token sees the same page without a single action.
import t from 'tap'
import { createServer, type Server } from 'node:http'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Page } from 'playwright-core'
import { request } from 'undici'
import { fake, kernelReaches, listen, startDaemon } from './helpers/daemon-process.js'

const ADMIN = 'admin-token-0123456789abcdef'
const READ = 'read-token-0123456789abcdef0'
const chromiumPath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p))
const check = { interval: 0.3, timeout: 0.5, fall: 2 }
const boundMs = (check.interval * check.fall + check.timeout) * 1000

t.test('the status page: token refused, live real servers, a killed one red, a drain from the page, a read token without actions', { timeout: 180_000 }, async (t) => {
  if (!chromiumPath) return t.fail("no chromium (npm test's pretest installs Debian's chromium as root)")
  const dir = await mkdtemp(join(tmpdir(), 'lvs-page-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const servers: Server[] = ['a', 'b', 'c'].map((name) => createServer((_q, res) => res.end(name)))
  const ports = await Promise.all(servers.map((s) => listen(s)))
  t.teardown(() => { for (const s of servers) { s.close(); s.closeAllConnections() } })
  const [portA, portB] = ports as [number, number, number]
  const kernel = join(dir, 'kernel')
  await writeFile(join(dir, 'director.yaml'), `
director:
  stateDir: ${dir}/state
  api:
    listen: 127.0.0.1:0
    tokens:
      - { name: ops, token: ${ADMIN}, role: admin }
      - { name: viewer, token: ${READ}, role: read }
  ipvsadm: { path: ${fake} }
services:
  - name: web
    protocol: tcp
    address: 192.0.2.100
    port: 80
    check: { kind: http, interval: ${check.interval}, timeout: ${check.timeout}, fall: ${check.fall}, rise: 1 }
    destinations:
${ports.map((p) => `      - { address: 127.0.0.1, port: ${p}, forwarding: nat }`).join('\n')}
`)
  const d = startDaemon(join(dir, 'director.yaml'), { FAKE_IPVSADM_STATE: kernel })
  t.teardown(() => { d.child.kill('SIGKILL') })
  const api = (await d.waitFor((l) => l.msg === 'director started')).api as string
  for (const p of ports) await d.audit('real up', `${p}`)

  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] })
  t.teardown(() => browser.close())
  const open = async (token: string): Promise<Page> => {
    const page = await (await browser.newContext()).newPage()
    await page.goto(`${api}/`)
    await page.fill('#token', token)
    await page.click('#login button')
    return page
  }
  const row = (port: number) => `tr[data-real="web|127.0.0.1:${port}"]`

  const refused = await open('not-a-token-0123456789abcdef')
  await refused.waitForSelector('#message.error:has-text("token refused")')
  t.ok(await refused.isHidden('#live'), 'a bad token: refused, nothing shown')

  const page = await open(ADMIN)
  for (const p of ports) await page.waitForSelector(`${row(p)}.up`)
  t.match(await page.textContent('#who'), /ops \(admin\)/, 'the page says who it is')
  t.equal(await page.textContent(`${row(portA)} td:nth-child(2)`), 'up', 'health written out, not only a colour')

  // A real server dies: red on the page within its check's bounds (and the page's next push).
  servers[1]!.close()
  servers[1]!.closeAllConnections()
  const killedAt = Date.now()
  await page.waitForSelector(`${row(portB)}.down`, { timeout: 30_000 })
  const redAfter = Date.now() - killedAt
  const down = await d.audit('real down', `${portB}`)
  t.ok((down.time as number) - killedAt <= boundMs + 500, `the director saw it within interval x fall + timeout (${boundMs} ms)`)
  t.ok(redAfter <= boundMs + 2000, `red on the page ${redAfter} ms after the kill (bound ${boundMs} ms, one push a second at most after it)`)

  // A drain from the page, confirmed: in the director's table, the kernel and the API.
  const confirms: string[] = []
  page.on('dialog', (dialog) => { confirms.push(dialog.message()); void dialog.accept() })
  await page.click(`${row(portA)} button:has-text("drain")`)
  t.match(confirms, [`drain 127.0.0.1:${portA} of web?`], 'asked first')
  const audit = await d.audit('patch-real', `${portA}`)
  t.equal(audit.audit?.actor, 'ops', "the change is the admin token's")
  await kernelReaches(d, async () => {
    const line = (await readFile(kernel, 'utf8')).split('\n').find((l) => l.includes(`127.0.0.1:${portA} `))
    return line === undefined || line.endsWith('-w 0')
  })
  t.pass('the drained real server left the pool in the kernel (weight 0, then removed when its connections ended)')
  const viaApi = await request(`${api}/v1/audit`, { headers: { authorization: `Bearer ${READ}` } })
  const entries = ((await viaApi.body.json()) as { entries: Array<{ actor: string; action: string; target: string; detail?: unknown }> }).entries
  t.ok(entries.some((e) => e.actor === 'ops' && e.action === 'patch-real' && e.target === `service web real 127.0.0.1:${portA}`), 'the API shows the drain in the audit trail')
  await page.waitForSelector(`#audit li:has-text("ops patch-real service web real 127.0.0.1:${portA}")`)
  t.pass('and so does the page, within a second')

  // A read token: the same live page, no action.
  const viewer = await open(READ)
  await viewer.waitForSelector(`${row(ports[2]!)}.up`)
  t.equal(await viewer.locator('button.action').count(), 0, 'no action button for a read token')
  t.ok(await viewer.isHidden('#switchover'), 'no switchover either')
  t.match(await viewer.textContent('#who'), /viewer \(read\)/)
})

t.test('the status page at 1,000 real servers: every row there, live, the tab not frozen', { timeout: 180_000 }, async (t) => {
  if (!chromiumPath) return t.fail("no chromium (npm test's pretest installs Debian's chromium as root)")
  const dir = await mkdtemp(join(tmpdir(), 'lvs-page-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const reals = Array.from({ length: 1000 }, (_, i) => `      - { address: 10.1.${i >> 8}.${i & 255} }`)
  await writeFile(join(dir, 'director.yaml'), `
director:
  stateDir: ${dir}/state
  api: { listen: 127.0.0.1:0 }
  ipvsadm: { path: ${fake} }
services:
  - name: big
    protocol: tcp
    address: 192.0.2.100
    port: 80
    check: { kind: on }
    destinations:
${reals.join('\n')}
`)
  const d = startDaemon(join(dir, 'director.yaml'), { FAKE_IPVSADM_STATE: join(dir, 'kernel') })
  t.teardown(() => { d.child.kill('SIGKILL') })
  const api = (await d.waitFor((l) => l.msg === 'director started')).api as string
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] })
  t.teardown(() => browser.close())
  const page = await (await browser.newContext()).newPage()
  // Main-thread tasks over 50 ms, as the browser reports them.
  await page.addInitScript(() => {
    const w = window as unknown as { longest: number }
    w.longest = 0
    new PerformanceObserver((list) => { for (const e of list.getEntries()) w.longest = Math.max(w.longest, e.duration) }).observe({ type: 'longtask', buffered: true })
  })
  await page.goto(`${api}/`) // no tokens: loopback only, the page goes straight to the state
  await page.waitForFunction(() => document.querySelectorAll('#service-big tbody tr.up').length === 1000, undefined, { timeout: 60_000 })
  t.pass('1,000 rows, every one up')
  const firstLoad = await page.evaluate(() => { const w = window as unknown as { longest: number }; const l = w.longest; w.longest = 0; return l })
  const stamps = new Set<string>()
  while (stamps.size < 4) {
    stamps.add((await page.textContent('#updated')) ?? '')
    await page.waitForFunction((seen) => !seen.includes(document.querySelector('#updated')!.textContent ?? ''), [...stamps], { timeout: 30_000 })
  }
  t.pass('and still updated once a second')
  t.equal(await page.locator('button.action').count(), 4000, 'each with its actions (no tokens: local admin)')
  const longest = await page.evaluate(() => (window as unknown as { longest: number }).longest)
  t.comment(`longest main-thread task: loading 1,000 rows ${Math.round(firstLoad)} ms, then updating them ${Math.round(longest)} ms`)
})
