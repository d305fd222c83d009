// What a scenario can do inside the guest: run programs in a namespace, start real-server echo servers,
// send HTTP requests from a namespace, and reset the lab between scenarios.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { run as runProgram, type Ran } from '../host/exec.js'
import { byRole, host, initialVipHolder, prefix4, prefix6, vip } from '../topology.js'
import { ScenarioFailure } from './assert.js'

/** What a finished program left behind (code null: killed by the timeout or could not start). */
export type ExecResult = Ran

/** Options of one program run. */
export interface ExecOptions {
  /** Kill the program after this long. @default 60000 */
  timeoutMs?: number
  /** Written to the program's stdin. */
  input?: string
}

// Linux's default ephemeral range, and two outside it for a scenario that must not share ports (ownClientPorts).
const DEFAULT_PORT_RANGE = '32768 60999'
const OWN_PORT_RANGES = ['61000 65535', '10000 32767'] as const
const EXPIRE_NODEST_CONN = 'net.ipv4.vs.expire_nodest_conn'

/** A background program a scenario started; the lab stops it at reset if the scenario did not. */
export interface LabProcess {
  readonly child: ChildProcess
  /** stdout and stderr so far. */
  output(): string
  /** Stops the program (SIGTERM, then SIGKILL after `graceMs`, default 2 s) and waits for it to exit. */
  stop(graceMs?: number): Promise<void>
}

/** An HTTP echo server in a namespace: answers every request with the namespace's name. */
export interface EchoServer {
  readonly ns: string
  readonly port: number
  stop(): Promise<void>
}

/** One HTTP request's outcome: `body` is the echo server's name for a reply from it. */
export interface HttpReply {
  ok: boolean
  status?: number
  body?: string
  error?: string
}

/** One UDP exchange's outcome: `body` is the echo server's name; `localPort` the client's source port. */
export interface UdpReply {
  ok: boolean
  body?: string
  localPort?: number
  error?: string
}

/** A Redis server a scenario started in the `redis` namespace (stopped at reset). */
export interface RedisServer {
  readonly host: string
  readonly port: number
  readonly password: string
  readonly process: LabProcess
}

/** One request of a probe (see `Lab.probe`): `at` is the send time in ms since the epoch. */
export interface ProbeReply {
  at: number
  ok: boolean
  status?: number
  body?: string
  localPort?: number
  error?: string
}

/** A client polling a URL in the background until stopped. */
export interface LabProbe {
  /** The replies so far, oldest first. */
  replies(): ProbeReply[]
  /** Stops polling and returns every reply. */
  stop(): Promise<ProbeReply[]>
}

const udpSendJs = fileURLToPath(new URL('./udp-send.js', import.meta.url))
const httpProbeJs = fileURLToPath(new URL('./http-probe.js', import.meta.url))
const echoServerJs = fileURLToPath(new URL('./echo-server.js', import.meta.url))
const httpGetJs = fileURLToPath(new URL('./http-get.js', import.meta.url))

// argv to run `argv` inside namespace `ns` (null: the guest's root namespace).
function inNs(ns: string | null, argv: readonly string[]): string[] {
  if (ns === null) return [...argv]
  host(ns) // an unknown namespace is a scenario bug: say so rather than let ip fail obscurely
  return ['ip', 'netns', 'exec', ns, ...argv]
}

/** The lab as scenarios see it. One instance serves every scenario of a guest run. */
export class Lab {
  readonly #processes = new Set<LabProcess>()
  readonly #echo = new Map<string, { proc: LabProcess; server: EchoServer }>()

  /** Runs `argv` in namespace `ns` (null: root namespace) to completion; never throws on a non-zero exit. */
  exec(ns: string | null, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return runProgram(inNs(ns, argv), { input: opts.input, timeoutMs: opts.timeoutMs ?? 60_000 })
  }

  /**
   * An exec function bound to namespace `ns`, shaped `(cmd, args, opts?) => Promise<{ code, stdout, stderr }>`:
   * hand it to project code that spawns programs (the ipvsadm wrapper) so it acts on that namespace's IPVS.
   */
  execIn(ns: string): (cmd: string, args: readonly string[], opts?: ExecOptions) => Promise<ExecResult> {
    host(ns)
    return (cmd, args, opts) => this.exec(ns, [cmd, ...args], opts)
  }

