// One guest boot: write the job folder, run qemu (TCG) under an overall timeout, and collect what came back.
import { spawn } from 'node:child_process'
import { chmodSync, copyFileSync, createWriteStream, existsSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { topologyEnv, topologyScript } from '../topology.js'
import type { LabParts } from './parts.js'
import { projectRoot } from './paths.js'

/** Modules the guest loads before the job; a missing one (ip_vs_twos on older kernels) is noted, not fatal. */
const guestModules = [
  'ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_wlc', 'ip_vs_lc', 'ip_vs_sh', 'ip_vs_mh', 'ip_vs_dh', 'ip_vs_sed',
  'ip_vs_nq', 'ip_vs_lblc', 'ip_vs_lblcr', 'ip_vs_fo', 'ip_vs_ovf', 'ip_vs_twos', 'ip_vs_pe_sip',
  'nf_conntrack', 'veth', 'bridge', 'dummy',
] as const

/** One scenario's outcome, as the guest runner writes it (one JSON line each). */
export interface ScenarioResult {
  file: string
  name: string
  ok: boolean
  message: string
  details?: unknown
  seconds?: number
}

/** What the guest should do after building the topology. */
export type GuestJob =
  | { mode: 'scenarios'; files: string[]; grep?: string } // compiled files relative to the project ([] = all); name filter
  | { mode: 'script'; script: string } // a host path to a shell script
  | { mode: 'shell' } // an interactive shell on the serial console (needs BootOptions.interactive)

/** What one boot brought back. */
export interface GuestRun {
  /** The job's exit status; null when the guest died or timed out before the job ended. */
  exitStatus: number | null
  timedOut: boolean
  results: ScenarioResult[]
  stdout: string
  stderr: string
  /** The last lines of the serial console (kernel messages, lab-init lines). */
  consoleTail: string
  modulesMissing: string[]
  jobDir: string
  seconds: number
}

/** Options of one boot. */
export interface BootOptions {
  /** Kill qemu after this long. @default 900000 (15 minutes) */
  timeoutMs?: number
  /** Receives the serial console as it arrives. */
  onConsole?: (chunk: Buffer) => void
  /** Receives the job's stdout as it arrives. */
  onStdout?: (chunk: Buffer) => void
  /** Connect this process's stdin to the guest's serial console (for the shell job). */
  interactive?: boolean
}

/** Boots one guest for `job` and waits until it powers off or the timeout kills it. */
export async function runGuest(parts: LabParts, job: GuestJob, opts: BootOptions = {}): Promise<GuestRun> {
  const started = Date.now()
  const root = projectRoot()
  const jobDir = mkdtempSync(join(tmpdir(), 'lvs-lab-job-'))
  // The kernel command line carries the project's path (see init.sh), so it may not contain blanks.
  if (/\s/.test(root)) throw new Error(`the lab needs a project path without blanks: ${root}`)
  const env: Record<string, string> = { LAB_PROJECT: root, LAB_MODE: job.mode, LAB_MODULES: guestModules.join(' ') }
  if (job.mode === 'script') {
    copyFileSync(job.script, join(jobDir, 'script'))
    chmodSync(join(jobDir, 'script'), statSync(job.script).mode & 0o777)
    env.LAB_SCRIPT = '/run/lab/job/script'
  } else if (job.mode === 'scenarios') {
    for (const f of job.files) if (/\s/.test(f)) throw new Error(`scenario file paths may not contain spaces: ${f}`)
    env.LAB_FILES = job.files.join(' ')
    if (job.grep !== undefined) env.LAB_GREP = job.grep
  }
  writeFileSync(join(jobDir, 'job.env'), Object.entries(env).map(([k, v]) => `export ${k}='${v.replaceAll("'", "'\\''")}'`).join('\n') + '\n')
  writeFileSync(join(jobDir, 'topology.sh'), topologyScript())
  writeFileSync(join(jobDir, 'topology.env'), topologyEnv())
  copyFileSync(join(root, 'test', 'lab', 'guest', 'stage2.sh'), join(jobDir, 'stage2.sh'))
  writeFileSync(join(jobDir, 'stdout'), '')

  // qemu option values escape a comma by doubling it.
  const virtfs = (path: string, tag: string, ro: boolean) =>
    ['-virtfs', `local,path=${path.replaceAll(',', ',,')},mount_tag=${tag},security_model=none,multidevs=remap${ro ? ',readonly=on' : ''}`]
  const timeoutMs = opts.timeoutMs ?? 900_000
  // The guest powers itself off a little after the host's deadline, so even a host that dies first (a
  // killed test runner) leaves no qemu running forever.
  const guestTimeoutSec = Math.ceil(timeoutMs / 1000) + 30
  const args = [
    '-accel', 'tcg,thread=multi', '-cpu', 'max', '-m', '2048', '-smp', '2',
    // No network device: the guest's only network is the bridge it builds inside itself.
    '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot',
    '-kernel', parts.kernel, '-initrd', parts.initrd, '-append', `console=ttyS0 quiet panic=-1 lab_timeout=${guestTimeoutSec} lab_project=${root}`,
    ...virtfs('/', 'hostroot', true), ...virtfs(jobDir, 'labjob', false), ...virtfs(parts.modulesRoot, 'labmods', true),
  ]
  const consoleLog = createWriteStream(join(jobDir, 'console.log'))
  let timedOut = false
  const follower = followFile(join(jobDir, 'stdout'), opts.onStdout)
  await new Promise<void>((resolve) => {
    const qemu = spawn(parts.qemu, args, { stdio: [opts.interactive ? 'inherit' : 'ignore', 'pipe', 'pipe'] })
    const timer = setTimeout(() => {
      timedOut = true
      qemu.kill('SIGKILL')
    }, timeoutMs)
    const onData = (b: Buffer) => {
      consoleLog.write(b)
      opts.onConsole?.(b)
    }
    qemu.stdout.on('data', onData)
    qemu.stderr.on('data', onData)
    qemu.on('error', (e) => {
      consoleLog.write(`lab: cannot start qemu: ${e.message}\n`)
      clearTimeout(timer)
      resolve()
    })
    qemu.on('close', () => {
      clearTimeout(timer)
      resolve()
    })
  })
  follower.stop()
  await new Promise<void>((resolve) => consoleLog.end(resolve))

  const read = (f: string) => (existsSync(join(jobDir, f)) ? readFileSync(join(jobDir, f), 'utf8') : '')
  const status = read('exit-status').trim()
  return {
    exitStatus: status === '' ? null : Number(status),
    timedOut,
    results: parseResults(read('results.jsonl')),
    stdout: read('stdout'),
    stderr: read('stderr'),
    consoleTail: read('console.log').replaceAll('\r', '').split('\n').slice(-40).join('\n'),
    modulesMissing: read('modules-missing').split('\n').filter(Boolean),
    jobDir,
    seconds: (Date.now() - started) / 1000,
  }
}

/** Deletes a run's job folder (keep it when a run failed: it holds the console log). */
export function removeJobDir(run: GuestRun): void {
  rmSync(run.jobDir, { recursive: true, force: true })
}

// One JSON object per line; a torn last line (the guest died mid-write) becomes a failed result.
function parseResults(text: string): ScenarioResult[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((line) => {
    try {
      return JSON.parse(line) as ScenarioResult
    } catch {
      return { file: '?', name: 'unreadable result line', ok: false, message: line.slice(0, 500) }
    }
  })
}

// The guest writes the job's stdout straight into the shared folder, so the host can follow it live.
function followFile(path: string, sink: ((chunk: Buffer) => void) | undefined): { stop(): void } {
  if (!sink) return { stop() {} }
  let offset = 0
  const poll = () => {
    let fd: number
    try {
      fd = openSync(path, 'r')
    } catch {
      return
    }
    try {
      const buf = Buffer.alloc(65536)
      for (let n = readSync(fd, buf, 0, buf.length, offset); n > 0; n = readSync(fd, buf, 0, buf.length, offset)) {
        offset += n
        sink(Buffer.from(buf.subarray(0, n)))
      }
    } finally {
      closeSync(fd)
    }
  }
  const timer = setInterval(poll, 300)
  return {
    stop() {
      clearInterval(timer)
      poll()
    },
  }
}
