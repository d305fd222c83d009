// A polling client in the lab: `node http-probe.js --interval MS [--keep-alive] URL` sends a GET every MS
// milliseconds until SIGTERM and prints one JSON line per request: {at, ok, body?, localPort?, error?}.
// With --keep-alive every request rides one TCP connection (while it lives), so an unchanged localPort
// shows that connection survived; without it each request opens a new one. With --open-loop a request starts every
// MS milliseconds whether or not the previous one has finished (at most --max-in-flight at once), so a failover gap
// is seen to within MS rather than to within the timeout (the failover benchmark, bench/pair.bench.ts).
import { Agent, request } from 'node:http'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    interval: { type: 'string', default: '100' }, timeout: { type: 'string', default: '2000' }, 'keep-alive': { type: 'boolean', default: false },
    'open-loop': { type: 'boolean', default: false }, 'max-in-flight': { type: 'string', default: '50' },
  },
})
const url = positionals[0]
if (!url) {
  process.stderr.write('usage: http-probe.js [--interval MS] [--timeout MS] [--keep-alive | --open-loop [--max-in-flight N]] URL\n')
  process.exit(2)
}
const intervalMs = Number(values.interval)
const timeoutMs = Number(values.timeout)
const agent = values['keep-alive'] ? new Agent({ keepAlive: true, maxSockets: 1 }) : undefined

function probe(): Promise<void> {
  return new Promise((resolve) => {
    const at = Date.now()
    const print = (r: object) => {
      process.stdout.write(JSON.stringify({ at, ...r }) + '\n')
      resolve()
    }
    const req = request(url!, { agent: agent ?? false, timeout: timeoutMs, headers: agent ? { 'x-hold-open': '1' } : {} }, (res) => {
      const localPort = res.socket.localPort // read now: a kept-alive socket goes back to the pool at the end
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => print({ ok: res.statusCode === 200, status: res.statusCode, body, localPort }))
      res.on('error', (e) => print({ ok: false, error: e.message }))
    })
    req.on('timeout', () => req.destroy(new Error(`no reply within ${timeoutMs} ms`)))
    req.on('error', (e) => print({ ok: false, error: e.message }))
    req.end()
  })
}

let running = true
process.on('SIGTERM', () => (running = false))
process.stdout.write('probing\n')
if (values['open-loop']) {
  const maxInFlight = Number(values['max-in-flight'])
  let inFlight = 0
  let next = Date.now()
  while (running) {
    if (inFlight < maxInFlight) {
      inFlight++
      void probe().then(() => inFlight--)
    }
    next += intervalMs
    const wait = next - Date.now()
    if (wait < -intervalMs) next = Date.now() // a stalled loop: no burst of catch-up requests
    await new Promise((r) => setTimeout(r, Math.max(0, wait)))
  }
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 10))
}
while (running && !values['open-loop']) {
  const started = Date.now()
  await probe()
  await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (Date.now() - started))))
}
agent?.destroy()
