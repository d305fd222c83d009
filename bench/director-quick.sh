#!/bin/sh
exec ip netns exec dir-a node dist/bench/director.bench.js --services 0 "$@"
