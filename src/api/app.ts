// The director's REST API as one fastify instance: parsers and limits, auth, error answers, OpenAPI, metrics, the
// status page and its live stream, and one plugin per resource. It never listens (src/main.ts does) and never
// touches the kernel (control does).
import swagger from '@fastify/swagger'
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifySchemaCompiler } from 'fastify'
import type { Token } from '../config/schema.js'
import { ERR_BAD_REQUEST } from '../errors.js'
import { addAuth } from './auth.js'
import type { DirectorControl } from './control.js'
import { eventsRoutes } from './events.js'
import { createApiMetrics, metricsRoutes } from './metrics.js'
import { operationsRoutes } from './operations.js'
import { probesRoutes } from './probes.js'
import { realsRoutes } from './reals.js'
import { addErrorHandlers, answerError, BODY_LIMIT, checkConditionalHeaders } from './replies.js'
import { ErrorSchema } from './schemas.js'
import { servicesRoutes } from './services.js'
import { pageRoutes } from './status-page.js'

/** What the API is built from. */
export interface ApiOptions {
  control: DirectorControl
  /** Bearer tokens; none = everything open as actor `local` (main.ts allows that on loopback only). */
  tokens: Token[]
  /** The daemon's pino logger; request logging stays off (the daemon logs state changes, not requests). */
  logger?: FastifyBaseLogger
  /** PEM contents (not paths) of the certificate and key; absent = plain HTTP. */
  https?: { cert: string | Buffer; key: string | Buffer }
  /** The director's version, shown in the OpenAPI document. */
  version: string
}

// Request bodies are checked by the director's one normaliser (the same code as the config file and a reload, so
// all three accept and refuse the same things, with profiles applied first); the body schemas document them.
// Here a body need only be a JSON object. Path and query parts are checked (and coerced) by their TypeBox schemas.
const validatorCompiler: FastifySchemaCompiler<unknown> = (route) => {
  if (route.httpPart !== 'body') return TypeBoxValidatorCompiler(route as Parameters<typeof TypeBoxValidatorCompiler>[0])
  return (value: unknown) =>
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? { value }
      : { error: new ERR_BAD_REQUEST('the body must be a JSON object') }
}

/** Builds the API (call `listen` on it, or `inject` in tests). */
export function buildApi(options: ApiOptions): FastifyInstance {
  const app = fastify({
    ...(options.logger ? { loggerInstance: options.logger } : {}),
    ...(options.https ? { https: options.https } : {}),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    frameworkErrors: answerError,
    routerOptions: { maxParamLength: 200 },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as FastifyInstance

  app.setValidatorCompiler(validatorCompiler)
  // Answers are the director's own typed views: JSON.stringify them rather than compile a serializer per route
  // schema at start-up (fast-json-stringify took most of the API's start, seconds under emulation). The response
  // schemas still document every answer in the OpenAPI document.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data))
  // Bodies are JSON only: a text/plain body would reach the handlers as a string.
  app.removeContentTypeParser('text/plain')
  // A merge patch is JSON with its own media type (RFC 7386); fastify's JSON parser reads both.
  app.addContentTypeParser('application/merge-patch+json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'))
  addErrorHandlers(app)
  app.addHook('preHandler', checkConditionalHeaders)
  addAuth(app, options.tokens)

  const metrics = createApiMetrics(options.control)
  app.addHook('onResponse', async (request, reply) => {
    metrics.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) }, reply.elapsedTime / 1000)
  })

  app.addSchema(ErrorSchema)
  app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'lvs-director', description: 'The director of a Linux Virtual Server cluster: services, real servers, drain, status.', version: options.version },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    // Shared schemas keep their $id as their name (Error, Service, Real, Status) instead of def-N.
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  })
  const control = options.control
  app.register(servicesRoutes, { control })
  app.register(realsRoutes, { control })
  app.register(operationsRoutes, { control })
  app.register(probesRoutes, { control })
  app.register(metricsRoutes, { metrics })
  app.register(eventsRoutes, { control })
  app.register(pageRoutes)
  return app
}
