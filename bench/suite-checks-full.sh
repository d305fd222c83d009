#!/bin/sh
# Health checks against keepalived's TCP_CHECK on the same real servers (bench/checks-peer.ts), full sizes, in the
# lab guest's director namespace dir-a (keepalived needs IPVS). Alone: npm run -s lab -- --script bench/suite-checks-full.sh
ulimit -n 65536 # 10,000 listeners in one process, a checker's sockets in another (the guest's default is 4,096)
exec ip netns exec dir-a node dist/bench/checks-peer.js --n 1000,10000 --seconds 15
