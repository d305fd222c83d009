#!/usr/bin/env bash
# Installs the Debian packages the unit and service test tiers use, when they are missing and we may
# (root with apt-get). Idempotent and quiet when everything is there. The lab tier installs its own parts.
set -euo pipefail
need=()
for pair in ipvsadm:ipvsadm ip:iproute2 arping:iputils-arping sysctl:procps setpriv:util-linux redis-server:redis-server; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done
[ "${#need[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "host-packages: missing ${need[*]} (install them as root with apt-get); tests that need them will fail" >&2
  exit 0
fi
echo "host-packages: installing ${need[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
