// `lvs-director check`: runs one health check against one real server, once or watching its transitions, so an
// operator can try a check before it goes into a table (neither ldirectord nor keepalived has such a command).
import { parseSource } from './config/yaml.js'
import { createIpGuardRouter } from '../healthchecks/guard-router.js'
import { createChecker } from '../healthchecks/registry.js'
import { createScheduler } from '../healthchecks/scheduler.js'
import { parseCheckSpec } from '../healthchecks/spec.js'
import { resolveTarget } from '../healthchecks/target.js'
import type { CheckResult } from '../healthchecks/checker.js'
import { parseHostPort } from './address.js'
import { systemClock } from './clock.js'
import { ERR_INVALID_VALUE } from './errors.js'

/** An address with an optional port. */
export interface Endpoint {
  address: string
  port?: number
}

/** Parses `192.0.2.11`, `192.0.2.11:80`, `2001:db8::11` or `[2001:db8::11]:80`; `what` names it in errors. */
export function parseEndpoint(text: string, what: string): Endpoint {
  try {
    const { address, port } = parseHostPort(text)
    return port === undefined ? { address } : { address, port }
  } catch (err) {
    throw new ERR_INVALID_VALUE(what, (err as { detail: string }).detail) // the command line's code
  }
}

/** What `check` was asked for on the command line. */
export interface CheckCommand {
  kind: string
  real: string
  /** A YAML or JSON mapping of spec fields, e.g. `{path: /health, receive: OK}`. */
  spec?: string
  vip?: string
  udp?: boolean
  /** Seconds to watch transitions; without it, one probe. */
  watch?: number
  json?: boolean
}

/** One line per result or transition on `out`; resolves the exit status: 0 up, 3 down. */
export async function runCheck(o: CheckCommand, out: (line: string) => void): Promise<number> {
  let fields: unknown
  try {
    fields = o.spec === undefined ? {} : parseSource(o.spec, '--spec').value // one YAML reader: aliases and cycles refused
  } catch (err) {
    throw new ERR_INVALID_VALUE('--spec', (err as Error).message.split('\n')[0])
  }
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw new ERR_INVALID_VALUE('--spec', 'not a mapping of check fields')
  const spec = parseCheckSpec({ ...fields, kind: o.kind })
  const real = parseEndpoint(o.real, 'real server')
  const vip = o.vip === undefined ? undefined : parseEndpoint(o.vip, '--vip')
  const target = resolveTarget(spec, { address: real.address, port: real.port ?? 0 }, { address: vip?.address, port: vip?.port, protocol: o.udp ? 'udp' : 'tcp' })
  // Asking for a dr-guard check is the opt-in here. No start-up cleanup (openGuardRouter): a daemon on this host
  // may be using the same tables right now.
  const guardRouter = spec.kind === 'dr-guard' ? createIpGuardRouter() : undefined
  const checker = createChecker(spec, { guardRouter })
  const show = (r: CheckResult, state: string) =>
    out(o.json ? JSON.stringify({ state, ...r }) : `${state} ${r.code ?? 'ok'}: ${r.message} (${Math.round(r.durationMs)} ms)`)
  try {
    if (o.watch === undefined) {
      // Set-up (the DR guard's routes) before the probe's deadline starts, as the scheduler does.
      await checker.prepare?.(target)
      const result = await checker.check(target, AbortSignal.timeout(spec.timeout * 1000))
      show(result, result.ok ? 'up' : 'down')
      return result.ok ? 0 : 3
    }
    return await watch(o.watch, spec, checker, target, show)
  } finally {
    await checker.close?.()
    await guardRouter?.close()
  }
}

// Runs the check on its interval with rise/fall for `seconds` (or until SIGINT/SIGTERM), one line per transition.
async function watch(
  seconds: number,
  spec: { interval: number; timeout: number; rise: number; fall: number },
  checker: ReturnType<typeof createChecker>,
  target: ReturnType<typeof resolveTarget>,
  show: (r: CheckResult, state: string) => void,
): Promise<number> {
  const scheduler = createScheduler({ clock: systemClock, maxConcurrent: 1 })
  let health = 'unknown'
  scheduler.on('change', (e) => {
    health = e.to
    show(e.result, e.to)
  })
  // The scheduler closes the checker it runs; closing it again afterwards is harmless.
  scheduler.add('check', { checker, target, interval: spec.interval * 1000, timeout: spec.timeout * 1000, rise: spec.rise, fall: spec.fall })
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, seconds * 1000)
    const stop = () => { clearTimeout(timer); resolve() }
    process.once('SIGINT', stop).once('SIGTERM', stop)
  })
  await scheduler.close()
  return health === 'up' ? 0 : 3
}
