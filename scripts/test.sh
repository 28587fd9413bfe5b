#!/bin/bash
# The project's test command (run as root from anywhere in the repo):
#   scripts/test.sh [extra cargo test args, e.g. a test name filter]
# 1. installs what the tests need (fuse3 for fusermount3, pkg-config, curl),
# 2. brings up the local Swift + Keystone (tmpfs, 60 s keystone tokens to exercise renewal),
# 3. cargo test --locked --all-targets [ARGS] -- --test-threads=4 [TEST_ARGS]  (exit status = cargo's)
# 4. without ARGS: the cluster tests (tests/cluster.rs) on a 3-node cluster of their own (see below)
#    scripts/test.sh keystone                  # name filter
#    scripts/test.sh --test mount -- --nocapture
# Swift is left running so you can rerun quickly; stop it with scripts/swift-down.sh [--purge].
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE/.."
# test defaults, set BEFORE swift.env (whose defaults are xfs and 3600 s)
export SWIFTMOUNT_LAB_STORAGE=${SWIFTMOUNT_LAB_STORAGE:-tmpfs}
export KS_TOKEN_EXPIRATION=${KS_TOKEN_EXPIRATION:-60}   # short tokens: the tests exercise renewal
# shellcheck source=scripts/swift.env
. "$HERE/swift.env"
# shellcheck source=scripts/lib.sh
. "$HERE/lib.sh"
LOG_TAG="test"
need_root

apt_need fuse3 pkg-config curl ca-certificates restic borgbackup rsync duplicity rdiff-backup
[ -e /dev/fuse ] || log "WARNING: /dev/fuse is missing: FUSE mount tests will fail"

t=$(date +%s%N)
"$HERE/swift-up.sh"
log "swift-up took $(elapsed "$t")s"

# what the integration tests read
export SWIFTMOUNT_TEST_KS_TOKEN_LIFE=$KS_TOKEN_EXPIRATION
export SWIFTMOUNT_TEST_LAB_ROOT=$SWIFTMOUNT_LAB_ROOT
export SWIFTMOUNT_TEST_MNT_DIR=$LAB_MNT   # swift-down.sh unmounts leftovers here

t=$(date +%s%N)
cargo_args=() test_args=()
while [ $# -gt 0 ]; do
  if [ "$1" = -- ]; then shift; test_args=("$@"); break; fi
  cargo_args+=("$1"); shift
done
rc=0
cargo test --locked --all-targets --no-fail-fast "${cargo_args[@]}" -- --test-threads=4 "${test_args[@]}" || rc=$?
log "cargo test exited $rc after $(elapsed "$t")s (total $(elapsed)s); Swift left running (scripts/swift-down.sh to stop)"

# 4. tests/cluster.rs (#[ignore]d above) on the cluster profile: 3 storage nodes on their own
#    root and ports, next to the single node, stopped and purged afterwards.  Run with the full
#    suite (no arguments) or SWIFTMOUNT_TEST_CLUSTER=1; SWIFTMOUNT_TEST_CLUSTER=0 skips them.
#    SWIFTMOUNT_SOAK_SECS (default 180) is how long the soak runs.
run_cluster=${SWIFTMOUNT_TEST_CLUSTER:-auto}
if [ "$run_cluster" = auto ]; then
  run_cluster=0
  [ ${#cargo_args[@]} = 0 ] && [ ${#test_args[@]} = 0 ] && run_cluster=1
fi
if [ "$run_cluster" = 1 ]; then
  cl_root=${SWIFTMOUNT_CLUSTER_ROOT:-$SWIFTMOUNT_LAB_ROOT-cluster}
  cl_proxy=${SWIFTMOUNT_CLUSTER_PROXY_PORT:-8090}
  cl_ks=${SWIFTMOUNT_CLUSTER_KEYSTONE_PORT:-5010}
  cl_env=(SWIFTMOUNT_LAB_ROOT="$cl_root" SWIFTMOUNT_LAB_NODES=3
          SWIFT_PROXY_PORT="$cl_proxy" SWIFT_PROXY2_PORT="${SWIFTMOUNT_CLUSTER_PROXY2_PORT:-8091}"
          KEYSTONE_PORT="$cl_ks" MEMCACHED_PORT="${SWIFTMOUNT_CLUSTER_MEMCACHED_PORT:-11212}"
          SWIFT_NODE_BASE_PORT="${SWIFTMOUNT_CLUSTER_NODE_BASE_PORT:-6300}")
  t=$(date +%s%N)
  crc=0
  env "${cl_env[@]}" "$HERE/swift-up.sh" || crc=$?
  log "cluster swift-up exited $crc after $(elapsed "$t")s"
  if [ "$crc" = 0 ]; then
    t=$(date +%s%N)
    env SWIFTMOUNT_TEST_LAB_ROOT="$cl_root" SWIFTMOUNT_TEST_MNT_DIR="$cl_root/mnt" \
        SWIFTMOUNT_TEST_KEYSTONE="http://$SWIFTMOUNT_LAB_HOST:$cl_ks/v3" \
        SWIFTMOUNT_TEST_TEMPAUTH="http://$SWIFTMOUNT_LAB_HOST:$cl_proxy/auth/v1.0" \
        cargo test --locked --test cluster -- --ignored --test-threads=1 --nocapture || crc=$?
    log "cluster tests exited $crc after $(elapsed "$t")s (total $(elapsed)s)"
  fi
  env "${cl_env[@]}" "$HERE/swift-down.sh" --purge || true
  [ "$rc" = 0 ] && rc=$crc
fi
exit "$rc"
