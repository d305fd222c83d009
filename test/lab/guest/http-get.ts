// A client in the lab: `node http-get.js --count N --timeout MS URL` sends N GETs one after another, each on
// a new connection, and prints a JSON array of {ok, status, body} or {ok: false, error}. `--method M --json BODY`
// sends another method with a JSON body (a director's API).
import { request } from 'node:http'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    count: { type: 'string', default: '1' }, timeout: { type: 'string', default: '5000' },
    method: { type: 'string', default: 'GET' }, json: { type: 'string' },
  },
})
const url = positionals[0]
if (!url) {
  process.stderr.write('usage: http-get.js [--count N] [--timeout MS] [--method M [--json BODY]] URL\n')
  process.exit(2)
}

interface Reply {
  ok: boolean
  status?: number
  body?: string
  error?: string
}

function get(target: string, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve) => {
    const headers = { connection: 'close', ...(values.json === undefined ? {} : { 'content-type': 'application/json' }) }
    const req = request(target, { agent: false, timeout: timeoutMs, method: values.method, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ ok: true, status: res.statusCode, body }))
      res.on('error', (e) => resolve({ ok: false, error: e.message }))
    })
    req.on('timeout', () => req.destroy(new Error(`no reply within ${timeoutMs} ms`)))
    req.on('error', (e) => resolve({ ok: false, error: e.message }))
    req.end(values.json)
  })
}

const replies: Reply[] = []
for (let i = 0; i < Number(values.count); i++) replies.push(await get(url, Number(values.timeout)))
process.stdout.write(JSON.stringify(replies) + '\n')
