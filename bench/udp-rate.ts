// A UDP load in the lab: `node udp-rate.js --targets HOST:PORT[,HOST:PORT...] --count N [--sockets 30] [--window 8]`
// sends N datagrams from --sockets sockets (each its own source port, so IPVS spreads them; socket i sends to target
// i mod the targets), each keeping at most --window unanswered, and counts the answers (one per datagram: the lab's
// echo server). A datagram unanswered for 500 ms is lost. Prints {sent, received, seconds, perSec} as JSON; stops by
// itself once every datagram is answered or lost.
import { createSocket, type Socket } from 'node:dgram'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { targets: { type: 'string' }, count: { type: 'string' }, sockets: { type: 'string', default: '30' }, window: { type: 'string', default: '8' } } })
const targets = (values.targets ?? '').split(',').filter(Boolean).map((t) => {
  const i = t.lastIndexOf(':')
  return { host: t.slice(0, i), port: Number(t.slice(i + 1)) }
})
const count = Number(values.count)
const sockets = Number(values.sockets)
const window = Number(values.window)
if (targets.length === 0 || !(count > 0) || !(sockets > 0) || !(window > 0)) {
  process.stderr.write('usage: udp-rate.js --targets HOST:PORT[,...] --count N [--sockets S] [--window W]\n')
  process.exit(2)
}
const LOST_MS = 500
const payload = Buffer.from('OPTIONS sip:bench@lab SIP/2.0\r\n\r\n')
let sent = 0
let received = 0
const started = performance.now()

function run(i: number): Promise<void> {
  const target = targets[i % targets.length]!
  const quota = Math.floor(count / sockets) + (i < count % sockets ? 1 : 0)
  const s: Socket = createSocket('udp4')
  let mine = 0
  let outstanding = 0
  let timer: NodeJS.Timeout | undefined
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer)
      s.close()
      resolve()
    }
    const lost = () => {
      outstanding = 0 // every datagram still out is lost
      fill()
    }
    const fill = () => {
      clearTimeout(timer)
      while (outstanding < window && mine < quota) {
        s.send(payload, target.port, target.host)
        mine++
        sent++
        outstanding++
      }
      if (outstanding === 0 && mine >= quota) return finish()
      timer = setTimeout(lost, LOST_MS)
    }
    s.on('message', () => {
      received++
      if (outstanding > 0) outstanding--
      fill()
    })
    s.bind(0, fill)
  })
}

await Promise.all(Array.from({ length: sockets }, (_x, i) => run(i)))
const seconds = (performance.now() - started) / 1000
process.stdout.write(`${JSON.stringify({ sent, received, seconds: Number(seconds.toFixed(3)), perSec: Math.round(received / seconds) })}\n`)
