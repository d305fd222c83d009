#!/bin/sh
# bench/director.sh with a CPU profile of the whole run left in $LAB_OUT (npm run lab -- --script bench/director-prof.sh --out DIR).
exec ip netns exec dir-a node --cpu-prof --cpu-prof-dir="${LAB_OUT:-/tmp}" dist/bench/director.bench.js "$@"
