// `lvs-director check` as an operator runs it: one probe against a real server on loopback (exit 0 up, 3 down),
// transitions with --watch, and bad input as one coded line (exit 1) before any probe.
import t, { type Test } from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseEndpoint } from '../src/check-command.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const loader = process.execArgv.filter((a) => a.includes('typescript'))
const argv = (args: string[]) => [...loader, join(root, 'src/cli-main.ts'), 'check', ...args]

// spawnSync would block this process's event loop, and with it the test's own HTTP server.
// `onChild` gets the child and its stdout so far, to stop it on what it printed rather than after a time.
function cli(args: string[], onChild?: (child: ChildProcess, stdout: () => string) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, argv(args), { cwd: root })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c) => (stdout += c))
    child.stderr.on('data', (c) => (stderr += c))
    onChild?.(child, () => stdout)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

async function httpServer(t: Test, status: () => number): Promise<Server> {
  const server = createServer((_req, res) => res.writeHead(status()).end('hello'))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => server.close())
  return server
}

t.test('one http probe: up on 200 with the body matched, down on a wrong body', async (t) => {
  const server = await httpServer(t, () => 200)
  const real = `127.0.0.1:${(server.address() as AddressInfo).port}`
  const up = await cli(['http', real, '--spec', '{path: /health, receive: hel+o}'])
  t.equal(up.code, 0, up.stderr)
  t.match(up.stdout, /^up ok: HTTP 200/)
  const down = await cli(['http', real, '--spec', '{receive: goodbye}', '--json'])
  t.equal(down.code, 3)
  t.match(JSON.parse(down.stdout), { state: 'down', ok: false, code: 'bad-body' })
})

t.test('--watch prints one line per transition, not one per probe', async (t) => {
  // Driven by what the server and the CLI see, never by a timer: 3 probes answered 200, then 500s; the CLI is
  // stopped (SIGINT, as an operator would) once it has printed down and 3 more probes have come and gone.
  let requests = 0
  let downAt: number | undefined
  let stop = () => {}
  const server = await httpServer(t, () => {
    requests++
    stop()
    return requests <= 3 ? 200 : 500
  })
  const real = `127.0.0.1:${(server.address() as AddressInfo).port}`
  const r = await cli(['http', real, '--spec', '{interval: 0.2, timeout: 5, fall: 2, rise: 2}', '--watch', '600'], (child, stdout) => {
    stop = () => {
      if (downAt === undefined && /^down/m.test(stdout())) downAt = requests
      // Once: a second SIGINT would find no handler left and kill the CLI before it reports.
      if (downAt !== undefined && requests >= downAt + 3 && !child.killed) child.kill('SIGINT')
    }
    child.stdout?.on('data', () => stop())
  })
  const lines = r.stdout.trim().split('\n')
  t.match(lines, [/^up ok: HTTP 200/, /^down bad-status: HTTP 500/], r.stdout)
  t.equal(lines.length, 2, `two transitions in ${requests} probes`)
  t.equal(r.code, 3, 'down at the end')
})

t.test('bad input is one coded line and exit 1', async (t) => {
  const bad = [
    [['http', '1.2.3.4;reboot'], /LVS_ERR_INVALID_VALUE: invalid real server/],
    [['http', '127.0.0.1:70000'], /LVS_ERR_INVALID_VALUE: invalid real server: port "70000"/],
    [['http', '127.0.0.1', '--spec', '{status: [999]}'], /LVS_ERR_INVALID_CHECK/],
    [['http', '127.0.0.1', '--spec', '[1, 2]'], /LVS_ERR_INVALID_VALUE: invalid --spec/],
    [['external', '127.0.0.1'], /LVS_ERR_INVALID_CHECK: invalid health check command/],
  ] as const
  for (const [args, message] of bad) {
    const r = spawnSync(process.execPath, argv([...args]), { cwd: root, encoding: 'utf8' })
    t.equal(r.status, 1, args.join(' '))
    t.match(r.stderr, message)
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line')
  }
})

t.test('endpoints: IPv4 and IPv6, with and without a port', async (t) => {
  t.same(parseEndpoint('192.0.2.11', 'x'), { address: '192.0.2.11' })
  t.same(parseEndpoint('192.0.2.11:80', 'x'), { address: '192.0.2.11', port: 80 })
  t.same(parseEndpoint('2001:DB8:0::11', 'x'), { address: '2001:db8::11' })
  t.same(parseEndpoint('[2001:db8::11]:5060', 'x'), { address: '2001:db8::11', port: 5060 })
  t.throws(() => parseEndpoint('host.example:80', 'x'), { code: 'LVS_ERR_INVALID_VALUE' })
  t.throws(() => parseEndpoint('192.0.2.11:0', 'x'), { code: 'LVS_ERR_INVALID_VALUE' })
})
