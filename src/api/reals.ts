// /v1/services/:name/reals: a service's real servers: list, read, add, merge-patch (weight, admin state, thresholds),
// delete, and the drain/enable/disable shortcuts, each one Mutation handed to the director.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AdminState } from '../config/schema.js'
import { RealSchema } from '../config/schema.js'
import { realKey } from '../table/desired-table.js'
import { writeAnswer, type DirectorControl } from './control.js'
import { changeContext, sendTagged } from './replies.js'
import { errors, ForceQuery, IfMatchHeaders, RealParams, RealPatchSchema, RealViewSchema, ServiceParams } from './schemas.js'

const tags = ['real servers']
const realPath = (name: string, key: string) => `/v1/services/${encodeURIComponent(name)}/reals/${encodeURIComponent(key)}`

/** The `/v1/services/:name/reals` routes. */
export const realsRoutes: FastifyPluginAsyncTypebox<{ control: DirectorControl }> = async (app, { control }) => {
  /** Applies a merge patch to one real server and answers its view. */
  async function patch(request: FastifyRequest, reply: FastifyReply, name: string, real: string, body: unknown, force: boolean) {
    const applied = await control.change({ op: 'patch-real', name, real, body, ...(force ? { force } : {}) }, changeContext(request))
    // The answer names the server by its canonical key (the path may have used a bare or long-form address).
    const view = await control.real(name, applied.real ? realKey(applied.real) : real, writeAnswer(applied))
    return sendTagged(request, reply, view.etag, view)
  }

  app.get('/v1/services/:name/reals', {
    schema: { tags, summary: "A service's real servers", params: ServiceParams, response: { 200: Type.Array(RealViewSchema), ...errors(404) } },
  }, async (request) => (await control.service(request.params.name)).destinations)

  app.post('/v1/services/:name/reals', {
    schema: { tags, summary: 'Add a real server', params: ServiceParams, body: RealSchema, response: { 201: RealViewSchema, ...errors(403, 404, 409) } },
  }, async (request, reply) => {
    const { name } = request.params
    const applied = await control.change({ op: 'add-real', name, body: request.body }, changeContext(request))
    const view = await control.real(name, realKey(applied.real!), writeAnswer(applied))
    reply.header('location', realPath(name, view.key))
    return sendTagged(request, reply, view.etag, view, 201)
  })

  app.get('/v1/services/:name/reals/:real', {
    schema: { tags, summary: 'One real server (ETag; If-None-Match gives 304)', params: RealParams, response: { 200: RealViewSchema, 304: Type.Null(), ...errors(404) } },
  }, async (request, reply) => {
    const view = await control.real(request.params.name, request.params.real)
    return sendTagged(request, reply, view.etag, view)
  })

  app.patch('/v1/services/:name/reals/:real', {
    schema: {
      tags, summary: 'Change a real server (JSON merge patch: {"weight": 5}, {"admin": "draining"}); ?force=true skips maxDrainShare',
      params: RealParams, querystring: ForceQuery, headers: IfMatchHeaders, body: RealPatchSchema,
      response: { 200: RealViewSchema, ...errors(403, 404, 409, 412) },
    },
  }, async (request, reply) => patch(request, reply, request.params.name, request.params.real, request.body, request.query.force === true))

  app.delete('/v1/services/:name/reals/:real', {
    schema: { tags, summary: 'Remove a real server now (drain it first to keep its connections)', params: RealParams, headers: IfMatchHeaders, response: { 204: Type.Null(), ...errors(403, 404, 412) } },
  }, async (request, reply) => {
    await control.change({ op: 'delete-real', name: request.params.name, real: request.params.real }, changeContext(request))
    return reply.code(204).send(null)
  })

  // Shortcuts for the admin states: the same merge patch as PATCH {"admin": ...}.
  const shortcuts: Array<[string, AdminState, string]> = [
    ['drain', 'draining', 'Drain: no new connections, removed when its connections end or drainTimeout passes'],
    ['enable', 'enabled', 'Put the real server back in the pool'],
    ['disable', 'disabled', 'Take the real server out of the pool now'],
  ]
  for (const [verb, admin, summary] of shortcuts) {
    app.post(`/v1/services/:name/reals/:real/${verb}`, {
      schema: {
        tags, summary, params: RealParams, querystring: ForceQuery, headers: IfMatchHeaders,
        response: { 200: RealViewSchema, ...errors(403, 404, 409, 412) },
      },
    }, async (request, reply) => patch(request, reply, request.params.name, request.params.real, { admin }, request.query.force === true))
  }
}
