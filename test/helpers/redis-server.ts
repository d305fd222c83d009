// A real redis-server for one test: a free loopback port, its own directory, killed in teardown. It can be killed
// and started again on the same port (with its data when `persist`, empty otherwise).
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp } from 'node:fs/promises'
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
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

/** Start redis-server on a free port; resolves once it accepts connections. `persist`: AOF, fsync always. */
export async function redisServer(t: Test, options: { persist?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort()
  let dir = await mkdtemp(join(tmpdir(), 'lvs-redis-'))
  let child: ChildProcess | undefined
  const persistence = options.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']
  const server: RedisServer = {
    port,
    async kill() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    },
    async start(empty = false) {
      if (empty) dir = await mkdtemp(join(tmpdir(), 'lvs-redis-'))
      const argv = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...persistence]
      const proc = spawn('redis-server', argv, { stdio: ['ignore', 'pipe', 'pipe'] })
      child = proc
      let out = ''
      await new Promise<void>((resolve, reject) => {
        proc.on('error', reject)
        proc.on('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready:\n${out}`)))
        proc.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString()
          if (out.includes('Ready to accept connections')) resolve()
        })
      })
      proc.stdout!.resume()
    },
  }
  t.teardown(() => server.kill())
  await server.start()
  return server
}
