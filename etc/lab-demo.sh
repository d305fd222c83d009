#!/usr/bin/env bash
# Try lvs-director on a host whose kernel has no IPVS: `npm run -s lab -- --script etc/lab-demo.sh` boots the
# lab (Debian's kernel under qemu, see docs/lab.md), applies etc/web.yaml in director dir-a, and sends six
# requests from the client namespace through the VIP to the three DR real servers.
set -euo pipefail
G=dist/test/lab/guest
for rs in rs1 rs2 rs3; do
  ip netns exec "$rs" node "$G/echo-server.js" --name "$rs" --port 80 >/dev/null &
done
sleep 2
echo "== lvs-director apply etc/web.yaml --dry-run (in dir-a)"
ip netns exec dir-a node bin/lvs-director.js apply etc/web.yaml --dry-run --state /tmp/owned.json
echo "== lvs-director apply etc/web.yaml"
ip netns exec dir-a node bin/lvs-director.js apply etc/web.yaml --state /tmp/owned.json
echo "== six requests from the client to http://$VIP4/"
ip netns exec client node "$G/http-get.js" --count 6 "http://$VIP4/"
echo
echo "== lvs-director show --stats (replies bypass the director: OutPkts stay 0 with DR)"
sleep 2
ip netns exec dir-a node bin/lvs-director.js show --stats
kill $(jobs -p) 2>/dev/null || true
