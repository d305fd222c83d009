#!/bin/sh
# The benchmark suite's IPVS programming part, full sizes (bench/suite-parts.ts; in the lab guest, as bench/ipvs-program.sh).
# 5 programming runs each way (TCG: one `ipvsadm -R` of 1,000 services varies 1.4-2.4 s between runs). 12 changes each way: under TCG one `ipvsadm -a` takes 80-160 ms from one run to the next, and 5 samples were not enough.
exec ip netns exec dir-a node dist/bench/ipvs-program.js --sizes 100,1000,10000 --repeats 5 --changes 12
