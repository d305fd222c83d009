// Formats the IPVS programming benchmark's results: a markdown table for people, one JSON line for tools.
import { median } from './ipvs-measure.js'

/** Medians and samples of one method, in milliseconds. */
export interface Timing {
  medianMs: number
  samplesMs: number[]
  /** CPU time (user + system, 10 ms ticks) of the run's ipvsadm process, per sample: computing, not waiting. */
  processCpuMs?: number[]
  /** CPU time of the benchmark's node process itself over the timed run, per sample (all its threads). */
  selfCpuMs?: number[]
  /** Wrapper only: median milliseconds per phase (see ipvs-wrapper.ts Phases). */
  phasesMs?: Record<string, number>
}

/** Full programming of one table size. */
export interface SizeResult {
  services: number
  rules: number
  /** parseTable of the desired table (schema check and canonical form), done once, outside the timed runs. */
  validateMs: number
  /** parseTableText of the same table as a YAML file (YAML parse with positions, then parseTable), done once. */
  yamlMs: number
  /** The wrapper's -R lines equal the hand-written raw lines as a set. */
  sameLines: boolean
  /** The kernel's -Sn after a wrapper run was compared with the one after a raw run, and matched. */
  kernelChecked: boolean
  raw: Timing
  wrapper: Timing
  ratio: number
  /**
   * Median of the wrapper's own time per run (total minus its ipvsadm processes), and the ratio it gives on top
   * of raw's median: the same comparison, insensitive to the emulated kernel running slower during one run
   * than another (a host shared with other guests).
   */
  ownMs: number
  ownRatio?: number
}

/** Everything one run measured. */
export interface Report {
  bench: 'ipvs-program'
  kernel: string
  cpu: string
  vcpus: number
  node: string
  ipvsadm: string
  /** Where the runs ran. */
  namespaces: string
  repeats: number
  sizes: SizeResult[]
  incremental: {
    tableRules: number
    raw: Timing
    wrapper: Timing
    ratio: number
    /** Median of the wrapper's own time per change (total minus its ipvsadm process): what it adds to one process. */
    ownMs?: number
    /** The contrasts (absent with --skip-contrast): one `ipvsadm -Sn` of the table; the same change as
     * `lvs-director apply` makes it (read the kernel, diff, apply, save), its read alone and that read's processes. */
    contrast?: { saveTableMs: number; oneShotMs: number; oneShotReadMs: number; oneShotReadProcesses: Array<{ argv: string; ms: number }> }
  }
  seconds: number
}

