#!/bin/sh
# The lab hook of `npm run bench:pair`: the director pair's failover and sync-lag benchmark (bench/pair.bench.ts),
# as ONE node process living in director namespace dir-b (it calls dir-b's API on loopback; it reaches the other
# namespaces through `ip netns exec` / `ip -n`). keepalived is the host's (scripts/host-packages.sh installs it).
# The driver stops what it started; the trap below also stops the driver itself if the script is interrupted.
# Options (by hand: npm run build && node dist/test/lab/run.js --script bench/pair.sh --timeout 5400):
# --trials N, --writes N, --only keepalived,keepalived-fast,ours,ours-default (or sync), --part-budget S, --ours-budget S.
ip netns exec dir-b node dist/bench/pair.bench.js "$@" &
DRIVER=$!
trap 'kill "$DRIVER" 2>/dev/null' INT TERM HUP
wait "$DRIVER"
