// A long-lived TCP connection for the lab: `--serve` answers each line with its name (a real server), `--hold`
// (a client) sends one line, waits for a flag file, then sends a second line on the SAME connection.
// Prints "listening", "first <reply>", "second <reply>"; exits 1 when the connection breaks or after 120 s.
import { createConnection, createServer } from 'node:net'
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'

const { values: o } = parseArgs({
  options: {
    serve: { type: 'boolean' }, hold: { type: 'boolean' },
    name: { type: 'string', default: 'rs' }, host: { type: 'string' }, port: { type: 'string', default: '9000' },
    flag: { type: 'string' },
  },
})
const port = Number(o.port)
setTimeout(() => { process.stdout.write('timeout\n'); process.exit(1) }, 120_000).unref()

if (o.serve) {
  const server = createServer((sock) => {
    let buf = ''
    sock.setEncoding('utf8').on('data', (c: string) => {
      buf += c
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        sock.write(`${o.name} ${buf.slice(0, i)}\n`)
        buf = buf.slice(i + 1)
      }
    })
    sock.on('error', () => {})
  })
  server.listen({ host: '::', port }, () => process.stdout.write('listening\n'))
  process.on('SIGTERM', () => process.exit(0))
} else if (o.hold) {
  const sock = createConnection({ host: o.host!, port })
  let buf = ''
  let step = 0
  sock.setEncoding('utf8')
  sock.on('connect', () => sock.write('one\n'))
  sock.on('data', (c: string) => {
    buf += c
    if (!buf.includes('\n')) return
    const line = buf.slice(0, buf.indexOf('\n'))
    buf = ''
    if (step++ === 0) {
      process.stdout.write(`first ${line}\n`)
      // Bounded wait for the scenario's go-ahead (at most 100 s).
      let waits = 0
      const poll = setInterval(() => {
        if (existsSync(o.flag!)) { clearInterval(poll); sock.write('two\n') } else if (++waits > 1000) process.exit(1)
      }, 100)
    } else {
      process.stdout.write(`second ${line}\n`)
      sock.end()
      process.exit(0)
    }
  })
  sock.on('error', (e) => { process.stdout.write(`error ${e.message}\n`); process.exit(1) })
  sock.on('close', () => { if (step < 2) { process.stdout.write('closed\n'); process.exit(1) } })
}
