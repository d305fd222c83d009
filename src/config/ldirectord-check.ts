// ldirectord's checktype + service (+ request/receive, timeouts, failurecount) as one health-check spec
// (healthchecks/spec.ts). Services we have no negotiate checker for get a connect check and a warning.
import net from 'node:net'
import { PORT_BY_SERVICE } from './ldirectord-address.js'
import type { Entry, Warning } from './ldirectord-syntax.js'

/** A real server's own `"request", "receive"` pair. */
export interface RealOverride {
  request: string
  receive: string
  line: number
}

/** What buildCheck needs from its virtual block. */
export interface CheckContext {
  /** The virtual's own value of a directive (marks it used). */
  own(name: string): Entry | undefined
  /** The global value of a directive (marks it used). */
  global(name: string): Entry | undefined
  /** Records the directive line behind a field of the service, for error messages. */
  at(field: string, e: Entry | undefined): void
  warn(w: Warning): void
  protocol: string
  service: string
  overrides: RealOverride[]
  realCount: number
  fork: boolean
}

// ldirectord's negotiate services we have a checker for; every other one is a connect check.
const NEGOTIATE = new Set(['http', 'https', 'sip', 'dns', 'simpletcp', 'none'])

/** The check spec (raw, validated later by parseConfig) of one virtual. */
export function buildCheck(c: CheckContext): Record<string, unknown> {
  const get = (name: string) => c.own(name) ?? c.global(name)
  const ct = get('checktype')
  let type = ct?.value ?? 'negotiate'
  if (/^\d+$/.test(type)) {
    c.warn({ line: ct!.line, directive: 'checktype', message: `checktype=${type} (${type} connect checks, then one negotiate) is converted to the negotiate check at every interval` })
    type = 'negotiate'
  }
  c.at('check', ct)

  const spec: Record<string, unknown> = {}
  let negotiate = false
  let usesRequest = false
  const { request, receive } = requestPair(c, type === 'negotiate')
  if (type === 'on' || type === 'off') spec.kind = type
  else if (type === 'ping') {
    spec.kind = 'ping'
    const count = get('checkcount')
    if (count) spec.count = Math.min(10, Number(count.value))
    c.at('check/count', count)
  } else if (type === 'connect') {
    // ldirectord pings for a connect check of a UDP virtual; the director's UDP connect probe is better, but
    // the behaviour that ran is the ping.
    if (c.protocol === 'udp') {
      spec.kind = 'ping'
      c.warn({ line: ct!.line, directive: 'checktype', message: 'checktype=connect on a UDP virtual is a ping in ldirectord; converted to a ping check' })
    } else spec.kind = 'connect'
  } else if (type === 'external' || type === 'external-perl') {
    const cmd = get('checkcommand')
    // No shell: the command line is split on whitespace into an argv, as ldirectord's system() would not do
    // for quoting; the four arguments are appended by the checker.
    spec.kind = 'external'
    spec.command = (cmd?.value ?? '/bin/true').split(/\s+/).filter(Boolean)
    c.at('check/command', cmd)
    if (type === 'external-perl') c.warn({ line: ct!.line, directive: 'checktype', message: 'external-perl is run as an external command (the script must be executable); same arguments and exit codes' })
  } else {
    negotiate = true
    usesRequest = negotiateSpec(c, spec, request, receive)
  }
  if (!usesRequest) for (const o of c.overrides) c.warn({ line: o.line, directive: 'real', message: 'this real\'s "request", "receive" is not used by the check' })
  if (spec.kind === 'on' || spec.kind === 'off') return spec

  // Timing: ldirectord's defaults (timeout 5 s connect / 30 s negotiate, interval 10 s, failurecount 1,
  // back on the first success) are written out, since the director's own defaults differ.
  const first = (a: string, b: string) => c.own(a) ?? c.own(b) ?? c.global(a) ?? c.global(b)
  const timeout = negotiate ? first('negotiatetimeout', 'checktimeout') : first('checktimeout', 'negotiatetimeout')
  spec.timeout = timeout ? Number(timeout.value) : negotiate ? 30 : 5
  c.at('check/timeout', timeout)
  const ownInterval = c.own('checkinterval')
  if (ownInterval && !c.fork) {
    c.warn({ line: ownInterval.line, directive: 'checkinterval', message: 'ldirectord honours checkinterval in a virtual only with fork=yes; the global value is used' })
  }
  const interval = (c.fork ? ownInterval : undefined) ?? c.global('checkinterval')
  spec.interval = interval ? Number(interval.value) : 10
  c.at('check/interval', interval)
  const fall = get('failurecount')
  spec.fall = fall ? Number(fall.value) : 1
  c.at('check/fall', fall)
  spec.rise = 1
  const port = get('checkport')
  if (port) spec.port = Number(port.value)
  else if (c.protocol === 'fwm' && spec.kind !== 'ping' && spec.kind !== 'external') {
    // A fwmark's reals have no port: probe the service's port, as ldirectord's ld_checkport does.
    if (PORT_BY_SERVICE[c.service]) spec.port = PORT_BY_SERVICE[c.service]
  }
  c.at('check/port', port)
  return spec
}

