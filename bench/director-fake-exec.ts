// An in-process stand-in for ipvsadm, for the director benchmark's host parts (no IPVS on the host): the same
// behaviour as test/fixtures/fake-ipvsadm.mjs (-R of -A/-E/-D/-a/-e/-d lines, -Sn, -Ln with an empty listing,
// -Ln --timeout), but with the table in Maps and no process, so a 50,000-rule table costs nothing per call and the
// figures measure the daemon, not a fake.
import { inputText, type Exec, type ExecResult } from '../src/exec.js'

const LISTING_HEAD = 'IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n'

/** A fake kernel table and the Exec that drives it; `calls` counts processes by their first argument. */
/** The ipvsadm commands that change the table; a one-line batch runs as one of them instead of `-R`. */
export const CHANGE_COMMANDS: ReadonlySet<string> = new Set(['-A', '-E', '-D', '-a', '-e', '-d'])

export function fakeIpvsadm(): { exec: Exec; calls: Map<string, number>; rules(): number } {
  // service "-t VIP:PORT" -> its -A line, and its destinations "-r RS:PORT" -> -a line
  const services = new Map<string, { line: string; dests: Map<string, string> }>()
  const calls = new Map<string, number>()
  const ok = (stdout = ''): ExecResult => ({ code: 0, stdout, stderr: '' })
  const apply = (line: string): void => {
    const [cmd, ...words] = line.split(' ')
    const svc = words.slice(0, 2).join(' ')
    const rest = words.join(' ')
    const dest = words[words.indexOf('-r') + 1] ?? ''
    if (cmd === '-A') services.set(svc, { line: `-A ${rest}`, dests: new Map() })
    else if (cmd === '-E') { const s = services.get(svc); if (s) s.line = `-A ${rest}` }
    else if (cmd === '-D') services.delete(svc)
    else if (cmd === '-a' || cmd === '-e') services.get(svc)?.dests.set(dest, `-a ${rest}`)
    else if (cmd === '-d') services.get(svc)?.dests.delete(dest)
  }
  const exec: Exec = async (_file, argv, options) => {
    calls.set(argv[0] ?? '', (calls.get(argv[0] ?? '') ?? 0) + 1)
    if (argv[0] === '-R') {
      for (const line of inputText(options.input).split('\n')) if (line) apply(line)
      return ok()
    }
    if (CHANGE_COMMANDS.has(argv[0] ?? '')) {
      apply(argv.join(' ')) // a one-line batch runs as the command itself
      return ok()
    }
    if (argv[0] === '-Sn') {
      const out: string[] = []
      for (const s of services.values()) {
        out.push(s.line)
        for (const d of s.dests.values()) out.push(d)
      }
      return ok(out.length ? `${out.join('\n')}\n` : '')
    }
    if (argv[0] === '-Ln' && argv.includes('--timeout')) return ok('Timeout (tcp tcpfin udp): 900 120 300\n')
    if (argv[0] === '-Ln') return ok(LISTING_HEAD)
    return ok()
  }
  return { exec, calls, rules: () => [...services.values()].reduce((n, s) => n + 1 + s.dests.size, 0) }
}
