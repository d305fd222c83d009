#!/bin/sh
# The benchmark suite's IPVS programming part, quick (bench/suite-parts.ts --quick): small tables, one run each, and
# the one change on the 50,000-rule table (10,000 services: the target's size) without the -Sn / apply contrasts.
exec ip netns exec dir-a node dist/bench/ipvs-program.js --sizes 100,1000 --repeats 1 --changes 3 --change-services 10000 --skip-contrast
