// The one import of a lab scenario file: the Scenario shape, the Lab helpers, assertions and the topology.
import type { Lab } from './guest/lab.js'

/** One real-kernel check, run inside the guest with the topology built and the lab reset before it. */
export interface Scenario {
  /** A sentence saying what is proven, e.g. "a client gets answers from both real servers through the VIP". */
  name: string
  /** Does the work and asserts; throwing (an assertion or anything else) fails the scenario. */
  run(lab: Lab): Promise<void>
  /** Fail the scenario when it runs longer than this. @default 120000 (TCG is 10-50x slower than native) */
  timeoutMs?: number
}

export { Lab, type EchoServer, type ExecOptions, type ExecResult, type HttpReply, type LabProbe, type LabProcess, type ProbeReply, type RedisServer, type UdpReply } from './guest/lab.js'
export * as assert from './guest/assert.js'
export { ScenarioFailure } from './guest/assert.js'
export { bridge, byRole, host, hosts, initialVipHolder, vip, type Host, type Role } from './topology.js'
