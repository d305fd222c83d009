// A DirectorControl for API tests: a real DesiredTable, with health and kernel counters set by the test.
import type { FastifyInstance } from 'fastify'
import { buildApi } from '../../src/api/app.js'
import type { AuditEntry, DirectorControl, KernelCounters, RealView, ServiceView, StatusView } from '../../src/api/control.js'
import type { RealConfig, Token } from '../../src/config/schema.js'
import { kernelKey, normalizeServiceConfig, type DesiredService } from '../../src/config/service.js'
import { ERR_BAD_REQUEST, ERR_SWITCHOVER_REFUSED } from '../../src/errors.js'
import { DesiredTable, etag, realKey, type Mutation } from '../../src/table/desired-table.js'

export interface FakeControl extends DirectorControl {
  table: DesiredTable
  /** Health by `service|addr:port`; unknown when absent. */
  health: Map<string, 'up' | 'down'>
  /** Kernel counters by `service|addr:port`; absent = not in the kernel. */
  kernel: Map<string, KernelCounters & { weight: number }>
  /** What a reload reads (raw services, as in a config file). */
  configFile: unknown[]
  setReady(ready: boolean): void
  /** Every call of change(), refused or not. */
  calls: Array<{ m: Mutation; actor: string; ifMatch?: string }>
}

export const counters = (n: number): KernelCounters & { weight: number } => ({
  weight: 1, activeConns: n, inactiveConns: 1, connections: 10 * n, inPackets: 100, outPackets: 0, inBytes: 6400, outBytes: 0,
  cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0,
})

/** A fake director holding `services` (raw, normalised here). */
export function createFakeControl(services: unknown[] = [], options: { maxDrainShare?: number } = {}): FakeControl {
  const normalize = (raw: unknown[]) => raw.map((s, i) => normalizeServiceConfig(s, `/services/${i}`))
  const table = new DesiredTable(normalize(services), 1, { checks: {}, maxDrainShare: options.maxDrainShare ?? 0.5 })
  const health = new Map<string, 'up' | 'down'>()
  const kernel = new Map<string, KernelCounters & { weight: number }>()
  const log: AuditEntry[] = []
  const calls: FakeControl['calls'] = []
  let ready = true

  const realView = (s: DesiredService, r: RealConfig): RealView => {
    const id = `${s.name}|${realKey(r)}`
    const state = health.get(id) ?? 'unknown'
    const out = r.admin === 'disabled' || (state === 'down' && !s.quiescent)
    const k = kernel.get(id)
    return {
      ...r,
      key: realKey(r),
      etag: etag(r),
      health: { state },
      effectiveWeight: out ? null : r.admin === 'enabled' && state === 'up' ? r.weight : 0,
      ...(k ? { kernel: k } : {}),
    }
  }
  const serviceView = (s: DesiredService): ServiceView => ({
    ...s,
    key: kernelKey(s),
    etag: etag(s),
    destinations: s.destinations.map((r) => realView(s, r)),
    fallbackActive: false,
  })
  const audit = (actor: string, action: string, target: string) =>
    log.push({ seq: log.length + 1, at: new Date(0).toISOString(), actor, action, target })

  return {
    table, health, kernel, calls,
    configFile: services,
    setReady(r) {
      ready = r
    },
    async services() {
      return table.list().map(serviceView)
    },
    async service(name) {
      return serviceView(table.service(name))
    },
    async real(name, real) {
      return realView(table.service(name), table.real(name, real))
    },
    async change(m, ctx) {
      calls.push({ m, actor: ctx.actor, ...(ctx.ifMatch !== undefined ? { ifMatch: ctx.ifMatch } : {}) })
      const applied = table.apply(m, ctx.ifMatch)
      audit(ctx.actor, m.op, 'name' in m ? `service ${m.name}` : `service ${applied.service?.name}`)
      return applied
    },
    async reload(actor) {
      const applied = table.replaceAll(normalize(this.configFile))
      audit(actor, 'reload', 'table')
      return { revision: applied.revision, changed: applied.touched.length }
    },
    exportTable() {
      return { revision: table.revision, etag: table.tableTag(), services: table.list() }
    },
    async restoreTable(services, ctx) {
      if (!Array.isArray(services)) throw new ERR_BAD_REQUEST('services must be a list')
      const applied = table.replaceAll(normalize(services), ctx.ifMatch)
      audit(ctx.actor, 'restore', 'table')
      return applied
    },
    status(): StatusView {
      const reals = table.list().flatMap((s) => s.destinations.map((r) => realView(s, r)))
      const count = (f: (r: RealView) => boolean) => reals.filter(f).length
      return {
        role: 'single', version: 'test', startedAt: new Date(0).toISOString(), revision: table.revision, services: table.list().length,
        reals: {
          up: count((r) => r.health.state === 'up'), down: count((r) => r.health.state === 'down'), unknown: count((r) => r.health.state === 'unknown'),
          draining: count((r) => r.admin === 'draining'), disabled: count((r) => r.admin === 'disabled'),
        },
        kernel: { ok: true, pending: 0, driftRepairs: 2 },
        reload: { ok: true },
        store: { kind: 'file', up: true },
      }
    },
    async switchover() {
      throw new ERR_SWITCHOVER_REFUSED('this director is not part of a pair (director.pair)')
    },
    audit({ after = 0, limit = 100 }) {
      return log.filter((e) => e.seq > after).slice(0, limit)
    },
    ready: () => ready,
  }
}

/** A web service with four real servers and an IPv6 SIP service with one. */
export const SAMPLE = [
  {
    name: 'web', protocol: 'tcp', address: '192.0.2.100', port: 80, check: { kind: 'connect' },
    destinations: [11, 12, 13, 14].map((n) => ({ address: `192.0.2.${n}` })),
  },
  { name: 'sip6', protocol: 'udp', address: '2001:db8::100', port: 5060, check: { kind: 'connect' }, destinations: [{ address: '2001:db8::11' }] },
]

export const ADMIN = { name: 'ops', token: 'admin-token-0123456789', role: 'admin' as const }
export const READER = { name: 'grafana', token: 'read-token-0123456789', role: 'read' as const }

/** An API over a fake director holding SAMPLE, closed when the test ends. */
export function testApi(
  t: { teardown(fn: () => unknown): void },
  options: { tokens?: Token[]; services?: unknown[]; maxDrainShare?: number } = {},
): { app: FastifyInstance; control: FakeControl } {
  const control = createFakeControl(options.services ?? SAMPLE, options)
  const app = buildApi({ control, tokens: options.tokens ?? [], version: '0.0.0-test' })
  t.teardown(() => app.close())
  return { app, control }
}
