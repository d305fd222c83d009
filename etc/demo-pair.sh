#!/usr/bin/env bash
# The director pair in a few minutes on a host without IPVS: `npm run demo:pair` boots the lab (Debian's kernel
# under qemu, see docs/lab.md) and, narrated: runs lvs-director in dir-a and dir-b sharing their table through
# Redis (in its own namespace), three DR real servers, and a client polling the VIP every 20 ms; adds a real
# server through the standby's API and shows it in both kernels; kills -9 the active (and takes its link down, as
# a dead machine); prints the gap the client saw and the new active's status; brings the old active back as
# standby. Ends by itself and stops what it started.
set -euo pipefail
G=dist/test/lab/guest
D=/tmp/demo-pair
API=http://127.0.0.1:9410
mkdir -p "$D"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  ip -n dir-a link set eth0 up 2>/dev/null || true
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
lvs() { local ns=$1; shift; ip netns exec "$ns" node bin/lvs-director.js "$@" --api "$API"; }
# Waits (up to 120 s) until FILE contains PATTERN (grep -E), from line N on when given.
wait_for() {
  for _ in $(seq 1200); do tail -n +"${3:-1}" "$1" 2>/dev/null | grep -Eq "$2" && return 0; sleep 0.1; done
  echo "timed out waiting for /$2/ in $1" >&2; return 1
}
weights() { printf '   %s: ' "$1"; ip netns exec "$1" ipvsadm -Ln | awk '/->/ && $2 != "RemoteAddress:Port" {printf "%s w%s  ", $2, $4} END {print ""}'; }

say "three DR real servers answer with their name; Redis runs in its own namespace; the VIP $VIP4 belongs to the pair"
for rs in rs1 rs2 rs3; do
  ip netns exec "$rs" node "$G/echo-server.js" --name "$rs" --port 80 > "$D/$rs.log" &
  PIDS+=($!)
done
for rs in rs1 rs2 rs3; do wait_for "$D/$rs.log" '^listening'; done
ip netns exec redis redis-server --bind "$REDIS_IP4" --port 6379 --requirepass demo-redis-password --save '' --appendonly no --dir /tmp > "$D/redis.log" &
PIDS+=($!)
wait_for "$D/redis.log" 'Ready to accept connections'
ip -n dir-a addr del "$VIP4/32" dev eth0 2>/dev/null || true # the lab's own VIP: the pair holds it from now on

for n in a b; do
  me=DIR_${n^^}_IP4; other=$([ $n = a ] && echo DIR_B_IP4 || echo DIR_A_IP4)
  cat > "$D/dir-$n.yaml" <<YAML
director:
  stateDir: $D/state-$n
  redis: { host: $REDIS_IP4, port: 6379, password: demo-redis-password, cluster: demo }
  pair:
    node: dir-$n
    priority: $([ $n = a ] && echo 150 || echo 100)
    # The lab's timers, scaled for emulation (test/lab/pair.scenario.ts); the defaults (0.05 s x 3, lease 1 s) flap
    # under qemu TCG on a busy host (bench/README.md, "Director pair").
    heartbeat: { key: demo-heartbeat-key-0123456789, paths: [{ local: ${!me}, peer: ${!other} }], interval: 0.1, deadCount: 10, stallLimit: 6 }
    lease: { ttl: 4, margin: 1.5 }
    vips: [{ address: $VIP4, interface: eth0 }]
    syncDaemon: { interface: eth0, syncid: 7 }
services:
  - name: web
    profile: web
    address: $VIP4
    check: { kind: http, path: /, interval: 2, timeout: 2, fall: 2, rise: 1 }
    destinations: [{ address: $RS1_IP4 }, { address: $RS2_IP4 }]
YAML
done
say "the pair: lvs-director run dir-a.yaml in dir-a (priority 150), dir-b.yaml in dir-b (priority 100)"
sed 's/^/   /' "$D/dir-a.yaml"
start() {
  ip netns exec "dir-$1" node bin/lvs-director.js run "$D/dir-$1.yaml" >> "$D/dir-$1.log" 2>&1 &
  eval "PID_$1=$!"
  PIDS+=($!)
}
start a
wait_for "$D/dir-a.log" '"msg":"role active"'
start b
wait_for "$D/dir-b.log" '"msg":"role standby"'
wait_for "$D/dir-a.log" "real up.*$RS2_IP4"
wait_for "$D/dir-b.log" "real up.*$RS2_IP4"
lvs dir-a status

say "the client polls http://$VIP4/ every 20 ms"
ip netns exec client node "$G/http-probe.js" --interval 20 --timeout 500 "http://$VIP4/" > "$D/probe.log" &
PROBE=$!
PIDS+=($PROBE)
wait_for "$D/probe.log" '^\{'

say "add rs3 through the STANDBY's API: curl -X POST (dir-b) $API/v1/services/web/reals -d '{\"address\":\"$RS3_IP4\"}'"
ip netns exec dir-b curl -sS -X POST -H 'content-type: application/json' -d "{\"address\":\"$RS3_IP4\"}" "$API/v1/services/web/reals" | jq -c '{key, admin, weight}'
wait_for "$D/dir-a.log" "real up.*$RS3_IP4"
echo "   both kernels:"
weights dir-a
weights dir-b

say "kill -9 the active (dir-a) and take its link down, as a dead machine"
KILLED=$(date +%s%3N)
kill -9 "$PID_a"
ip -n dir-a link set eth0 down
wait_for "$D/dir-b.log" '"msg":"role active"'
sleep 2
kill "$PROBE"
# The gap: the longest time between two answered requests from 1 s before the kill on (the killed director's kernel
# goes on forwarding until its link is down, so the first answer after the kill is not the end of the outage).
jq -Rnr --argjson k "$KILLED" '[inputs | fromjson?] as $r
  | [$r[] | select(.ok and .at >= $k - 1000)] | sort_by(.at) as $ok
  | [range(1; $ok | length) | {from: $ok[. - 1].at, to: $ok[.].at, body: $ok[.].body}] | max_by(.to - .from) as $g
  | "   the client: no answer from \($g.from - $k) ms to \($g.to - $k) ms after the kill (then from \($g.body)): a gap of \($g.to - $g.from) ms",
    "   requests failed: \([$r[] | select(.ok | not)] | length) of \($r | length) (each waits up to 500 ms)"' < "$D/probe.log"
echo "   dir-b's takeover, from its log:"
jq -rR 'fromjson? | select(.component == "pair") | "     \(.msg)"' < "$D/dir-b.log" | tail -6
lvs dir-b status

say "dir-a comes back: it removes the VIP its crash left and stays standby (no preemption)"
ip -n dir-a link set eth0 up
ip -n dir-a addr replace "$DIR_A_IP6/64" dev eth0 nodad # a link that went down lost its IPv6 addresses
N=$(wc -l < "$D/dir-a.log")
start a
wait_for "$D/dir-a.log" '"msg":"role standby"' "$N"
lvs dir-a status
say "done"
