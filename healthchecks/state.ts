// The pure rise/fall state machine that turns a stream of probe results into up/down transitions.

/** What the director believes about a real server. `unknown` = no probe has answered yet. */
export type Health = 'up' | 'down' | 'unknown'

/** Hysteresis settings of one subscriber. */
export interface Thresholds {
  /** Consecutive successes before a down server is up again (keepalived's rise). */
  rise: number
  /** Consecutive failures before an up server is down (ldirectord's failurecount, keepalived's retry + 1). */
  fall: number
}

/** The counters of one subscriber, as a value. */
export interface HealthState {
  health: Health
  /** Consecutive successes, reset by any failure. */
  successes: number
  /** Consecutive failures, reset by any success. */
  failures: number
}

/** A fresh state. `unknown` lets the first result decide; `up`/`down` start with that belief. */
export function initialState(health: Health = 'unknown'): HealthState {
  return { health, successes: 0, failures: 0 }
}

/**
 * Applies one probe result. Rules:
 * - from `unknown`, the first result decides (we hold no belief to protect with hysteresis);
 * - from `up`, `fall` consecutive failures make it `down`;
 * - from `down`, `rise` consecutive successes make it `up`.
 */
export function step(state: HealthState, ok: boolean, t: Thresholds): HealthState {
  const successes = ok ? state.successes + 1 : 0
  const failures = ok ? 0 : state.failures + 1
  let health = state.health
  if (health === 'unknown') health = ok ? 'up' : 'down'
  else if (health === 'up' && failures >= t.fall) health = 'down'
  else if (health === 'down' && successes >= t.rise) health = 'up'
  return { health, successes, failures }
}
