// The daemon as a process, as an operator runs it: real HTTP real servers on loopback, the real API and CLI,
// signals. The only stand-in is ipvsadm (test/fixtures/fake-ipvsadm.mjs: this host has no IPVS); the lab
// proves the same against the real kernel (test/lab/director.scenario.ts).
import t from 'tap'
import { createServer } from 'node:http'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { cli, fake, kernelReaches, listen, run, startDaemon } from './helpers/daemon-process.js'

t.test('the daemon: checks to kernel, API and CLI, reload, a refused reload, the lock, a clean stop and a restart that keeps API changes', { timeout: 240_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lvs-daemon-'))
  t.teardown(() => (process.env.KEEP_DAEMON_DIR ? undefined : rm(dir, { recursive: true, force: true })))
  let hitsA = 0
  const a = createServer((_q, res) => { hitsA++; res.end('a') })
  const b = createServer((_q, res) => res.end('b'))
  const portA = await listen(a)
  const portB = await listen(b)
  t.teardown(() => { a.close(); b.close() })
  const kernel = join(dir, 'kernel')
  const ipvsLog = join(dir, 'ipvsadm.log')
  const env = { FAKE_IPVSADM_STATE: kernel, FAKE_IPVSADM_LOG: ipvsLog }
  const config = (weightA: number) => `
director:
  stateDir: ${dir}/state
  api: { listen: 127.0.0.1:0 }
  ipvsadm: { path: ${fake} }
services:
  - name: web
    protocol: tcp
    address: 192.0.2.100
    port: 80
    check: { kind: http, interval: 0.3, timeout: 0.5, fall: 2, rise: 1 }
    destinations:
      - { address: 127.0.0.1, port: ${portA}, forwarding: nat, weight: ${weightA} }
      - { address: 127.0.0.1, port: ${portB}, forwarding: nat }
`
  const file = join(dir, 'director.yaml')
  await writeFile(file, config(1))
  const weights = async () => (await readFile(kernel, 'utf8')).split('\n').filter((l) => l.startsWith('-a')).map((l) => l.replace(/^-a -t 192\.0\.2\.100:80 -r /, ''))

  const d = startDaemon(file, env)
  t.teardown(() => { d.child.kill('SIGKILL') })
  const started = await d.waitFor((l) => l.msg === 'director started')
  const api = started.api!
  t.match(api, /^http:\/\/127\.0\.0\.1:\d+$/, 'the API listens where the log says')
  await d.audit('real up', `${portA}`)
  await d.audit('real up', `${portB}`)
  const want = [`127.0.0.1:${portA} -m -w 1`, `127.0.0.1:${portB} -m -w 1`]
  await kernelReaches(d, async () => JSON.stringify(await weights()) === JSON.stringify(want))
  t.same(await weights(), want, 'both real servers in the kernel at their weight')
  t.equal((await request(`${api}/healthz`)).statusCode, 200)

  // A real server stops answering: it goes to weight 0 (quiescent), in one log line.
  b.close()
  b.closeAllConnections()
  await d.audit('real down', `${portB}`)
  await kernelReaches(d, async () => (await weights()).includes(`127.0.0.1:${portB} -m -w 0`))
  t.ok((await weights()).includes(`127.0.0.1:${portB} -m -w 0`), 'the dead one at weight 0')
  t.equal(d.lines.filter((l) => l.audit?.action === 'real down').length, 1, 'one line for the transition, none per probe')

  // The CLI adds a real server through the API.
  const add = await cli(api, 'real', 'add', 'web', '127.0.0.1:9', '3')
  t.equal(add.code, 0, add.stderr)
  if (add.code !== 0) return // the events below would never come
  t.match(add.stdout, /web 127\.0\.0\.1:9: admin enabled, weight 3/)
  await d.audit('add-real', 'service web')
  const status = await cli(api, 'status')
  t.equal(status.code, 0, status.stderr)
  t.match(status.stdout, new RegExp(`127\\.0\\.0\\.1:${portB}\\s+Masq\\s+1\\s+0\\s+.*down\\s+enabled`), 'status shows health and effective weight')

  // SIGHUP reloads: the file's change applies, the API's addition stays.
  await writeFile(file, config(5))
  let mark = d.lines.length
  d.child.kill('SIGHUP')
  await d.audit('reload', 'table', mark)
  await d.waitFor((l) => l.msg === 'kernel table updated', mark)
  t.ok((await weights()).includes(`127.0.0.1:${portA} -m -w 5`), 'the edited weight reached the kernel')
  const services = (await (await request(`${api}/v1/services/web`)).body.json()) as { destinations: Array<{ key: string }> }
  t.ok(services.destinations.some((r) => r.key === '127.0.0.1:9'), 'the API-added real server survived the reload')

  // A bad file on reload changes nothing and shows in status.
  await writeFile(file, 'services:\n  - protocol: tcp\n    address: 10.0.0.300\n    port: 80\n')
  mark = d.lines.length
  d.child.kill('SIGHUP')
  const refused = await d.waitFor((l) => l.msg.startsWith('reload refused'), mark)
  t.match(refused.err, { code: 'LVS_ERR_INVALID_CONFIG', message: /director\.yaml:3: \/services\/0\/address/ }, 'the refusal names the file, line and field')
  const st = (await (await request(`${api}/v1/status`)).body.json()) as { reload: { ok: boolean } }
  t.equal(st.reload.ok, false, 'status shows the refused reload')

  // A second daemon (or a CLI apply) on the same state directory is refused.
  await writeFile(join(dir, 'ok.yaml'), config(1))
  const again = await run(['run', join(dir, 'ok.yaml')], env)
  t.equal(again.code, 1)
  t.match(again.stderr, /^lvs-director: LVS_ERR_STATE_LOCKED: state directory .* is in use by process \d+/)

  // SIGTERM: a clean stop that leaves the kernel table serving.
  await writeFile(file, config(5))
  const before = await readFile(kernel, 'utf8')
  d.child.kill('SIGTERM')
  t.equal(await d.exited, 0, 'exit 0')
  t.ok(d.lines.some((l) => l.msg === 'director stopped'))
  t.equal(await readFile(kernel, 'utf8'), before, 'the kernel table is left as it was')

  // A restart keeps the API's changes and does not flap: no kernel write while the healthy server is probed.
  const ipvsCalls = (await readFile(ipvsLog, 'utf8')).split('\n').length
  const r = startDaemon(file, env)
  t.teardown(() => { r.child.kill('SIGKILL') })
  const restarted = await r.waitFor((l) => l.msg === 'director started')
  const hits = hitsA
  while (hitsA < hits + 3) await new Promise((resolve) => setTimeout(resolve, 100)) // three probes answered
  const after = (await readFile(ipvsLog, 'utf8')).split('\n').slice(ipvsCalls - 1)
  t.notOk(after.some((l) => l.startsWith('-R')), 'no ipvsadm -R after the restart', { after })
  const web = (await (await request(`${restarted.api}/v1/services/web`)).body.json()) as { destinations: Array<{ key: string; weight: number }> }
  t.ok(web.destinations.some((x) => x.key === '127.0.0.1:9' && x.weight === 3), 'the API-added real server is still there')
  r.child.kill('SIGTERM')
  t.equal(await r.exited, 0)
})
