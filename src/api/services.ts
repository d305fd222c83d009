// /v1/services: list, read, create, replace, merge-patch and delete virtual services. Each write is one Mutation
// handed to the director; the answer is the service as the director then sees it.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ServiceConfigSchema } from '../config/schema.js'
import { writeAnswer, type DirectorControl } from './control.js'
import { changeContext, sendTagged } from './replies.js'
import { errors, IfMatchHeaders, ServiceParams, ServicePatchSchema, ServiceViewSchema } from './schemas.js'

const tags = ['services']

/** The `/v1/services` routes. */
export const servicesRoutes: FastifyPluginAsyncTypebox<{ control: DirectorControl }> = async (app, { control }) => {
  app.get('/v1/services', {
    schema: { tags, summary: 'All services with their real servers, health and kernel counters', response: { 200: Type.Array(ServiceViewSchema), ...errors() } },
  }, async () => control.services())

  app.post('/v1/services', {
    schema: { tags, summary: 'Create a service', body: ServiceConfigSchema, response: { 201: ServiceViewSchema, ...errors(403, 409) } },
  }, async (request, reply) => {
    const applied = await control.change({ op: 'create-service', body: request.body }, changeContext(request))
    const view = await control.service(applied.service!.name, writeAnswer(applied))
    reply.header('location', `/v1/services/${encodeURIComponent(view.name)}`)
    return sendTagged(request, reply, view.etag, view, 201)
  })

  app.get('/v1/services/:name', {
    schema: { tags, summary: 'One service (ETag; If-None-Match gives 304)', params: ServiceParams, response: { 200: ServiceViewSchema, 304: Type.Null(), ...errors(404) } },
  }, async (request, reply) => {
    const view = await control.service(request.params.name)
    return sendTagged(request, reply, view.etag, view)
  })

  app.put('/v1/services/:name', {
    schema: {
      tags, summary: 'Replace a service (its real servers too); If-Match guards it',
      params: ServiceParams, headers: IfMatchHeaders, body: ServiceConfigSchema, response: { 200: ServiceViewSchema, ...errors(403, 404, 409, 412) },
    },
  }, async (request, reply) => {
    const { name } = request.params
    const applied = await control.change({ op: 'replace-service', name, body: request.body }, changeContext(request))
    const view = await control.service(name, writeAnswer(applied))
    return sendTagged(request, reply, view.etag, view)
  })

  app.patch('/v1/services/:name', {
    schema: {
      tags, summary: 'Change some fields of a service (JSON merge patch)',
      params: ServiceParams, headers: IfMatchHeaders, body: ServicePatchSchema, response: { 200: ServiceViewSchema, ...errors(403, 404, 409, 412) },
    },
  }, async (request, reply) => {
    const { name } = request.params
    const applied = await control.change({ op: 'patch-service', name, body: request.body }, changeContext(request))
    const view = await control.service(name, writeAnswer(applied))
    return sendTagged(request, reply, view.etag, view)
  })

  app.delete('/v1/services/:name', {
    schema: { tags, summary: 'Delete a service and its real servers', params: ServiceParams, headers: IfMatchHeaders, response: { 204: Type.Null(), ...errors(403, 404, 412) } },
  }, async (request, reply) => {
    await control.change({ op: 'delete-service', name: request.params.name }, changeContext(request))
    return reply.code(204).send(null)
  })
}
