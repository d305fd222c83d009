// One ldirectord virtual block (with the globals as its defaults) as one raw director service: address or
// fwmark, scheduler and persistence, the real servers, the fallback server, quiescent, and the health check
// (ldirectord-check.ts). ldirectord's defaults are written out where ours differ, so behaviour carries over.
import { NAME_PATTERN } from './schema.js'
import { expandRange, parseAddress, parseHostPort, parsePort, SERVICE_BY_PORT } from './ldirectord-address.js'
import { buildCheck, type RealOverride } from './ldirectord-check.js'
import type { Entry, Fail, VirtualBlock, Warning } from './ldirectord-syntax.js'

/** Where a converted service came from: its virtual line, each real's line, and each field's directive line. */
export interface ServiceSource {
  line: number
  /** The block's last line. */
  end: number
  realLines: number[]
  /** JSON-pointer-ish field below the service (`scheduler`, `check/path`) -> line of the directive. */
  fieldLines: Record<string, number>
  /** servicename and comment, written above the service in the YAML. */
  notes: string[]
}

/** Reads a directive for one virtual: its own value, else the global one; marks it used. */
export type Lookup = (name: string) => Entry | undefined

const FORWARDING: Record<string, string> = { gate: 'dr', masq: 'nat', ipip: 'tun' }

