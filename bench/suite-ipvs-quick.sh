#!/bin/sh
# The benchmark suite's IPVS programming part, quick (bench/suite-parts.ts --quick): small tables, one run each.
exec ip netns exec dir-a node dist/bench/ipvs-program.js --sizes 100,1000 --repeats 1 --changes 2
