// A UDP client in the lab: `node udp-send.js --host H --port P [--timeout MS] [--new-socket] PAYLOAD...`
// sends each payload and waits for one reply, all from one socket (one source port) or, with --new-socket,
// each from a new one; prints a JSON array of {ok, body?, localPort?, error?}.
import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { host: { type: 'string' }, port: { type: 'string' }, timeout: { type: 'string', default: '3000' }, 'new-socket': { type: 'boolean', default: false } },
})
if (!values.host || !values.port || positionals.length === 0) {
  process.stderr.write('usage: udp-send.js --host H --port P [--timeout MS] [--new-socket] PAYLOAD...\n')
  process.exit(2)
}
const host = values.host
const port = Number(values.port)
const timeoutMs = Number(values.timeout)

async function open(): Promise<Socket> {
  const s = createSocket(host.includes(':') ? 'udp6' : 'udp4')
  s.bind(0)
  await once(s, 'listening')
  return s
}

function exchange(s: Socket, payload: string): Promise<{ ok: boolean; body?: string; localPort: number; error?: string }> {
  const localPort = s.address().port
  return new Promise((resolve) => {
    const timer = setTimeout(() => done({ ok: false, localPort, error: `no reply within ${timeoutMs} ms` }), timeoutMs)
    const onMessage = (msg: Buffer) => done({ ok: true, body: msg.toString(), localPort })
    function done(r: { ok: boolean; body?: string; localPort: number; error?: string }) {
      clearTimeout(timer)
      s.off('message', onMessage)
      resolve(r)
    }
    s.on('message', onMessage)
    s.send(payload, port, host, (err) => err && done({ ok: false, localPort, error: err.message }))
  })
}

const replies = []
let socket = await open()
for (const [i, payload] of positionals.entries()) {
  if (values['new-socket'] && i > 0) {
    socket.close()
    socket = await open()
  }
  replies.push(await exchange(socket, payload))
}
socket.close()
process.stdout.write(JSON.stringify(replies) + '\n')
