// The shape of an ldirectord.cf: global `name = value` lines, and `virtual=` / `virtual6=` blocks whose lines are
// indented by 4 spaces or a tab (ldirectord's rule). Every directive of ldirectord's manual is known here, its
// value is checked, and the ones the director does not implement are named in a warning as they are read.
import { ERR_INVALID_LDIRECTORD } from '../errors.js'

/** A warning about one ldirectord.cf line (line 0: about the file as a whole). */
export interface Warning {
  line: number
  directive: string
  message: string
}

/** One directive's value and where it came from; `used` is set once the converter has taken it. */
export interface Entry {
  value: string
  line: number
  used: boolean
}

/** A `virtual=` / `virtual6=` block: its own directives and its `real=` lines, in order. */
export interface VirtualBlock {
  line: number
  /** The block's last line. */
  end: number
  spec: string
  v6: boolean
  settings: Map<string, Entry>
  reals: { text: string; line: number }[]
}

/** The file split into global directives and virtual blocks. */
export interface Syntax {
  globals: Map<string, Entry>
  blocks: VirtualBlock[]
  warnings: Warning[]
}

/** Throws LVS_ERR_INVALID_LDIRECTORD naming `source:line`. */
export type Fail = (line: number, message: string) => never

export const failer =
  (source: string): Fail =>
  (line, message) => {
    throw new ERR_INVALID_LDIRECTORD(line > 0 ? `${source}:${line}` : source, message)
  }

type Scope = 'global' | 'virtual' | 'both'
type Check = (v: string) => string | undefined
interface Directive {
  scope: Scope
  check?: Check
  /** Set when the director does not implement it: the warning says this. */
  unsupported?: string
}

const yesNo: Check = (v) => (v === 'yes' || v === 'no' ? undefined : 'must be yes or no')
const positive: Check = (v) => (/^\d{1,9}$/.test(v) && Number(v) > 0 ? undefined : `${JSON.stringify(v)} is not a whole number of at least 1`)
const whole: Check = (v) => (/^\d{1,9}$/.test(v) ? undefined : `${JSON.stringify(v)} is not a whole number`)
const nonEmpty: Check = (v) => (v.length > 0 ? undefined : 'needs a value')
const host: Check = (v) => (/^[0-9A-Za-z._+:[\]-]+$/.test(v) ? undefined : `${JSON.stringify(v)} is not a host name or address`)
const STATUSES = ['all', 'none', 'starting', 'running', 'stopping', 'reloading']
const alertStatus: Check = (v) => {
  const parts = v.split(/\s*,\s*/)
  const bad = parts.find((p) => !STATUSES.includes(p))
  if (bad !== undefined) return `${JSON.stringify(bad)} is not one of ${STATUSES.join(', ')}`
  return parts.includes('none') && parts.length > 1 ? 'none cannot be combined with other states' : undefined
}

const oneOf =
  (re: RegExp, list: string): Check =>
  (v) => (re.test(v) ? undefined : `${JSON.stringify(v)} is not one of ${list}`)
// ldirectord's negotiate services (its manual's list).
const SERVICES = ['dns', 'ftp', 'http', 'https', 'http_proxy', 'imap', 'imaps', 'ldap', 'ldaps', 'mysql', 'nntp', 'none', 'oracle', 'pgsql', 'pop', 'pops', 'radius', 'simpletcp', 'sip', 'smtp', 'submission']

