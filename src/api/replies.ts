// How the API answers: every error as `{ code, message }` with a stable LVS_ERR_ code, resources with their ETag,
// and the change context (actor, If-Match) a write hands to the director.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import {
  ERR_BAD_REQUEST,
  ERR_BODY_TOO_LARGE,
  ERR_INTERNAL,
  ERR_NOT_FOUND,
  ERR_UNSUPPORTED_MEDIA_TYPE,
} from '../errors.js'
import type { ChangeContext } from './control.js'

interface CodedError {
  code: string
  statusCode: number
  message: string
  revision?: number
}

/** The LVS_ERR_ error an error from a route, a hook or fastify itself stands for. */
export function toApiError(err: FastifyError): CodedError {
  // A path or query schema refused the request; fastify's message names the part and field (`querystring/limit ...`).
  if (err.validation) return new ERR_BAD_REQUEST(err.message)
  const code = typeof err.code === 'string' ? err.code : ''
  if (code.startsWith('LVS_ERR_') && typeof err.statusCode === 'number') {
    const { revision } = err as { revision?: unknown }
    return { code, statusCode: err.statusCode, message: err.message, ...(typeof revision === 'number' ? { revision } : {}) }
  }
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new ERR_UNSUPPORTED_MEDIA_TYPE(JSON.stringify(String(err.message).replace(/^Unsupported Media Type: ?/, '')))
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new ERR_BODY_TOO_LARGE(BODY_LIMIT)
  // Fastify's other client errors (bad JSON, empty JSON body, __proto__ keys, bad Content-Length) keep their status.
  const status = err.statusCode ?? 500
  if (status >= 400 && status < 500) return Object.assign(new ERR_BAD_REQUEST(err.message), { statusCode: status })
  return new ERR_INTERNAL(err.message)
}

/** Request bodies are small JSON documents; a whole-table restore of thousands of services still fits. */
export const BODY_LIMIT = 1024 * 1024 // 1 MiB

/** Installs the error and not-found handlers on the root instance (children inherit them). */
export function addErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler(async (err: FastifyError, request, reply) => answerError(err, request, reply))
  app.setNotFoundHandler(async (request) => {
    throw new ERR_NOT_FOUND(`route ${request.method} ${request.url.slice(0, 100)}`)
  })
}

/** Answers an error as `{ code, message }`; also fastify's `frameworkErrors` (a malformed URL, before any route). */
export function answerError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const e = toApiError(err)
  // The daemon logs state changes, not requests: client errors only at debug, server errors always.
  if (e.statusCode >= 500) request.log.error({ err }, 'api request failed')
  else request.log.debug({ code: e.code, message: e.message }, 'api request refused')
  return reply.code(e.statusCode).type('application/json').send({ code: e.code, message: e.message, ...(e.revision !== undefined ? { revision: e.revision } : {}) })
}

/** The tags of an If-Match / If-None-Match header, or `*`; LVS_ERR_BAD_REQUEST when it is not a list of ETags. */
export function entityTags(header: unknown, name: string): string[] | undefined {
  if (header === undefined) return undefined
  if (typeof header !== 'string' || header.length > 1024) throw new ERR_BAD_REQUEST(`${name} must be "*" or a list of ETags`)
  if (header.trim() === '*') return ['*']
  const tags = header.split(',').map((t) => t.trim())
  if (!tags.every((t) => /^(W\/)?"[\x21\x23-\x7e]*"$/.test(t))) throw new ERR_BAD_REQUEST(`${name} must be "*" or a list of ETags`)
  return tags
}

/** Refuses a malformed If-Match or If-None-Match before any handler runs, so a refused request changed nothing. */
export async function checkConditionalHeaders(request: FastifyRequest): Promise<void> {
  entityTags(request.headers['if-match'], 'If-Match')
  entityTags(request.headers['if-none-match'], 'If-None-Match')
}

/** Who changes the table, and the ETag they saw: what every write passes to `control.change`. */
export function changeContext(request: FastifyRequest): ChangeContext {
  const tags = entityTags(request.headers['if-match'], 'If-Match')
  return tags ? { actor: request.actor, ifMatch: tags.join(', ') } : { actor: request.actor }
}

/** Sends a resource with its ETag; a GET whose If-None-Match holds that tag gets 304 and no body. */
export function sendTagged(request: FastifyRequest, reply: FastifyReply, etag: string, body: unknown, status = 200): FastifyReply {
  reply.header('etag', etag)
  const tags = entityTags(request.headers['if-none-match'], 'If-None-Match')
  if (request.method === 'GET' && tags && (tags[0] === '*' || tags.map((t) => t.replace(/^W\//, '')).includes(etag))) {
    return reply.code(304).send()
  }
  return reply.code(status).send(body)
}
