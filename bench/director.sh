#!/bin/sh
# The lab hook of `npm run bench:director`: runs the director daemon benchmark in director namespace dir-a, as ONE
# node process living in that namespace (the daemon, its API on loopback, and the raw ipvsadm reference).
# By hand in `npm run lab -- --shell`: ip netns exec dir-a node dist/bench/director.bench.js --transitions 20 ...
# bench/director-prof.sh is the same with --cpu-prof (profiles left in $LAB_OUT).
exec ip netns exec dir-a node dist/bench/director.bench.js "$@"
