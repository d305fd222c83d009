#!/usr/bin/env bash
# Installs the Debian packages the unit and service test tiers use, when they are missing and we may
# (root with apt-get). Idempotent and quiet when everything is there. The lab tier installs its own parts.
# Extra COMMAND:PACKAGE arguments add to the list: `npm run bench:pair` passes keepalived:keepalived (the lab guest
# runs the host's binaries). An installed keepalived must not run on the host itself: Debian's package enables and
# starts its service (where services may start), so the service is stopped and disabled right after the install.
set -euo pipefail
need=()
for pair in ipvsadm:ipvsadm ip:iproute2 sysctl:procps setpriv:util-linux redis-server:redis-server nft:nftables chromium:chromium "$@"; do
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
case " ${need[*]} " in
  *" keepalived "*)
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet keepalived 2>/dev/null; then
      echo "host-packages: stopping and disabling the keepalived service the install started on this host" >&2
      systemctl disable --now keepalived >/dev/null 2>&1 || true
    fi
    if pgrep -x keepalived >/dev/null 2>&1; then
      echo "host-packages: warning: a keepalived runs on this host: $(pgrep -a -x keepalived | tr '\n' ';')" >&2
    fi
    ;;
esac
