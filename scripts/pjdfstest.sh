#!/bin/bash
# pjdfstest (POSIX syscall conformance) against a real swiftmount mount (run as root):
#   scripts/pjdfstest.sh [GROUP...]   default: chmod chown symlink mkfifo (issue 11's groups)
#   scripts/pjdfstest.sh all          those, then mknod link rename unlink open mkdir rmdir
#                                     truncate utimensat (summed apart as "(other)")
# Uses the local Swift that is ALREADY running (scripts/swift-up.sh; never started here):
# makes a fresh container as tempauth's test:tester, mounts it with --allow-other
# (pjdfstest switches users), runs `prove -r` of the groups from inside the mount and
# prints one line per group: test files, cases (subtests) passed/failed/not run/total, then
# the failing files and cases. Unmounts and deletes the container at the end, also on failure.
# pjdfstest is never part of this repository: $PJDFSTEST_SRC (an existing checkout) or a
# clone of https://github.com/pjd/pjdfstest in ${XDG_CACHE_HOME:-~/.cache}/swiftmount/,
# built there (autoreconf -ifs && ./configure && make pjdfstest).
# Environment:
#   SWIFTMOUNT_BIN      binary to test (default target/release/swiftmount, else target/debug/;
#                       built with cargo build --release if neither exists)
#   PJDFSTEST_SRC       pjdfstest checkout to use (built in place if needed)
#   PJDFSTEST_OUT       where the logs go (default /tmp/swiftmount-pjdfstest.DATE.PID)
#   PJDFSTEST_JOBS      test files run at once (prove -j, default 4: Swift latency dominates)
#   PJDFSTEST_TIMEOUT   seconds allowed for the whole run (default 14400); cases not reached
#                       by then are reported as "not run"
#   PJDFSTEST_MOUNT_ARGS extra swiftmount options, e.g. "--dir-cache-ttl 0"
# Exit status: 0 when every case passed, 1 when some failed, other codes on setup errors.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE/.."
# shellcheck source=scripts/swift.env
. "$HERE/swift.env"
# shellcheck source=scripts/lib.sh
. "$HERE/lib.sh"
LOG_TAG=pjdfstest
need_root

ISSUE_GROUPS="chmod chown symlink mkfifo"
OTHER_GROUPS="mknod link rename unlink open mkdir rmdir truncate utimensat"
# shellcheck disable=SC2086  # word lists
if [ $# = 0 ]; then set -- $ISSUE_GROUPS; elif [ "$*" = all ]; then set -- $ISSUE_GROUPS $OTHER_GROUPS; fi
GROUPS_RUN=("$@")
PROXY="http://$SWIFTMOUNT_LAB_HOST:$SWIFT_PROXY_PORT"
ST_AUTH="$PROXY/auth/v1.0" ST_USER=test:tester ST_KEY=testing
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${PJDFSTEST_OUT:-/tmp/swiftmount-pjdfstest.$STAMP.$$}
TIMEOUT=${PJDFSTEST_TIMEOUT:-14400}
JOBS=${PJDFSTEST_JOBS:-4}
mkdir -p "$OUT"

apt_need fuse3 curl ca-certificates git autoconf automake gcc make libc6-dev perl openssl

# ---------------------------------------------------------------- the running stack
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$PROXY/info" || true)
[ "$code" = 200 ] || die "the local Swift is not up ($PROXY/info -> ${code:-no answer}); start it with scripts/swift-up.sh"
[ -e /dev/fuse ] || die "/dev/fuse is missing"

# ---------------------------------------------------------------- pjdfstest
if [ -n "${PJDFSTEST_SRC:-}" ]; then
  SRC=$(cd "$PJDFSTEST_SRC" && pwd) || die "PJDFSTEST_SRC=$PJDFSTEST_SRC is not a directory"
  [ -f "$SRC/pjdfstest.c" ] || die "PJDFSTEST_SRC=$SRC is not a pjdfstest checkout (no pjdfstest.c)"
else
  SRC="${XDG_CACHE_HOME:-$HOME/.cache}/swiftmount/pjdfstest"
  if [ ! -f "$SRC/pjdfstest.c" ]; then
    log "cloning pjdfstest into $SRC"
    mkdir -p "$(dirname "$SRC")"
    rm -rf "$SRC.tmp"
    git clone -q --depth 1 https://github.com/pjd/pjdfstest "$SRC.tmp" \
      || die "git clone https://github.com/pjd/pjdfstest failed (offline? set PJDFSTEST_SRC to a checkout)"
    mv "$SRC.tmp" "$SRC"
  fi
fi
PJD_REV=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ ! -x "$SRC/pjdfstest" ] || [ "$SRC/pjdfstest.c" -nt "$SRC/pjdfstest" ]; then
  t=$(date +%s%N)
  log "building pjdfstest ($SRC, $PJD_REV)"
  ( cd "$SRC" && autoreconf -ifs && ./configure && make pjdfstest ) >"$OUT/pjdfstest-build.log" 2>&1 \
    || { tail -20 "$OUT/pjdfstest-build.log"; die "pjdfstest build failed (log: $OUT/pjdfstest-build.log)"; }
  log "pjdfstest built in $(elapsed "$t")s"
