// Maps a check spec's kind to the module that implements it.
import type { Dispatcher } from 'undici'
import type { Checker } from './checker.js'
import type { CheckSpec } from './spec.js'
import type { Clock } from '../src/clock.js'
import type { Exec } from '../src/exec.js'
import { ERR_INVALID_CHECK } from '../src/errors.js'
import { createConnectChecker } from './connect.js'
import { createHttpChecker } from './http.js'
import { createSipChecker } from './sip.js'
import { createPbsChecker } from './pbs.js'
import { createDnsChecker } from './dns.js'
import { createExternalChecker } from './external.js'
import { createOnOffChecker } from './on-off.js'
import { createPingChecker } from './ping.js'
import { createDrGuardChecker } from './dr-guard.js'
import type { IcmpTransport } from './icmp.js'
import type { GuardRouter } from './guard-router.js'

/** Side effects the checkers take from outside; every field is optional and defaults to the real thing. */
export interface CheckerDeps {
  /** Shared undici dispatcher for http/https; without it each http checker owns an Agent. */
  dispatcher?: Dispatcher
  /** How external and pbs commands run. @default nodeExec */
  exec?: Exec
  /** Clock for durations. @default systemClock */
  clock?: Clock
  /** Host name in the sip check's default login. @default os.hostname() */
  hostname?: string
  /** The process's one ICMP transport, shared by ping and dr-guard checkers. @default one per checker */
  icmp?: IcmpTransport
  /** The director's one policy-routing helper for dr-guard checks (openGuardRouter with drGuard: true); required for that kind. */
  guardRouter?: GuardRouter
}

/** Creates the checker for a validated spec (see parseCheckSpec). */
export function createChecker(spec: CheckSpec, deps: CheckerDeps = {}): Checker {
  switch (spec.kind) {
    case 'connect':
      return createConnectChecker(spec, deps)
    case 'http':
    case 'https':
      return createHttpChecker(spec, deps)
    case 'sip':
      return createSipChecker(spec, deps)
    case 'pbs':
      return createPbsChecker(spec, deps)
    case 'dns':
      return createDnsChecker(spec, deps)
    case 'external':
      return createExternalChecker(spec, deps)
    case 'on':
    case 'off':
      return createOnOffChecker(spec)
    case 'ping':
      return createPingChecker(spec, deps)
    case 'dr-guard':
      if (!deps.guardRouter) throw new ERR_INVALID_CHECK('kind', 'dr-guard needs the director\'s guard router (the director must be started with drGuard: true)')
      return createDrGuardChecker(spec, { ...deps, router: deps.guardRouter })
  }
}