const NOT_IMPLEMENTED = 'not implemented by lvs-director; ignored'
/** ldirectord's directives (manual and parser). Anything else is refused, as ldirectord refuses it. */
export const DIRECTIVES: Readonly<Record<string, Directive>> = {
  // Timing and failure counting: mapped to each check's timeout, interval, fall and rise.
  checktimeout: { scope: 'both', check: positive },
  negotiatetimeout: { scope: 'both', check: positive },
  checkinterval: { scope: 'both', check: positive },
  failurecount: { scope: 'both', check: positive },
  checkcount: { scope: 'both', check: positive },
  // Removed from ldirectord (it refuses them); read as their replacements with a warning.
  connecttimeout: { scope: 'both', check: positive },
  timeout: { scope: 'global', check: positive },
  quiescent: { scope: 'both', check: yesNo },
  fallback: { scope: 'both', check: nonEmpty },
  fallback6: { scope: 'both', check: nonEmpty },
  fork: { scope: 'global', check: yesNo },
  fallbackcommand: { scope: 'both', check: nonEmpty, unsupported: `${NOT_IMPLEMENTED} (the fallback server is supported; no script is run)` },
  emailalert: { scope: 'both', check: nonEmpty, unsupported: `${NOT_IMPLEMENTED} (alerts: watch the API, metrics and logs)` },
  emailalertfreq: { scope: 'both', check: whole, unsupported: NOT_IMPLEMENTED },
  emailalertstatus: { scope: 'both', check: alertStatus, unsupported: NOT_IMPLEMENTED },
  emailalertfrom: { scope: 'global', check: nonEmpty, unsupported: NOT_IMPLEMENTED },
  smtp: { scope: 'both', check: host, unsupported: NOT_IMPLEMENTED },
  cleanstop: { scope: 'both', check: yesNo, unsupported: `${NOT_IMPLEMENTED} (the director's own stop behaviour applies)` },
  autoreload: { scope: 'global', check: yesNo, unsupported: `${NOT_IMPLEMENTED} (reload the director explicitly)` },
  callback: { scope: 'global', check: nonEmpty, unsupported: NOT_IMPLEMENTED },
  logfile: { scope: 'global', check: nonEmpty, unsupported: `${NOT_IMPLEMENTED} (the director logs JSON to stdout)` },
  execute: { scope: 'global', check: nonEmpty, unsupported: `${NOT_IMPLEMENTED} (convert that config file too)` },
  supervised: { scope: 'global', check: yesNo, unsupported: `${NOT_IMPLEMENTED} (the director runs in the foreground under systemd)` },
  readdquiescent: { scope: 'global', check: yesNo, unsupported: `${NOT_IMPLEMENTED} (drain or disable a real server through the API instead)` },
  maintenancedir: { scope: 'global', check: nonEmpty, unsupported: `${NOT_IMPLEMENTED} (drain or disable a real server through the API instead)` },
  // Virtual block only in ldirectord; at the top level they are taken as defaults for every virtual.
  real: { scope: 'virtual' },
  real6: { scope: 'virtual' },
  checktype: { scope: 'both', check: oneOf(/^(\d{1,9}|connect|negotiate|ping|external|external-perl|on|off)$/, 'connect, negotiate, ping, external, external-perl, on, off or a number') },
  service: { scope: 'both', check: oneOf(new RegExp(`^(${SERVICES.join('|')})$`), SERVICES.join(', ')) },
  checkcommand: { scope: 'both', check: nonEmpty },
  checkport: { scope: 'both', check: (v) => (/^\d{1,5}$/.test(v) && +v >= 1 && +v <= 65535 ? undefined : `${JSON.stringify(v)} is not a port 1..65535`) },
  request: { scope: 'both', check: nonEmpty },
  receive: { scope: 'both', check: nonEmpty },
  httpmethod: { scope: 'both', check: (v) => (/^(get|head)$/i.test(v) ? undefined : 'must be GET or HEAD') },
  virtualhost: { scope: 'both' },
  login: { scope: 'both', check: nonEmpty },
  passwd: { scope: 'both', check: nonEmpty },
  database: { scope: 'both', check: nonEmpty, unsupported: `${NOT_IMPLEMENTED} (no SQL checks)` },
  secret: { scope: 'both', check: nonEmpty, unsupported: `${NOT_IMPLEMENTED} (no RADIUS check)` },
  load: { scope: 'both', unsupported: 'ignored (ldirectord never used it either)' },
  scheduler: { scope: 'both', check: (v) => (/^[a-z0-9]+$/.test(v) ? undefined : 'must be a scheduler name such as wrr') },
  schedflags: { scope: 'both', check: nonEmpty },
  persistent: { scope: 'both', check: whole },
  netmask: { scope: 'both', check: nonEmpty },
  protocol: { scope: 'both', check: (v) => (['tcp', 'udp', 'fwm'].includes(v) ? undefined : 'must be tcp, udp or fwm') },
  ops: { scope: 'both', check: yesNo },
  monitorfile: { scope: 'both', check: nonEmpty, unsupported: `${NOT_IMPLEMENTED} (check results are in the API and logs)` },
  servicename: { scope: 'both' },
  comment: { scope: 'both' },
}