const s = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`)
const n = (x: number) => x.toLocaleString('en-US')
const PHASES = ['loadOwned', 'read', 'diff', 'lines', 'restore', 'process', 'post', 'save', 'total'] as const

/** The markdown report followed by the JSON line. */
export function formatReport(r: Report): string {
  const inc = r.incremental
  const out: string[] = []
  out.push(`IPVS programming, lab guest (${r.namespaces}), kernel ${r.kernel}, ${r.cpu} (qemu TCG), ${r.vcpus} vCPUs, ` +
    `node ${r.node}, ${r.ipvsadm}. Times are emulated (10-50x native); ratios count. Medians of ${r.repeats} alternating runs each.`)
  out.push('')
  out.push('| what | raw ipvsadm | lvs-director wrapper | ratio | target |')
  out.push('| --- | ---: | ---: | ---: | --- |')
  for (const z of r.sizes) {
    out.push(`| program ${n(z.services)} services x 4 DR (${n(z.rules)} rules), empty table | ${s(z.raw.medianMs)} (one \`-R\`) | ${s(z.wrapper.medianMs)} | ${z.ratio.toFixed(2)} | <= 1.25 |`)
    out.push(`| the same, as raw + the wrapper's own time (outside ipvsadm: ${s(z.ownMs)}) | ${s(z.raw.medianMs)} | ${s(z.raw.medianMs + z.ownMs)} | ${(z.ownRatio ?? 0).toFixed(2)} | <= 1.25 |`)
  }
  for (const z of r.sizes) {
    const fromFile = z.wrapper.medianMs + z.yamlMs
    out.push(`| for contrast: ${n(z.services)} services from a YAML file (\`lvs-director apply FILE\`: + YAML parse and validation) | ${s(z.raw.medianMs)} | ${s(fromFile)} | ${(fromFile / z.raw.medianMs).toFixed(2)} | |`)
  }
  out.push(`| add 1 real server, ${n(inc.tableRules)}-rule table | ${s(inc.raw.medianMs)} (one \`-a\`) | ${s(inc.wrapper.medianMs)} | ${inc.ratio.toFixed(2)} | about 1 |`)
  if (inc.ownMs !== undefined) {
    out.push(`| the same, as raw + the wrapper's own time (outside ipvsadm: ${s(inc.ownMs)}) | ${s(inc.raw.medianMs)} | ${s(inc.raw.medianMs + inc.ownMs)} | ${((inc.raw.medianMs + inc.ownMs) / inc.raw.medianMs).toFixed(2)} | about 1 |`)
  }
  const c = inc.contrast
  if (c) {
    out.push(`| for contrast: one \`ipvsadm -Sn\` of that table | ${s(c.saveTableMs)} | | ${(c.saveTableMs / inc.raw.medianMs).toFixed(1)}x one \`-a\` | |`)
    out.push(`| for contrast: the same change as one-shot \`lvs-director apply\` (reads the kernel first) | | ${s(c.oneShotMs)} (read ${s(c.oneShotReadMs)}) | ${(c.oneShotMs / inc.raw.medianMs).toFixed(1)}x one \`-a\` | |`)
  }
  out.push('')
  out.push('Wrapper time by phase (medians, ms): loadOwned = state file read, read = kernel table read, lines = -R lines built, ' +
    'restore = text joined + ipvsadm -R run (process = spawn to exit), post = new kernel view + owned set, save = owned-set write ' +
    '(programming: whole snapshot, fsync, rename; one change: one journal line, fsync).')
  out.push('')
  out.push(`| run | ${PHASES.join(' | ')} |`)
  out.push(`| --- |${PHASES.map(() => ' ---: |').join('')}`)
  const row = (name: string, p: Record<string, number> | undefined) => out.push(`| ${name} | ${PHASES.map((k) => (p?.[k] ?? 0).toFixed(0)).join(' | ')} |`)
  for (const z of r.sizes) row(`${n(z.services)} services`, z.wrapper.phasesMs)
  row('one change', inc.wrapper.phasesMs)
  out.push('')
  for (const z of r.sizes) {
    out.push(`${n(z.services)} services: raw ${z.raw.samplesMs.map(s).join(', ')}; wrapper ${z.wrapper.samplesMs.map(s).join(', ')}; ` +
      `not in the wrapper time: validating the table (parseTable) ${s(z.validateMs)}, ` +
      `or from a YAML file as \`lvs-director apply FILE\` reads it (parse + parseTable) ${s(z.yamlMs)}; same rules as raw: ${z.sameLines ? 'yes' : 'NO'}; kernel tables compared: ${z.kernelChecked ? 'equal' : 'not compared'}.` +
      (z.raw.processCpuMs?.length && z.wrapper.processCpuMs?.length
        ? ` The ipvsadm -R process's own CPU time (user + system, median): raw ${s(median(z.raw.processCpuMs))}, wrapper ${s(median(z.wrapper.processCpuMs))}.`
        : '') +
      (z.raw.selfCpuMs?.length && z.wrapper.selfCpuMs?.length
        ? ` The node process's own CPU time beside it (all threads, median): raw ${s(median(z.raw.selfCpuMs))}, wrapper ${s(median(z.wrapper.selfCpuMs))}.`
        : ''))
  }
  if (c) {
    const rp = c.oneShotReadProcesses
    out.push(`One-shot read of the ${n(inc.tableRules)}-rule table: ${rp.map((p) => `\`ipvsadm ${p.argv}\` ${s(p.ms)}`).join(', ')}, ` +
      `parsing ${s(c.oneShotReadMs - rp.reduce((a, p) => a + p.ms, 0))}.`)
  }
  out.push(`One change: raw ${inc.raw.samplesMs.map(s).join(', ')}; wrapper ${inc.wrapper.samplesMs.map(s).join(', ')}. ` +
    `Whole benchmark ${r.seconds.toFixed(0)} s.`)
  out.push('')
  out.push(JSON.stringify(r))
  return `${out.join('\n')}\n`
}
