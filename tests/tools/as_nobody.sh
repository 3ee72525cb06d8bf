#!/usr/bin/env bash
# Run COMMAND... as nobody (uid 65534, no groups), keeping the environment, in the current
# folder. Starts as root. Where the Python interpreter behind COMMAND (its first word, or the
# interpreter of a script's #! line) lies under /root, which nobody cannot enter (pyenv), a
# private mount namespace makes that one folder reachable; nothing else changes.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "as_nobody.sh: start it as root" >&2; exit 2; }
real=$(readlink -f "$1" 2>/dev/null || true)
if [ -f "$real" ] && head -c 2 "$real" | grep -q '#!'; then
  interp=$(head -n 1 "$real" | sed 's/^#! *//; s/ .*//')
  real=$(readlink -f "$interp" 2>/dev/null || echo "$real")
fi
expose=true
case "$real" in
  /root/*)
    top=${real#/root/}; top=${top%%/*}
    keep=$(mktemp -d /tmp/as-nobody-keep.XXXXXX)
    expose="mount --bind /root/$top $keep && mount -t tmpfs -o mode=755 tmpfs /root && mkdir -p /root/$top && mount --bind $keep /root/$top"
    ;;
esac
exec unshare --mount --propagation private bash -c "$expose && exec setpriv --reuid=65534 --regid=65534 --clear-groups -- \"\$@\"" as_nobody "$@"
