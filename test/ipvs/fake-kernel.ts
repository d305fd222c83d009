// An in-memory stand-in for `ipvsadm -R` / read, with ipvsadm's failure rules: a kernel error prints one line
// and restore goes on (exit status = last line's), a syntax error (fail(2)) stops the batch. For apply's logic only.
import { parseSave } from '../../src/ipvs/parse.js'
import { destinationKey, serviceKey, type Table } from '../../src/ipvs/model.js'
import type { ApplyDriver } from '../../src/ipvs/apply.js'
import { restoreLine, type Op } from '../../src/ipvs/commands.js'
import { ERR_IPVSADM_FAILED, ERR_IPVSADM_TIMEOUT } from '../../src/errors.js'

/** A line matching `match` fails with `message`; `abort` makes ipvsadm stop there (exit 2). */
export interface FailRule { match: string; message: string; abort?: boolean }

export class FakeKernel implements ApplyDriver {
  table: Table
  rules: FailRule[] = []
  batches: string[][] = []
  reads = 0
  /** ipvsadm -R is killed at its deadline after the kernel took this many lines (then throws, as Ipvsadm does). */
  timeoutAfter?: number
  /** This many reads fail from now on. */
  failReads = 0
  /** Runs before each restore: another tool changing the table meanwhile. */
  meanwhile?: () => void

  constructor(table: Table = { services: [] }) {
    this.table = structuredClone(table)
  }

  restoreOps(ops: readonly Op[]) {
    return this.restore(ops.map(restoreLine))
  }

  /** `ipvsadm -R` of these lines. */
  async restore(lines: string[]) {
    this.batches.push(lines)
    this.meanwhile?.()
    let stderr = ''
    let code = 0
    for (const [i, line] of lines.entries()) {
      if (i === this.timeoutAfter) throw new ERR_IPVSADM_TIMEOUT('-R', 120000)
      const rule = this.rules.find((r) => line.includes(r.match))
      if (rule?.abort) return { code: 2, stderr: stderr + rule.message + '\n' }
      const err = rule ? rule.message : this.#run(line)
      if (err) stderr += err + '\n'
      code = err ? 255 : 0
    }
    return { code, stderr }
  }

  async read() {
    this.reads++
    if (this.failReads > 0 && this.failReads--) throw new ERR_IPVSADM_FAILED('-Sn', 'Memory allocation problem')
    return structuredClone(this.table)
  }

  /** Run `-R` lines directly, as another tool would. */
  run(...lines: string[]): void {
    for (const line of lines) if (this.#run(line)) throw new Error(`fake kernel: ${line} failed`)
  }

  #run(line: string): string | undefined {
    const [cmd, ...rest] = line.split(' ')
    const r = rest.indexOf('-r')
    const id = (r < 0 ? rest : rest.slice(0, r)).join(' ')
    const svc = parseSave(`-A ${id} -s wlc\n`).services[0]!
    const key = serviceKey(svc)
    const have = this.table.services.find((s) => serviceKey(s) === key)
    if (cmd === '-A' || cmd === '-E') {
      const full = parseSave(`-A ${rest.join(' ')}\n`).services[0]!
      if (cmd === '-A' && have) return 'Service already exists'
      if (cmd === '-E' && !have) return 'No such service'
      if (have) Object.assign(have, { ...full, destinations: have.destinations })
      else this.table.services.push(full)
      return undefined
    }
    if (!have) return cmd === '-D' ? 'No such service' : 'Service not defined'
    if (cmd === '-D') {
      this.table.services = this.table.services.filter((s) => s !== have)
      return undefined
    }
    const destLine = cmd === '-d' ? `${rest.join(' ')} -g -w 1` : rest.join(' ')
    const dest = parseSave(`-A ${id} -s wlc\n-a ${destLine}\n`).services[0]!.destinations[0]!
    const i = have.destinations.findIndex((d) => destinationKey(d) === destinationKey(dest))
    if (cmd === '-a') {
      if (i >= 0) return 'Destination already exists'
      have.destinations.push(dest)
    } else if (i < 0) return 'No such destination'
    else if (cmd === '-e') have.destinations[i] = dest
    else have.destinations.splice(i, 1)
    return undefined
  }
}
