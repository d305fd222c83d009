// Liveness and readiness for systemd, load balancers and orchestrators; open without a token.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ERR_NOT_READY } from '../errors.js'
import type { DirectorControl } from './control.js'
import { ErrorSchema } from './schemas.js'

const Ok = Type.Object({ ok: Type.Literal(true) })
const tags = ['probes']

/** `/healthz` (the process answers) and `/readyz` (the kernel table is read and reconciled). */
export const probesRoutes: FastifyPluginAsyncTypebox<{ control: DirectorControl }> = async (app, { control }) => {
  app.get('/healthz', { config: { open: true }, schema: { tags, summary: 'Liveness', security: [], response: { 200: Ok } } }, async () => ({ ok: true as const }))

  app.get('/readyz', {
    config: { open: true },
    schema: { tags, summary: 'Readiness: 503 until the first reconcile', security: [], response: { 200: Ok, 503: Type.Ref(ErrorSchema) } },
  }, async () => {
    if (!control.ready()) throw new ERR_NOT_READY('the kernel table is not yet read and reconciled')
    return { ok: true as const }
  })
}
