// The lab by hand: `npm run lab -- --script FILE` runs a shell script in the guest (its stdout comes back on
// stdout, for benchmarks), `npm run lab -- --file X.scenario.ts` runs one file's scenarios, no option runs all.
import { Command } from 'commander'
import { cpSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { runGuest, removeJobDir, type GuestJob, type GuestRun } from './host/boot.js'
import { ensureParts } from './host/parts.js'
import { compiledScenarioPath } from './host/paths.js'

interface Options {
  script?: string
  file: string[]
  console?: boolean
  timeout: string
  keep?: boolean
  out?: string
  grep?: string
  shell?: boolean
}

const program = new Command('lab')
  .description('boot the real-IPVS lab guest (Debian kernel under qemu) with its topology and run a job in it')
  .option('--script <file>', 'run this shell script in the guest (cwd: the project; topology in $LAB_TOPOLOGY_ENV)')
  .option('--file <file>', 'run the scenarios of this file (repeatable; default: every *.scenario file)', (v: string, acc: string[]) => [...acc, v], [])
  .option('--grep <regexp>', 'run only the scenarios whose name matches')
  .option('--shell', 'an interactive shell in the guest, on the serial console (exit powers it off)')
  .option('--console', 'stream the guest serial console to stderr')
  .option('--timeout <seconds>', 'kill the guest after this long', '900')
  .option('--out <dir>', 'copy the files the script left in $LAB_OUT into this host folder')
  .option('--keep', 'keep the job folder (console log, results) even when the run passed')
  .action(async (opts: Options) => {
    process.exitCode = await main(opts)
  })

async function main(opts: Options): Promise<number> {
  if ([opts.script, opts.file.length > 0, opts.shell].filter(Boolean).length > 1) return usage('use one of --script, --file and --shell')
  const timeoutSec = Number(opts.timeout)
  if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) return usage(`--timeout must be a positive number of seconds, not "${opts.timeout}"`)
  let job: GuestJob
  try {
    if (opts.grep !== undefined) new RegExp(opts.grep) // a bad pattern is a usage error here, not a guest failure
    job = opts.shell
      ? { mode: 'shell' }
      : opts.script
      ? { mode: 'script', script: opts.script }
      : { mode: 'scenarios', files: opts.file.map(compiledScenarioPath), grep: opts.grep }
  } catch (err) {
    return usage((err as Error).message)
  }
  const parts = await ensureParts()
  if (!parts.ok) {
    process.stderr.write(`lab: cannot run: ${parts.reason}\n`)
    return 2
  }
  const run = await runGuest(parts.parts, job, {
    timeoutMs: timeoutSec * 1000,
    onConsole: opts.shell ? (b) => process.stdout.write(b) : opts.console ? (b) => process.stderr.write(b) : undefined,
    interactive: opts.shell,
    onStdout: job.mode === 'script' ? (b) => process.stdout.write(b) : undefined,
  })
  const code = job.mode === 'shell' ? (run.exitStatus ?? guestFailed(run)) : job.mode === 'script' ? reportScript(run) : reportScenarios(run)
  if (opts.out && existsSync(join(run.jobDir, 'out'))) cpSync(join(run.jobDir, 'out'), opts.out, { recursive: true })
  if (code === 0 && !opts.keep) removeJobDir(run)
  else process.stderr.write(`lab: job folder kept: ${run.jobDir}\n`)
  return code
}

function reportScript(run: GuestRun): number {
  if (run.stderr) process.stderr.write(run.stderr)
  if (run.exitStatus === null) return guestFailed(run)
  process.stderr.write(`lab: script exited ${run.exitStatus}; boot to result ${run.seconds.toFixed(1)} s\n`)
  return run.exitStatus
}

function reportScenarios(run: GuestRun): number {
  for (const r of run.results) {
    const time = r.seconds === undefined ? '' : ` (${r.seconds.toFixed(1)} s)`
    process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.file}: ${r.name}${time}\n`)
    if (!r.ok) {
      process.stdout.write(`     ${r.message}\n`)
      if (r.details !== undefined) process.stdout.write(indent(typeof r.details === 'string' ? r.details : JSON.stringify(r.details, null, 2)) + '\n')
    }
  }
  const failed = run.results.filter((r) => !r.ok).length
  process.stdout.write(`${run.results.length - failed} passed, ${failed} failed; boot to result ${run.seconds.toFixed(1)} s\n`)
  if (run.modulesMissing.length > 0) process.stdout.write(`(modules not in this kernel: ${run.modulesMissing.join(', ')})\n`)
  if (run.exitStatus !== 0) {
    if (run.stderr) process.stderr.write(run.stderr)
    if (run.exitStatus === null) return guestFailed(run)
  }
  return failed > 0 || run.exitStatus !== 0 || run.results.length === 0 ? 1 : 0
}

function guestFailed(run: GuestRun): number {
  const why = run.timedOut ? `timed out after ${run.seconds.toFixed(0)} s` : 'stopped before the job finished'
  process.stderr.write(`lab: the guest ${why}; console tail:\n${run.consoleTail}\n`)
  return 1
}

function usage(message: string): number {
  process.stderr.write(`lab: ${message}\n`)
  return 2
}

function indent(text: string): string {
  return text.split('\n').map((l) => `     ${l}`).join('\n')
}

await program.parseAsync()