/** Convert one virtual block. Throws LVS_ERR_INVALID_LDIRECTORD through `fail`; warnings go to `warn`. */
export function convertBlock(
  block: VirtualBlock, globals: Map<string, Entry>, fork: boolean, fail: Fail, warn: (w: Warning) => void,
): { service: Record<string, unknown>; source: ServiceSource } {
  const lookup = (settings: Map<string, Entry>): Lookup => (name) => {
    const e = settings.get(name)
    if (e) e.used = true
    return e
  }
  const own = lookup(block.settings)
  const global = lookup(globals)
  const get: Lookup = (name) => own(name) ?? global(name)
  const source: ServiceSource = { line: block.line, end: block.end, realLines: [], fieldLines: {}, notes: [] }
  const at = (field: string, e: Entry | undefined): void => {
    if (e) source.fieldLines[field] = e.line
  }
  const svc: Record<string, unknown> = {}

  // Identity: a fwmark (a bare number) or an address and port; ldirectord's protocol defaults follow.
  let protocol: string
  if (/^\d+$/.test(block.spec)) {
    const mark = Number(block.spec)
    if (!(mark >= 1 && mark <= 4294967295)) fail(block.line, `firewall mark ${block.spec} is not 1..4294967295`)
    Object.assign(svc, { protocol: 'fwmark', fwmark: mark, family: block.v6 ? 'inet6' : 'inet' })
    protocol = 'fwm'
  } else {
    if (!block.v6 && block.spec.startsWith('[')) fail(block.line, 'an IPv6 virtual is written virtual6=[address]:port')
    const { address, port } = parseHostPort(block.spec, block.v6, block.line, 'virtual service', fail)
    if (port === undefined) fail(block.line, 'a virtual service needs address:port (or a firewall mark number)')
    protocol = port === 53 ? 'udp' : 'tcp'
    Object.assign(svc, { protocol, address, port })
  }
  const proto = get('protocol')
  if (proto) {
    if ((protocol === 'fwm') !== (proto.value === 'fwm')) fail(proto.line, protocol === 'fwm' ? 'protocol must be fwm for a firewall-mark virtual' : 'protocol must be tcp or udp for an address:port virtual')
    if (protocol !== 'fwm') svc.protocol = protocol = proto.value
  }
  const port = protocol === 'fwm' ? 0 : (svc.port as number)

  // Scheduling and persistence. ldirectord's scheduler default is wrr (ours is wlc): carried explicitly.
  const sched = get('scheduler')
  svc.scheduler = sched?.value ?? 'wrr'
  at('scheduler', sched)
  const flags = get('schedflags')
  if (flags) {
    svc.flags = flags.value.split(/[\s,]+/).filter(Boolean)
    at('flags', flags)
  }
  const persistent = get('persistent')
  if (persistent) {
    // ipvsadm treats -p 0 as "not persistent" for our purposes; the schema wants 1.. when present.
    if (Number(persistent.value) > 0) svc.persistent = Number(persistent.value)
    else warn({ line: persistent.line, directive: 'persistent', message: 'persistent=0: the service is not persistent' })
    at('persistent', persistent)
  }
  const netmask = get('netmask')
  if (netmask) {
    const bad = block.v6 ? !/^\d{1,3}$/.test(netmask.value) || +netmask.value < 1 || +netmask.value > 128 : !/^\d+\.\d+\.\d+\.\d+$/.test(netmask.value)
    if (bad) fail(netmask.line, block.v6 ? 'netmask of an IPv6 virtual must be a prefix length 1..128' : 'netmask must be a dotted quad such as 255.255.255.0')
    // ldirectord passes -M only with -p: without persistence the netmask means nothing.
    if (svc.persistent === undefined) warn({ line: netmask.line, directive: 'netmask', message: 'netmask without persistent has no effect; ignored' })
    else svc.netmask = block.v6 ? Number(netmask.value) : netmask.value
    at('netmask', netmask)
  }
  const ops = get('ops')
  if (ops) {
    svc.ops = ops.value === 'yes'
    at('ops', ops)
  }

  // Real servers, with ldirectord's per-real weight, request/receive and thresholds.
  const overrides: RealOverride[] = []
  const destinations: Record<string, unknown>[] = []
  for (const r of block.reals) {
    for (const d of parseReal(r.text, r.line, block.v6, protocol === 'fwm', port, fail, warn)) {
      destinations.push(d.destination)
      source.realLines.push(r.line)
      if (d.override) overrides.push({ ...d.override, line: r.line })
    }
  }
  if (destinations.length === 0) warn({ line: block.line, directive: 'real', message: 'this virtual has no real servers' })
  svc.destinations = destinations

  // quiescent: ldirectord's manual says yes by default, its code says no (set_defaults); the code is what runs.
  const quiescent = get('quiescent')
  svc.quiescent = quiescent ? quiescent.value === 'yes' : false
  at('quiescent', quiescent)

  const fb = get(block.v6 ? 'fallback6' : 'fallback')
  if (fb) {
    // A global fallback's warnings say which virtual they are about.
    const fbWarn = fb.line < block.line || fb.line > block.end ? (w: Warning) => warn({ ...w, message: `${w.message} (virtual on line ${block.line})` }) : warn
    svc.fallback = parseFallback(fb, block.v6, protocol === 'fwm', port, fail, fbWarn)
    at('fallback', fb)
  }
  const other = block.settings.get(block.v6 ? 'fallback' : 'fallback6')
  if (other) fail(other.line, `${block.v6 ? 'fallback' : 'fallback6'} cannot be used in a ${block.v6 ? 'virtual6' : 'virtual'} block`)

  const service = get('service')?.value ?? (protocol === 'fwm' ? 'none' : (SERVICE_BY_PORT[port] ?? 'none'))
  svc.check = buildCheck({ own, global, at, warn, protocol, service, overrides, realCount: destinations.length, fork })

  const name = get('servicename')
  if (name?.value) {
    source.notes.push(`servicename: ${name.value}`)
    const slug = name.value.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63)
    if (new RegExp(NAME_PATTERN).test(slug)) svc.name = slug
    at('name', name)
  }
  const comment = get('comment')
  if (comment?.value) source.notes.push(`comment: ${comment.value}`)
  // Identity first, real servers last: the order a reader of the YAML expects.
  const { name: n, destinations: reals, ...rest } = svc
  return { service: { ...(n === undefined ? {} : { name: n }), ...rest, destinations: reals }, source }
}

interface ParsedReal {
  destination: Record<string, unknown>
  override?: { request: string; receive: string }
}

