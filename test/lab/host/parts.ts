// The lab's parts on the host: Debian packages, Debian's stock kernel with its modules, and the initramfs.
// Each step is idempotent and cached; when a part cannot be had, the answer is one line saying why.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run, runOk, which } from './exec.js'
import { buildInitramfs } from './initramfs.js'

/** Everything a guest boot needs, as host paths. */
export interface LabParts {
  qemu: string
  kernel: string
  initrd: string
  /** The root of the extracted kernel package (holds lib/modules/<version>), shared read-only with the guest. */
  modulesRoot: string
  kernelVersion: string
}

/**
 * The parts, or the one-line reason the lab cannot run here. `broken` is false when the host simply cannot
 * host the lab (not Linux, not root, no apt-get): a reason to skip. It is true when the host should have
 * managed and did not (an install, download or build failed): a failure to report.
 */
export type PartsResult = { ok: true; parts: LabParts } | { ok: false; reason: string; broken: boolean }
type Failure = { ok: false; reason: string; broken: boolean }

/** Debian packages the lab needs, each with a program that shows it is installed. */
const packages: ReadonlyArray<readonly [program: string, pkg: string]> = [
  ['qemu-system-x86_64', 'qemu-system-x86'],
  ['busybox', 'busybox-static'],
  ['depmod', 'kmod'],
  ['cpio', 'cpio'],
  ['ipvsadm', 'ipvsadm'],
  ['arping', 'iputils-arping'],
  ['ip', 'iproute2'],
  ['redis-server', 'redis-server'],
  ['nft', 'nftables'],
  ['wrk', 'wrk'], // the benchmark suite's data plane (bench/dataplane.ts)
  ['haproxy', 'haproxy'],
]

/** Makes sure every part exists (installing and downloading when root), or says why the lab cannot run. */
export async function ensureParts(opts: { cacheDir?: string; log?: (line: string) => void } = {}): Promise<PartsResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`lab: ${line}\n`))
  // The default cache folder is outside the repository; LVS_LAB_CACHE overrides it.
  const cacheDir = opts.cacheDir ?? process.env.LVS_LAB_CACHE ?? '/var/cache/lvs-director-lab'
  if (process.platform !== 'linux') return { ok: false, reason: `the lab needs Linux (this is ${process.platform})`, broken: false }
  if (process.getuid?.() !== 0) return { ok: false, reason: 'the lab needs root (to install its parts and run namespaces in the guest)', broken: false }
  try {
    const pkgs = await ensurePackages(log)
    if (!pkgs.ok) return pkgs
    const qemu = which('qemu-system-x86_64')
    if (!qemu) return { ok: false, reason: 'qemu-system-x86_64 is missing after installing qemu-system-x86', broken: true }
    mkdirSync(cacheDir, { recursive: true })
    const kernel = await ensureKernel(cacheDir, log)
    if (!kernel.ok) return kernel
    const { root, version } = kernel
    const initrd = await buildInitramfs({ cacheDir, modulesRoot: root, kernelVersion: version, log })
    return { ok: true, parts: { qemu, kernel: join(root, 'boot', `vmlinuz-${version}`), initrd, modulesRoot: root, kernelVersion: version } }
  } catch (err) {
    return { ok: false, reason: `preparing the lab failed: ${(err as Error).message.split('\n')[0]}`, broken: true }
  }
}

// True when busybox is the static build: the initramfs has no dynamic loader.
async function busyboxIsStatic(): Promise<boolean> {
  if (which('dpkg-query')) {
    const r = await run(['dpkg-query', '-W', '-f', '${db:Status-Status}', 'busybox-static'])
    return r.code === 0 && r.stdout.trim() === 'installed'
  }
  return which('busybox') !== null
}

async function ensurePackages(log: (line: string) => void): Promise<{ ok: true } | Failure> {
  const missing: string[] = []
  for (const [program, pkg] of packages) {
    const present = pkg === 'busybox-static' ? await busyboxIsStatic() : which(program) !== null
    if (!present) missing.push(pkg)
  }
  if (missing.length === 0) return { ok: true }
  if (!which('apt-get')) return { ok: false, reason: `the lab needs ${missing.join(', ')} and there is no apt-get to install them`, broken: false }
  log(`installing ${missing.join(' ')} with apt-get`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const install = ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing]
  let r = await run(install, { env })
  if (r.code !== 0) {
    await run(['apt-get', 'update', '-qq'], { env })
    r = await run(install, { env })
  }
  if (r.code !== 0) return { ok: false, reason: `apt-get install ${missing.join(' ')} failed: ${lastLine(r.stderr)}`, broken: true }
  return { ok: true }
}

// The kernel package that Debian's linux-image-amd64 points at now, e.g. linux-image-6.1.0-56-amd64.
async function kernelPackage(): Promise<string | null> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const r = await run(['apt-cache', 'depends', 'linux-image-amd64'])
    const m = /Depends:\s+(linux-image-\S+)/.exec(r.stdout)
    if (m?.[1]) return m[1]
    if (attempt === 0) await run(['apt-get', 'update', '-qq'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  }
  return null
}

async function ensureKernel(cacheDir: string, log: (line: string) => void): Promise<{ ok: true; root: string; version: string } | Failure> {
  const kernels = join(cacheDir, 'kernel')
  const pkg = which('apt-cache') ? await kernelPackage() : null
  if (!pkg) {
    // Offline: any kernel extracted earlier still serves.
    const cached = existsSync(kernels) ? readdirSync(kernels).filter((v) => existsSync(join(kernels, v, '.ready'))).sort() : []
    const version = cached.at(-1)
    if (version) return { ok: true, root: join(kernels, version), version }
    const reason = which('apt-cache')
      ? 'cannot find the kernel package: "apt-cache depends linux-image-amd64" names none'
      : 'no apt-cache to find the kernel package with'
    return { ok: false, reason, broken: which('apt-cache') !== null }
  }
  const version = pkg.slice('linux-image-'.length)
  const root = join(kernels, version)
  if (existsSync(join(root, '.ready'))) return { ok: true, root, version }

  const debDir = join(cacheDir, 'deb')
  mkdirSync(debDir, { recursive: true })
  let deb = readdirSync(debDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'))
  if (!deb) {
    log(`downloading ${pkg}`)
    await runOk(['apt-get', 'download', pkg], { cwd: debDir })
    deb = readdirSync(debDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'))
    if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${debDir}`)
  }
  log(`extracting ${deb}`)
  const tmp = `${root}.tmp-${process.pid}`
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp, { recursive: true })
  await runOk(['dpkg', '-x', join(debDir, deb), tmp])
  await runOk(['depmod', '-b', tmp, version])
  writeFileSync(join(tmp, '.ready'), `${pkg}\n`)
  rmSync(root, { recursive: true, force: true })
  renameSync(tmp, root)
  rmSync(join(debDir, deb)) // 70 MB that the extracted folder makes redundant
  return { ok: true, root, version }
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? ''
}
