// The CLI's side of the REST API: one request helper (address and token from flags or the environment) and the
// commands that talk to a running director: status, real add/drain/enable/disable/remove/weight, reload,
// export, restore. Errors come back as the API's `{ code, message }`.
import { readFile, writeFile } from 'node:fs/promises'
import { request } from 'undici'
import { stringify } from 'yaml'
import { ERR_DAEMON_UNREACHABLE, ERR_FILE_READ } from './errors.js'
import { parseSource } from './config/yaml.js'
import type { RealView, ServiceView, StatusView } from './api/control.js'

/** Where the director's API is and how to authenticate. */
export interface ClientOptions {
  api: string
  token?: string
}

/** An API error as the CLI reports it. */
class ApiError extends Error {
  constructor(readonly code: string, message: string, readonly status: number) {
    super(message)
  }
}

/** Default API address: `LVS_DIRECTOR_API`, else the daemon's default listen address. */
export const defaultApi = (): string => process.env.LVS_DIRECTOR_API ?? 'http://127.0.0.1:9410'

/** One API call; resolves the parsed JSON body (undefined for 204), throws the API's coded error. */
export async function call(o: ClientOptions, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
  const base = /^https?:\/\//.test(o.api) ? o.api : `http://${o.api}`
  const token = o.token ?? process.env.LVS_DIRECTOR_TOKEN
  let res
  try {
    res = await request(new URL(path, base), {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    })
  } catch (err) {
    throw new ERR_DAEMON_UNREACHABLE(base, (err as Error).message)
  }
  const text = await res.body.text()
  const data = text ? (JSON.parse(text) as unknown) : undefined
  if (res.statusCode >= 400) {
    const e = (data ?? {}) as { code?: string; message?: string }
    throw new ApiError(e.code ?? `HTTP_${res.statusCode}`, e.message ?? `HTTP ${res.statusCode}`, res.statusCode)
  }
  return data
}

const enc = encodeURIComponent
const realPath = (service: string, real: string) => `/v1/services/${enc(service)}/reals/${enc(real)}`

/** `lvs-director real ACTION SERVICE REAL [WEIGHT]`: one change through the API; prints the real server after it. */
export async function realCommand(o: ClientOptions, action: string, service: string, real: string, arg: string | undefined, say: (l: string) => void): Promise<void> {
  let out: unknown
  switch (action) {
    case 'add': {
      const m = /^\[(.+)\]:(\d+)$/.exec(real) ?? /^([^:]+):(\d+)$/.exec(real)
      const body: Record<string, unknown> = m ? { address: m[1], port: Number(m[2]) } : { address: real }
      if (arg !== undefined) body.weight = Number(arg)
      out = await call(o, 'POST', `/v1/services/${enc(service)}/reals`, body)
      break
    }
    case 'drain': case 'enable': case 'disable':
      out = await call(o, 'PATCH', realPath(service, real), { admin: action === 'drain' ? 'draining' : action === 'enable' ? 'enabled' : 'disabled' })
      break
    case 'weight':
      out = await call(o, 'PATCH', realPath(service, real), { weight: Number(arg) })
      break
    case 'remove':
      await call(o, 'DELETE', realPath(service, real))
      say(`removed ${real} from ${service}`)
      return
  }
  const r = out as RealView
  say(`${service} ${r.key}: admin ${r.admin}, weight ${r.weight}, effective ${r.effectiveWeight ?? 'out'}, health ${r.health.state}`)
}

/** `lvs-director status`: the ipvsadm -Ln view with health, admin state and effective weight. */
export async function statusCommand(o: ClientOptions, json: boolean, say: (l: string) => void): Promise<void> {
  const status = (await call(o, 'GET', '/v1/status')) as StatusView
  const services = (await call(o, 'GET', '/v1/services')) as ServiceView[]
  if (json) return say(JSON.stringify({ status, services }))
  say(formatStatus(status, services))
}

