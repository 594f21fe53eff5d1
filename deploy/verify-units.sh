#!/usr/bin/env bash
# Checks deploy/'s systemd units with `systemd-analyze verify`, with ExecStart= pointed at the
# steward binary given as $1 (verify wants an executable there). systemd-analyze exits 0 on
# most unit mistakes (an unknown key, a bad value) and only prints them, so any line that
# names one of our units is a failure too; lines about other units on the machine are shown
# and ignored.
set -euo pipefail
binary="$(realpath "${1:?usage: verify-units.sh PATH-TO-steward}")"
cd "$(dirname "$0")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for unit in steward.service steward-backup.service steward-backup.timer; do
    sed "s|/usr/local/bin/steward|$binary|g" "$unit" > "$tmp/$unit"
done
rc=0
out="$(cd "$tmp" && systemd-analyze verify --man=no ./steward.service ./steward-backup.service ./steward-backup.timer 2>&1)" || rc=$?
if [ -n "$out" ]; then printf '%s\n' "$out"; fi
if [ "$rc" -ne 0 ] || grep -q -e "$tmp" -e 'steward\(-backup\)\?\.\(service\|timer\)' <<<"$out"; then
    echo "deploy/: systemd-analyze verify found problems in the units (above)" >&2
    exit 1
fi
echo "deploy/: the systemd units verify cleanly"
