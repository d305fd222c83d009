#!/bin/sh
# bench/suite-checks-full.sh at quick sizes (bench/suite-parts.ts --quick): 1,000 real servers, short windows.
ulimit -n 65536
exec ip netns exec dir-a node dist/bench/checks-peer.js --n 1000 --seconds 5
