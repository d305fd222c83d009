#!/bin/sh
# The benchmark suite's data plane part (bench/suite-parts.ts; in the lab guest's root namespace: bench/dataplane.ts
# starts what it needs in the lab's namespaces).
exec node dist/bench/dataplane.js --seconds 10 --rounds 3 --datagrams 20000
