// Alerts reach a real webhook on loopback as JSON, each with one log line; a failing webhook is logged and
// counted; a stuck webhook holds at most maxQueued alerts (the oldest are dropped) and close() does not hang.
import t, { type Test } from 'tap'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { Alerts } from '../../src/ha/alerts.js'

async function webhook(t: Test, handle: (body: Record<string, unknown>, res: ServerResponse) => void) {
  const server = createServer((req: IncomingMessage, res) => {
    let text = ''
    req.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => handle(JSON.parse(text) as Record<string, unknown>, res))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`
}

const recorder = () => {
  const lines: Array<{ obj: object; msg: string }> = []
  return { lines, log: { warn: (obj: object, msg: string) => lines.push({ obj, msg }), error: (obj: object, msg: string) => lines.push({ obj, msg }) } }
}

t.test('an alert is one log line and one JSON POST to the webhook', async (t) => {
  const got: Array<Record<string, unknown>> = []
  const url = await webhook(t, (body, res) => { got.push(body); res.end() })
  const { lines, log } = recorder()
  const alerts = new Alerts({ node: 'dir-a', cluster: 'web', webhook: url, headers: { authorization: 'Bearer x' }, log, now: () => Date.UTC(2026, 0, 1) })
  alerts.raise('standby-lost', 'the pair lost its standby dir-b', { peer: 'dir-b' })
  await alerts.close()
  t.same(got, [{ kind: 'standby-lost', node: 'dir-a', cluster: 'web', at: '2026-01-01T00:00:00.000Z', message: 'the pair lost its standby dir-b', detail: { peer: 'dir-b' } }])
  t.same(lines.map((l) => l.msg), ['alert: the pair lost its standby dir-b'])
  t.same(alerts.counts, { sent: 1, failed: 0, dropped: 0 })
})

t.test('a webhook that fails is logged and counted; alerts without a webhook are log lines only', async (t) => {
  const url = await webhook(t, (_b, res) => { res.statusCode = 500; res.end() })
  const { lines, log } = recorder()
  const alerts = new Alerts({ node: 'dir-a', cluster: 'web', webhook: url, log })
  alerts.raise('redis-lost', 'Redis is unreachable')
  await alerts.close()
  t.same(alerts.counts, { sent: 0, failed: 1, dropped: 0 })
  t.match(lines.map((l) => l.msg), ['alert: Redis is unreachable', 'alert webhook failed'])
  const quiet = new Alerts({ node: 'dir-a', cluster: 'web', log })
  quiet.raise('partition', 'heartbeats lost, peer still renews its lease')
  await quiet.close()
  t.same(quiet.counts, { sent: 0, failed: 0, dropped: 0 })
  t.throws(() => new Alerts({ node: 'a', cluster: 'b', webhook: 'file:///etc/passwd', log }), /http\(s\) URL/)
})

t.test('a stuck webhook holds at most maxQueued alerts, and close() ends at the POST deadline', async (t) => {
  let arrived = 0
  const url = await webhook(t, () => { arrived++ }) // never answers
  const { log } = recorder()
  const alerts = new Alerts({ node: 'dir-a', cluster: 'web', webhook: url, log, maxQueued: 2, timeoutMs: 300 })
  for (let i = 0; i < 5; i++) alerts.raise('handover-failed', `handover ${i} failed`)
  t.equal(alerts.counts.dropped, 2, 'the first is being sent, two wait, the two oldest waiting were dropped')
  await alerts.close()
  t.same(alerts.counts, { sent: 0, failed: 1, dropped: 4 }, 'the one in flight timed out; the waiting ones were dropped at close')
  t.equal(arrived, 1)
})