  /** Runs `argv` in `ns` and returns its stdout; fails the scenario (with stderr) on a non-zero exit. */
  async run(ns: string | null, argv: readonly string[], opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(ns, argv, opts)
    if (r.code !== 0) throw new ScenarioFailure(`${ns ?? 'root'}: ${argv.join(' ')} exited ${r.code}`, { stdout: r.stdout, stderr: r.stderr })
    return r.stdout
  }

  /** Runs `ipvsadm ...args` in `ns` and returns its stdout; fails the scenario on a non-zero exit. */
  ipvsadm(ns: string, args: readonly string[], opts: ExecOptions = {}): Promise<string> {
    return this.run(ns, ['ipvsadm', ...args], opts)
  }

  /** Starts `argv` in `ns` in the background; the lab stops it at the next reset. */
  spawn(ns: string | null, argv: readonly string[]): LabProcess {
    const [cmd, ...args] = inNs(ns, argv)
    const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (b: Buffer) => (out += b.toString()))
    child.stderr.on('data', (b: Buffer) => (out += b.toString()))
    child.on('error', (e) => (out += `\n${e.message}`))
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()))
    const proc: LabProcess = {
      child,
      output: () => out,
      stop: async (graceMs = 2000) => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM')
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
          await exited
          clearTimeout(timer)
        }
        this.#processes.delete(proc)
      },
    }
    this.#processes.add(proc)
    void exited.then(() => this.#processes.delete(proc))
    return proc
  }

  /**
   * Makes sure an echo server runs in `ns` on `port` (TCP: HTTP; UDP: a datagram back; IPv4 and IPv6),
   * answering with `ns`.
   * Servers outlive resets (they hold no state); one stopped by a scenario is started again on demand.
   */
  async echoServer(ns: string, opts: { port?: number } = {}): Promise<EchoServer> {
    const port = opts.port ?? 80
    const key = `${ns}:${port}`
    const have = this.#echo.get(key)
    if (have && have.proc.child.exitCode === null) return have.server
    const proc = this.spawn(ns, [process.execPath, echoServerJs, '--name', ns, '--port', String(port)])
    this.#processes.delete(proc) // not stopped by reset
    await waitForOutput(proc, (out) => out.split('\n').includes('listening'), '"listening"', 60_000)
    const server: EchoServer = {
      ns,
      port,
      stop: async () => {
        this.#echo.delete(key)
        await proc.stop()
      },
    }
    this.#echo.set(key, { proc, server })
    return server
  }

  /** Starts echo servers in several namespaces at once (node start-up is slow here: in parallel). */
  echoServers(namespaces: readonly string[], opts: { port?: number } = {}): Promise<EchoServer[]> {
    return Promise.all(namespaces.map((ns) => this.echoServer(ns, opts)))
  }

  /** Sends `count` HTTP GETs to `url` from `ns`, one new connection each, one after another. */
  async httpGet(ns: string, url: string, opts: { count?: number; timeoutMs?: number } = {}): Promise<HttpReply[]> {
    const count = opts.count ?? 1
    const timeoutMs = opts.timeoutMs ?? 5000
    const out = await this.run(ns, [process.execPath, httpGetJs, '--count', String(count), '--timeout', String(timeoutMs), url], {
      timeoutMs: 30_000 + count * timeoutMs,
    })
    return JSON.parse(out) as HttpReply[]
  }

  /** Sends one request with a JSON body (or none) from `ns`: a director's API, without the CLI's start-up. */
  async httpCall(ns: string, method: string, url: string, body?: unknown, timeoutMs = 60_000): Promise<HttpReply> {
    const json = body === undefined ? [] : ['--json', JSON.stringify(body)]
    const out = await this.run(ns, [process.execPath, httpGetJs, '--method', method, ...json, '--timeout', String(timeoutMs), url], { timeoutMs: 30_000 + timeoutMs })
    return (JSON.parse(out) as HttpReply[])[0]!
  }

  /**
   * Sends each payload over UDP from `ns` to `address`:`port` and waits for one reply each, one after
   * another; all from one source port, or with `newSocketEach` each from a new one (a SIP client that
   * re-opens its socket: persistence by Call-ID must still hold).
   */
  async udpExchange(ns: string, address: string, port: number, payloads: readonly string[], opts: { newSocketEach?: boolean; timeoutMs?: number } = {}): Promise<UdpReply[]> {
    const timeoutMs = opts.timeoutMs ?? 3000
    const argv = [process.execPath, udpSendJs, '--host', address, '--port', String(port), '--timeout', String(timeoutMs)]
    if (opts.newSocketEach) argv.push('--new-socket')
    const out = await this.run(ns, [...argv, '--', ...payloads], { timeoutMs: 30_000 + payloads.length * timeoutMs })
    return JSON.parse(out) as UdpReply[]
  }

  /**
   * Starts a client in `ns` that GETs `url` every `intervalMs` (default 100) until stopped (or reset), and
   * resolves once the first reply (or error) is in. With `keepAlive` all requests share one connection
   * while it lives (an unchanged `localPort` proves it survived); without, each opens a new one. With `openLoop`
   * a request starts every `intervalMs` even while earlier ones wait (replies then come in completion order).
   */
  async probe(ns: string, url: string, opts: { intervalMs?: number; keepAlive?: boolean; timeoutMs?: number; openLoop?: boolean } = {}): Promise<LabProbe> {
    const argv = [process.execPath, httpProbeJs, '--interval', String(opts.intervalMs ?? 100), '--timeout', String(opts.timeoutMs ?? 2000)]
    const proc = this.spawn(ns, [...argv, ...(opts.keepAlive ? ['--keep-alive'] : []), ...(opts.openLoop ? ['--open-loop'] : []), url])
    const replies = (): ProbeReply[] =>
      proc.output().split('\n').flatMap((l) => {
        if (!l.startsWith('{')) return []
        try {
          return [JSON.parse(l) as ProbeReply]
        } catch {
          return [] // a line still being written
        }
      })
    await waitForOutput(proc, () => replies().length > 0, 'a first reply', 60_000)
    return {
      replies,
      stop: async () => {
        await proc.stop()
        return replies()
      },
    }
  }

  /**
   * Starts `redis-server` in the `redis` namespace on its IPv4 address, with a password (protected mode
   * refuses password-less clients from other hosts) and no persistence; stopped at the next reset.
   */
  async redisServer(opts: { port?: number; password?: string } = {}): Promise<RedisServer> {
    const h = byRole('redis')[0]!
    const port = opts.port ?? 6379
    const password = opts.password ?? 'lab-redis-password'
    const proc = this.spawn(h.ns, [
      'redis-server', '--bind', h.ip4, '--port', String(port), '--requirepass', password,
      '--save', '', '--appendonly', 'no', '--dir', '/tmp', '--daemonize', 'no',
    ])
    await waitForOutput(proc, (out) => out.includes('Ready to accept connections'), 'readiness', 60_000)
    return { host: h.ip4, port, password, process: proc }
  }

  /** An http:// URL for an address (IPv6 in brackets). */
  url(address: string, port = 80, path = '/'): string {
    return `http://${address.includes(':') ? `[${address}]` : address}:${port}${path}`
  }

  /**
   * Puts the lab back as it started: stops the scenario's background programs, clears IPVS and its connection
   * entries and stops the sync daemons in every director, puts the VIP back on dir-a only, and flushes the client's
   * neighbours.
   */
  async reset(): Promise<void> {
    await Promise.all([...this.#processes].map((p) => p.stop()))
    await Promise.all(
      byRole('director').map(async (d) => {
        // IPVS has no command that flushes connection entries, and they outlive their service (held up to 15
        // minutes, their real server kept in the kernel's trash): a later scenario's connection from the same port
        // would reuse one, and a re-added real server would get its old entries back. With expire_nodest_conn on
        // while -C deletes the real servers, the kernel (5.9 and later) expires every entry bound to one at once.
        await this.run(d.ns, ['sysctl', '-qw', `${EXPIRE_NODEST_CONN}=1`])
        // One ipvsadm for all four (restore mode takes any command); 900 120 300 are the kernel's defaults.
        const restore = '-C\n--stop-daemon master\n--stop-daemon backup\n--set 900 120 300\n'
        const r = await this.exec(d.ns, ['ipvsadm', '-R'], { input: restore })
        if (r.code !== 0) throw new Error(`reset of ${d.ns} failed: ${r.stderr}`)
        // Entries synced in without a service of their own have no real server to lose: they stay, and say so.
        let left = -1
        for (let i = 0; i < 50 && left !== 0; i++) {
          if (i > 0) await new Promise((resolve) => setTimeout(resolve, 100))
          left = (await this.run(d.ns, ['ipvsadm', '-Lnc'])).split('\n').filter((l) => /^(TCP|UDP|SCTP) /.test(l)).length
        }
        if (left > 0) process.stderr.write(`lab reset: ${left} connection entries left in ${d.ns}\n`)
        await this.run(d.ns, ['sysctl', '-qw', `${EXPIRE_NODEST_CONN}=0`])
        await this.linkUp(d.ns)
        const verb = d.ns === initialVipHolder ? 'replace' : 'del'
        const nodad = verb === 'replace' ? ' nodad' : ''
        const batch = `addr ${verb} ${vip.ip4}/32 dev eth0\naddr ${verb} ${vip.ip6}/128 dev eth0${nodad}\n`
        await this.exec(null, ['ip', '-force', '-n', d.ns, '-batch', '-'], { input: batch })
      }),
    )
    await Promise.all(byRole('client').map(async (c) => {
      await this.exec(null, ['ip', '-n', c.ns, 'neigh', 'flush', 'all'])
      await this.exec(c.ns, ['sysctl', '-qw', `net.ipv4.ip_local_port_range=${DEFAULT_PORT_RANGE}`])
    }))
  }

  /**
   * Brings `ns`'s eth0 up with its own addresses. A link taken down (a scenario's dead machine) loses its IPv6
   * addresses (the kernel's keep_addr_on_down is off): up again, it would reach no one over IPv6.
   */
  async linkUp(ns: string): Promise<void> {
    const h = host(ns)
    const batch = `link set eth0 up\naddr replace ${h.ip4}/${prefix4} dev eth0\naddr replace ${h.ip6}/${prefix6} dev eth0 nodad\n`
    await this.run(null, ['ip', '-n', ns, '-batch', '-'], { input: batch })
  }

  /**
   * Gives the clients' connections from now to the next reset source ports no other scenario uses. A director's
   * connection table outlives the reset (IPVS has no flush of it): a scenario with thousands of connections leaves
   * entries, some synced from the other director and held for 15 minutes, that a later scenario's connection from the
   * same port would reuse (its real server chosen before, not counted on the new service). `set` 1 is a second
   * range, for a part of a scenario that must not meet the entries of its own earlier parts.
   */
  async ownClientPorts(set: 0 | 1 = 0): Promise<void> {
    await Promise.all(byRole('client').map((c) => this.run(c.ns, ['sysctl', '-qw', `net.ipv4.ip_local_port_range=${OWN_PORT_RANGES[set]}`])))
  }

  /** Stops everything the lab started (end of the run). */
  async close(): Promise<void> {
    await Promise.all([...this.#processes].map((p) => p.stop()))
    await Promise.all([...this.#echo.values()].map((e) => e.server.stop()))
  }
}

// Waits until a background program's output satisfies `ready`, or fails with what it printed.
function waitForOutput(proc: LabProcess, ready: (output: string) => boolean, what: string, timeoutMs: number): Promise<void> {
  const name = proc.child.spawnargs.join(' ')
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new ScenarioFailure(`no ${what} from ${name} within ${timeoutMs} ms`, proc.output())), timeoutMs)
    const check = () => {
      if (ready(proc.output())) done()
    }
    const onExit = () => done(new ScenarioFailure(`${name} exited before ${what}`, proc.output()))
    function done(err?: Error) {
      clearTimeout(timer)
      proc.child.stdout?.off('data', check)
      proc.child.off('close', onExit)
      if (err) reject(err)
      else resolve()
    }
    proc.child.stdout?.on('data', check)
    proc.child.on('close', onExit)
    check()
  })
}
