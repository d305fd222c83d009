// The heartbeat worker thread: binds every path, sends a heartbeat on each every interval, judges what it hears, and
// tells the main thread only about changes. It runs off the main event loop, so a long reconcile or a GC pause there
// does not silence it; but it stops sending while the main loop's ping is older than the stall limit.
import { createSocket, type Socket } from 'node:dgram'
import { parentPort, workerData } from 'node:worker_threads'
import type { MessagePort } from 'node:worker_threads'
import type { HeartbeatPath } from './heartbeat-config.js'
import { stateProblem, type HeartbeatState } from './heartbeat-state.js'
import { hrNow, PING, Slot, slot, STALLED, type FromWorker, type ToWorker, type WorkerData } from './heartbeat-shared.js'
import { clusterTag, decodeHeartbeat, destinationBytes, encodeHeartbeat } from './heartbeat-wire.js'
import { ReplayGuard } from './replay-guard.js'

/** A heartbeat counts only when it echoes one of our heartbeats of the last 2 s (counted in heartbeats, not time). */
const FRESH_MS = 2000
const NS_PER_MS = 1_000_000n

interface PathRun {
  path: HeartbeatPath
  socket: Socket
  /** destinationBytes() of the peer: where our heartbeats say they go. */
  peerTo: Buffer
  /** destinationBytes() of this path's local end, once bound: what a heartbeat for this path says. */
  ownTo: Buffer
  /** Bound to the unspecified address: only the port of a heartbeat's destination is checked. */
  anyAddress: boolean
  alive: boolean
  /** JSON of the state and the boot last reported for this path. */
  reported: string
}

function bind(path: HeartbeatPath): Promise<Socket> {
  const socket = createSocket({ type: path.family === 'inet' ? 'udp4' : 'udp6', ipv6Only: path.family === 'inet6' })
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      socket.close()
      reject(err)
    }
    socket.once('error', fail)
    socket.bind({ address: path.localAddress, port: path.localPort, exclusive: true }, () => {
      socket.off('error', fail)
      resolve(socket)
    })
  })
}

/** Runs the worker on `port` until the main thread sends 'close'. */
export async function runHeartbeatWorker(port: MessagePort, data: WorkerData): Promise<void> {
  const { config, shared } = data
  const post = (m: FromWorker) => port.postMessage(m)
  const add = (i: number, s: Slot) => Atomics.add(shared, slot(i, s), 1n)
  const boot = Buffer.from(data.boot)
  const tag = clusterTag(config.cluster)
  const guard = new ReplayGuard(boot, config.paths.length * Math.ceil(FRESH_MS / config.intervalMs))
  const deadNs = BigInt(config.deadIntervalMs) * NS_PER_MS
  const stallNs = BigInt(config.stallLimitMs) * NS_PER_MS
  let payload = JSON.stringify(config.state)
  let seq = 0
  let stalled = false
  let closed = false
  let timer: NodeJS.Timeout | undefined

  const runs: PathRun[] = []
  for (const path of config.paths) {
    try {
      runs.push({ path, socket: await bind(path), peerTo: destinationBytes(path.peerAddress, path.peerPort), ownTo: Buffer.alloc(0), anyAddress: path.localAddress === '0.0.0.0' || path.localAddress === '::', alive: false, reported: '' })
    } catch (err) {
      for (const r of runs) r.socket.close()
      post({ type: 'failed', path: path.name, message: (err as Error).message })
      port.close()
      return
    }
  }

  const report = (i: number, r: PathRun, state?: HeartbeatState) =>
    post({ type: 'peer', path: i, alive: r.alive, state, boot: guard.peerBoot?.toString('hex') })

  const heard = (i: number, r: PathRun, state: HeartbeatState) => {
    Atomics.store(shared, slot(i, Slot.LastHeard), hrNow())
    add(i, Slot.Received)
    const said = `${guard.peerBoot?.toString('hex')} ${JSON.stringify(state)}`
    if (r.alive && said === r.reported) return
    r.alive = true
    r.reported = said
    Atomics.store(shared, slot(i, Slot.Alive), 1n)
    report(i, r, state)
  }

  const receive = (i: number, r: PathRun, msg: Buffer) => {
    if (closed) return
    const decoded = decodeHeartbeat(msg, config.key, tag)
    if (!decoded.ok) return void add(i, Slot.Forged)
    const p = decoded.packet
    // A genuine heartbeat addressed to another path (or another host) was sent here on purpose: a replay.
    const toHere = r.anyAddress ? p.to.subarray(16).equals(r.ownTo.subarray(16)) : p.to.equals(r.ownTo)
    if (!toHere) return void add(i, Slot.Replayed)
    let state: unknown
    try {
      state = JSON.parse(p.payload)
    } catch {
      return void add(i, Slot.Forged)
    }
    if (stateProblem(state) !== undefined) return void add(i, Slot.Forged)
    switch (guard.check(p, seq)) {
      case 'accept':
      case 'adopt':
        return heard(i, r, state as HeartbeatState)
      case 'unconfirmed':
        return void add(i, Slot.Unconfirmed)
      case 'replayed':
        return void add(i, Slot.Replayed)
      case 'reflected':
        return void add(i, Slot.Forged)
    }
  }

  const send = () => {
    runs.forEach((r, i) => {
      seq++
      const echo = guard.echo()
      const buf = encodeHeartbeat({ boot, seq, echoBoot: echo.boot, echoSeq: echo.seq, to: r.peerTo, payload }, config.key, tag)
      r.socket.send(buf, r.path.peerPort, r.path.peerAddress, (err) => add(i, err ? Slot.SendErrors : Slot.Sent))
    })
  }

  // The stall rule, then the heartbeats, then silence: once per interval.
  const tick = () => {
    const now = hrNow()
    const pingAge = now - Atomics.load(shared, PING)
    if (pingAge > stallNs !== stalled) {
      stalled = !stalled
      Atomics.store(shared, STALLED, stalled ? 1n : 0n)
      post({ type: 'stall', stalled, pingAgeMs: Number(pingAge / NS_PER_MS) })
    }
    if (!stalled) send()
    runs.forEach((r, i) => {
      if (r.alive && now - Atomics.load(shared, slot(i, Slot.LastHeard)) > deadNs) {
        r.alive = false
        Atomics.store(shared, slot(i, Slot.Alive), 0n)
        report(i, r)
      }
    })
  }

  // Ticks keep to a grid (start + k x interval) so a late one does not push all the later ones back.
  const start = performance.now()
  let k = 0
  const schedule = () => {
    if (closed) return
    tick()
    const now = performance.now()
    k = Math.max(k + 1, Math.ceil((now - start) / config.intervalMs))
    timer = setTimeout(schedule, start + k * config.intervalMs - now)
  }

  port.on('message', (m: ToWorker) => {
    if (m.type === 'state') payload = m.payload
    else if (m.type === 'close' && !closed) {
      closed = true
      clearTimeout(timer)
      for (const r of runs) r.socket.close()
      port.close() // nothing is left: the thread ends
    }
  })
  runs.forEach((r, i) => {
    r.ownTo = destinationBytes(r.path.localAddress, r.socket.address().port)
    r.socket.on('message', (msg) => receive(i, r, msg))
    r.socket.on('error', () => add(i, Slot.SendErrors)) // an unconnected UDP socket errs only on a send
  })
  post({ type: 'ready', ports: runs.map((r) => r.socket.address().port) })
  schedule()
}

if (parentPort) void runHeartbeatWorker(parentPort, workerData as WorkerData)
