// The lab guest's initramfs: static busybox, the /init script and the 9p-over-virtio modules, built once per
// kernel and init script and cached.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { gzipSync } from 'node:zlib'
import { runOk, which } from './exec.js'
import { projectRoot } from './paths.js'

/** The modules that give the guest 9p over virtio, in the order they must be loaded. */
const ninePModules = [
  'virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci',
  'netfs', 'fscache', '9pnet', '9pnet_virtio', '9p',
] as const

/** Returns the cached initramfs for this kernel and init script, building it when missing. */
export async function buildInitramfs(opts: { cacheDir: string; modulesRoot: string; kernelVersion: string; log: (line: string) => void }): Promise<string> {
  const guestDir = join(projectRoot(), 'test', 'lab', 'guest')
  const init = readFileSync(join(guestDir, 'init.sh'))
  const modprobe = readFileSync(join(guestDir, 'modprobe.sh'))
  const busybox = which('busybox')
  if (!busybox) throw new Error('busybox is missing')
  const bb = statSync(busybox)
  const hash = createHash('sha256').update(init).update(modprobe).update(`${bb.size}:${bb.mtimeMs}:${opts.kernelVersion}`).digest('hex').slice(0, 12)
  const out = join(opts.cacheDir, `initramfs-${opts.kernelVersion}-${hash}.cpio.gz`)
  if (existsSync(out)) return out

  opts.log(`building the initramfs for ${opts.kernelVersion}`)
  const modDir = join(opts.modulesRoot, 'lib', 'modules', opts.kernelVersion)
  const dep = readFileSync(join(modDir, 'modules.dep'), 'utf8')
  const stage = join(opts.cacheDir, `initramfs-stage-${process.pid}`)
  rmSync(stage, { recursive: true, force: true })
  for (const d of ['bin', 'dev', 'proc', 'sys', 'host', 'lab/ko']) mkdirSync(join(stage, d), { recursive: true })
  copyFileSync(busybox, join(stage, 'bin', 'busybox'))
  writeFileSync(join(stage, 'init'), init)
  writeFileSync(join(stage, 'lab', 'modprobe'), modprobe)
  for (const f of ['bin/busybox', 'init', 'lab/modprobe']) chmodSync(join(stage, f), 0o755)
  for (const m of ninePModules) {
    // modules.dep lines read "kernel/fs/9p/9p.ko: deps..."; a module built into the kernel has no line.
    const line = dep.split('\n').find((l) => l.split(':')[0]?.endsWith(`/${m}.ko`))
    const path = line?.split(':')[0]
    if (path) copyFileSync(join(modDir, path), join(stage, 'lab', 'ko', `${m}.ko`))
  }
  // The kernel opens /dev/console for init's output before init mounts devtmpfs.
  await runOk(['mknod', join(stage, 'dev', 'console'), 'c', '5', '1'])
  const files = listTree(stage).map((p) => relative(stage, p)).filter((p) => p !== '')
  const cpio = await runBinary(['cpio', '-o', '-H', 'newc', '--quiet'], stage, files.join('\n') + '\n')
  const tmp = `${out}.tmp-${process.pid}`
  writeFileSync(tmp, gzipSync(cpio))
  renameSync(tmp, out)
  rmSync(stage, { recursive: true, force: true })
  // Builds for another init script are dead weight once a day old (younger ones may belong to another
  // checkout of the project booting right now).
  for (const f of readdirSync(opts.cacheDir)) {
    const p = join(opts.cacheDir, f)
    if (f.startsWith('initramfs-') && f.endsWith('.cpio.gz') && p !== out && Date.now() - statSync(p).mtimeMs > 86_400_000) rmSync(p, { force: true })
  }
  return out
}

function listTree(dir: string): string[] {
  const out = [dir]
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...listTree(p))
    else out.push(p)
  }
  return out
}

// cpio's archive is binary: collect it as a Buffer rather than through runOk's string.
function runBinary(argv: string[], cwd: string, input: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv as [string, ...string[]]
    const child = spawn(cmd, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    let err = ''
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => (err += b.toString()))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${argv.join(' ')} exited ${code}: ${err.trim()}`))))
    child.stdin.end(input)
  })
}
