// A real redis-server for one test: a free loopback port, its own directory; killed and removed in teardown. It
// can be killed and started again on the same port (with its data when `persist`, empty otherwise).
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

export interface RedisServer {
  port: number
  /** Kill it (SIGKILL: no shutdown save; with `persist` every acknowledged write is in its AOF already). */
  kill(): Promise<void>
  /** Start it again on the same port; `empty` gives it a fresh directory (Redis restarted without its data). */
  start(empty?: boolean): Promise<void>
  /** Resolves once its log (since the last start) has `text`. */
  logged(text: string): Promise<void>
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

/**
 * Start redis-server on a free port; resolves once it accepts connections. `persist`: AOF, fsync always;
 * `replicaOf`: a replica of the server on that port; `password`: AUTH required.
 */
export async function redisServer(t: Test, options: { persist?: boolean; replicaOf?: number; password?: string } = {}): Promise<RedisServer> {
  const port = await freePort()
  const dirs: string[] = []
  const newDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'lvs-redis-'))
    dirs.push(d)
    return d
  }
  let dir = await newDir()
  let child: ChildProcess | undefined
  let out = ''
  const log = new EventEmitter()
  const extra = options.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']
  if (options.replicaOf) extra.push('--replicaof', '127.0.0.1', String(options.replicaOf))
  if (options.password) extra.push('--requirepass', options.password)
  const server: RedisServer = {
    port,
    async kill() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    },
    async start(empty = false) {
      if (empty) dir = await newDir()
      const argv = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--repl-diskless-sync', 'no', ...extra]
      const proc = spawn('redis-server', argv, { stdio: ['ignore', 'pipe', 'pipe'] })
      child = proc
      out = ''
      for (const stream of [proc.stdout!, proc.stderr!]) {
        stream.on('data', (chunk: Buffer) => {
          out += chunk.toString()
          log.emit('data')
        })
      }
      const exited = once(proc, 'exit').then(([code]) => {
        throw new Error(`redis-server exited (${code}) before it was ready:\n${out}`)
      })
      await Promise.race([server.logged('Ready to accept connections'), exited])
    },
    async logged(text) {
      while (!out.includes(text)) await once(log, 'data')
    },
  }
  t.teardown(async () => {
    await server.kill()
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })
  await server.start()
  return server
}
