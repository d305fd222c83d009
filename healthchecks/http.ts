// The `http` and `https` checks: one request, judged by status code and body regex. A plain-HTTP check judged by
// its status alone reads just the status line over one TCP exchange (tcp-exchange.ts); one that reads the body, and
// https, go through undici. The status line costs a fifth of the CPU of undici's request (a pool made and a parser
// run per probe, as `reset: true` asks a fresh connection): 80 against 425 µs a probe in a loop, and ~0.5 against
// ~2.7 ms in a director checking a few servers every 2 s, where V8 never warms up.
import { Agent, type Dispatcher } from 'undici'
import net from 'node:net'
import type { Checker, CheckTarget } from './checker.js'
import { DEFAULT_PORTS, statusMatcher, type HttpCheckSpec, type HttpsCheckSpec } from './spec.js'
import type { Clock } from '../src/clock.js'
import { down, fromError, runProbe, up, type Outcome } from './probe.js'
import { tcpExchange } from './tcp-exchange.js'

/** Bytes of body read at most; the rest is discarded, so a huge body costs nothing. */
export const MAX_BODY_BYTES = 64 * 1024

const USER_AGENT = 'lvs-director health check'

/** What the http check needs from outside. */
export interface HttpCheckerDeps {
  /**
   * Dispatcher to send https and body-reading requests through (shared by many checks); a plain-HTTP check of the
   * status alone does not use it. Without one such a checker owns an undici Agent built
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

/**
 * The status code of the first final response in `received`, interim (1xx) ones skipped: `undefined` while the
 * status line is not all there, `null` when the reply is not HTTP.
 */
export function finalStatus(received: Buffer): number | null | undefined {
  for (let at = 0; ; ) {
    const eol = received.indexOf('\n', at)
    if (eol < 0) return received.length - at > 1024 ? null : undefined
    const m = /^HTTP\/\d(?:\.\d)? (\d{3})(?:[ \r]|$)/.exec(received.toString('latin1', at, eol))
    if (!m) return null
    const code = Number(m[1])
    if (code >= 200 || code < 100) return code
    const end = received.indexOf('\r\n\r\n', at)
    if (end < 0) return undefined
    at = end + 4
  }
}

/** Creates an http or https checker (the scheme follows `spec.kind`). */
export function createHttpChecker(spec: HttpCheckSpec | HttpsCheckSpec, deps: HttpCheckerDeps = {}): Checker {
  const timeoutMs = Math.ceil(spec.timeout * 1000)
  const accepted = statusMatcher(spec.status)
  const receive = spec.receive === undefined ? undefined : new RegExp(spec.receive)
  const readsBody = receive !== undefined && spec.method !== 'HEAD'
  const statusOnly = spec.kind === 'http' && !readsBody
  const owned = deps.dispatcher || statusOnly
    ? undefined
    : new Agent({
        connect: { timeout: timeoutMs, rejectUnauthorized: spec.verify },
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      })
  const dispatcher = deps.dispatcher ?? owned // set unless statusOnly
  const defaultPort = DEFAULT_PORTS[spec.kind]
  const byStatus = (code: number): Outcome => (accepted(code) ? up(`HTTP ${code}`) : down('bad-status', `HTTP ${code}`))

  // One TCP exchange: the request sent, the reply read up to its status line.
  function statusLine(target: CheckTarget, hostHeader: string, signal: AbortSignal): Promise<Outcome> {
    const request = `${spec.method} ${spec.path} HTTP/1.1\r\nHost: ${hostHeader}\r\nUser-Agent: ${USER_AGENT}\r\nConnection: close\r\n\r\n`
    const onData = (received: Buffer): Outcome | undefined => {
      const code = finalStatus(received)
      return code === null ? down('bad-reply', 'not an HTTP response') : code === undefined ? undefined : byStatus(code)
    }
    return tcpExchange({ address: target.address, port: target.port, request: () => request, onData }, signal)
  }

  async function probe(target: CheckTarget, signal: AbortSignal): Promise<Outcome> {
    const host = net.isIPv6(target.address) ? `[${target.address}]` : target.address
    const authority = target.port === defaultPort ? host : `${host}:${target.port}`
    // Host as ldirectord sends it: the virtualhost, else the real server's address; SNI follows it. The schema
    // keeps whitespace out of the path and the virtualhost, so neither can add a line to the request.
    const hostHeader = spec.virtualhost ?? authority
    if (statusOnly) return statusLine(target, hostHeader, signal)
    const res = await dispatcher!
      .request({
        origin: `${spec.kind}://${host}:${target.port}`,
        path: spec.path,
        method: spec.method,
        headers: { host: hostHeader, 'user-agent': USER_AGENT },
        signal,
        reset: true, // a fresh connection per probe, so accepting new connections is what gets tested
      })
      .catch((err: unknown) => err as Error)
    if (res instanceof Error) return fromHttpError(res)
    // Destroying an unread body makes undici emit an abort error; the verdict is already known, so drop it.
    res.body.on('error', () => {})
    const verdict = byStatus(res.statusCode)
    if (!verdict.ok || !readsBody) {
      res.body.destroy()
      return verdict
    }
    const text = await readBounded(res.body).catch((err: unknown) => err as Error)
    if (text instanceof Error) return fromHttpError(text)
    const status = `HTTP ${res.statusCode}`
    return receive!.test(text) ? up(`${status}, body matches`) : down('bad-body', `${status}, body does not match /${spec.receive}/`)
  }

  const checker: Checker = { kind: spec.kind, check: (target, signal) => runProbe((s) => probe(target, s), signal, deps.clock) }
  // Only an Agent of its own needs closing; without one the checker keeps nothing (the director shares it).
  if (owned) checker.close = async () => { await owned.destroy() }
  return checker
}
