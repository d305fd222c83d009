// Bearer-token authentication and the read/admin roles: who may call what, and the actor a change is audited as.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Token } from '../config/schema.js'
import { ERR_FORBIDDEN, ERR_UNAUTHORIZED } from '../errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The token's name, or `local` when the API has no tokens (loopback only, main.ts enforces it). */
    actor: string
    /** The token's role (`admin` when the API has no tokens); empty on an open route. */
    role: Token['role'] | ''
  }
  interface FastifyContextConfig {
    /** Served without a token (liveness and readiness probes). */
    open?: boolean
  }
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest()

/** Finds the token a header carries, in time independent of which token (if any) matches. */
export function tokenMatcher(tokens: readonly Token[]): (authorization: unknown) => Token | undefined {
  // Comparing fixed-length hashes keeps timingSafeEqual's equal-length rule from leaking a token's length.
  const known = tokens.map((t) => ({ token: t, hash: sha256(t.token) }))
  return (authorization) => {
    if (typeof authorization !== 'string') return undefined
    const m = /^Bearer +(\S+) *$/i.exec(authorization)
    if (!m) return undefined
    const hash = sha256(m[1]!)
    let found: Token | undefined
    for (const k of known) if (timingSafeEqual(hash, k.hash) && !found) found = k.token
    return found
  }
}

/** Reads need any token, everything else an admin token. */
const needsAdmin = (request: FastifyRequest): boolean => request.method !== 'GET' && request.method !== 'HEAD'

/** Adds the onRequest hook that checks every route's token (this instance and its children). */
export function addAuth(app: FastifyInstance, tokens: readonly Token[]): void {
  app.decorateRequest('actor', '')
  app.decorateRequest('role', '')
  const match = tokenMatcher(tokens)
  app.addHook('onRequest', async (request, reply) => {
    if (tokens.length === 0) {
      request.actor = 'local'
      request.role = 'admin'
      return
    }
    if (request.routeOptions.config.open) return
    const token = match(request.headers.authorization)
    if (!token) {
      reply.header('www-authenticate', 'Bearer realm="lvs-director"')
      throw new ERR_UNAUTHORIZED()
    }
    if (token.role !== 'admin' && needsAdmin(request)) throw new ERR_FORBIDDEN(token.name, token.role)
    request.actor = token.name
    request.role = token.role
  })
}
