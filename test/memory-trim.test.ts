// native/memory.c's mallocTrim, as the daemon calls it (src/main.ts armMemoryTrim): memory a process freed but
// glibc kept between live chunks goes back to the system, which the process's resident size shows.
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)
const native = new URL('../src/native.ts', import.meta.url)

t.test('after a peak freed around live chunks, mallocTrim gives the pages back (RssAnon falls)', async (t) => {
  // A child (its own allocator): 100,000 buffers of 1 kB from malloc, one in 50 kept, the rest freed and collected.
  const script = `
    import { readFileSync } from 'node:fs'
    const { lvsPacket } = await import(${JSON.stringify(native.href)})
    const anonMB = () => Number(/RssAnon:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024
    let all = []
    const kept = []
    for (let i = 0; i < 100000; i++) { const b = Buffer.allocUnsafeSlow(1000).fill(1); all.push(b); if (i % 50 === 0) kept.push(b) }
    all = null
    gc(); gc()
    const before = anonMB()
    const released = lvsPacket().mallocTrim()
    console.log(JSON.stringify({ before, after: anonMB(), released, kept: kept.length }))
  `
  const loader = process.execArgv.filter((a) => /typescript|enable-source-maps/.test(a))
  const { stdout } = await run(process.execPath, [...loader, '--expose-gc', '--input-type=module', '-e', script], { timeout: 60_000 })
  const r = JSON.parse(stdout) as { before: number; after: number; released: boolean; kept: number }
  t.equal(r.released, true, 'the call says memory went back')
  t.ok(r.before - r.after > 50, `RssAnon ${r.before.toFixed(0)} MB -> ${r.after.toFixed(0)} MB: the ~95 MB freed left the process`)
  t.equal(r.kept, 2000, 'the kept buffers were alive through it')
})
