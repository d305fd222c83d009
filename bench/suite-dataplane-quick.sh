#!/bin/sh
# The benchmark suite's data plane part, quick (bench/suite-parts.ts --quick): one short round.
exec node dist/bench/dataplane.js --seconds 3 --rounds 1 --datagrams 3000
