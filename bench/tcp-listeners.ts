// N loopback TCP real servers in a child process of their own (each process may hold 20,000 descriptors, and the
// checker under test needs its own), for the health-check benchmarks: each accepted connection is counted and
// closed at once. The parent talks to it over IPC: {ports} when listening, {kill: [i...]} closes servers,
// {count: true} answers {accepted}, {stop: true} answers {cpuMicros} and exits.
import { fork, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath } from 'node:url'

/** The listener process, from the parent's side. */
export interface Listeners {
  ports: number[]
  /** Close the servers at these indexes (their checks start failing). */
  kill(indexes: number[]): Promise<void>
  /** Connections accepted so far, by every server. */
  accepted(): Promise<number>
  /** Its CPU time since listening (µs), then it exits. */
  stop(): Promise<number>
  /** Kill it (idempotent; for finally blocks). */
  close(): void
}

function request<T>(child: ChildProcess, msg: object, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: Record<string, unknown>) => {
      if (!(key in m)) return
      child.off('message', on)
      child.off('exit', gone)
      resolve(m[key] as T)
    }
    const gone = (code: number | null) => reject(new Error(`listener process exited with ${code}`))
    child.on('message', on)
    child.once('exit', gone)
    child.send(msg)
  })
}

/** Start `n` listeners on 127.0.0.1 from `portBase` up (ports in use skipped). */
export async function startListeners(n: number, portBase: number): Promise<Listeners> {
  const child = fork(fileURLToPath(import.meta.url), ['--listen', String(n), String(portBase)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const ports = await new Promise<number[]>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { ports: number[] }).ports))
    child.once('exit', (code) => reject(new Error(`listener process exited with ${code}`)))
  })
  return {
    ports,
    kill: async (indexes) => { await request(child, { kill: indexes }, 'killed') },
    accepted: () => request<number>(child, { count: true }, 'accepted'),
    stop: () => request<number>(child, { stop: true }, 'cpuMicros'),
    close: () => { child.kill() },
  }
}

// Explicit ports below the ephemeral range: binding 10,000 sockets to port 0 makes the kernel search for a free
// port each time (quadratic, ~20 s of CPU), and staying below 32768 keeps clear of the probes' source ports.
async function listen(n: number, portBase: number): Promise<void> {
  let accepted = 0
  const servers: net.Server[] = []
  for (let port = portBase; servers.length < n; port++) {
    if (port > 65535) throw new Error(`only ${servers.length} free ports from ${portBase}`)
    const server = net.createServer((socket) => { accepted++; socket.destroy() })
    const ok = await new Promise<boolean>((resolve, reject) => {
      // In use by someone else: skip it; anything else (EMFILE: raise `ulimit -n`) stops here.
      server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(false) : reject(err)))
      server.listen(port, '127.0.0.1', () => resolve(true))
    })
    if (ok) servers.push(server)
  }
  const cpuStart = process.cpuUsage()
  process.send!({ ports: servers.map((s) => (s.address() as net.AddressInfo).port) })
  process.on('message', (msg: { kill?: number[]; count?: boolean; stop?: boolean }) => {
    if (msg.kill) {
      for (const i of msg.kill) servers[i]!.close()
      process.send!({ killed: msg.kill.length })
    }
    if (msg.count) process.send!({ accepted })
    if (msg.stop) {
      const cpu = process.cpuUsage(cpuStart)
      process.send!({ cpuMicros: cpu.user + cpu.system }, () => process.exit(0))
    }
  })
  process.on('disconnect', () => process.exit(0)) // the parent is gone
}

if (process.argv[2] === '--listen') await listen(Number(process.argv[3]), Number(process.argv[4]))
