// The live state of the director for the status page: `GET /v1/events`, server-sent events. One producer serves
// every open stream: it builds the state (status, every service with its real servers, the audit trail's last
// entries) once a second, and at once when the audit trail moves (a change here or on the other director, a health
// transition, a drain's end), and writes the same text to each stream. It runs only while a stream is open.
import type { ServerResponse } from 'node:http'
import type { FastifyPluginAsync } from 'fastify'
import type { AuditEntry, DirectorControl, ServiceView, StatusView } from './control.js'

/** What one event carries. */
export interface LiveState {
  at: string
  status: StatusView
  services: ServiceView[]
  /** The audit trail's last entries, oldest first. */
  audit: AuditEntry[]
}

/** Options of the events plugin; the periods are for tests. */
export interface EventsOptions {
  control: DirectorControl
  /** Full refresh (kernel counters, rates). @default 1000 */
  refreshMs?: number
  /** How often the audit trail is looked at for a change to send at once. @default 200 */
  watchMs?: number
  /** Audit entries in each event. @default 20 */
  auditTail?: number
}

export const eventsRoutes: FastifyPluginAsync<EventsOptions> = async (app, o) => {
  const { control } = o
  const refreshMs = o.refreshMs ?? 1000
  const tail = o.auditTail ?? 20
  const streams = new Set<ServerResponse>()
  let lastSeq = -1
  let refresh: NodeJS.Timeout | undefined
  let watch: NodeJS.Timeout | undefined
  let building: Promise<void> | undefined
  let again = false

  const latestSeq = () => control.audit({ after: Math.max(0, lastSeq), limit: 1000 }).at(-1)?.seq ?? lastSeq

  async function build(): Promise<string> {
    const services = await control.services()
    lastSeq = latestSeq()
    const audit = control.audit({ after: Math.max(0, lastSeq - tail), limit: tail })
    const state: LiveState = { at: new Date().toISOString(), status: control.status(), services, audit }
    return `event: state\ndata: ${JSON.stringify(state)}\n\n`
  }

  // One build at a time; a push asked meanwhile runs once after it.
  function push(): void {
    if (building) {
      again = true
      return
    }
    building = build()
      .then((text) => { for (const s of streams) s.write(text) })
      .catch((err) => app.log.warn({ err }, 'status stream: state not built'))
      .finally(() => {
        building = undefined
        if (again && streams.size > 0) {
          again = false
          push()
        }
      })
  }

  function start(): void {
    if (refresh) return
    refresh = setInterval(push, refreshMs)
    watch = setInterval(() => {
      if (control.audit({ after: Math.max(0, lastSeq), limit: 1 }).length > 0) push()
    }, o.watchMs ?? 200)
  }

  function stop(): void {
    clearInterval(refresh)
    clearInterval(watch)
    refresh = watch = undefined
  }

  app.get('/v1/events', {
    schema: {
      tags: ['director'],
      summary: 'The live state (status, services, real servers, the last audit entries) as server-sent events: one at once, then one a second and one at each change',
      produces: ['text/event-stream'],
    },
  }, async (request, reply) => {
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' })
    res.write(': lvs-director live state\n\n')
    streams.add(res)
    start()
    push()
    request.raw.on('close', () => {
      streams.delete(res)
      if (streams.size === 0) stop()
    })
  })

  // Open streams would keep the server from closing.
  app.addHook('preClose', async () => {
    stop()
    for (const s of streams) s.end()
    streams.clear()
  })
}
