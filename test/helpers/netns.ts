// Network namespaces a test (or a host benchmark) creates for itself (unique names, removed in teardown even on
// failure), and a way to run a TypeScript fixture inside one and read the JSON it prints.
import { execFile, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import type { AddressTable } from '../../src/ha/vips.js'

/** Where clean-ups go: a tap test's `t`, or a benchmark's own list (run last-in first-out, as tap does). */
export interface Teardown { teardown(fn: () => unknown): void }

const run = promisify(execFile)
let counter = 0

/** Runs `ip` with argv (never a shell); rejects with its stderr on failure. */
export async function ip(...args: string[]): Promise<string> {
  const { stdout } = await run('ip', args, { timeout: 10_000 })
  return stdout
}

/** Runs a command inside a namespace. */
export async function nsExec(ns: string, file: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('ip', ['netns', 'exec', ns, file, ...args], { timeout: 10_000 })
  return stdout
}

/** Creates a namespace with a unique name (lo up), deleted when the test ends. */
export async function createNetns(t: Teardown, prefix: string): Promise<string> {
  const name = `${prefix}-${process.pid}-${++counter}`
  await ip('netns', 'add', name)
  t.teardown(() => ip('netns', 'del', name).catch(() => {}))
  await ip('-n', name, 'link', 'set', 'lo', 'up')
  return name
}

/** argv that runs a TypeScript fixture with `input` as its JSON argument, loading TypeScript the way tap does. */
export function fixtureArgv(fixture: URL, input: unknown): string[] {
  // tap's TypeScript loader flags, minus tap's own per-process hooks.
  const loader = process.execArgv.filter((a) => /typescript|enable-source-maps/.test(a))
  return [process.execPath, ...loader, fixture.pathname, JSON.stringify(input)]
}

/** Runs a TypeScript fixture (optionally in a namespace, optionally with extra argv before node) and parses its JSON stdout. */
export async function runFixture<T>(fixture: URL, input: unknown, opts: { ns?: string; prefix?: string[] } = {}): Promise<T> {
  const node = fixtureArgv(fixture, input)
  const argv = [...(opts.prefix ?? []), ...(opts.ns ? ['ip', 'netns', 'exec', opts.ns] : []), ...node]
  const { stdout } = await run(argv[0]!, argv.slice(1), { timeout: 60_000 })
  return JSON.parse(stdout) as T
}

/**
 * The director's own AddressTable (rtnetlink, native/packet.c) working inside `ns`: one child process there
 * (test/fixtures/addresses-child.ts) answers each call; it ends with the test.
 */
export function nsAddresses(t: Teardown, ns: string): AddressTable {
  const [node, ...argv] = fixtureArgv(new URL('../fixtures/addresses-child.ts', import.meta.url), null).slice(0, -1)
  const child = spawn('ip', ['netns', 'exec', ns, node!, ...argv], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => child.stdin.end())
  const answers = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  let queue: Promise<unknown> = Promise.resolve()
  const call = <T>(op: string, vip?: unknown): Promise<T> => {
    const next = queue.then(async () => {
      child.stdin.write(`${JSON.stringify({ op, vip })}\n`)
      const { value, done } = await answers.next()
      if (done) throw new Error(`addresses-child in ${ns} ended`)
      const answer = JSON.parse(value as string) as { value: T; error?: { code?: string; message: string } }
      if (answer.error) throw Object.assign(new Error(answer.error.message), { code: answer.error.code })
      return answer.value
    })
    queue = next.catch(() => {})
    return next
  }
  return { list: () => call('list'), add: (vip) => call('add', vip), remove: (vip) => call('remove', vip) }
}
