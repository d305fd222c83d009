// A Director on fakes: the in-memory kernel (FakeKernel), the real scheduler on a fake clock, and a checker
// whose answer per real server address the test sets. For the director's logic only; the lab proves the rest.
import type { Checker, CheckTarget } from '../../healthchecks/checker.js'
import { createScheduler } from '../../healthchecks/scheduler.js'
import { parseConfig, type LoadedConfig } from '../../src/config/load.js'
import { EventEmitter, once } from 'node:events'
import { Director } from '../../src/director.js'
import { followPair, pairTable } from '../../src/main.js'
import type { RedisTable } from '../../src/table/redis-table.js'
import type { ListedService } from '../../src/ipvs/parse.js'
import { serviceKey, type Table } from '../../src/ipvs/model.js'
import { Reconciler, type ReconcileEvent } from '../../src/reconcile/reconciler.js'
import type { PersistedTable } from '../../src/table/state-file.js'
import { FakeKernel } from '../ipvs/fake-kernel.js'
import { createFakeClock, type FakeClock } from './fake-clock.js'

/** Everything a director test looks at or drives. */
export interface Harness {
  director: Director
  kernel: FakeKernel
  clock: FakeClock
  /** Probe answer per real server address: true up, false down (default up). */
  alive: Map<string, boolean>
  /** Active connections per `service key|address:port` the kernel reports. */
  active: Map<string, number>
  saved: PersistedTable[]
  events: ReconcileEvent[]
  /** Config the next reload reads (an Error: the reload fails with it). */
  nextConfig: LoadedConfig | Error
  /** The kernel's destinations of one service as `address:port=weight`. */
  weights(key: string): string[]
  /** Resolves once `done()` holds, checked after each line the director logs (fails after `ms`). */
  until(done: () => boolean, what: string, ms?: number): Promise<void>
  close(): Promise<void>
}

/** Build and start a director on `config` (a raw config object), optionally with a kernel and a persisted table. */
export async function startHarness(config: unknown, o: { kernel?: Table; persisted?: PersistedTable; ownedAll?: boolean; shared?: RedisTable; mayFinishDrains?: () => boolean } = {}): Promise<Harness> {
  const clock = createFakeClock(1_000_000)
  const kernel = new FakeKernel(o.kernel)
  const alive = new Map<string, boolean>()
  const active = new Map<string, number>()
  const saved: PersistedTable[] = []
  const events: ReconcileEvent[] = []
  const loaded = parseConfig(config)
  const lines = new EventEmitter()
  const line = () => lines.emit('line')
  const silent = { info: line, warn: line, error: line }
  const owned = new Set<string>()
  const reconciler = new Reconciler(await kernel.read(), {
    writer: kernel, reader: kernel, owned, clock, log: silent,
    store: { record: async () => {}, compact: async () => {} },
    onEvent: (e) => { events.push(e); director.onReconcile(e) },
  })
  const scheduler = createScheduler({ clock, maxConcurrent: 100, random: () => 0 })
  const checker = (): Checker => ({
    kind: 'fake',
    check: async (t: CheckTarget) => (alive.get(t.address) ?? true)
      ? { ok: true, message: 'fine', durationMs: 1 }
      : { ok: false, message: 'ECONNREFUSED', code: 'refused', durationMs: 1 },
  })
  const h: Harness = {
    director: undefined as unknown as Director, kernel, clock, alive, active, saved, events, nextConfig: loaded,
    weights: (key) => kernel.table.services.find((s) => serviceKey(s) === key)?.destinations.map((d) => `${d.address}:${d.port}=${d.weight}`) ?? [],
    async until(done, what, ms = 10_000) {
      const deadline = AbortSignal.timeout(ms)
      while (!done()) {
        try {
          await once(lines, 'line', { signal: deadline })
        } catch {
          throw new Error(`not within ${ms} ms: ${what}`)
        }
      }
    },
    close: async () => { await director.close() },
  }
  const pair = o.shared ? await pairTable(o.shared, o.persisted, 1000, () => {}) : undefined
  const director = new Director({
    config: loaded,
    loadConfig: async () => {
      if (h.nextConfig instanceof Error) throw h.nextConfig
      return h.nextConfig
    },
    persisted: pair?.table ?? o.persisted,
    shared: o.shared,
    mayFinishDrains: o.mayFinishDrains,
    store: {
      record: async (_change, whole) => { saved.push(structuredClone(whole())) },
      compact: async (whole) => { saved.push(structuredClone(whole())) },
    },
    scheduler,
    createChecker: checker,
    reconciler,
    listServices: async (services) => {
      const keys = new Set(services.map(serviceKey))
      return (await listing()).filter((s) => keys.has(s.key))
    },
    kernelStats: () => listing(),
    clock,
    now: () => clock.now(),
    log: silent,
    version: 'test',
  })
  async function listing(): Promise<ListedService[]> {
    return kernel.table.services.map((s) => ({
      key: serviceKey(s), protocol: s.protocol, address: s.address, port: s.port, family: s.family ?? 'inet', destinations: s.destinations.map((d) => ({
        address: d.address, port: d.port ?? 0, weight: d.weight, activeConns: active.get(`${serviceKey(s)}|${d.address}:${d.port}`) ?? 0, inactiveConns: 0,
      })),
    }))
  }
  h.director = director
  await director.start()
  if (o.shared) followPair(o.shared, director, pair?.position)
  return h
}

/** A web service with three real servers on 192.0.2.100:80, each checked with a 1 s interval, fall 2, rise 2. */
export function webConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    services: [{
      name: 'web', protocol: 'tcp', address: '192.0.2.100', port: 80, scheduler: 'wlc',
      check: { kind: 'connect', interval: 1, timeout: 0.5, fall: 2, rise: 2 },
      destinations: [{ address: '192.0.2.11' }, { address: '192.0.2.12', weight: 2 }, { address: '192.0.2.13' }],
      ...extra,
    }],
  }
}