// `addr[->addr2][:port] gate|masq|ipip [weight] ["request", "receive"] [l:N] [u:N]`
const REAL = /^(\S+)\s+(\S+)(?:\s+(\S+?))?(?:\s+"([^"]*)"[, ]\s*"([^"]*)")?(?:\s+"?l:(\d+)"?)?(?:\s+"?u:(\d+)"?)?\s*$/

function parseReal(text: string, line: number, v6: boolean, fwmark: boolean, vport: number, fail: Fail, warn: (w: Warning) => void): ParsedReal[] {
  const m = REAL.exec(text)
  if (!m) fail(line, `${JSON.stringify(text)} is not "address:port gate|masq|ipip [weight] ["request", "receive"] [l:N] [u:N]"`)
  const [, where, method, weightText, request, receive, lower, upper] = m
  const forwarding = FORWARDING[method!] ?? fail(line, `forwarding method ${JSON.stringify(method)} is not gate, masq or ipip`)
  if (weightText !== undefined && !/^\d{1,5}$/.test(weightText)) fail(line, `weight ${JSON.stringify(weightText)} is not a whole number 0..65535`)
  if (v6 && where!.includes('->')) fail(line, 'address ranges are IPv4 only')
  const am = v6 ? /^\[([^\]]*)\](?::([^:]*))?$/.exec(where!) : /^([^:[\]>]+?)(?:->([^:[\]]+))?(?::([^:]*))?$/.exec(where!)
  if (!am) fail(line, `${JSON.stringify(where)} is not ${v6 ? '[address]:port' : 'address[->address]:port'} for the real server`)
  const first = parseAddress(am[1]!, v6, line, 'real server', fail)
  const end = v6 ? undefined : am[2]
  const portText = v6 ? am[2] : am[3]
  const addresses = end === undefined ? [first] : expandRange(first, parseAddress(end, false, line, 'real server range end', fail), line, fail)
  const written = portText === undefined ? 0 : parsePort(portText, line, 'real server', fail, true)
  // Port 0 (or none) means the virtual's port, or for a firewall mark the packet's own.
  let port = written > 0 ? written : undefined
  // The kernel gives gate/ipip reals the virtual's port whatever is written; say so rather than refuse.
  if (!fwmark && forwarding !== 'nat' && port !== undefined && port !== vport) {
    warn({ line, directive: 'real', message: `${method} forwarding keeps the virtual's port ${vport}; port ${port} is not used` })
    port = undefined
  }
  const base: Record<string, unknown> = { forwarding, weight: weightText === undefined ? 1 : Number(weightText) }
  if (port !== undefined) base.port = port
  if (lower !== undefined) base.lowerThreshold = Number(lower)
  if (upper !== undefined) base.upperThreshold = Number(upper)
  const override = request !== undefined ? { request: request, receive: receive! } : undefined
  return addresses.map((address) => ({ destination: { address, ...base }, ...(override ? { override } : {}) }))
}

function parseFallback(e: Entry, v6: boolean, fwmark: boolean, vport: number, fail: Fail, warn: (w: Warning) => void): Record<string, unknown> {
  const m = /^(\S+)(?:\s+(\S+))?$/.exec(e.value)
  if (!m) fail(e.line, `${JSON.stringify(e.value)} is not "address[:port] [gate|masq|ipip]"`)
  const forwarding = m[2] === undefined ? 'dr' : (FORWARDING[m[2]] ?? fail(e.line, `forwarding method ${JSON.stringify(m[2])} is not gate, masq or ipip`))
  const { address, port } = parseHostPort(m[1]!, v6, e.line, 'fallback server', fail, true)
  const out: Record<string, unknown> = { address, forwarding, weight: 1 }
  if (port !== undefined && port > 0) {
    if (!fwmark && forwarding !== 'nat' && port !== vport) {
      warn({ line: e.line, directive: 'fallback', message: `${m[2] ?? 'gate'} forwarding keeps the virtual's port ${vport}; port ${port} is not used` })
    } else out.port = port
  }
  return out
}
