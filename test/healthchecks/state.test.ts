// The pure rise/fall state machine, as a table of result sequences and the health they lead to.
import t from 'tap'
import { initialState, step, type Health } from '../../healthchecks/state.js'

const cases: [string, Health, string, Health[]][] = [
  // name, initial, results (+ ok, - fail), health after each result (rise 2, fall 3)
  ['unknown: first success decides', 'unknown', '+', ['up']],
  ['unknown: first failure decides', 'unknown', '-', ['down']],
  ['up: falls after exactly 3 failures', 'up', '---', ['up', 'up', 'down']],
  ['up: a success resets the failures', 'up', '--+--', ['up', 'up', 'up', 'up', 'up']],
  ['down: rises after exactly 2 successes', 'down', '++', ['down', 'up']],
  ['down: a failure resets the successes', 'down', '+-+', ['down', 'down', 'down']],
  ['flapping with hysteresis', 'unknown', '+---++', ['up', 'up', 'up', 'down', 'down', 'up']],
]

for (const [name, initial, results, expected] of cases) {
  t.test(name, async (t) => {
    let state = initialState(initial)
    const seen: Health[] = []
    for (const r of results) {
      state = step(state, r === '+', { rise: 2, fall: 3 })
      seen.push(state.health)
    }
    t.same(seen, expected)
  })
}

t.test('step returns a new value and leaves the old one alone', async (t) => {
  const before = initialState('up')
  const after = step(before, false, { rise: 1, fall: 1 })
  t.same(before, { health: 'up', successes: 0, failures: 0 })
  t.same(after, { health: 'down', successes: 0, failures: 1 })
})
