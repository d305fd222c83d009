// Shared test helpers for the health checks: run a probe with a deadline, find closed ports, listen on loopback,
// and the self-signed TLS fixture.
import net from 'node:net'
import dgram from 'node:dgram'
import { readFileSync } from 'node:fs'
import type { Checker, CheckResult, CheckTarget } from '../../healthchecks/checker.js'

/** The loopback addresses every check is tested on. */
export const FAMILIES = ['127.0.0.1', '::1'] as const

/** Runs one probe, aborting it after `ms` (the scheduler's timeout). */
export async function probe(checker: Checker, target: CheckTarget, ms = 2000): Promise<CheckResult> {
  const ac = new AbortController()
  const timer = setTimeout(() => ac.abort(), ms)
  try {
    return await checker.check(target, ac.signal)
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Runs one probe and aborts it (as the scheduler's timeout would) only once `ready` resolves, e.g. once a command
 * has written its PID file: a fixed deadline would race that process's start-up on a loaded machine.
 */
export async function probeAbortedAfter<T>(checker: Checker, target: CheckTarget, ready: () => Promise<T>): Promise<[CheckResult, T]> {
  const ac = new AbortController()
  const running = checker.check(target, ac.signal)
  const value = await ready()
  ac.abort()
  return [await running, value]
}

/** A target on loopback. */
export function target(address: string, port: number, protocol: 'tcp' | 'udp' = 'tcp'): CheckTarget {
  return { address, port, protocol }
}

/** Starts a TCP server on loopback port 0 and returns it listening. */
export async function listenTcp(server: net.Server, host: string): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  return (server.address() as net.AddressInfo).port
}

/** Binds a UDP socket on loopback port 0. */
export async function bindUdp(socket: dgram.Socket, host: string): Promise<number> {
  await new Promise<void>((resolve) => socket.bind(0, host, resolve))
  return socket.address().port
}

/** A TCP port on `host` that nothing listens on (bound, then closed). */
export async function closedTcpPort(host: string): Promise<number> {
  const s = net.createServer()
  const port = await listenTcp(s, host)
  await new Promise((r) => s.close(r))
  return port
}

/** A UDP port on `host` that nothing listens on (bound, then closed). */
export async function closedUdpPort(host: string): Promise<number> {
  const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4')
  const port = await bindUdp(s, host)
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** The self-signed key and certificate in test/fixtures/tls, as `https.createServer` takes them. */
export function selfSignedTls(): { key: Buffer; cert: Buffer } {
  const dir = new URL('../fixtures/tls/', import.meta.url)
  return { key: readFileSync(new URL('key.pem', dir)), cert: readFileSync(new URL('cert.pem', dir)) }
}