// A value in double quotes loses them (ldirectord takes most values either way).
const unquote = (v: string): string => (/^"[^"]*"$/.test(v) ? v.slice(1, -1) : v)

/** Split ldirectord.cf text into globals and virtual blocks; values checked, unsupported directives warned. */
export function readSyntax(text: string, fail: Fail): Syntax {
  const globals = new Map<string, Entry>()
  const blocks: VirtualBlock[] = []
  const warnings: Warning[] = []
  let block: VirtualBlock | undefined
  const lines = text.split(/\r?\n/)
  lines.forEach((raw, i) => {
    const line = i + 1
    if (/^\s*(#|$)/.test(raw)) return
    // ldirectord drops everything from a # on (also inside quotes) and reads a tab as 4 spaces.
    const body = raw.replace(/#.*/, '').replace(/\t/g, '    ').trimEnd()
    const indented = /^ {4,}\S/.test(body)
    if (!indented) block = undefined
    else if (!block) fail(line, 'an indented line outside a virtual block')
    const m = /^\s*([a-z][a-z0-9]*)\s*(?:=\s*(.*))?$/.exec(body)
    if (!m) fail(line, `${JSON.stringify(body.trim())} is not a "directive = value" line`)
    const name = m[1]!
    const value = unquote((m[2] ?? '').trim())
    if (!indented && (name === 'virtual' || name === 'virtual6')) {
      if (m[2] === undefined) fail(line, `${name} needs a value`)
      block = { line, end: line, spec: value, v6: name === 'virtual6', settings: new Map(), reals: [] }
      blocks.push(block)
      return
    }
    const d = Object.hasOwn(DIRECTIVES, name) ? DIRECTIVES[name]! : undefined
    if (!d) fail(line, `unknown directive ${name}`)
    // ldirectord accepts a bare "supervised" as yes, with a warning.
    if (m[2] === undefined && name !== 'supervised') fail(line, `${name} needs "= value"`)
    const v = m[2] === undefined ? 'yes' : value
    const problem = d.check?.(v)
    if (problem) fail(line, `${name}: ${problem}`)
    if (block) {
      block.end = line
      if (d.scope === 'global') fail(line, `${name} is a global directive; it is not valid in a virtual block`)
      if (name === 'real' || name === 'real6') {
        if ((name === 'real6') !== block.v6) fail(line, `${name} cannot be used in a ${block.v6 ? 'virtual6' : 'virtual'} block (use ${block.v6 ? 'real6' : 'real'})`)
        block.reals.push({ text: v, line })
        return
      }
    } else if (name === 'real' || name === 'real6') fail(line, `${name} outside a virtual block`)
    else if (d.scope === 'virtual' || (d.scope === 'both' && !GLOBAL_IN_LDIRECTORD.has(name))) {
      warnings.push({ line, directive: name, message: `ldirectord reads ${name} only inside a virtual block; taken as the default for every virtual` })
    }
    if (d.unsupported) warnings.push({ line, directive: name, message: d.unsupported })
    const settings = block ? block.settings : globals
    for (const target of ALIASES[name] ?? [name]) {
      if (target !== name) warnings.push({ line, directive: name, message: `${name} was removed from ldirectord; read as ${target}` })
      const before = settings.get(target)
      if (before) warnings.push({ line: before.line, directive: target, message: `${target} is given again on line ${line}; the later value is used` })
      settings.set(target, { value: v, line, used: d.unsupported !== undefined })
    }
  })
  return { globals, blocks, warnings }
}

// Directives ldirectord refuses today as removed, read as what replaced them.
const ALIASES: Record<string, string[]> = { connecttimeout: ['negotiatetimeout'], timeout: ['checktimeout', 'negotiatetimeout'] }

// Directives ldirectord itself accepts at the top level (read_config's global branch).
const GLOBAL_IN_LDIRECTORD = new Set([
  'checktimeout', 'negotiatetimeout', 'checkinterval', 'checkcount', 'failurecount', 'fallback', 'fallback6', 'fallbackcommand',
  'quiescent', 'emailalert', 'emailalertfreq', 'emailalertstatus', 'cleanstop', 'smtp', 'connecttimeout',
])
