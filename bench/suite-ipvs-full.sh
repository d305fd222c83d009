#!/bin/sh
# The benchmark suite's IPVS programming part, full sizes (bench/suite-parts.ts; in the lab guest, as bench/ipvs-program.sh).
exec ip netns exec dir-a node dist/bench/ipvs-program.js --sizes 100,1000,10000 --repeats 3 --changes 5