/** A pair's lines of the status: this director, the peer, each heartbeat path, the lease, the table store. */
function pairLines(st: StatusView): string[] {
  const p = st.pair
  const at = st.store.position ? ` at ${st.store.position.id} (r${st.store.position.revision})` : ''
  const lag = `${at}${st.store.lastPeerChange ? `, last peer change r${st.store.lastPeerChange.revision} lag ${st.store.lastPeerChange.lagMs} ms` : ''}`
  if (!p) return st.store.kind === 'redis' ? [`table: redis ${st.store.up ? 'followed' : 'UNREACHABLE'}${lag}`] : []
  return [
    `pair: ${p.node} ${st.role} epoch ${p.epoch} (${p.reason})  vips ${p.vips.join(' ') || '-'}  peer ${p.peer.node ?? '?'} ${p.peer.alive ? `${p.peer.role ?? '?'} epoch ${p.peer.epoch}` : 'SILENT'}`,
    ...p.heartbeat.paths.map((h) => `  heartbeat ${h.name}: ${h.alive ? 'alive' : 'SILENT'}${h.lastHeardMsAgo !== undefined ? ` (heard ${Math.round(h.lastHeardMsAgo)} ms ago)` : ''}  sent ${h.sent} received ${h.received} forged ${h.forged} replayed ${h.replayed}`),
    `  lease: ${p.lease.up === false ? 'Redis UNREACHABLE' : `held by ${p.lease.holder ?? 'nobody'}`}  table: redis ${st.store.up ? 'followed' : 'UNREACHABLE'}${lag}${p.heartbeat.stopped ? '  HEARTBEATS STOPPED (main loop stalled)' : ''}`,
  ]
}

/** The status table (pure, for tests). */
export function formatStatus(st: StatusView, services: ServiceView[]): string {
  const r = st.reals
  const lines = [
    `lvs-director ${st.version}  role ${st.role}  revision ${st.revision}  kernel ${st.kernel.ok ? 'ok' : `FAILING (${st.kernel.lastError?.code ?? '?'}, ${st.kernel.pending} pending)`}` +
      `  reals: ${r.up} up, ${r.down} down, ${r.unknown} unknown, ${r.draining} draining, ${r.disabled} disabled` +
      (st.reload.ok ? '' : `  last reload REFUSED: ${st.reload.error?.code}`),
    ...pairLines(st),
    'Prot LocalAddress:Port Scheduler Flags                      Name',
    '  -> RemoteAddress:Port           Forward Weight Eff    ActiveConn InActConn Health  Admin',
  ]
  const fwd = { dr: 'Route', nat: 'Masq', tun: 'Tunnel' } as const
  for (const s of services) {
    const id = s.protocol === 'fwmark' ? `FWM  ${s.fwmark}` : `${s.protocol.toUpperCase()}  ${s.key.split('/')[1]}`
    const flags = [s.persistent ? `persistent ${s.persistent}` : '', s.pe ? `pe ${s.pe}` : '', s.fallbackActive ? 'FALLBACK' : ''].filter(Boolean).join(' ')
    lines.push(`${`${id} ${s.scheduler} ${flags}`.padEnd(59)} ${s.name}`)
    for (const d of s.destinations) {
      lines.push(`  -> ${d.key.padEnd(28)} ${fwd[d.forwarding].padEnd(7)} ${String(d.weight).padEnd(6)} ${String(d.effectiveWeight ?? '-').padEnd(6)} ${String(d.kernel?.activeConns ?? '-').padEnd(10)} ${String(d.kernel?.inactiveConns ?? '-').padEnd(9)} ${d.health.state.padEnd(7)} ${d.admin}`)
    }
  }
  return lines.join('\n')
}

/** `lvs-director export FILE`: the desired table as a config file (YAML) with its revision. */
export async function exportCommand(o: ClientOptions, file: string, say: (l: string) => void): Promise<void> {
  const t = (await call(o, 'GET', '/v1/table')) as { revision: number; services: unknown[] }
  await writeFile(file, `# lvs-director export, revision ${t.revision}\n${stringify({ services: t.services })}`, { mode: 0o600 })
  say(`exported ${t.services.length} service(s), revision ${t.revision}, to ${file}`)
}

/** `lvs-director restore FILE`: replace the director's whole desired table with a file's services. */
export async function restoreCommand(o: ClientOptions, file: string, say: (l: string) => void): Promise<void> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ERR_FILE_READ(file, (err as Error).message)
  }
  const doc = parseSource(text, file).value as { services?: unknown }
  const out = (await call(o, 'PUT', '/v1/table', { services: doc?.services ?? [] }, { 'if-match': '*' })) as { revision: number }
  say(`restored ${file}: revision ${out.revision}`)
}
