// buildApi itself: logging (no line per request; a 5xx at error with its stack), HTTPS, and uncoded errors.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import pino from 'pino'
import { buildApi } from '../../src/api/app.js'
import { createFakeControl, SAMPLE } from '../helpers/fake-control.js'

function sink(): { stream: Writable; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l))
      done()
    },
  })
  return { stream, lines }
}

t.test('requests are not logged at info; an uncoded error is 500 LVS_ERR_INTERNAL, logged at error', async (t) => {
  const { stream, lines } = sink()
  const control = createFakeControl(SAMPLE)
  control.status = () => {
    throw new Error('boom')
  }
  const app = buildApi({ control, tokens: [], version: '1', logger: pino({ level: 'info' }, stream) })
  t.teardown(() => app.close())
  t.equal((await app.inject('/v1/services')).statusCode, 200)
  t.equal((await app.inject('/v1/nope')).statusCode, 404)
  t.same(lines, [], 'nothing logged for ordinary requests and client errors')
  const res = await app.inject('/v1/status')
  t.equal(res.statusCode, 500)
  t.same(res.json(), { code: 'LVS_ERR_INTERNAL', message: 'internal error: boom' })
  t.equal(lines.length, 1)
  t.match(lines[0], { level: 50, msg: 'api request failed', err: { message: 'boom' } })
})

t.test('with https options the API serves TLS', async (t) => {
  const dir = new URL('../fixtures/tls/', import.meta.url)
  const app = buildApi({
    control: createFakeControl(SAMPLE), tokens: [], version: '1',
    https: { cert: readFileSync(new URL('cert.pem', dir)), key: readFileSync(new URL('key.pem', dir)) },
  })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const { request } = await import('node:https')
  const status = await new Promise<number>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    }).on('error', reject).end()
  })
  t.equal(status, 200)
})
