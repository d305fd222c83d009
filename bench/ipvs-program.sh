#!/bin/sh
# The lab hook of `npm run bench:ipvs`: runs the IPVS programming benchmark in director namespace dir-a, as ONE
# node process living in that namespace, so the wrapper and the raw baseline both spawn ipvsadm directly (no
# `ip netns exec` per process). Extra options (by hand in `npm run lab -- --shell`): --sizes, --repeats, --changes.
exec ip netns exec dir-a node dist/bench/ipvs-program.js "$@"
