// The rules the IPVS programming benchmark loads: one VIP with N ports (service identity is proto:vip:port),
// each with four DR real servers on the director's own connected /24 (DR needs a connected route; they need
// not answer), as a table for the wrapper and, written independently, as raw `ipvsadm -R` input.
import { host, vip } from '../test/lab/topology.js'

/** The VIP every benchmark service uses (it sits on dir-a's eth0 in the lab). */
export const BENCH_VIP = vip.ip4
/** The director's address; its /24 is the connected route the DR real servers need. */
export const DIRECTOR_IP = host('dir-a').ip4
/** First port; service i listens on FIRST_PORT + i (10,000 services end at 19,999). */
export const FIRST_PORT = 10_000
/** The four real servers: rs1..rs3 and one more address on the lab's 192.0.2.0/24. */
export const REAL_SERVERS = [host('rs1').ip4, host('rs2').ip4, host('rs3').ip4, '192.0.2.14'] as const
/** The real server the incremental change adds (also on the connected /24). */
export const EXTRA_SERVER = '192.0.2.15'

/** Port of service `i`. */
export function benchPort(i: number): number {
  return FIRST_PORT + i
}

/** Rules (services plus real servers) in a table of `n` services. */
export function benchRules(n: number): number {
  return n * (1 + REAL_SERVERS.length)
}

/** The desired table of `n` services as a table file would give it (parseTable validates and completes it). */
export function benchTableInput(n: number): unknown {
  const services = []
  for (let i = 0; i < n; i++) {
    const port = benchPort(i)
    services.push({
      protocol: 'tcp',
      address: BENCH_VIP,
      port,
      scheduler: 'wlc',
      destinations: REAL_SERVERS.map((address) => ({ address, port, forwarding: 'dr', weight: 1 })),
    })
  }
  return { services }
}

/** The same rules as `ipvsadm -R` input, written by hand (not by the wrapper): what an operator would feed. */
export function rawRestoreText(n: number): string {
  const lines: string[] = []
  for (let i = 0; i < n; i++) {
    const svc = `-t ${BENCH_VIP}:${benchPort(i)}`
    lines.push(`-A ${svc} -s wlc`)
    for (const rs of REAL_SERVERS) lines.push(`-a ${svc} -r ${rs}:${benchPort(i)} -g -w 1`)
  }
  return `${lines.join('\n')}\n`
}

/** argv of one raw `ipvsadm -a` (or `-d`) of the extra real server on service `i`. */
export function rawExtraArgs(cmd: '-a' | '-d', i: number): string[] {
  const svc = ['-t', `${BENCH_VIP}:${benchPort(i)}`, '-r', `${EXTRA_SERVER}:${benchPort(i)}`]
  return cmd === '-a' ? ['-a', ...svc, '-g', '-w', '1'] : ['-d', ...svc]
}
