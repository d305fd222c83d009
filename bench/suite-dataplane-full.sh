#!/bin/sh
# The benchmark suite's data plane part (bench/suite-parts.ts; in the lab guest's root namespace: bench/dataplane.ts
# starts what it needs in the lab's namespaces).
# 5 rounds, one per configuration: the order turns each round, so each configuration runs once in each place of it
# (with 3, HAProxy layer 4 against DR moved from 2.17 to 1.73 between two full runs with nothing changed).
exec node dist/bench/dataplane.js --seconds 10 --rounds 5 --datagrams 20000
