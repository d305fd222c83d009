// Prints this network namespace's IPVS table as the director reads it over netlink in-process
// (src/ipvs/netlink-read.ts), as one JSON line: ipvs.scenario.ts compares it with what ipvsadm reads.
import { netlinkReader } from '../../../src/ipvs/netlink-read.js'

const read = netlinkReader()
if (!read) throw new Error('the native module (build/Release/lvs_packet.node) is not built')
process.stdout.write(`${JSON.stringify(read())}\n`)