// The virtual's request/receive, or the reals' own pair when every real gives the same one (the director
// has one check per service, so differing pairs cannot be kept).
function requestPair(c: CheckContext, negotiate: boolean): { request?: Entry; receive?: Entry } {
  const get = (name: string) => (negotiate ? (c.own(name) ?? c.global(name)) : undefined)
  const [o] = c.overrides
  if (!o || !negotiate) return { request: get('request'), receive: get('receive') }
  const same = c.overrides.length === c.realCount && c.overrides.every((x) => x.request === o.request && x.receive === o.receive)
  if (same) {
    get('request')
    get('receive')
    return { request: { value: o.request, line: o.line, used: true }, receive: o.receive ? { value: o.receive, line: o.line, used: true } : undefined }
  }
  for (const x of c.overrides) c.warn({ line: x.line, directive: 'real', message: 'reals with differing "request", "receive" pairs cannot be kept (one check per service): the virtual\'s request/receive is used' })
  return { request: get('request'), receive: get('receive') }
}

// Fills `spec` for checktype=negotiate; returns whether request/receive mean anything to it.
function negotiateSpec(c: CheckContext, spec: Record<string, unknown>, request: Entry | undefined, receive: Entry | undefined): boolean {
  const get = (name: string) => c.own(name) ?? c.global(name)
  const svc = c.service
  const svcEntry = get('service')
  c.at('check', svcEntry)
  c.at('check/path', request)
  c.at('check/name', request)
  c.at('check/payload', request)
  c.at('check/receive', receive)
  if (!NEGOTIATE.has(svc)) {
    spec.kind = 'connect'
    c.warn({ line: svcEntry?.line ?? 0, directive: 'service', message: `no ${svc} negotiate check in lvs-director: a connect check on the same port is used` })
    return false
  }
  if (svc === 'none') {
    spec.kind = 'on'
    c.warn({ line: svcEntry?.line ?? 0, directive: 'service', message: 'service=none: real servers are never checked (check kind on), as in ldirectord' })
    return false
  }
  if (svc === 'http' || svc === 'https') {
    spec.kind = svc
    spec.path = httpPath(request, c)
    const method = get('httpmethod')
    spec.method = method ? method.value.toUpperCase() : 'GET'
    c.at('check/method', method)
    if (receive && spec.method === 'HEAD') c.warn({ line: receive.line, directive: 'receive', message: 'a HEAD reply has no body: receive is ignored' })
    else if (receive) spec.receive = receive.value
    const vhost = get('virtualhost')
    if (vhost?.value) spec.virtualhost = vhost.value
    c.at('check/virtualhost', vhost)
    return true
  }
  if (svc === 'sip') {
    spec.kind = 'sip'
    const login = get('login')
    if (login) spec.login = login.value
    c.at('check/login', login)
    if (c.protocol === 'tcp' || c.protocol === 'udp') spec.protocol = c.protocol
    return false
  }
  if (svc === 'dns') {
    const name = request?.value.replace(/^\//, '') ?? ''
    if (!name || net.isIP(name)) {
      spec.kind = 'connect'
      c.warn({ line: request?.line ?? svcEntry?.line ?? 0, directive: 'request', message: name ? 'PTR lookups are not supported by the dns check: a connect check is used' : 'a dns check needs request="name": a connect check is used' })
      return false
    }
    Object.assign(spec, { kind: 'dns', name }, receive ? { receive: receive.value } : {})
    return true
  }
  // simpletcp: send the request (with \n as a newline), match a reply line against receive.
  spec.kind = 'connect'
  if (request) spec.payload = request.value.replace(/\\n/g, '\n')
  if (receive) spec.receive = receive.value
  return true
}

function httpPath(request: Entry | undefined, c: CheckContext): string {
  if (!request) return '/'
  const m = /^\/?(https?:\/\/[^/\s]*)(\/\S*)?$/i.exec(request.value)
  if (m) {
    c.warn({ line: request.line, directive: 'request', message: `absolute URL: the real server is probed for ${m[2] ?? '/'} (the host part ${m[1]} is not used)` })
    return m[2] ?? '/'
  }
  return request.value.startsWith('/') ? request.value : `/${request.value}`
}
