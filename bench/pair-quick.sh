#!/bin/sh
# bench/pair.sh in a few minutes (2 trials per part, 6 writes): to see that every part works, not for figures.
# npm run build && node dist/test/lab/run.js --script bench/pair-quick.sh --timeout 1800
exec sh bench/pair.sh --trials 2 --writes 6 --part-budget 300 --ours-budget 300 "$@"
