#!/bin/bash
# The project's test command (run as root from anywhere in the repo):
#   scripts/test.sh [extra cargo test args, e.g. a test name filter]
# 1. installs what the tests need (fuse3 for fusermount3, pkg-config, curl),
# 2. brings up the local Swift + Keystone (tmpfs, 60 s keystone tokens to exercise renewal),
# 3. cargo test --locked --all-targets [ARGS] -- --test-threads=4 [TEST_ARGS]  (exit status = cargo's)
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
exit "$rc"
