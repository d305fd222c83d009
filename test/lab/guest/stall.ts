// Blocks the main event loop of a running node process for a while, from outside and without any hook in its code:
// `node --experimental-websocket stall.js --pid PID --ms N` (run it in the process's network namespace) sends
// SIGUSR1, which makes node open its inspector on 127.0.0.1:9229 (node's documented behaviour), and has it evaluate,
// on the main thread, a synchronous wait of N ms (Atomics.wait: the thread blocks as on a stuck synchronous call;
// a busy loop would block it as well but also take one of the guest's two emulated CPUs from everything else).
// Worker threads run on: this is a stuck main loop, not a paused process. Prints one JSON line
// {ok, startedAt, endedAt, stalledMs} (ms since the epoch, as the process measured).
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { pid: { type: 'string' }, ms: { type: 'string' }, port: { type: 'string', default: '9229' } } })
const pid = Number(values.pid)
const ms = Number(values.ms)
if (!Number.isInteger(pid) || !(ms > 0)) {
  process.stderr.write('usage: node --experimental-websocket stall.js --pid PID --ms N [--port 9229]\n')
  process.exit(2)
}

/** The inspector's WebSocket URL, once it listens (bounded: 30 s). */
async function inspectorUrl(): Promise<string> {
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      const targets = (await (await fetch(`http://127.0.0.1:${values.port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>
      if (targets[0]) return targets[0].webSocketDebuggerUrl
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`no inspector on port ${values.port} of pid ${pid} within 30 s`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

process.kill(pid, 'SIGUSR1')
const ws = new WebSocket(await inspectorUrl())
await new Promise((resolve, reject) => {
  ws.onopen = resolve
  ws.onerror = () => reject(new Error('cannot connect to the inspector'))
})
// The expression runs on the target's main thread and answers when the loop is over.
const expression = `(() => {
  const startedAt = Date.now()
  const cell = new Int32Array(new SharedArrayBuffer(4))
  while (Date.now() - startedAt < ${ms}) Atomics.wait(cell, 0, 0, ${ms} - (Date.now() - startedAt))
  return JSON.stringify({ startedAt, endedAt: Date.now() })
})()`
const answer = await new Promise<{ startedAt: number; endedAt: number }>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('no answer from the inspector within 60 s')), 60_000 + ms)
  ws.onmessage = (m) => {
    const msg = JSON.parse(String(m.data)) as { id?: number; result?: { result?: { value?: string } } }
    if (msg.id !== 1) return
    clearTimeout(timer)
    const value = msg.result?.result?.value
    if (typeof value === 'string') resolve(JSON.parse(value))
    else reject(new Error(`unexpected answer: ${String(m.data)}`))
  }
  ws.send(JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression } }))
})
ws.close()
process.stdout.write(JSON.stringify({ ok: true, ...answer, stalledMs: answer.endedAt - answer.startedAt }) + '\n')
process.exit(0)
