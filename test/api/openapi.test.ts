// The OpenAPI document: valid in structure (checked by hand: no validator package is installed), every route in it,
// every $ref resolving, request bodies from the config schemas.
import t from 'tap'
import { testApi } from '../helpers/fake-control.js'

const ROUTES = [
  ['get', '/v1/services'], ['post', '/v1/services'],
  ['get', '/v1/services/{name}'], ['put', '/v1/services/{name}'], ['patch', '/v1/services/{name}'], ['delete', '/v1/services/{name}'],
  ['get', '/v1/services/{name}/reals'], ['post', '/v1/services/{name}/reals'],
  ['get', '/v1/services/{name}/reals/{real}'], ['patch', '/v1/services/{name}/reals/{real}'], ['delete', '/v1/services/{name}/reals/{real}'],
  ['post', '/v1/services/{name}/reals/{real}/drain'], ['post', '/v1/services/{name}/reals/{real}/enable'], ['post', '/v1/services/{name}/reals/{real}/disable'],
  ['get', '/v1/status'], ['get', '/v1/session'], ['get', '/v1/events'], ['get', '/'], ['get', '/v1/audit'], ['post', '/v1/reload'], ['post', '/v1/switchover'], ['get', '/v1/table'], ['put', '/v1/table'],
  ['get', '/v1/openapi.json'], ['get', '/metrics'], ['get', '/healthz'], ['get', '/readyz'],
] as const

type Doc = {
  openapi: string
  info: { title: string; version: string; description?: string }
  paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: { content: Record<string, { schema: unknown }> }; parameters?: Array<{ in: string; name: string; required?: boolean }>; security?: unknown[] }>>
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> }
}

t.test('GET /v1/openapi.json is an OpenAPI 3 document with every route', async (t) => {
  const { app } = testApi(t)
  const res = await app.inject('/v1/openapi.json')
  t.equal(res.statusCode, 200)
  const doc = JSON.parse(res.body) as Doc
  t.match(doc.openapi, /^3\.0\.\d$/)
  t.same(doc.info, { title: 'lvs-director', version: '0.0.0-test', description: String(doc.info.description ?? '') })
  t.match(doc.components.securitySchemes, { bearer: { type: 'http', scheme: 'bearer' } })
  const listed = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).filter((m) => m !== 'head').map((m) => `${m} ${path}`))
  t.same(listed.sort(), ROUTES.map(([m, p]) => `${m} ${p}`).sort(), 'the routes and nothing else')
  for (const [method, path] of ROUTES) {
    const op = doc.paths[path]![method]!
    t.ok(Object.keys(op.responses).length > 0, `${method} ${path} has responses`)
    for (const name of path.match(/\{(\w+)\}/g) ?? []) {
      t.ok(op.parameters?.some((p) => p.in === 'path' && `{${p.name}}` === name && p.required), `${method} ${path} declares ${name}`)
    }
  }
  t.same(doc.paths['/healthz']!.get!.security, [], 'probes need no token')
  t.ok(doc.paths['/v1/services']!.post!.requestBody!.content['application/json'], 'a service body is JSON')
})

t.test('every $ref in the document resolves, and the bodies carry the config schemas', async (t) => {
  const { app } = testApi(t)
  const doc = (await app.inject('/v1/openapi.json')).json() as Doc
  const refs: string[] = []
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk)
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) k === '$ref' ? refs.push(String(x)) : walk(x)
  }
  walk(doc)
  t.ok(refs.length > 0)
  for (const ref of new Set(refs)) {
    const m = /^#\/components\/schemas\/(.+)$/.exec(ref)
    t.ok(m && doc.components.schemas[m[1]!], `${ref} resolves`)
  }
  const body = doc.paths['/v1/services']!.post!.requestBody!.content['application/json']!.schema as { properties: Record<string, unknown>; additionalProperties: boolean }
  t.ok(body.properties.destinations && body.properties.check && body.properties.drainTimeout, 'ServiceConfigSchema')
  t.equal(body.additionalProperties, false)
  const real = doc.paths['/v1/services/{name}/reals']!.post!.requestBody!.content['application/json']!.schema as { properties: Record<string, unknown> }
  t.ok(real.properties.admin && real.properties.weight, 'RealSchema')
  const error = JSON.stringify(doc.paths['/v1/services/{name}']!.put!.responses['412'])
  t.match(error, /Error|code/, 'errors are documented')
})
