// GET /metrics: Prometheus text that parses, node_exporter's IPVS label names, counters without state labels.
import t from 'tap'
import { counters, testApi } from '../helpers/fake-control.js'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** A strict parser of the Prometheus text format (0.0.4): every line a comment, a sample or empty. */
function parse(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>()
  const samples: Sample[] = []
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
  const sampleLine = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`)
  for (const line of text.split('\n')) {
    if (line === '') continue
    const meta = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line)
    if (meta) {
      if (meta[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(meta[3]!)) throw new Error(`bad type: ${line}`)
        types.set(meta[2]!, meta[3]!)
      }
      continue
    }
    const m = sampleLine.exec(line)
    if (!m) throw new Error(`not a sample: ${line}`)
    const labels: Record<string, string> = {}
    const rest = (m[2] ?? '').replace(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g, (_all, k: string, v: string) => {
      labels[k] = v
      return ''
    })
    if (rest !== '') throw new Error(`bad labels: ${line}`)
    const value = Number(m[3] === '+Inf' ? Infinity : m[3])
    if (Number.isNaN(value)) throw new Error(`bad value: ${line}`)
    const family = m[1]!.replace(/_(bucket|sum|count)$/, '')
    if (!types.has(m[1]!) && !types.has(family)) throw new Error(`sample without TYPE: ${line}`)
    samples.push({ name: m[1]!, labels, value })
  }
  return { types, samples }
}

const NODE_EXPORTER_LABELS = ['local_address', 'local_port', 'remote_address', 'remote_port', 'proto']

t.test('GET /metrics answers Prometheus text with the backend series and node_exporter label names', async (t) => {
  const { app, control } = testApi(t)
  control.health.set('web|192.0.2.11:80', 'up')
  control.kernel.set('web|192.0.2.11:80', counters(3))
  await app.inject('/v1/services') // one request for the latency histogram
  const res = await app.inject('/metrics')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const { types, samples } = parse(res.body)
  const expected: Record<string, string> = {
    lvsd_backend_weight: 'gauge', lvsd_backend_effective_weight: 'gauge', lvsd_backend_connections_active: 'gauge',
    lvsd_backend_connections_inactive: 'gauge', lvsd_backend_healthy: 'gauge', lvsd_backend_admin_state: 'gauge',
    lvsd_backend_connections_total: 'counter', lvsd_backend_incoming_packets_total: 'counter', lvsd_backend_outgoing_packets_total: 'counter',
    lvsd_backend_incoming_bytes_total: 'counter', lvsd_backend_outgoing_bytes_total: 'counter',
    lvsd_up: 'gauge', lvsd_table_revision: 'gauge', lvsd_kernel_apply_ok: 'gauge', lvsd_drift_repairs_total: 'counter',
    lvsd_api_request_duration_seconds: 'histogram',
  }
  for (const [name, type] of Object.entries(expected)) t.equal(types.get(name), type, name)

  const one = (name: string, labels: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  const web11 = { service: 'web', remote_address: '192.0.2.11', remote_port: '80' }
  const [weight] = one('lvsd_backend_weight', web11)
  t.ok(weight)
  for (const label of [...NODE_EXPORTER_LABELS, 'service']) t.ok(label in weight!.labels, `label ${label}`)
  t.match(weight!.labels, { proto: 'TCP', local_address: '192.0.2.100', local_port: '80' })
  t.equal(one('lvsd_backend_connections_active', web11)[0]!.value, 3)
  t.equal(one('lvsd_backend_connections_total', web11)[0]!.value, 30)
  t.equal(one('lvsd_backend_incoming_bytes_total', web11)[0]!.value, 6400)
  t.equal(one('lvsd_backend_healthy', web11)[0]!.value, 1)
  t.equal(one('lvsd_backend_healthy', { remote_address: '192.0.2.12' })[0]!.value, 0)
  t.equal(one('lvsd_backend_weight', { remote_address: '192.0.2.12' }).length, 0, 'no kernel weight for a server the kernel lacks')
  t.same(one('lvsd_backend_admin_state', web11).map((s) => [s.labels.state, s.value]).sort(), [['disabled', 0], ['draining', 0], ['enabled', 1]])
  t.equal(one('lvsd_backend_healthy', { service: 'sip6' })[0]!.labels.remote_address, '2001:db8::11')
  t.equal(one('lvsd_up')[0]!.value, 1)
  t.equal(one('lvsd_table_revision')[0]!.value, 1)
  t.equal(one('lvsd_kernel_apply_ok')[0]!.value, 1)
  t.equal(one('lvsd_drift_repairs_total')[0]!.value, 2)
  t.ok(one('lvsd_api_request_duration_seconds_count', { route: '/v1/services', method: 'GET', status_code: '200' })[0]!.value >= 1)
  for (const s of samples) {
    if (types.get(s.name) === 'counter' || s.name.endsWith('_total')) t.notOk('state' in s.labels || 'role' in s.labels, `${s.name} has no state label`)
  }
})

t.test('a removed real server stops being exported, and a change shows at the next scrape', async (t) => {
  const { app } = testApi(t)
  await app.inject({ method: 'DELETE', url: '/v1/services/web/reals/192.0.2.14:80' })
  await app.inject({ method: 'POST', url: '/v1/services/web/reals/192.0.2.13:80/drain' })
  const { samples } = parse((await app.inject('/metrics')).body)
  t.notOk(samples.some((s) => s.labels.remote_address === '192.0.2.14'))
  t.equal(samples.find((s) => s.name === 'lvsd_backend_admin_state' && s.labels.remote_address === '192.0.2.13' && s.labels.state === 'draining')!.value, 1)
  t.equal(samples.find((s) => s.name === 'lvsd_table_revision')!.value, 3)
})

t.test('each API instance has its own registry', async (t) => {
  const a = testApi(t)
  const b = testApi(t)
  await a.app.inject('/v1/status')
  const count = (text: string) => parse(text).samples.filter((s) => s.name === 'lvsd_api_request_duration_seconds_count' && s.labels.route === '/v1/status').length
  t.equal(count((await a.app.inject('/metrics')).body), 1)
  t.equal(count((await b.app.inject('/metrics')).body), 0)
})
