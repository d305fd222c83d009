#!/bin/sh
# The lab guest's job, run as root inside the chroot of the host's root: load the IPVS modules, build the
# topology, run the job (a script or the scenario runner), and leave its exit status in the job share.
J=/run/lab/job
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LANG=C.UTF-8
. "$J/job.env"
# Console lines carry the guest's uptime, so the console log shows where boot time goes.
say() { read -r up _ < /proc/uptime; echo "[lab $up] $*" > /dev/console; }
say "stage2: loading modules"

# One modprobe for all (each costs a quarter second here); a module this kernel lacks is noted, not fatal.
# shellcheck disable=SC2086
modprobe -a -d /run/lab/modules $LAB_MODULES 2> "$J/modules.log"
say "stage2: checking modules"
# A few processes, not one per module: each costs tens of milliseconds under emulation.
have=" $(cut -d' ' -f1 /proc/modules | tr '\n' ' ') $(sed 's|.*/||; s|\.ko.*$||' "/run/lab/modules/lib/modules/$(uname -r)/modules.builtin" | tr '\n-' ' _') "
for m in $LAB_MODULES; do
  case "$have" in *" $m "*) ;; *) echo "$m" >> "$J/modules-missing" ;; esac
done

say "stage2: building the topology"
if ! sh "$J/topology.sh" > "$J/topology.log" 2>&1; then
  say "building the topology failed:"
  tail -n 20 "$J/topology.log" > /dev/console
  echo 125 > "$J/exit-status"
  exit 0
fi

# LAB_OUT: files a script leaves here come back to the host (`npm run lab -- --script X --out DIR`).
export LAB_JOB="$J" LAB_TOPOLOGY_ENV="$J/topology.env" LAB_OUT="$J/out"
mkdir -p "$LAB_OUT"
. "$J/topology.env"
cd "$LAB_PROJECT" || exit 1
say "stage2: running the $LAB_MODE job"
if [ "$LAB_MODE" = script ]; then
  if [ -x "$LAB_SCRIPT" ]; then "$LAB_SCRIPT" > "$J/stdout" 2> "$J/stderr"; else sh "$LAB_SCRIPT" > "$J/stdout" 2> "$J/stderr"; fi
  rc=$?
elif [ "$LAB_MODE" = shell ]; then
  echo "lab shell: namespaces: $LAB_NAMESPACES; VIP $VIP4 $VIP6; 'ip netns exec dir-a ipvsadm -Ln'; exit to power off" > /dev/ttyS0
  setsid -c /bin/bash -i < /dev/ttyS0 > /dev/ttyS0 2>&1
  rc=$?
else
  # shellcheck disable=SC2086 # LAB_FILES is a list of paths without spaces (checked on the host)
  node dist/test/lab/guest-runner.js --out "$J/results.jsonl" $LAB_FILES > "$J/stdout" 2> "$J/stderr"
  rc=$?
fi
say "stage2: job exited $rc"
echo "$rc" > "$J/exit-status"
sync
