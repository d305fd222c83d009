// The `external` check: a command run with ldirectord's arguments, up on exit 0.
import type { Checker, CheckTarget } from './checker.js'
import type { ExternalCheckSpec } from './spec.js'
import type { Clock } from '../src/clock.js'
import { runProbe } from './probe.js'
import type { Exec } from '../src/exec.js'
import { CommandRunner } from './command.js'

/** What the external check needs from outside. */
export interface ExternalCheckerDeps {
  /** How commands run. @default nodeExec (node:child_process, no shell) */
  exec?: Exec
  clock?: Clock
}

/**
 * ldirectord's argument order, appended to the configured argv: virtual address (or fwmark), virtual port,
 * then the probed address and port (the real server's, or the check address and checkport).
 */
export function externalArgs(target: CheckTarget): string[] {
  return [target.virtualAddress ?? '', String(target.virtualPort ?? 0), target.address, String(target.port)]
}

/**
 * Creates an external checker: `command` plus {@link externalArgs}, no shell, up on exit 0. At the timeout the
 * process group gets SIGTERM and, `grace` seconds later, SIGKILL. The message carries the first output line.
 */
export function createExternalChecker(spec: ExternalCheckSpec, deps: ExternalCheckerDeps = {}): Checker {
  const runner = new CommandRunner(deps.exec, spec.grace * 1000)
  return {
    kind: 'external',
    check: (target, signal) => runProbe((s) => runner.run([...spec.command, ...externalArgs(target)], s), signal, deps.clock),
    close: () => runner.close(),
  }
}
