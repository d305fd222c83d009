#!/usr/bin/env bash
# The whole job in about two minutes on a host without IPVS: `npm run demo` boots the lab (Debian's kernel under
# qemu, see docs/lab.md) and, narrated: runs the lvs-director daemon in director dir-a for a web VIP, sends
# client traffic through it to DR real servers, adds a real server with one curl to the REST API, kills a real
# server's web server and watches it leave the pool, drains and removes one, and stops the daemon while the
# kernel table keeps serving. `lvs-director status` after each step. Ends by itself and stops what it started.
set -euo pipefail
G=dist/test/lab/guest
D=/tmp/demo
API=http://127.0.0.1:9410
mkdir -p "$D"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
lvs() { ip netns exec dir-a node bin/lvs-director.js "$@"; }
# Waits (up to 60 s) until FILE contains PATTERN (grep -E); with a third argument N, from line N on.
wait_for() {
  for _ in $(seq 600); do tail -n +"${3:-1}" "$1" 2>/dev/null | grep -Eq "$2" && return 0; sleep 0.1; done
  echo "timed out waiting for /$2/ in $1" >&2; return 1
}
# The daemon's log lines from line N on, as "HH:MM:SS.mmm message".
log_since() { tail -n +"$1" "$D/director.log" | jq -rR 'fromjson? | "   " + (.time / 1000 | strftime("%H:%M:%S")) + "." + (.time % 1000 + 1000 | tostring | .[1:]) + "  " + .msg'; }
lines() { wc -l < "$D/director.log"; }
# N requests from the client through the VIP, one new connection each; prints who answered.
traffic() {
  ip netns exec client node "$G/http-get.js" --count "$1" --timeout 2000 "http://$VIP4/" \
    | jq -r '"   \(length) requests: " + ([.[] | if .ok then .body else "FAILED" end] | group_by(.) | map("\(.[0]) x\(length)") | join(", "))'
}

say "three DR real servers (rs1 rs2 rs3) run a web server answering with their name; the VIP $VIP4 is on their lo"
for rs in rs1 rs2 rs3; do
  ip netns exec "$rs" node "$G/echo-server.js" --name "$rs" --port 80 > "$D/$rs.log" &
  PIDS+=($!)
  eval "PID_$rs=$!"
done
for rs in rs1 rs2 rs3; do wait_for "$D/$rs.log" '^listening'; done

cat > "$D/director.yaml" <<YAML
director:
  stateDir: $D/state
  api: { listen: 127.0.0.1:9410 }
services:
  - name: web
    profile: web
    address: $VIP4
    check: { kind: http, path: /, interval: 2, timeout: 2, fall: 2, rise: 1 }
    destinations:
      - { address: $RS1_IP4 }
      - { address: $RS2_IP4 }
YAML
say "the daemon: lvs-director run director.yaml in director dir-a (web service, rs1 and rs2, http checks every 2 s)"
sed 's/^/   /' "$D/director.yaml"
ip netns exec dir-a node bin/lvs-director.js run "$D/director.yaml" > "$D/director.log" 2>&1 &
DIRECTOR=$!
PIDS+=($DIRECTOR)
wait_for "$D/director.log" '"msg":"director started"'
wait_for "$D/director.log" "real up.*$RS2_IP4|$RS2_IP4.*real up"
wait_for "$D/director.log" "real up.*$RS1_IP4|$RS1_IP4.*real up"
log_since 1
say "lvs-director status"
lvs status --api "$API"

say "client traffic through the VIP"
traffic 6

say "add rs3 with one request to the REST API: curl -X POST $API/v1/services/web/reals -d '{\"address\":\"$RS3_IP4\"}'"
N=$(lines)
ip netns exec dir-a curl -sS -X POST -H 'content-type: application/json' -d "{\"address\":\"$RS3_IP4\"}" "$API/v1/services/web/reals" \
  | jq -c '{key, admin, weight, health: .health.state}'
wait_for "$D/director.log" "real up.*$RS3_IP4" "$N"
log_since $((N + 1))
lvs status --api "$API"
say "traffic: rs3 takes its share"
traffic 6

say "kill rs2's web server; the client polls the VIP every 100 ms meanwhile"
ip netns exec client node "$G/http-probe.js" --interval 100 --timeout 1000 "http://$VIP4/" > "$D/probe.log" &
PROBE=$!
PIDS+=($PROBE)
wait_for "$D/probe.log" '^\{'
N=$(lines)
KILLED=$(date +%s%3N)
kill "$PID_rs2"
wait_for "$D/director.log" "real down.*$RS2_IP4" "$N"
wait_for "$D/director.log" '"msg":"kernel table updated"' "$N"
log_since $((N + 1))
DOWN=$(tail -n +$((N + 1)) "$D/director.log" | jq -rR 'fromjson? | select(.audit.action == "real down") | .audit.at' | head -1)
echo "   rs2 out $(( $(date -d "$DOWN" +%s%3N) - KILLED )) ms after the kill (interval 2 s x fall 2 + timeout 2 s = 6 s)"
UPDATED=$(tail -n +$((N + 1)) "$D/director.log" | jq -rR 'fromjson? | select(.msg == "kernel table updated") | .time' | head -1)
while [ "$(jq -Rn "[inputs | fromjson? | select(.at > $UPDATED)] | length" < "$D/probe.log")" -lt 15 ]; do sleep 0.2; done
kill "$PROBE"
jq -Rnr --argjson k "$KILLED" --argjson u "$UPDATED" '[inputs | fromjson?] | "   before the kill: \([.[] | select(.at < $k)] | length) requests, \([.[] | select(.at < $k and (.ok | not))] | length) failed",
   "   kill -> kernel update: \([.[] | select(.at >= $k and .at <= $u)] | length) requests, \([.[] | select(.at >= $k and .at <= $u and (.ok | not))] | length) failed (those rs2 got)",
   "   after the update: \([.[] | select(.at > $u)] | length) requests, \([.[] | select(.at > $u and (.ok | not))] | length) failed"' < "$D/probe.log"
lvs status --api "$API"

say "drain rs1: lvs-director real drain web $RS1_IP4 (weight 0, no new connections; removed once its connections end)"
N=$(lines)
lvs real drain web "$RS1_IP4" --api "$API"
wait_for "$D/director.log" '"msg":"drain finished: real server removed"' "$N"
log_since $((N + 1))
lvs status --api "$API"
say "traffic: only rs3 is left serving"
traffic 4

say "stop the daemon (SIGTERM): the kernel table stays and keeps serving"
kill "$DIRECTOR"
wait "$DIRECTOR" || true
tail -n 2 "$D/director.log" | jq -rR 'fromjson? | .msg' | sed 's/^/   /'
ip netns exec dir-a ipvsadm -Ln
traffic 3
say "done"
