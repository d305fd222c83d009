// What a heartbeat says: the sender's state, checked the same way when set and when heard. No imports, so the
// worker thread loads little.

/** What a director says in each heartbeat. Small and JSON-able; the HA layer gives the fields their meaning. */
export interface HeartbeatState {
  node: string
  role: string
  epoch: number
  priority: number
  /** The sender is handing the VIPs over (a graceful stop or switchover). */
  handover?: boolean
}

/** Longest node, role or cluster name, in characters. */
export const MAX_NAME = 64

/** Why `value` is not a HeartbeatState, or undefined when it is one. */
export function stateProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object'
  const s = value as Record<string, unknown>
  for (const k of Object.keys(s)) if (!['node', 'role', 'epoch', 'priority', 'handover'].includes(k)) return `unknown field ${JSON.stringify(k)}`
  for (const k of ['node', 'role'] as const) {
    const v = s[k]
    if (typeof v !== 'string' || v === '' || v.length > MAX_NAME) return `${k} is not a string of 1..${MAX_NAME} characters`
  }
  if (typeof s.epoch !== 'number' || !Number.isSafeInteger(s.epoch) || s.epoch < 0) return 'epoch is not a non-negative integer'
  if (typeof s.priority !== 'number' || !Number.isSafeInteger(s.priority)) return 'priority is not an integer'
  if (s.handover !== undefined && typeof s.handover !== 'boolean') return 'handover is not a boolean'
  return undefined
}
