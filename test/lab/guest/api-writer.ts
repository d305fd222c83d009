// A client of the director's REST API that makes many writes one after another: `node api-writer.js --api URL
// --service NAME --count N ADDRESS_PREFIX` adds real servers PREFIX0, PREFIX1, ... (POST /v1/services/NAME/reals)
// and prints one JSON line per write, {i, address, status?, error?, sentAt, answeredAt} (`status` 2xx: acknowledged;
// times in epoch ms), then "done". The suffix is hexadecimal after an IPv6 prefix, decimal after an IPv4 one.
// `--parallel N` keeps N writes in flight (a director batches what arrives together into one kernel write).
// A refused or failed write does not stop it: the next one is tried (a killed director refuses them all).
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { api: { type: 'string' }, service: { type: 'string' }, count: { type: 'string' }, timeout: { type: 'string', default: '10000' }, parallel: { type: 'string', default: '1' } },
})
const prefix = positionals[0]
if (!values.api || !values.service || !values.count || !prefix) {
  process.stderr.write('usage: api-writer.js --api URL --service NAME --count N [--timeout MS] [--parallel N] ADDRESS_PREFIX\n')
  process.exit(2)
}
const url = `${values.api}/v1/services/${encodeURIComponent(values.service)}/reals`
const count = Number(values.count)
let next = 0
async function worker(): Promise<void> {
  for (let i = next++; i < count; i = next++) {
    const address = `${prefix}${i.toString(prefix!.includes(":") ? 16 : 10)}`
    let line: { i: number; address: string; status?: number; error?: string; sentAt?: number; answeredAt?: number }
    const sentAt = Date.now()
    try {
      const res = await fetch(url, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address }),
        signal: AbortSignal.timeout(Number(values.timeout)),
      })
      await res.arrayBuffer()
      line = { i, address, status: res.status }
    } catch (err) {
      line = { i, address, error: (err as Error).cause ? String((err as Error).cause) : (err as Error).message }
    }
    process.stdout.write(JSON.stringify({ ...line, sentAt, answeredAt: Date.now() }) + '\n')
  }
}
await Promise.all(Array.from({ length: Number(values.parallel) }, worker))
process.stdout.write('done\n')
