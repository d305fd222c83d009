#!/bin/sh
# Part 3 of the director benchmark alone (the burst on the 50,000-rule table), for a busy host: run with --timeout 2700.
exec ip netns exec dir-a node dist/bench/director.bench.js --transitions 0 --writes 0 --big-writes 0 --gets 0 --rounds 1 --concurrency 1000 "$@"
