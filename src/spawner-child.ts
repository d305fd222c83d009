// The spawner's helper process (see spawner.ts): runs each command it is sent with nodeExec and answers with the
// result. Exits when the director's channel closes, killing what still runs; the signals a terminal or systemd
// sends the whole group are the director's to act on, not this process's.
import { nodeExec } from './exec.js'
import type { SpawnerReply, SpawnerRequest } from './spawner.js'

const aborts = new Map<number, AbortController>()
const reply = (m: SpawnerReply) => {
  if (process.connected) process.send!(m)
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => {})
process.on('message', (m: SpawnerRequest) => {
  if (m.kind === 'abort') aborts.get(m.id)?.abort()
  else {
    const ac = new AbortController()
    aborts.set(m.id, ac)
    nodeExec(m.file, m.argv, { ...m.options, input: m.input, signal: ac.signal })
      .then((result) => reply({ id: m.id, result }), (err: NodeJS.ErrnoException) => reply({ id: m.id, error: { message: err.message, code: err.code } }))
      .finally(() => {
        aborts.delete(m.id)
        if (!process.connected && aborts.size === 0) process.exit(0)
      })
  }
})
process.on('disconnect', () => {
  for (const ac of aborts.values()) ac.abort()
  if (aborts.size === 0) process.exit(0)
})