fi
for g in "${GROUPS_RUN[@]}"; do
  [ -d "$SRC/tests/$g" ] || die "no such pjdfstest group: $g (see $SRC/tests/)"
done

# ---------------------------------------------------------------- swiftmount
BIN=${SWIFTMOUNT_BIN:-}
if [ -z "$BIN" ]; then
  TGT=${CARGO_TARGET_DIR:-target}
  for b in "$TGT/release/swiftmount" "$TGT/debug/swiftmount"; do
    [ -x "$b" ] && { BIN=$b; break; }
  done
  if [ -z "$BIN" ]; then
    log "no swiftmount binary: cargo build --release"
    cargo build --release --locked --bin swiftmount
    BIN=$TGT/release/swiftmount
  fi
fi
[ -x "$BIN" ] || die "SWIFTMOUNT_BIN=$BIN is not executable"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
BIN_VERSION=$("$BIN" --version 2>/dev/null | head -1 || echo "?")

# ---------------------------------------------------------------- container and mount
mkdir -p "$LAB_MNT"
CONTAINER="pjdfstest-$STAMP-$$"
MNT="$LAB_MNT/$CONTAINER"     # swift-down.sh unmounts leftovers in $LAB_MNT
MOUNT_PID="" PROVE_PID="" TOKEN="" STORAGE=""

login() {  # sets TOKEN and STORAGE (tempauth v1)
  local h
  h=$(curl -sf -D - -o /dev/null --max-time 20 -H "X-Auth-User: $ST_USER" -H "X-Auth-Key: $ST_KEY" "$ST_AUTH" | tr -d '\r') \
    || return 1
  TOKEN=$(awk -F': ' 'tolower($1)=="x-auth-token"{print $2}' <<<"$h")
  STORAGE=$(awk -F': ' 'tolower($1)=="x-storage-url"{print $2}' <<<"$h")
  [ -n "$TOKEN" ] && [ -n "$STORAGE" ]
}

# shellcheck disable=SC2317  # purge and cleanup are run by the EXIT trap
# purge CONTAINER: bulk-delete its objects page by page, then the container (404 is fine)
purge() {
  "$PY" - "$STORAGE" "$TOKEN" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request, urllib.error
base, token, cont = sys.argv[1:4]
def req(method, url, body=None, headers=None):
    h = {"X-Auth-Token": token, **(headers or {})}
    r = urllib.request.Request(url, data=body, method=method, headers=h)
    try:
        with urllib.request.urlopen(r, timeout=120) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
curl = base + "/" + urllib.parse.quote(cont, safe="")
while True:
    st, body = req("GET", curl + "?format=json&limit=10000")
    if st == 404:
        sys.exit(0)
    names = [o["name"] for o in json.loads(body or b"[]")] if st == 200 else []
    if not names:
        break
    lines = "".join("/" + urllib.parse.quote(cont, safe="") + "/" + urllib.parse.quote(n) + "\n" for n in names)
    st, body = req("POST", base + "?bulk-delete", lines.encode(),
                   {"Content-Type": "text/plain", "Accept": "application/json"})
    if st != 200 or json.loads(body).get("Number Deleted", 0) == 0:
        sys.exit("bulk delete in %s failed: %s %s" % (cont, st, body[:200]))
st, body = req("DELETE", curl)
if st not in (204, 404):
    sys.exit("DELETE %s: %s %s" % (cont, st, body[:200]))
PY
}

