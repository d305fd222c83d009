// A director pair in network namespaces made for it on this host (test/pair-failover.test.ts, bench/pair-host.bench.ts):
// a bridge in its own namespace joining directors a and b, Redis and a client (one veth each, NET.n/24), Redis in
// its namespace, on each director a web server answering with the director's name (what the VIP serves here: this
// host has no IPVS, and ipvsadm is the stand-in fake-ipvsadm.mjs), the directors as daemon processes, and a client
// polling the VIP. Every process started here is killed, and every namespace and file removed, in teardown.
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DaemonProcess, fake, spawnNode, startDaemon, type Line } from './daemon-process.js'
import { createNetns, ip, type Teardown } from './netns.js'

const HOSTS = { a: 1, b: 2, redis: 100, client: 200 } as const
export type PairHost = keyof typeof HOSTS
export type PairNode = 'a' | 'b'
// The probe beside this file's source (tap) or compiled copy (a benchmark).
const probeJs = fileURLToPath(new URL(`../lab/guest/http-probe.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url))

/** One request of the client (test/lab/guest/http-probe.ts): `at` is its send time. */
export interface ProbeLine extends Line { at: number; ok: boolean; body?: string; error?: string }

/** A director's timers when not the product's defaults (seconds, as in the config). */
export interface HeartbeatTimers { interval: number; deadCount: number }

export class PairNet {
  readonly vip: string
  readonly #procs = new Set<DaemonProcess>()

  private constructor(readonly net: string, readonly ns: Record<PairHost, string>, readonly dir: string) {
    this.vip = `${net}.50`
  }

  /** Builds the network (NET.0/24, VIP NET.50); `t` gets the clean-ups. */
  static async create(t: Teardown, net = '10.77.0'): Promise<PairNet> {
    const dir = await mkdtemp(join(tmpdir(), 'lvs-pair-net-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const sw = await createNetns(t, 'lvsw')
    await ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge')
    await ip('-n', sw, 'link', 'set', 'br0', 'up')
    const ns = {} as Record<PairHost, string>
    for (const [name, n] of Object.entries(HOSTS) as Array<[PairHost, number]>) {
      ns[name] = await createNetns(t, `lv${name}`)
      await ip('-n', sw, 'link', 'add', `p${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns[name])
      await ip('-n', sw, 'link', 'set', `p${n}`, 'master', 'br0', 'up')
      await ip('-n', ns[name], 'addr', 'add', `${net}.${n}/24`, 'dev', 'eth0')
      await ip('-n', ns[name], 'link', 'set', 'eth0', 'up')
    }
    const pn = new PairNet(net, ns, dir)
    t.teardown(() => pn.#killAll()) // first: before the namespaces go
    return pn
  }

  addr(h: PairHost): string {
    return `${this.net}.${HOSTS[h]}`
  }

  /** Tracks `p` (killed at teardown unless it exited). */
  started(p: DaemonProcess): DaemonProcess {
    this.#procs.add(p)
    void p.exited.then(() => this.#procs.delete(p))
    return p
  }

  /** redis-server in its namespace, once it accepts connections. */
  async redis(): Promise<DaemonProcess> {
    const redis = this.started(new DaemonProcess(spawn('ip', ['netns', 'exec', this.ns.redis, 'redis-server', '--bind', this.addr('redis'), '--port', '6379', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })))
    await new Promise<void>((resolve, reject) => {
      const check = (c: Buffer) => { if (c.toString().includes('Ready to accept connections')) { redis.child.stdout!.off('data', check); resolve() } }
      redis.child.stdout!.on('data', check)
      void redis.exited.then((code) => reject(new Error(`redis-server exited (${code}): ${redis.stderr}`)))
    })
    return redis
  }

  /** What the VIP serves: a web server on director `node` answering with its name, once it listens. */
  async web(node: PairNode): Promise<DaemonProcess> {
    const web = this.started(spawnNode(['-e', `require('http').createServer((q, s) => s.end('${node}')).listen(80, () => console.log(JSON.stringify({ msg: 'listening' })))`], {}, { netns: this.ns[node] }))
    await web.waitFor((l) => l.msg === 'listening')
    return web
  }

  /**
   * Director `node` (`lvs-director run`, fake ipvsadm) with the VIP on eth0 and one heartbeat path; the product's
   * timers unless `heartbeat` says otherwise. `cluster` names its Redis keys, state folder and fake kernel: a start
   * with the same one is a restart (state folder kept).
   */
  async director(node: PairNode, priority: number, o: { cluster?: string; heartbeat?: HeartbeatTimers } = {}): Promise<DaemonProcess> {
    const cluster = o.cluster ?? 'pair-test'
    const base = join(this.dir, `${cluster}-${node}`)
    const timers = o.heartbeat ? `, interval: ${o.heartbeat.interval}, deadCount: ${o.heartbeat.deadCount}` : ''
    await writeFile(`${base}.yaml`, `
director:
  stateDir: ${base}
  ipvsadm: { path: ${fake} }
  redis: { host: ${this.addr('redis')}, port: 6379, cluster: ${cluster} }
  pair:
    node: ${node}
    priority: ${priority}
    heartbeat: { key: 0123456789abcdef-test-key, paths: [{ local: ${this.addr(node)}, peer: ${this.addr(node === 'a' ? 'b' : 'a')} }]${timers} }
    vips: [{ address: ${this.vip}, interface: eth0 }]
services:
  - { name: web, protocol: tcp, address: ${this.vip}, port: 80, check: { kind: on }, destinations: [{ address: ${this.net}.10 }] }
`)
    return this.started(startDaemon(`${base}.yaml`, { FAKE_IPVSADM_STATE: `${base}.kernel` }, { netns: this.ns[node] }))
  }

  /** The client: http-probe.js with `args` (before the URL) polling the VIP from its namespace. */
  probe(args: string[]): DaemonProcess {
    return this.started(spawnNode([probeJs, ...args, `http://${this.vip}/`], {}, { netns: this.ns.client }))
  }

  async holdsVip(node: PairNode): Promise<boolean> {
    return (await ip('-n', this.ns[node], '-j', 'addr', 'show', 'dev', 'eth0')).includes(`"${this.vip}"`)
  }

  async #killAll(): Promise<void> {
    const left = [...this.#procs]
    for (const p of left) p.child.kill('SIGKILL')
    await Promise.all(left.map((p) => p.exited))
  }
}
