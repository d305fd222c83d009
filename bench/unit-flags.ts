// The node flags the systemd unit (etc/lvs-director.service) starts the daemon with: its heap limits. The memory
// benchmark starts its daemon child with them, so it measures what users run; `npm start` passes the same.
import { existsSync, readFileSync } from 'node:fs'

// etc/ is one level up from bench/ (run from source) or two from dist/bench/ (compiled).
const UNIT = ['../etc/lvs-director.service', '../../etc/lvs-director.service'].map((p) => new URL(p, import.meta.url)).find(existsSync)!

/** The `--flags` between `node` and the script in the unit's ExecStart (read from `unit`, the unit file by default). */
export function unitNodeFlags(unit: string | URL = UNIT): string[] {
  const text = readFileSync(unit, 'utf8')
  const exec = /^ExecStart=\S*node((?:\s+--\S+)*)\s/m.exec(text)
  if (!exec) throw new Error(`no ExecStart=.../node ... line in ${String(unit)}`)
  return exec[1]!.trim().split(/\s+/).filter(Boolean)
}
