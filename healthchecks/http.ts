// The `http` and `https` checks: one request through undici, judged by status code and body regex.
import { Agent, type Dispatcher } from 'undici'
import net from 'node:net'
import type { Checker, CheckTarget } from './checker.js'
import { DEFAULT_PORTS, statusMatcher, type HttpCheckSpec, type HttpsCheckSpec } from './spec.js'
import type { Clock } from '../src/clock.js'
import { down, fromError, runProbe, up, type Outcome } from './probe.js'

/** Bytes of body read at most; the rest is discarded, so a huge body costs nothing. */
export const MAX_BODY_BYTES = 64 * 1024

/** What the http check needs from outside. */
export interface HttpCheckerDeps {
  /**
   * Dispatcher to send through (shared by many checks). Without one the checker owns an undici Agent built
   * from the spec (connect/headers/body timeouts, TLS verification) and closes it in close(). A passed-in
   * dispatcher keeps its own TLS settings, so `verify` then applies only through it.
   */
  dispatcher?: Dispatcher
  clock?: Clock
}

// undici's own error codes for the failures a probe meets.
function fromHttpError(err: unknown): Outcome {
  const code = String((err as { code?: unknown })?.code ?? '')
  if (/^UND_ERR_(CONNECT|HEADERS|BODY)_TIMEOUT$/.test(code)) return down('timeout', code)
  if (code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED') return down('reset', code)
  if (/CERT|SELF_SIGNED|^ERR_TLS|^ERR_SSL|HOSTNAME_MISMATCH/.test(code)) return down('tls', code)
  return fromError(err)
}

async function readBounded(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk)
    size += chunk.length
    if (size >= MAX_BODY_BYTES) break // leaving the loop destroys the body
  }
  return Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8')
}

/** Creates an http or https checker (the scheme follows `spec.kind`). */
export function createHttpChecker(spec: HttpCheckSpec | HttpsCheckSpec, deps: HttpCheckerDeps = {}): Checker {
  const timeoutMs = Math.ceil(spec.timeout * 1000)
  const owned = deps.dispatcher
    ? undefined
    : new Agent({
        connect: { timeout: timeoutMs, rejectUnauthorized: spec.verify },
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      })
  const dispatcher: Dispatcher = deps.dispatcher ?? owned!
  const accepted = statusMatcher(spec.status)
  const receive = spec.receive === undefined ? undefined : new RegExp(spec.receive)
  const defaultPort = DEFAULT_PORTS[spec.kind]

  async function probe(target: CheckTarget, signal: AbortSignal): Promise<Outcome> {
    const host = net.isIPv6(target.address) ? `[${target.address}]` : target.address
    const authority = target.port === defaultPort ? host : `${host}:${target.port}`
    const res = await dispatcher
      .request({
        origin: `${spec.kind}://${host}:${target.port}`,
        path: spec.path,
        method: spec.method,
        // Host as ldirectord sends it: the virtualhost, else the real server's address; SNI follows it.
        headers: { host: spec.virtualhost ?? authority, 'user-agent': 'lvs-director health check' },
        signal,
        reset: true, // a fresh connection per probe, so accepting new connections is what gets tested
      })
      .catch((err: unknown) => err as Error)
    if (res instanceof Error) return fromHttpError(res)
    // Destroying an unread body makes undici emit an abort error; the verdict is already known, so drop it.
    res.body.on('error', () => {})
    const status = `HTTP ${res.statusCode}`
    if (!accepted(res.statusCode)) {
      res.body.destroy()
      return down('bad-status', status)
    }
    if (!receive || spec.method === 'HEAD') {
      res.body.destroy()
      return up(status)
    }
    const text = await readBounded(res.body).catch((err: unknown) => err as Error)
    if (text instanceof Error) return fromHttpError(text)
    return receive.test(text) ? up(`${status}, body matches`) : down('bad-body', `${status}, body does not match /${spec.receive}/`)
  }

  const checker: Checker = { kind: spec.kind, check: (target, signal) => runProbe((s) => probe(target, s), signal, deps.clock) }
  // Only an Agent of its own needs closing; without one the checker keeps nothing (the director shares it).
  if (owned) checker.close = async () => { await owned.destroy() }
  return checker
}
