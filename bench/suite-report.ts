// The suite's report (bench/report.md) and the shape of bench/results.json.
import type { Chart } from './suite-charts.js'
import type { Figure, PartOutput } from './suite-parts.js'

export interface SuiteResults {
  started: string
  finished?: string
  mode: 'full' | 'quick'
  command: string
  commit: string
  machine: { cpu: string; cpus: number; memoryGiB: number; kernel: string; node: string }
  parts: Array<PartOutput & { name: string; title: string; where: string; command: string; seconds: number }>
}

const num = (x: number) => (Number.isInteger(x) ? x.toLocaleString('en-US') : x.toLocaleString('en-US', { maximumFractionDigits: 2 }))

function row(f: Figure): string {
  const ref = f.reference ? `${num(f.reference.value)} ${f.unit} (${f.reference.name})` : ''
  const ratio = f.ratio !== undefined ? `**${f.ratio.toFixed(2)}**${f.better ? ` (${f.better} is better)` : ''}` : ''
  const target = f.target ? `${f.target.met ? 'met' : '**missed**'}: ${f.target.text}` : ''
  return `| ${f.name} | ${num(f.value)} ${f.unit} | ${ref} | ${ratio} | ${target} |`
}

/** The markdown report: the run, then each part's figures, its charts and the command behind them. */
export function reportMarkdown(r: SuiteResults, charts: Chart[]): string {
  const lab = r.parts.some((p) => p.where.startsWith('lab'))
  const all = r.parts.flatMap((p) => p.figures)
  const targets = all.filter((f) => f.target)
  const out = [
    `# lvs-director benchmark report (${r.mode})`,
    '',
    `Run ${r.started} to ${r.finished ?? '?'} at commit ${r.commit}, with \`${r.command}\`.`,
    `Machine: ${r.machine.cpus} x ${r.machine.cpu}, ${r.machine.memoryGiB} GiB, kernel ${r.machine.kernel}, node ${r.machine.node}.`,
    ...(lab ? ['The lab parts run in a Debian guest under qemu with TCG (emulation, no KVM): their absolute times are not native; the ratios, measured in the same guest boot, are what to compare.'] : []),
    '',
    `Targets: ${targets.filter((f) => f.target!.met).length} of ${targets.length} met. Each figure is measured against its reference in the same run; ratio = figure / reference.`,
    '',
  ]
  const overview = charts.find((c) => c.part === '')
  if (overview) out.push(`![${overview.title}](charts/${overview.file})`, '')
  for (const p of r.parts) {
    out.push(`## ${p.title}`, '', `Part \`${p.name}\`, on the ${p.where}, ${p.seconds} s. Reproduce: \`${p.command}\` (after \`npm run build\`; \`npm run bench -- --only ${p.name}${r.mode === 'quick' ? ' --quick' : ''}\` runs it alone).`, '')
    if (p.error) out.push(`**Failed:** ${p.error.split('\n')[0]}`, '')
    if (p.figures.length) out.push('| figure | lvs-director | reference (same run) | ratio | target |', '| --- | ---: | ---: | ---: | --- |', ...p.figures.map(row), '')
    for (const c of charts.filter((c) => c.part === p.name)) out.push(`![${c.title}](charts/${c.file})`, '')
    for (const n of p.notes ?? []) out.push(`- ${n}`)
    if (p.notes?.length) out.push('')
  }
  return `${out.join('\n')}\n`
}
