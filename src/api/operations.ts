// The director as a whole: its status, the audit trail, a config reload, a pair's switchover, the desired table's export and restore
// (backups and disaster recovery), and the OpenAPI document of the whole API.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ERR_BAD_REQUEST } from '../errors.js'
import type { DirectorControl } from './control.js'
import { changeContext, sendTagged } from './replies.js'
import { AuditEntrySchema, AuditQuery, errors, IfMatchHeaders, ReloadSchema, StatusViewSchema, TableExportSchema, TableRestoreSchema } from './schemas.js'

const tags = ['director']

/** `/v1/status`, `/v1/session`, `/v1/audit`, `/v1/reload`, `/v1/switchover`, `/v1/table` and `/v1/openapi.json`. */
export const operationsRoutes: FastifyPluginAsyncTypebox<{ control: DirectorControl }> = async (app, { control }) => {
  app.get('/v1/openapi.json', { schema: { tags, summary: 'This document (OpenAPI 3)' } }, async () => app.swagger())

  app.get('/v1/status', {
    schema: { tags, summary: 'Role, table revision, real servers by state, kernel and reload state', response: { 200: StatusViewSchema, ...errors() } },
  }, async () => control.status())

  app.get('/v1/session', {
    schema: {
      tags, summary: 'Who the token is: its name and role (the status page shows its actions to admin tokens only)',
      response: { 200: Type.Object({ actor: Type.String(), role: Type.Union([Type.Literal('read'), Type.Literal('admin')]) }), ...errors() },
    },
  }, async (request) => ({ actor: request.actor, role: request.role || 'read' }))

  app.get('/v1/audit', {
    schema: {
      tags, summary: 'Changes to the desired table, oldest first; ?after=SEQ pages on', querystring: AuditQuery,
      response: { 200: Type.Object({ entries: Type.Array(AuditEntrySchema) }), ...errors() },
    },
  }, async (request) => ({ entries: control.audit({ ...request.query, limit: request.query.limit ?? 100 }) }))

  app.post('/v1/reload', {
    schema: { tags, summary: 'Re-read the config file (as SIGHUP); a bad file changes nothing', response: { 200: ReloadSchema, ...errors(403) } },
  }, async (request) => control.reload(request.actor))

  app.post('/v1/switchover', {
    schema: {
      tags, summary: 'Hand the VIPs to the other director of the pair (planned, no request fails); answers at once with the role',
      response: { 202: Type.Object({ role: StatusViewSchema.properties.role }), ...errors(403, 409) },
    },
  }, async (request, reply) => reply.code(202).send(await control.switchover(request.actor)))

  app.get('/v1/table', {
    schema: { tags, summary: 'Export the desired table (ETag for a later restore)', response: { 200: TableExportSchema, 304: Type.Null(), ...errors() } },
  }, async (request, reply) => {
    const { etag, revision, services } = control.exportTable()
    return sendTagged(request, reply, etag, { revision, services })
  })

  app.put('/v1/table', {
    schema: {
      tags, summary: 'Replace the whole desired table; If-Match is the export\'s ETag or "*"', headers: IfMatchHeaders, body: TableRestoreSchema,
      response: { 200: TableExportSchema, ...errors(403, 409, 412) },
    },
  }, async (request, reply) => {
    // An export is sent back as it is; anything else besides its services is a mistake worth saying.
    const { services: restored, revision: _ignored, ...unknown } = request.body
    const extra = Object.keys(unknown)
    if (extra.length > 0) throw new ERR_BAD_REQUEST(`unknown field ${JSON.stringify(extra[0]!.slice(0, 40))} (send {services: [...]})`)
    await control.restoreTable(restored, changeContext(request))
    const { etag, revision, services } = control.exportTable()
    return sendTagged(request, reply, etag, { revision, services })
  })
}
