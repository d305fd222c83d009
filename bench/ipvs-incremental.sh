#!/bin/sh
# The one-change part of the IPVS programming benchmark alone (about 2 minutes instead of 5): the 10,000-service
# table programmed into dir-a, then one real server added and removed 5 times each way, and the one-shot contrast.
#   npm run -s lab -- --script bench/ipvs-incremental.sh
exec ip netns exec dir-a node dist/bench/ipvs-program.js --sizes 10000 --only incremental "$@"
