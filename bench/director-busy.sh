#!/bin/sh
# bench/director.sh for a busy host (about 20 minutes instead of 40+): no single writes or GETs on the 50,000-rule
# table (each POST's answer there waits for three full kernel listings), one burst round each way, all 1,000 writes
# in flight at once so the kernel time is not gated by those answers. Run with --timeout 2700.
exec ip netns exec dir-a node dist/bench/director.bench.js --big-writes 0 --gets 0 --rounds 1 --concurrency 1000 "$@"
