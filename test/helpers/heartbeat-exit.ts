// Run as a child process by test/ha/heartbeat.test.ts: starts a pair, waits until each hears the other, closes
// both, and returns. The process must then exit by itself: close() left no timer, socket or thread behind.
import { startHeartbeat } from '../../src/ha/heartbeat.js'
import { pairOptions, pairPorts, untilPaths } from './heartbeat-pair.js'

const ports = await pairPorts()
const a = await startHeartbeat(pairOptions('a', ports))
const b = await startHeartbeat(pairOptions('b', ports))
await untilPaths(a, (p) => p.alive)
await untilPaths(b, (p) => p.alive)
await Promise.all([a.close(), b.close()])
console.log('both heard; closed')
