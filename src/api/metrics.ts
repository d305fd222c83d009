// Prometheus metrics: per real server (node_exporter's IPVS label names, so dashboards join), the director's own
// state, and API latency. Values are read from the director at scrape time; each app has its own Registry.
import type { FastifyPluginAsync } from 'fastify'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { ADMIN_STATES } from '../config/schema.js'
import type { DirectorControl, ServiceView } from './control.js'

/** node_exporter's `ipvs` collector labels, plus our service name. */
const BACKEND_LABELS = ['service', 'proto', 'local_address', 'local_port', 'local_mark', 'remote_address', 'remote_port'] as const
type BackendLabels = Record<(typeof BACKEND_LABELS)[number], string>

/** The metrics of one API instance. */
export interface ApiMetrics {
  registry: Registry
  /** Sets every gauge and counter from the director's current views. */
  refresh(): Promise<void>
  /** Records one answered request. */
  observe(labels: { method: string; route: string; status_code: string }, seconds: number): void
}

/** Creates the metrics of one API instance, registered in a Registry of its own (never the global one). */
export function createApiMetrics(control: DirectorControl): ApiMetrics {
  const registry = new Registry()
  const registers = [registry]
  const gauge = (name: string, help: string, labelNames: readonly string[] = BACKEND_LABELS) => new Gauge({ name, help, labelNames, registers })
  const counter = (name: string, help: string, labelNames: readonly string[] = BACKEND_LABELS) => new Counter({ name, help, labelNames, registers })

  const weight = gauge('lvsd_backend_weight', 'Weight of the real server in the kernel.')
  const effective = gauge('lvsd_backend_effective_weight', 'Weight the kernel should have: admin state x health x configured weight.')
  const active = gauge('lvsd_backend_connections_active', 'Active connections (kernel).')
  const inactive = gauge('lvsd_backend_connections_inactive', 'Inactive connections (kernel).')
  const healthy = gauge('lvsd_backend_healthy', '1 when the real server passes its check, else 0.')
  const admin = gauge('lvsd_backend_admin_state', 'Admin state of the real server (1 for the current state).', [...BACKEND_LABELS, 'state'])
  // The kernel's own counters: they only grow (until the entry is re-created), so they are counters here too.
  const kernelCounters = {
    connections: counter('lvsd_backend_connections_total', 'Connections scheduled to the real server (kernel).'),
    inPackets: counter('lvsd_backend_incoming_packets_total', 'Packets in (kernel).'),
    outPackets: counter('lvsd_backend_outgoing_packets_total', 'Packets out (kernel).'),
    inBytes: counter('lvsd_backend_incoming_bytes_total', 'Bytes in (kernel).'),
    outBytes: counter('lvsd_backend_outgoing_bytes_total', 'Bytes out (kernel).'),
  }
  const up = gauge('lvsd_up', '1 while the director answers.', [])
  const revision = gauge('lvsd_table_revision', 'Revision of the desired table.', [])
  const applyOk = gauge('lvsd_kernel_apply_ok', '1 when the last kernel apply succeeded, 0 while one is failing.', [])
  const driftRepairs = counter('lvsd_drift_repairs_total', 'Kernel entries repaired after a drift check.', [])
  const storeUp = gauge('lvsd_store_up', '1 while the table store is reachable (a pair: Redis followed), else 0.', [])
  const haActive = gauge('lvsd_ha_active', 'A pair: 1 while this director is active (holds the VIPs), else 0.', [])
  const haEpoch = gauge('lvsd_ha_epoch', 'A pair: the fencing epoch this director holds or last saw.', [])
  const heartbeats = {
    received: counter('lvsd_heartbeat_received_total', 'A pair: valid heartbeats received on the path.', ['path']),
    forged: counter('lvsd_heartbeat_forged_total', 'A pair: datagrams dropped on the path as not authentic (MAC, cluster, version).', ['path']),
    replayed: counter('lvsd_heartbeat_replayed_total', 'A pair: authentic heartbeats dropped on the path as replays or stale.', ['path']),
  }
  const heartbeatAlive = gauge('lvsd_heartbeat_path_up', 'A pair: 1 while the peer is heard on the path.', ['path'])
  const syncLag = gauge('lvsd_sync_lag_seconds', "A pair: from Redis taking the other director's last change to this director making it.", [])
  const duration = new Histogram({
    name: 'lvsd_api_request_duration_seconds',
    help: 'API request latency.',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  })
  const perScrape = [weight, effective, active, inactive, healthy, admin, ...Object.values(kernelCounters), revision, applyOk, driftRepairs, syncLag, haActive, haEpoch, heartbeatAlive, ...Object.values(heartbeats)]

  return {
    registry,
    async refresh() {
      const services = await control.services()
      const status = control.status()
      // Reset first so that a removed service or real server stops being exported.
      for (const m of perScrape) m.reset()
      for (const s of services) {
        for (const r of s.destinations) {
          const labels = backendLabels(s, r.address, r.port ?? 0)
          effective.set(labels, r.effectiveWeight ?? 0)
          healthy.set(labels, r.health.state === 'up' ? 1 : 0)
          for (const state of ADMIN_STATES) admin.set({ ...labels, state }, r.admin === state ? 1 : 0)
          if (!r.kernel) continue
          weight.set(labels, r.kernel.weight)
          if (r.kernel.activeConns !== undefined) active.set(labels, r.kernel.activeConns)
          if (r.kernel.inactiveConns !== undefined) inactive.set(labels, r.kernel.inactiveConns)
          for (const [field, c] of Object.entries(kernelCounters)) c.inc(labels, r.kernel[field as keyof typeof kernelCounters])
        }
      }
      up.set(1)
      revision.set(status.revision)
      applyOk.set(status.kernel.ok ? 1 : 0)
      driftRepairs.inc(status.kernel.driftRepairs)
      storeUp.set(status.store.up ? 1 : 0)
      if (status.store.lastPeerChange) syncLag.set(status.store.lastPeerChange.lagMs / 1000)
      if (status.pair) {
        haActive.set(status.role === 'active' ? 1 : 0)
        haEpoch.set(status.pair.epoch)
        for (const h of status.pair.heartbeat.paths) {
          heartbeatAlive.set({ path: h.name }, h.alive ? 1 : 0)
          for (const [field, c] of Object.entries(heartbeats)) c.inc({ path: h.name }, h[field as keyof typeof heartbeats])
        }
      }
    },
    observe(labels, seconds) {
      duration.observe(labels, seconds)
    },
  }
}

// node_exporter's values: proto as /proc/net/ip_vs writes it (TCP, UDP, FWM), the mark in local_mark.
function backendLabels(s: ServiceView, address: string, port: number): BackendLabels {
  return {
    service: s.name,
    proto: s.protocol === 'fwmark' ? 'FWM' : s.protocol.toUpperCase(),
    local_address: s.address ?? '',
    local_port: String(s.port ?? 0),
    local_mark: s.fwmark === undefined ? '' : String(s.fwmark),
    remote_address: address,
    remote_port: String(port),
  }
}

/** `GET /metrics` (Prometheus text format); needs a read token when tokens are configured. */
export const metricsRoutes: FastifyPluginAsync<{ metrics: ApiMetrics }> = async (app, { metrics }) => {
  app.get('/metrics', {
    schema: { tags: ['metrics'], summary: 'Prometheus metrics', produces: ['text/plain'], response: { 200: { type: 'string' } } },
  }, async (_request, reply) => {
    await metrics.refresh()
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
  })
}
