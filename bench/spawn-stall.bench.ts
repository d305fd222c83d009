// What a command costs the director's main loop: N runs of `true`, one after another, started by this process with
// Node's own spawn (a fork: its whole memory's page tables copied each time) and with nodeExec (posix_spawn, how the
// director starts every command: nothing copied), with this process holding a heap the size of a large director's. Reports the main loop's longest and total delay and
// the run time per command for each, and the ratios. Stops by itself.
//
//   npm run -s bench:spawn -- [--runs 50] [--heap-mb 300]
import { spawn } from 'node:child_process'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { nodeExec, type Exec } from '../src/exec.js'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '50' }, 'heap-mb': { type: 'string', default: '300' } } })
const runs = Number(values.runs)
const heapMb = Number(values['heap-mb'])

// A director's table and caches: many small objects, touched, so their pages are mapped.
const ballast: Array<{ i: number; s: string }> = []
for (let i = 0; ballast.length * 100 < heapMb * 1024 * 1024; i++) ballast.push({ i, s: `entry-${i}-${'x'.repeat(40)}` })

interface Part { name: string; maxDelayMs: number; delayPerRunMs: number; msPerRun: number }

async function measure(name: string, exec: Exec): Promise<Part> {
  await exec('true', [], {}) // warm
  const h = monitorEventLoopDelay({ resolution: 1 })
  // The loop's delay is what a timer set for "now" waits: sample it with a 1 ms interval beside the runs.
  let lag = 0
  let last = performance.now()
  const tick = setInterval(() => {
    const now = performance.now()
    lag += Math.max(0, now - last - 1)
    last = now
  }, 1)
  h.enable()
  const start = performance.now()
  for (let i = 0; i < runs; i++) await exec('true', [], { timeoutMs: 30_000 })
  const ms = performance.now() - start
  h.disable()
  clearInterval(tick)
  return { name, maxDelayMs: h.max / 1e6, delayPerRunMs: lag / runs, msPerRun: ms / runs }
}

const rss = Math.round(process.memoryUsage().rss / 2 ** 20)
process.stderr.write(`bench:spawn: ${runs} runs each, this process's RSS ${rss} MiB\n`)
// Node's spawn (libuv forks), for contrast: how every process was started before nodeExec used posix_spawn.
const forked: Exec = (file, argv) => new Promise((resolve, reject) => {
  spawn(file, argv, { stdio: 'ignore' }).on('error', reject).on('close', (code) => resolve({ code, stdout: '', stderr: '' }))
})
const fork = await measure("spawned by this process with Node's spawn (fork)", forked)
const direct = await measure('spawned by this process (nodeExec: posix_spawn)', nodeExec)
const row = (p: Part) => `| ${p.name} | ${p.maxDelayMs.toFixed(1)} | ${p.delayPerRunMs.toFixed(2)} | ${p.msPerRun.toFixed(2)} |`
console.log(`RSS ${rss} MiB, ${runs} runs of \`true\` one after another\n`)
console.log('| how | main loop: longest delay (ms) | main loop: delay per run (ms) | time per run (ms) |\n| --- | --- | --- | --- |')
console.log([row(fork), row(direct)].join('\n'))
console.log(`\nratios, nodeExec / Node's spawn: longest delay ${(direct.maxDelayMs / fork.maxDelayMs).toFixed(3)}, delay per run ${(direct.delayPerRunMs / fork.delayPerRunMs).toFixed(3)}, time per run ${(direct.msPerRun / fork.msPerRun).toFixed(2)}`)
console.log(JSON.stringify({ bench: 'spawn-stall', rssMiB: rss, runs, fork, direct }))
void ballast.length