# shellcheck disable=SC2317
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ -n "$PROVE_PID" ]; then   # interrupted: timeout passes TERM on to prove and the tests
    kill -TERM "$PROVE_PID" 2>/dev/null
    wait "$PROVE_PID" 2>/dev/null
  fi
  if [ -n "$MOUNT_PID" ]; then
    if mountpoint -q "$MNT" 2>/dev/null || [ -d "$MNT" ]; then
      fusermount3 -u "$MNT" 2>/dev/null || { sleep 2; fusermount3 -u "$MNT" 2>/dev/null; } \
        || fusermount3 -uz "$MNT" 2>/dev/null
    fi
    for _ in $(seq 100); do alive "$MOUNT_PID" || break; sleep 0.1; done
    if alive "$MOUNT_PID"; then
      log "swiftmount (pid $MOUNT_PID) still running after unmount: TERM"
      kill -TERM "$MOUNT_PID" 2>/dev/null
      for _ in $(seq 50); do alive "$MOUNT_PID" || break; sleep 0.1; done
      alive "$MOUNT_PID" && kill -KILL "$MOUNT_PID" 2>/dev/null
    fi
  fi
  [ -d "$MNT" ] && ! mountpoint -q "$MNT" 2>/dev/null && rmdir "$MNT" 2>/dev/null
  if [ -n "$TOKEN" ]; then
    if login && purge "$CONTAINER" && purge "${CONTAINER}_segments"; then
      log "deleted container $CONTAINER"
    else
      log "WARNING: could not delete container $CONTAINER (as $ST_USER)"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

login || die "tempauth login as $ST_USER at $ST_AUTH failed"
curl -sf -o /dev/null --max-time 20 -X PUT -H "X-Auth-Token: $TOKEN" "$STORAGE/$CONTAINER" \
  || die "could not create container $CONTAINER"
mkdir "$MNT"
# shellcheck disable=SC2086  # PJDFSTEST_MOUNT_ARGS is a list of options
env -i PATH="$PATH" ST_AUTH="$ST_AUTH" ST_USER="$ST_USER" ST_KEY="$ST_KEY" RUST_LOG="${RUST_LOG:-}" \
  setsid "$BIN" --foreground --allow-other ${PJDFSTEST_MOUNT_ARGS:-} "$CONTAINER" "$MNT" \
  >"$OUT/mount.log" 2>&1 </dev/null &
MOUNT_PID=$!
for _ in $(seq 300); do
  mountpoint -q "$MNT" && break
  alive "$MOUNT_PID" || break
  sleep 0.1
done
mountpoint -q "$MNT" || { tail -20 "$OUT/mount.log"; die "mount failed (log: $OUT/mount.log)"; }
log "mounted $CONTAINER on $MNT with $BIN ($BIN_VERSION), pid $MOUNT_PID; logs in $OUT"

