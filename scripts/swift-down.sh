#!/bin/bash
# Stop the stack started by swift-up.sh, using only its PID files (never pkill/killall).
#   scripts/swift-down.sh           stop services, unmount FUSE leftovers and the storage
#   scripts/swift-down.sh --purge   ... and delete $SWIFTMOUNT_LAB_ROOT (rings, keystone, data)
# With tmpfs storage, objects are lost at every stop; rings and keystone are kept.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/swift.env
. "$HERE/swift.env"
# shellcheck source=scripts/lib.sh
. "$HERE/lib.sh"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LOG_TAG=swift-down
need_root
purge=""
case "${1:-}" in --purge) purge=1 ;; "") ;; *) die "usage: $0 [--purge]" ;; esac

# FUSE mounts first (test mounts under $LAB_MNT, the demo mount): they talk to the proxies
for mp in "$LAB_MNT"/* "$SWIFTMOUNT_DEMO_MNT"; do
  if ! { [ -d "$mp" ] && mountpoint -q "$mp"; } 2>/dev/null; then continue; fi
  case "$(stat -f -c %T "$mp")" in fuse*) ;; *) continue ;; esac
  if fusermount3 -u "$mp" 2>/dev/null || fusermount3 -uz "$mp"; then log "unmounted $mp"; fi
done

for s in mount-demo proxy-server proxy-server-r2 object-updater container-updater \
         object-server container-server account-server; do
  stop_service "$s"
done
# cluster profile: <service>-<node> of every node that has a PID file
for f in "$LAB_RUN"/*-[0-9].pid; do
  [ -e "$f" ] && stop_service "$(basename "$f" .pid)"
done
for s in keystone memcached; do
  stop_service "$s"
done
for f in "$LAB_RUN"/*.pid; do   # anything else we started (test helpers, ...)
  [ -e "$f" ] && stop_service "$(basename "$f" .pid)"
done

for dev in "$LAB_DEV" "$SWIFTMOUNT_LAB_ROOT"/srv/node[0-9]/d[0-9]; do
  if mountpoint -q "$dev" 2>/dev/null; then
    umount "$dev" && log "unmounted storage $dev"
  fi
done

if [ -n "$purge" ]; then
  root=$(realpath -m "$SWIFTMOUNT_LAB_ROOT")
  case "$root" in
    /|/srv|/tmp|/var|/home|/root|/mnt|/usr|/usr/*|/etc|/etc/*|/bin|/boot|/lib*|/opt|/proc*|/sys*|/dev*|"")
      die "refusing to purge $root" ;;
  esac
  [ "$(echo "$root" | tr -cd / | wc -c)" -ge 2 ] || die "refusing to purge a top-level dir: $root"
  # never follow into something still mounted below the root
  if grep -q " $root/" /proc/mounts; then die "something is still mounted under $root; not purging"; fi
  rm -rf "$root" && log "purged $root"
fi
exit 0
