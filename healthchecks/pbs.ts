// The `pbs` check: the PBS server's TCP port accepts, then an optional `qstat -B`-style command exits 0.
import type { Checker, CheckTarget } from './checker.js'
import type { PbsCheckSpec } from './spec.js'
import type { Clock } from '../src/clock.js'
import { runProbe, up, type Outcome } from './probe.js'
import { tcpExchange } from './tcp-exchange.js'
import type { Exec } from '../src/exec.js'
import { CommandRunner } from './command.js'

/** What the pbs check needs from outside. */
export interface PbsCheckerDeps {
  /** How commands run. @default nodeExec (node:child_process, no shell) */
  exec?: Exec
  clock?: Clock
}

/** The command's argv with `{address}` and `{port}` replaced by the target's (plain text, never a shell). */
export function pbsArgv(command: readonly string[], target: CheckTarget): string[] {
  return command.map((a) => a.replaceAll('{address}', target.address).replaceAll('{port}', String(target.port)))
}

/**
 * Creates a pbs checker: up when the server port (15001 unless the real server or `port` says otherwise)
 * accepts a TCP connection and, when `command` is set, that command then exits 0 within the same timeout.
 */
export function createPbsChecker(spec: PbsCheckSpec, deps: PbsCheckerDeps = {}): Checker {
  const runner = spec.command ? new CommandRunner(deps.exec, spec.grace * 1000) : undefined

  async function probe(target: CheckTarget, signal: AbortSignal): Promise<Outcome> {
    const connected = await tcpExchange({ address: target.address, port: target.port }, signal)
    if (!connected.ok || !runner || !spec.command) return connected
    const ran = await runner.run(pbsArgv(spec.command, target), signal)
    return ran.ok ? up(`connected, ${ran.message}`) : ran
  }

  return {
    kind: 'pbs',
    check: (target, signal) => runProbe((s) => probe(target, s), signal, deps.clock),
    close: async () => runner?.close(),
  }
}