# ---------------------------------------------------------------- run
# One prove over every group (-j: files in parallel; the run is bound by Swift's latency).
# Each test file's TAP is also kept as it comes (tee), in $OUT/tap/GROUP/NN.t: prove prints
# a file's lines only once it ends, and a run stopped by the time limit must still count.
mkdir -p "$OUT/tap"
cat >"$OUT/run-one.sh" <<EOF
#!/bin/sh
rel=\${1#"$SRC/tests/"}
mkdir -p "$OUT/tap/\$(dirname "\$rel")"
sh "\$1" | tee "$OUT/tap/\$rel"
EOF
chmod +x "$OUT/run-one.sh"
dirs=()
for g in "${GROUPS_RUN[@]}"; do dirs+=("$SRC/tests/$g"); done
t_all=$(date +%s%N)
log "prove -r -j$JOBS ${GROUPS_RUN[*]} (at most ${TIMEOUT}s) ..."
# in the background (timeout makes its own process group), so that Ctrl-C reaches our trap
( cd "$MNT" && exec timeout -k 30 "$TIMEOUT" prove -r -v -j"$JOBS" --exec "$OUT/run-one.sh" "${dirs[@]}" ) \
  >"$OUT/prove.log" 2>&1 &
PROVE_PID=$!
rc=0
wait "$PROVE_PID" || rc=$?
PROVE_PID=""
[ "$rc" = 124 ] && log "WARNING: stopped after ${TIMEOUT}s (PJDFSTEST_TIMEOUT): unfinished files count their missing cases as not run"
log "prove done in $(elapsed "$t_all")s"
mountpoint -q "$MNT" || log "WARNING: the mount went away (log: $OUT/mount.log)"

# tally: one line per test file run: "GROUP FILE total passed failed notrun" ("not ok ...
# # TODO" counts as passed, as prove does; cases a file never reached are "not run")
tally() {
  local f
  for g in "${GROUPS_RUN[@]}"; do
    for f in "$OUT/tap/$g"/*.t; do
      [ -e "$f" ] || continue
      awk -v g="$g" -v f="$g/${f##*/}" '
        /^1\.\.[0-9]+/ { plan = substr($1, 4) + 0; next }
        /^ok [0-9]+/ { seen++; pass++; next }
        /^not ok/ { seen++; if ($0 ~ /# TODO/) pass++; next }
        END { total = plan > seen ? plan : seen; print g, f, total, pass + 0, seen - pass, total - seen }' "$f"
    done
  done
}
tally >"$OUT/tally"

# ---------------------------------------------------------------- summary
{
  echo "pjdfstest $PJD_REV on $BIN_VERSION ($BIN), $(date -u '+%Y-%m-%d %H:%M UTC'), $(elapsed "$t_all")s"
  printf '%-10s %5s %7s %7s %7s %7s\n' group files passed failed not-run total
  part() {  # title groups...
    local title=$1 g n p f x tot tn=0 tp=0 tf=0 tx=0 tt=0; shift
    for g in "$@"; do
      read -r n tot p f x < <(awk -v g="$g" '$1 == g { n++; t += $3; p += $4; f += $5; x += $6 }
        END { print n+0, t+0, p+0, f+0, x+0 }' "$OUT/tally")
      printf '%-10s %5d %7d %7d %7d %7d\n' "$g" "$n" "$p" "$f" "$x" "$tot"
      tn=$((tn + n)) tp=$((tp + p)) tf=$((tf + f)) tx=$((tx + x)) tt=$((tt + tot))
    done
    [ $# -gt 1 ] && printf '%-10s %5d %7d %7d %7d %7d\n' "$title" "$tn" "$tp" "$tf" "$tx" "$tt"
    return 0
  }
  mine=() other=()
  for g in "${GROUPS_RUN[@]}"; do
    case " $ISSUE_GROUPS " in *" $g "*) mine+=("$g") ;; *) other+=("$g") ;; esac
  done
  [ ${#mine[@]} -gt 0 ] && part "(issue 11)" "${mine[@]}"
  [ ${#other[@]} -gt 0 ] && part "(other)" "${other[@]}"
  echo
  echo "failing test files (failed/total cases, not run):"
  awk '$5 > 0 || $6 > 0 { printf "  %s (%d/%d%s)\n", $2, $5, $3, $6 ? ", " $6 " not run" : "" }' "$OUT/tally"
  echo
  echo "failing cases (generated names shown as *; in full in $OUT/tap/):"
  for g in "${GROUPS_RUN[@]}"; do
    for f in "$OUT/tap/$g"/*.t; do
      [ -e "$f" ] || continue
      awk -v f="$g/${f##*/}" '/^not ok/ && !/# TODO/ { print "  " f ": " $0 }' "$f"
    done
  done | sed -E 's/[0-9a-f]{20,}/*/g' | cut -c1-200
} | tee "$OUT/summary.txt"
log "summary: $OUT/summary.txt"
if awk '$5 > 0 || $6 > 0 { bad = 1 } END { exit !bad }' "$OUT/tally"; then exit 1; fi
exit 0
