#!/bin/bash
# Benchmark of the swiftmount FUSE mount against the plain Swift API (curl, the `swift`
# client, restic's own Swift backend) and `rclone mount` (--vfs-cache-mode off and writes),
# every contender in the same run, on the same data, against the local Swift + Keystone
# (scripts/swift-up.sh; started here if it is down).  Run as root.
#
#   scripts/bench.sh                                              # full: ~7 min (2 cores)
#   BENCH_SIZE_MB=64 BENCH_SMALL=200 BENCH_LIST=2000 scripts/bench.sh   # quick: < 3 min
#
# Rows (a fresh mount for each; page cache dropped before each read, sources read into it
# before each write; the peak RSS (VmHWM) of the mount process recorded for each):
#   seq write   BENCH_SIZE_MB MiB of random data, `dd bs=1M` into the mount, timed until it
#               returns (close); vs `curl -T` (one PUT).  Objects checked by md5, then deleted.
#               rclone writes mode returns before uploading (--vfs-write-back, default 5 s):
#               the time until the object is in Swift is shown too.
#   seq read    the object curl wrote, `dd bs=1M` to /dev/null; vs `curl` GET.  swiftmount's
#               bytes are checked by md5 (untimed).
#   ls -l       a folder of BENCH_LIST objects, cold (fresh mount) and warm (again), vs one
#               raw listing (curl GETs of format=json, all pages; the requests' own time).
#               rclone by default HEADs every object (stopped after 15 s: then a lower
#               bound); rclone --use-server-modtime is a row too.
#   small in    BENCH_SMALL files (1-16 KiB, 10 folders) `cp -r` into the mount, timed until
#               cp returns, vs `swift upload` (10 threads).  Checked by names + md5 in the listing.
#   small out   `cp -r` of the files swift uploaded from the mount to local disk, vs
#               `swift download` (10 threads); compared with diff -r.
#   restic      init + backup of a fixed tree (300 files, 22 MiB) into a repository on the
#               mount, then restore from a fresh mount, checked with diff -r; vs restic's own
#               Swift backend.  A failure shows as FAIL in the table.
#   writers     8 Python threads open/write/close the BENCH_SMALL small files into the mount
#               (the threads' own time), vs 8 threads of keep-alive http.client PUTs of the
#               same files.  Checked by names + md5 in the listing.
#   mkdir       256 os.mkdir from 8 threads, then fsync of the parent (restic init's
#               pattern), timed apart, vs 8 connections' PUTs of 256 zero-byte folder markers;
#               the ratio is of the sum.  Checked: 256 folders in the listing after unmount.
#   wan         seq write + read and writers again, every contender behind the WAN shaping
#               proxy (examples/shaping_proxy: +20 ms round trip, 25 MB/s per TCP connection
#               and direction), vs one curl stream / 8 API connections through it too.
# Ratios: seq, small, writers, mkdir and restic rows: baseline time ÷ time (speed relative to
# the baseline, higher is faster); ls rows: time ÷ raw listing time (lower is faster).  The
# seq rows also show the mount process's CPU time (user + sys, /proc/PID/stat) per GiB moved.
# Targets (issue 14; reported per row as PASS/BELOW, never an error): write >= 0.95 x curl
# PUT, read >= 1.0 x curl GET, ls -l cold <= 1.5 x the raw listing, 8 writers >= 1.0 x,
# 256 mkdir >= 3 x, restic init + backup >= 1.0 x restic's backend, WAN write/read >= 3 x one
# curl stream, WAN 8 writers >= 1.0 x, peak RSS writing or reading <= 64 MiB.
#
# Knobs (environment):
#   BENCH_SIZE_MB=512  BENCH_LIST=10000  BENCH_SMALL=1000
#   BENCH_REPEAT=1          runs of the seq, ls, writers, mkdir and wan rows (the median is
#                           shown; small and restic run once)
#   BENCH_ROWS="seq ls small writers mkdir restic wan"   which groups of rows to run
#   BENCH_PROFILE=lan       wan: every row's contenders (curl, swift, restic, the mounts) go
#                           through the shaping proxy (Keystone stays direct; the mounts get
#                           a token and the proxy's storage URL); the wan group is then skipped
#   BENCH_OUT=docs/bench-results.md    results file (appended)
#   BENCH_NO_BUILD=1        skip `cargo build --release --locked` (and of the proxy)
#   BENCH_BIN=PATH BENCH_REV=NAME   measure that swiftmount binary instead (no build), named
#                           NAME in the results (e.g. a build of another commit)
#   BENCH_SWIFTMOUNT_ARGS   extra swiftmount arguments (e.g. -v)
# Everything runs in a fresh container bench-<random> (+ its _segments); mounts are under
# $SWIFTMOUNT_LAB_ROOT/mnt.  At exit (also on failure or Ctrl-C) the mount is unmounted, its
# process stopped, both containers emptied and deleted, the scratch folder removed.
# rclone, and swiftmount behind the shaping proxy, get a fresh Keystone token + storage URL
# for each mount (the test stack's tokens may live 60 s, and rclone's Swift library refuses
# tokens with < 60 s left): a step longer than the token's life fails (shown as FAIL or as a
# lower bound).
# Exit status: 0; 1 if swiftmount or a baseline failed a step (wrong bytes, error); 2+ setup.
# Mount logs (this run's mounts, appended): $SWIFTMOUNT_LAB_ROOT/log/bench-{sm,rcoff,rcw}.log
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE/.." || exit 2
# shellcheck source=scripts/swift.env
. "$HERE/swift.env"
# shellcheck source=scripts/lib.sh
. "$HERE/lib.sh"
# shellcheck source=scripts/bench-lib.sh
. "$HERE/bench-lib.sh"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$HOME/.cargo/bin
export LC_ALL=C
LOG_TAG=bench
need_root

SIZE_MB=${BENCH_SIZE_MB:-512}
NLIST=${BENCH_LIST:-10000}
NSMALL=${BENCH_SMALL:-1000}
REPEAT=${BENCH_REPEAT:-1}
ROWS=" ${BENCH_ROWS:-seq ls small writers mkdir restic wan} "
PROFILE=${BENCH_PROFILE:-lan}
OUT=${BENCH_OUT:-docs/bench-results.md}
for v in SIZE_MB NLIST NSMALL REPEAT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
[ "$NSMALL" -lt 10000 ] || die "BENCH_SMALL must be below 10000"
case $PROFILE in lan|wan) ;; *) die "BENCH_PROFILE must be lan or wan (got '$PROFILE')" ;; esac
if [ "$PROFILE" = wan ] && [[ $ROWS == *" wan "* ]]; then
  ROWS=${ROWS/ wan / }; WAN_SKIPPED=1   # every row is a WAN row already
fi
H=$SWIFTMOUNT_LAB_HOST
KS="http://$H:$KEYSTONE_PORT/v3"
REGION=RegionOne                           # proxy :8080, for every contender
RUN_ID=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
C="bench-$RUN_ID"
MP="$LAB_MNT/bench-$RUN_ID"
TGT=${CARGO_TARGET_DIR:-$PWD/target}
BIN=${BENCH_BIN:-$TGT/release/swiftmount}
PROXY_BIN=$TGT/release/examples/shaping_proxy
SEQ_BYTES=$(( SIZE_MB * 1048576 ))
SEQ_LIMIT=$(( SIZE_MB / 5 + 60 ))           # >= 5 MiB/s or it counts as hung
LS_LIMIT=$(( NLIST / 50 + 120 ))
SMALL_LIMIT=$(( NSMALL / 5 + 120 ))
RESTIC_LIMIT=600
# the caller's OS_*, ST_*, RCLONE_*, RESTIC_* must not change what the contenders do
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(OS|ST|RCLONE|RESTIC)_' || true)
export RESTIC_PASSWORD=swiftmount-bench

W=$(mktemp -d /tmp/swiftmount-bench.XXXXXX)
NOTES=()
note() { NOTES+=("$*"); log "NOTE: $*"; }

# ------------------------------------------------------------------ results
# T[row.who]: time samples, M[row.who]: peak RSS samples (MiB), X[row.who]: extra text,
# F[row.who]: failure.  who: base (curl / swift / restic's Swift backend), sm, rcoff, rcw.
# WIN: "row.who start end" of each recorded step, to count its requests in the proxy log.
declare -A T=() M=() X=() F=() CPU=()
WIN=()
rec() {  # row who seconds [MiB]: a step that worked (it began at $T_BEGIN and ends now)
  T[$1.$2]+="$3 "; [ -z "${4:-}" ] || M[$1.$2]+="$4 "
  WIN+=("$1.$2 $T_BEGIN $EPOCHREALTIME")
}
fail() { F[$1.$2]=$3; note "$1 / $2: FAIL: $3${4:+ ($4)}"; }      # row who short [detail]

# ------------------------------------------------------------------ network: direct or WAN
# SU: the storage URL of the contenders' timed requests (chores and checks use $S, direct).
# set_net wan: through the shaping proxy at $WAN_ADDR (started in step 0); Keystone stays
# direct, only the object traffic is shaped.
NET=lan SU="" WAN_ADDR="" WAN_PID=""
set_net() {
  local base="http://$H:$SWIFT_PROXY_PORT"
  NET=$1 SU=$S
  [ "$NET" = wan ] || return 0
  [[ $S == "$base"/* ]] || die "storage URL $S is not under $base: cannot put it behind the proxy"
  SU="http://$WAN_ADDR${S#"$base"}"
}
net_label() { if [ "$NET" = wan ]; then echo "WAN: "; fi; }

# ------------------------------------------------------------------ mounts
SM_SRC="openstack://$C/?auth-username=labuser&openstack-authuri=$KS&openstack-version=v3&openstack-domain-name=labdomain&openstack-tenant-name=labproject&openstack-region=$REGION"
RC_T0=0
mount_as() {  # who [extra options]: mount the run's container at $MP
  local who=$1; shift
  MOUNT_LOG="$LAB_LOG/bench-$who.log"
  case $who in
    sm)
      local src=("$SM_SRC")
      if [ "$NET" = wan ]; then   # only a token goes with another storage URL than the catalog's
        auth 999999; printf '%s\n' "$TOKEN" > "$W/sm.token"
        src=(--auth-token-file "$W/sm.token" --storage-url "$SU" "$C")
      fi
      # shellcheck disable=SC2086  # BENCH_SWIFTMOUNT_ARGS is a word list
      mount_fs "bench-$RUN_ID-$who" "$MP" env OS_PASSWORD="$KS_LAB_PASSWORD" "$BIN" --foreground \
        ${BENCH_SWIFTMOUNT_ARGS:-} "$@" "${src[@]}" "$MP" ;;
    rcoff|rcw)
      local mode=(--vfs-cache-mode off)
      rm -rf "$W/rclone-cache"           # a fresh cache for each mount
      [ "$who" = rcw ] && mode=(--vfs-cache-mode writes --cache-dir "$W/rclone-cache")
      auth 999999; RC_T0=$TOKEN_T      # a fresh token: rclone cannot renew it
      : > "$W/rclone.conf"
      mount_fs "bench-$RUN_ID-$who" "$MP" env RCLONE_CONFIG="$W/rclone.conf" RCLONE_CONFIG_LAB_TYPE=swift \
        RCLONE_CONFIG_LAB_AUTH_TOKEN="$TOKEN" RCLONE_CONFIG_LAB_STORAGE_URL="$SU" \
        rclone mount "lab:$C" "$MP" "${mode[@]}" "$@" ;;
  esac
}
rc_left() { calc '%.0f' "$TOKEN_LIFE - ($EPOCHREALTIME - $RC_T0)"; }   # s left on rclone's token
peak() { if mount_alive; then hwm "$MOUNT_PID"; fi; }
cpu0() { CPU0=$(cpu_ticks "$MOUNT_PID"); }      # the mount's CPU time before a step
# cpu_per_gib ROW WHO BYTES: records the mount's CPU seconds (user + sys) per GiB since cpu0
CPU0=""
cpu_per_gib() {
  local now; now=$(cpu_ticks "$MOUNT_PID")
  [ -n "$now" ] && [ -n "$CPU0" ] || return 0
  CPU[$1.$2]+="$(calc '%.2f' "($now - $CPU0) / $CLK_TCK / ($3 / 1073741824)") "
}
begin() {  # prepare a timed step: before a read drop the page cache, before a write read the
           # sources into it instead; reset the mount's peak RSS
  if [ $# = 0 ]; then drop; else warm "$@"; fi
  [ -z "$MOUNT_PID" ] || reset_hwm "$MOUNT_PID"
}
# wait_obj OBJECT BYTES: poll until the object is in Swift (rclone writes mode uploads after
# close) -> UP (s since the timed step began) or ""
UP=""
wait_obj() {
  local len
  UP=""; auth 30
  for _ in $(seq $(( SEQ_LIMIT * 10 ))); do
    len=$(sw -f -I "$S/$C/$1" | tr -d '\r' | awk -F': ' 'tolower($1)=="content-length"{print $2}')
    [ "$len" = "$2" ] && { UP=$(el "$T_BEGIN"); return 0; }
    sleep 0.1
  done
  return 1
}
wait_count() {  # PREFIX N LIMIT: poll until N objects (folder markers aside) are under PREFIX -> UP
  local n=""
  UP=""
  for _ in $(seq $(( $3 * 4 ))); do
    auth 10
    n=$(sw -f "$S/$C?prefix=$1&limit=10000" | grep -vc '/$')
    [ "$n" = "$2" ] && { UP=$(el "$T_BEGIN"); return 0; }
    sleep 0.25
  done
  note "wait_count $1: $n objects after $3 s, expected $2"
  return 1
}

# ------------------------------------------------------------------ cleanup
C_MADE="" T_START=$EPOCHREALTIME
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  local rc=$?
  trap '' INT TERM
  if [ -n "$CUR_PID" ]; then kill -TERM "$CUR_PID" 2>/dev/null; wait "$CUR_PID" 2>/dev/null; fi
  umount_fs
  rmdir "$MP" 2>/dev/null
  if [ -n "$WAN_PID" ]; then kill -TERM "$WAN_PID" 2>/dev/null; wait "$WAN_PID" 2>/dev/null; fi
  if [ -n "$C_MADE" ]; then
    log "deleting containers $C and ${C}_segments"
    swiftpy empty "$C" || echo "[$LOG_TAG] could not delete container $C" >&2
    swiftpy empty "${C}_segments" || echo "[$LOG_TAG] could not delete container ${C}_segments" >&2
  fi
  rm -rf "$W"
  log "done: $(el "$T_START") s in all (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ 0. stack, build, sources
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
PLOG="$LAB_LOG/proxy-server.log"                       # proxy :8080's request log
PLOG_OFF=$(stat -c %s "$PLOG" 2>/dev/null || echo 0)
if ! curl -sf -o /dev/null --max-time 3 "http://$H:$SWIFT_PROXY_PORT/healthcheck" ||
   ! curl -sf -o /dev/null --max-time 3 "$KS/"; then
  log "Swift/Keystone not answering: starting scripts/swift-up.sh"
  "$HERE/swift-up.sh" || die "swift-up.sh failed"
fi
apt_need fuse3 curl rclone restic python3-swiftclient
if [ "${BENCH_NO_BUILD:-}" != 1 ] && [ -z "${BENCH_BIN:-}" ]; then
  t=$EPOCHREALTIME
  log "cargo build --release --locked"
  cargo build --release --locked >"$W/build.log" 2>&1 || { tail -30 "$W/build.log"; die "cargo build --release --locked failed"; }
  log "built in $(el "$t") s"
fi
[ -x "$BIN" ] || die "$BIN missing (build it, or unset BENCH_NO_BUILD)"
if [ "$PROFILE" = wan ] || [[ $ROWS == *" wan "* ]]; then
  if [ "${BENCH_NO_BUILD:-}" != 1 ]; then
    cargo build --release --locked --example shaping_proxy >"$W/build.log" 2>&1 ||
      { tail -30 "$W/build.log"; die "cargo build --release --locked --example shaping_proxy failed"; }
  fi
  [ -x "$PROXY_BIN" ] || die "$PROXY_BIN missing (build it, or unset BENCH_NO_BUILD)"
  "$PROXY_BIN" --upstream "$H:$SWIFT_PROXY_PORT" --delay-ms 10 --rate-mb 25 > "$W/wan.out" 2>> "$LAB_LOG/bench-wan.log" &
  WAN_PID=$!
  for _ in $(seq 100); do
    WAN_ADDR=$(awk '$1 == "listening" { print $3 }' "$W/wan.out")
    [ -n "$WAN_ADDR" ] && break
    alive "$WAN_PID" || break
    sleep 0.1
  done
  [ -n "$WAN_ADDR" ] || die "the shaping proxy did not start ($LAB_LOG/bench-wan.log)"
  WAN_WHAT="the WAN rows"; [ "$PROFILE" = lan ] || WAN_WHAT="every row"
fi
if [ -n "${BENCH_BIN:-}" ]; then SM_REV=${BENCH_REV:-"$BIN"}
else SM_REV=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo "+dirty"); fi
T_RUN=$EPOCHREALTIME
mkdir -p "$LAB_LOG"
for w in sm rcoff rcw; do : > "$LAB_LOG/bench-$w.log"; done

auth 20
code=$(sw -o /dev/null -w '%{http_code}' -X PUT "$S/$C")
[ "$code" = 201 ] || [ "$code" = 202 ] || die "cannot create container $C (HTTP $code)"
C_MADE=1
set_net "$PROFILE"
log "container $C, mount point $MP, scratch $W; Keystone tokens live $TOKEN_LIFE s"

t=$EPOCHREALTIME
SRC="$W/seq.bin" SRC_MD5="" SMALL_KIB="" RTREE_MIB=""
# make_tree DIR N MIN MAX SEED [NBIG BIGMIN BIGMAX]: N files of MIN..MAX random bytes in 10
# folders (+ NBIG larger ones), the same bytes on every run (fixed seed)
make_tree() {
  "$PY" - "$@" <<'EOF'
import os, random, sys
root, n, lo, hi, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
nbig, blo, bhi = (int(x) for x in (sys.argv[6:9] or (0, 0, 0)))
rnd = random.Random(seed)
for i in range(n + nbig):
    d = os.path.join(root, "d%02d" % (i % 10)); os.makedirs(d, exist_ok=True)
    size = rnd.randint(lo, hi) if i < n else rnd.randint(blo, bhi)
    with open(os.path.join(d, "f%05d.bin" % i), "wb") as f:
        f.write(rnd.randbytes(size))
EOF
}
if [[ $ROWS == *" seq "* ]] || [[ $ROWS == *" wan "* ]]; then
  head -c "$SEQ_BYTES" /dev/urandom > "$SRC" || die "cannot write $SRC"
  SRC_MD5=$(md5sum < "$SRC" | cut -d' ' -f1)
fi
if [[ $ROWS == *" small "* ]] || [[ $ROWS == *" writers "* ]] || [[ $ROWS == *" wan "* ]]; then
  make_tree "$W/small" "$NSMALL" 1024 16384 20261125 || die "cannot create the small-file tree"
  (cd "$W/small" && find . -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$W/small.md5"
  SMALL_KIB=$(( $(du -sb --apparent-size "$W/small" | cut -f1) / 1024 ))
fi
if [[ $ROWS == *" restic "* ]]; then
  make_tree "$W/rtree" 280 512 65536 6 20 262144 1048576 || die "cannot create the restic tree"
  RTREE_MIB=$(calc '%.1f' "$(du -sb --apparent-size "$W/rtree" | cut -f1) / 1048576")
fi
log "sources in $(el "$t") s: ${SRC_MD5:+$SIZE_MB MiB random, }${SMALL_KIB:+$NSMALL small files ($SMALL_KIB KiB), }${RTREE_MIB:+restic tree of 300 files ($RTREE_MIB MiB)}"

WHOS=(sm rcoff rcw)
par8_script > "$W/par8.py"

# ------------------------------------------------------------------ 1. sequential write + read
# seq_rows WR RD: the write and read rows under those names, on the current network ($NET)
seq_rows() {
  local wr=$1 rd=$2 rep who o d m got sum
  log "$(net_label)sequential write + read of $SIZE_MB MiB, $REPEAT x {curl, swiftmount, rclone off, rclone writes}"
  for rep in $(seq "$REPEAT"); do
    # write
    auth 60; begin "$SRC"
    if run_timed "$SEQ_LIMIT" curl -sf -o /dev/null -H "X-Auth-Token: $TOKEN" -T "$SRC" "$SU/$C/$wr-base-$rep.bin"; then
      rec "$wr" base "$DUR"
      check_obj "$wr-base-$rep.bin" "$SRC_MD5" "$SEQ_BYTES" || fail "$wr" base "wrong object" "$CHECK_MSG"
    else fail "$wr" base "curl PUT: $(cmd_err)"; fi
    [ "$rep" = 1 ] || del_obj "$wr-base-$rep.bin"
    for who in "${WHOS[@]}"; do
      o="$wr-$who-$rep.bin"
      mount_as "$who" || { fail "$wr" "$who" "mount failed"; continue; }
      begin "$SRC"; cpu0
      if run_timed "$SEQ_LIMIT" dd if="$SRC" of="$MP/$o" bs=1M; then
        d=$DUR m=$(peak)
        if [ "$who" = rcw ]; then
          if wait_obj "$o" "$SEQ_BYTES"; then X[$wr.rcw]+="$UP "; m=$(peak); else fail "$wr" rcw "not in Swift after $SEQ_LIMIT s"; fi
        fi
        cpu_per_gib "$wr" "$who" "$SEQ_BYTES"
        rec "$wr" "$who" "$d" "$m"
      else fail "$wr" "$who" "dd: $(cmd_err)"; fi
      umount_fs
      check_obj "$o" "$SRC_MD5" "$SEQ_BYTES" || fail "$wr" "$who" "wrong object" "$CHECK_MSG"
      del_obj "$o"
    done
    # read: everybody reads the plain object curl wrote
    o="$wr-base-1.bin"
    auth 60; begin
    if run_timed "$SEQ_LIMIT" curl -sf -o /dev/null -w '%{size_download}' -H "X-Auth-Token: $TOKEN" "$SU/$C/$o" &&
       [ "$(cat "$W/cmd.out")" = "$SEQ_BYTES" ]; then rec "$rd" base "$DUR"
    else fail "$rd" base "curl GET: $(cmd_err), $(cat "$W/cmd.out") bytes"; fi
    for who in "${WHOS[@]}"; do
      mount_as "$who" || { fail "$rd" "$who" "mount failed"; continue; }
      stat "$MP/$o" > /dev/null 2>&1     # the lookup is not part of the read
      begin; cpu0
      if run_timed "$SEQ_LIMIT" dd if="$MP/$o" of=/dev/null bs=1M; then
        got=$(awk '/bytes/ { print $1 }' "$W/cmd.err" | tail -1)
        if [ "$got" = "$SEQ_BYTES" ]; then
          cpu_per_gib "$rd" "$who" "$SEQ_BYTES"
          rec "$rd" "$who" "$DUR" "$(peak)"
        else fail "$rd" "$who" "short read: $got bytes"; fi
      else fail "$rd" "$who" "dd: $(cmd_err)"; fi
      if [ "$who" = sm ] && [ "$rep" = 1 ]; then    # untimed: the bytes themselves
        # behind the proxy the mount has a token that it cannot renew: a fresh one for this
        if [ "$NET" = wan ]; then umount_fs; mount_as sm || fail "$rd" sm "mount failed"; fi
        drop
        sum=$(md5sum < "$MP/$o" | cut -d' ' -f1)
        [ "$sum" = "$SRC_MD5" ] || fail "$rd" sm "wrong bytes" "md5 $sum, expected $SRC_MD5"
      fi
      umount_fs
    done
    log "  rep $rep: write curl ${T[$wr.base]:-} | sm ${T[$wr.sm]:-} | rclone off ${T[$wr.rcoff]:-} | writes ${T[$wr.rcw]:-} (in Swift ${X[$wr.rcw]:-})"
    log "  rep $rep: read  curl ${T[$rd.base]:-} | sm ${T[$rd.sm]:-} | rclone off ${T[$rd.rcoff]:-} | writes ${T[$rd.rcw]:-}"
  done
  del_obj "$wr-base-1.bin"
}
if [[ $ROWS == *" seq "* ]]; then log "1. sequential"; seq_rows wr rd; fi

# ------------------------------------------------------------------ 2. ls -l
if [[ $ROWS == *" ls "* ]]; then
  t=$EPOCHREALTIME
  swiftpy fill list "$NLIST" || die "cannot create $NLIST objects in $C/list/"
  log "2. ls -l of $NLIST objects (created in $(el "$t") s), $REPEAT x {listing, swiftmount, rclone --use-server-modtime} + 1 x rclone default"
  ls_ok() {  # OUTFILE: the right number of files
    local n; n=$(grep -c '^-' "$1")
    [ "$n" = "$NLIST" ] || { LS_ERR="$n files shown, expected $NLIST"; return 1; }
  }
  LS_ERR=""
  # raw_list PREFIX: the folder's listing with curl, every page (format=json, 10,000 per
  # page) -> LIST_T (sum of the requests' own times), LIST_REQ; "name bytes" in $W/listing
  raw_list() {
    local marker="" r code n
    LIST_T=0 LIST_REQ=0; : > "$W/listing"
    auth 30
    T_BEGIN=$EPOCHREALTIME
    while :; do
      r=$(sw -o "$W/page.json" -w '%{http_code} %{time_total}' -G --data-urlencode "prefix=$1" \
            --data-urlencode "delimiter=/" --data-urlencode "marker=$marker" -d format=json -d limit=10000 "$SU/$C")
      code=${r% *}
      [ "$code" = 200 ] || die "container listing of $C/$1: HTTP $code"
      LIST_T=$(calc '%.3f' "$LIST_T + ${r#* }"); LIST_REQ=$((LIST_REQ + 1))
      n=$("$PY" -c 'import json, sys
page = json.load(open(sys.argv[1]))
with open(sys.argv[2], "a") as f:
    for e in page: f.write("%s %s\n" % (e.get("name") or e.get("subdir"), e.get("bytes", "-")))
print(len(page))' "$W/page.json" "$W/listing")
      [ "$n" -lt 10000 ] && break
      marker=$(tail -1 "$W/listing" | cut -d' ' -f1)
    done
  }
  ls_err() { if [ "$RC" = 0 ]; then echo "$LS_ERR"; else cmd_err; fi; }
  raw_list list/   # untimed: the first listing after the bulk upload is slower (container updates)
  for rep in $(seq "$REPEAT"); do
    raw_list list/
    rec lsc base "$LIST_T"; rec lsw base "$LIST_T"
    [ "$(wc -l < "$W/listing")" = "$NLIST" ] || die "the listing of list/ has $(wc -l < "$W/listing") names, expected $NLIST"
    for v in sm rcm; do      # rcm: rclone vfs off with --use-server-modtime
      if [ "$v" = sm ]; then mount_as sm; else mount_as rcoff --use-server-modtime; fi || { fail lsc "$v" "mount failed"; continue; }
      for row in lsc lsw; do
        begin
        if run_timed "$LS_LIMIT" ls -l --time-style=+%s "$MP/list/" && ls_ok "$W/cmd.out"; then
          rec "$row" "$v" "$DUR" "$(peak)"
          if [ "$v" = sm ] && [ "$rep" = 1 ] && [ "$row" = lsc ]; then   # names and sizes as listed
            awk '$1 ~ /^-/ { print $7, $5 }' "$W/cmd.out" | sort > "$W/ls.names"
            sed 's|^list/||' "$W/listing" | sort | cmp -s - "$W/ls.names" ||
              fail lsc sm "names/sizes differ from the listing"
          fi
        else fail "$row" "$v" "ls -l: $(ls_err)"; fi
      done
      umount_fs
    done
    log "  rep $rep: listing ${T[lsc.base]:-} ($LIST_REQ req) | sm ${T[lsc.sm]:-} / ${T[lsw.sm]:-} | rclone --use-server-modtime ${T[lsc.rcm]:-} / ${T[lsw.rcm]:-}"
  done
  # rclone default (one HEAD per object): once, stopped after RC_LS_MAX s (its token cannot be
  # renewed anyway); then shown as a lower bound, and the warm run is skipped
  RC_LS_MAX=15
  if mount_as rcoff; then
    for row in lsc lsw; do
      left=$(( $(rc_left) - 3 )); [ "$left" -le "$RC_LS_MAX" ] || left=$RC_LS_MAX
      if [ -n "${X[lsc.rcoff]:-}" ] || [ "$left" -lt 5 ]; then X[$row.rcoff]="not run"; continue; fi
      begin
      if run_timed "$left" ls -l --time-style=+%s "$MP/list/" && ls_ok "$W/cmd.out"; then
        rec "$row" rcoff "$DUR" "$(peak)"
      elif [ "$RC" = 124 ]; then
        X[$row.rcoff]="> $left s (stopped)"; M[$row.rcoff]="$(peak) "
        WIN+=("$row.rcoff $T_BEGIN $EPOCHREALTIME")
      else fail "$row" rcoff "ls -l: $(ls_err)"; fi
    done
    umount_fs
  else fail lsc rcoff "mount failed"; fi
  log "  rclone default: ${T[lsc.rcoff]:-${X[lsc.rcoff]:-}} / ${T[lsw.rcoff]:-${X[lsw.rcoff]:-}}"
fi

# ------------------------------------------------------------------ 3. small files
if [[ $ROWS == *" small "* ]]; then
  log "3. $NSMALL small files: cp -r in and out, vs swift upload / download"
  auth 60; begin "$W/small"
  if run_timed "$SMALL_LIMIT" swift --os-auth-token "$TOKEN" --os-storage-url "$SU" upload \
       --object-threads 10 --object-name small-base "$C" "$W/small"; then
    rec smin base "$DUR"
  else fail smin base "swift upload: $(cmd_err)"; fi
  r=$(swiftpy check-tree small-base/ "$W/small.md5"); [ "$r" = ok ] || fail smin base "objects differ" "$r"
  for who in "${WHOS[@]}"; do
    mount_as "$who" || { fail smin "$who" "mount failed"; continue; }
    begin "$W/small"
    if run_timed "$SMALL_LIMIT" cp -r "$W/small" "$MP/small-$who"; then
      d=$DUR m=$(peak)
      if [ "$who" = rcw ]; then
        if wait_count "small-$who/" "$NSMALL" "$SMALL_LIMIT"; then X[smin.rcw]="$UP "; m=$(peak); fi
      fi
      rec smin "$who" "$d" "$m"
    else fail smin "$who" "cp -r: $(cmd_err)"; fi
    umount_fs
    if [ -z "${F[smin.$who]:-}" ]; then
      r=$(swiftpy check-tree "small-$who/" "$W/small.md5"); [ "$r" = ok ] || fail smin "$who" "objects differ" "$r"
    fi
  done
  log "  in: swift upload ${T[smin.base]:-} | sm ${T[smin.sm]:-} | rclone off ${T[smin.rcoff]:-} | writes ${T[smin.rcw]:-} (in Swift ${X[smin.rcw]:-})"
  # out: everybody reads the objects `swift upload` wrote
  rm -rf "$W/out"
  auth 60; begin
  if run_timed "$SMALL_LIMIT" swift --os-auth-token "$TOKEN" --os-storage-url "$SU" download \
       --object-threads 10 --prefix small-base/ --remove-prefix -D "$W/out" "$C"; then
    if diff -r "$W/small" "$W/out" > "$W/diff" 2>&1; then rec smout base "$DUR"
    else fail smout base "files differ" "$(head -2 "$W/diff" | tr '\n' ' ')"; fi
  else fail smout base "swift download: $(cmd_err)"; fi
  for who in "${WHOS[@]}"; do
    rm -rf "$W/out"
    mount_as "$who" || { fail smout "$who" "mount failed"; continue; }
    begin
    if run_timed "$SMALL_LIMIT" cp -r "$MP/small-base" "$W/out"; then
      d=$DUR m=$(peak)
      if diff -r "$W/small" "$W/out" > "$W/diff" 2>&1; then rec smout "$who" "$d" "$m"
      else fail smout "$who" "files differ" "$(head -2 "$W/diff" | tr '\n' ' ')"; fi
    else fail smout "$who" "cp -r: $(cmd_err)"; fi
    umount_fs
  done
  rm -rf "$W/out"
  log "  out: swift download ${T[smout.base]:-} | sm ${T[smout.sm]:-} | rclone off ${T[smout.rcoff]:-} | writes ${T[smout.rcw]:-}"
fi

# ------------------------------------------------------------------ 4. 8 writers, 256 mkdir
# writers_rows ROW: 8 threads write the small files, on the current network ($NET)
writers_rows() {
  local row=$1 rep who d m r
  log "$(net_label)8 writers of $NSMALL small files, $REPEAT x {8 API connections, swiftmount, rclone off, rclone writes}"
  for rep in $(seq "$REPEAT"); do
    auth 60; begin "$W/small"
    if BENCH_TOKEN=$TOKEN BENCH_KS=$KS BENCH_PW=$KS_LAB_PASSWORD run_timed "$SMALL_LIMIT" "$PY" "$W/par8.py" api-files "$SU/$C/$row-base-$rep" "$W/small"; then
      rec "$row" base "$(cat "$W/cmd.out")"
      r=$(swiftpy check-tree "$row-base-$rep/" "$W/small.md5"); [ "$r" = ok ] || fail "$row" base "objects differ" "$r"
    else fail "$row" base "8 API connections: $(cmd_err)"; fi
    for who in "${WHOS[@]}"; do
      mount_as "$who" || { fail "$row" "$who" "mount failed"; continue; }
      begin "$W/small"
      if run_timed "$SMALL_LIMIT" "$PY" "$W/par8.py" fs-files "$MP/$row-$who-$rep" "$W/small"; then
        d=$(cat "$W/cmd.out") m=$(peak)
        if [ "$who" = rcw ]; then
          if wait_count "$row-$who-$rep/" "$NSMALL" "$SMALL_LIMIT"; then X[$row.rcw]+="$UP "; m=$(peak); fi
        fi
        rec "$row" "$who" "$d" "$m"
      else fail "$row" "$who" "8 writers: $(cmd_err)"; fi
      umount_fs
      if [ -z "${F[$row.$who]:-}" ]; then
        r=$(swiftpy check-tree "$row-$who-$rep/" "$W/small.md5"); [ "$r" = ok ] || fail "$row" "$who" "objects differ" "$r"
      fi
    done
    log "  rep $rep: 8 API connections ${T[$row.base]:-} | sm ${T[$row.sm]:-} | rclone off ${T[$row.rcoff]:-} | writes ${T[$row.rcw]:-} (in Swift ${X[$row.rcw]:-})"
  done
}
if [[ $ROWS == *" writers "* ]]; then log "4. 8 writers"; writers_rows w8; fi

NMKDIR=256
if [[ $ROWS == *" mkdir "* ]]; then
  log "5. $NMKDIR mkdir from 8 threads + fsync of the parent, $REPEAT x {8 API connections, swiftmount, rclone off, rclone writes}"
  for rep in $(seq "$REPEAT"); do
    auth 60; begin
    if BENCH_TOKEN=$TOKEN BENCH_KS=$KS BENCH_PW=$KS_LAB_PASSWORD run_timed 120 "$PY" "$W/par8.py" api-mkdir "$SU/$C/mk-base-$rep" "$NMKDIR"; then
      read -r a _ < "$W/cmd.out"; rec mk base "$a"
      n=$(swiftpy dirs "mk-base-$rep/"); [ "$n" = "$NMKDIR" ] || fail mk base "$n folders in the listing, expected $NMKDIR"
    else fail mk base "8 API connections: $(cmd_err)"; fi
    for who in "${WHOS[@]}"; do
      mount_as "$who" || { fail mk "$who" "mount failed"; continue; }
      begin
      if run_timed 120 "$PY" "$W/par8.py" fs-mkdir "$MP/mk-$who-$rep" "$NMKDIR"; then
        read -r a b < "$W/cmd.out"
        X[mkd.$who]+="$a " X[mkf.$who]+="$b "
        rec mk "$who" "$(calc '%.3f' "$a + $b")" "$(peak)"
      else fail mk "$who" "mkdir: $(cmd_err)"; fi
      umount_fs
      [ -z "${F[mk.$who]:-}" ] || continue
      n=$(swiftpy dirs "mk-$who-$rep/")
      if [ "$n" != "$NMKDIR" ]; then
        if [ "$who" = sm ]; then fail mk sm "$n folders in Swift after unmount, expected $NMKDIR"
        elif [ "$rep" = 1 ]; then note "mkdir / $who: $n of $NMKDIR folders in Swift after unmount (rclone keeps no folder markers)"; fi
      fi
    done
    log "  rep $rep: PUTs ${T[mk.base]:-} | sm ${T[mk.sm]:-} (mkdir ${X[mkd.sm]:-} + fsync ${X[mkf.sm]:-}) | rclone off ${T[mk.rcoff]:-} | writes ${T[mk.rcw]:-}"
  done
fi

# ------------------------------------------------------------------ 6. restic
if [[ $ROWS == *" restic "* ]]; then
  log "4. restic init + backup of $RTREE_MIB MiB / 300 files, restore from a fresh mount"
  # shellcheck disable=SC2016  # $0 and $1 are for sh -c
  RB='restic -r "$0" --no-cache -q init && restic -r "$0" --no-cache -q backup "$1"'
  # shellcheck disable=SC2016
  RR='restic -r "$0" --no-cache -q restore latest --target "$1"'
  restic_check() {  # row who: the restored tree must equal the source
    if diff -r "$W/rtree" "$W/rr$W/rtree" > "$W/diff" 2>&1; then return 0; fi
    fail "$1" "$2" "restored files differ" "$(head -2 "$W/diff" | tr '\n' ' ')"; return 1
  }
  for who in base "${WHOS[@]}"; do
    rm -rf "$W/rr"
    if [ "$who" = base ]; then
      repo="swift:$C:/restic-base"
      auth 60; begin "$W/rtree"
      run_timed "$RESTIC_LIMIT" env OS_STORAGE_URL="$SU" OS_AUTH_TOKEN="$TOKEN" sh -c "$RB" "$repo" "$W/rtree"
    else
      repo="$MP/restic-$who"
      mount_as "$who" || { fail rb "$who" "mount failed"; continue; }
      begin "$W/rtree"
      run_timed "$RESTIC_LIMIT" sh -c "$RB" "$repo" "$W/rtree"
    fi
    if [ "$RC" = 0 ]; then
      d=$DUR m=$(peak)
      if [ "$who" = rcw ]; then   # until rclone has uploaded every file of the repository
        n=$(find "$repo" -type f | wc -l)
        if wait_count "restic-rcw/" "$n" 120; then X[rb.rcw]="$UP "; m=$(peak); fi
      fi
      rec rb "$who" "$d" "$m"
    else fail rb "$who" "restic: $(cmd_err)"; fi
    [ "$who" = base ] || umount_fs
    [ -z "${F[rb.$who]:-}" ] || continue
    if [ "$who" = base ]; then
      auth 60; begin
      run_timed "$RESTIC_LIMIT" env OS_STORAGE_URL="$SU" OS_AUTH_TOKEN="$TOKEN" sh -c "$RR" "$repo" "$W/rr"
    else
      mount_as "$who" || { fail rr "$who" "mount failed"; continue; }
      begin
      run_timed "$RESTIC_LIMIT" sh -c "$RR" "$repo" "$W/rr"
    fi
    if [ "$RC" = 0 ]; then
      d=$DUR m=$(peak)
      restic_check rr "$who" && rec rr "$who" "$d" "$m"
    else fail rr "$who" "restic restore: $(cmd_err)"; fi
    [ "$who" = base ] || umount_fs
  done
  rm -rf "$W/rr"
  log "  backup: restic swift ${T[rb.base]:-} | sm ${T[rb.sm]:-} | rclone off ${T[rb.rcoff]:-${F[rb.rcoff]:-}} | writes ${T[rb.rcw]:-${F[rb.rcw]:-}}"
  log "  restore: restic swift ${T[rr.base]:-} | sm ${T[rr.sm]:-} | rclone off ${T[rr.rcoff]:-${F[rr.rcoff]:-}} | writes ${T[rr.rcw]:-${F[rr.rcw]:-}}"
fi

# ------------------------------------------------------------------ 7. WAN
if [[ $ROWS == *" wan "* ]]; then
  log "7. WAN: every contender through the shaping proxy $WAN_ADDR (+20 ms round trip, 25 MB/s per connection)"
  set_net wan
  seq_rows wwr wrd
  writers_rows ww8
  set_net lan
fi

# ------------------------------------------------------------------ report
RUN_S=$(el "$T_RUN")
n=$(grep -cE ' ERROR |panicked' "$LAB_LOG/bench-sm.log" 2>/dev/null)
[ "${n:-0}" = 0 ] || note "swiftmount logged $n error line(s) ($LAB_LOG/bench-sm.log), first: $(grep -m1 -E ' ERROR |panicked' "$LAB_LOG/bench-sm.log" | cut -c1-200)"
med() { local a; read -ra a <<<"${T[$1]:-}"; median "${a[@]}"; }
mib() { local a; read -ra a <<<"${M[$1]:-}"; maxof "${a[@]}"; }
medx() { local a; read -ra a <<<"${X[$1]:-}"; median "${a[@]}"; }
# cell ROW WHO KIND: KIND speed (ratio base/this), ls (ratio this/base); MB/s and the mount's
# CPU seconds per GiB for seq rows
cell() {
  local row=$1 who=$2 kind=${3:-s} t b m x r s="" cpu a
  if [ -n "${F[$row.$who]:-}" ]; then echo "**FAIL**: ${F[$row.$who]}"; return; fi
  t=$(med "$row.$who") b=$(med "$row.base") m=$(mib "$row.$who") x=${X[$row.$who]:-}
  if [ -z "$t" ]; then
    if [ -n "$x" ]; then echo "$x${m:+ · $m MiB}"; else echo "–"; fi
    return
  fi
  case $row in wr|rd|wwr|wrd) s=" ($(calc '%.0f' "$SIZE_MB * 1.048576 / $t") MB/s)" ;; esac
  if [ "$who" = base ]; then printf '%.2f s%s' "$t" "$s"; return; fi
  r=""
  if [ -n "$b" ]; then
    if [ "$kind" = ls ]; then r=$(calc '%.2f' "$t / $b"); else r=$(calc '%.2f' "$b / $t"); fi
  fi
  printf '%.2f s%s%s%s' "$t" "$s" "${r:+ · **${r}×**}" "${m:+ · $m MiB}"
  read -ra a <<<"${CPU[$row.$who]:-}"; cpu=$(median "${a[@]}")
  [ -z "$cpu" ] || printf ' · %.1f CPU-s/GiB' "$cpu"
  [ "$row" != mk ] || printf ' (mkdir %.2f s + fsync %.2f s)' "$(medx "mkd.$who")" "$(medx "mkf.$who")"
  if [ -n "$x" ]; then   # rclone writes mode: until the data is in Swift
    local u; read -ra a <<<"$x"; u=$(median "${a[@]}")
    printf ' · in Swift after %.2f s%s' "$u" "${b:+ ($(calc '%.2f' "$b / $u")×)}"
  fi
}
target() {  # ROW: PASS/BELOW of swiftmount against the row's target (issue 14)
  local t b goal what dir=ge
  t=$(med "$1.sm") b=$(med "$1.base")
  if [ -n "${F[$1.sm]:-}" ]; then echo "FAIL"; return; fi
  case $1 in
    wr) goal=0.95 what="curl PUT" ;;
    rd) goal=1.0 what="curl GET" ;;
    lsc|lsw) goal=1.5 what="listing" dir=le ;;
    w8|ww8) goal=1.0 what="8 connections" ;;
    mk) goal=3 what="8 connections' PUTs" ;;
    rb) goal=1.0 what="restic's backend" ;;
    wwr|wrd) goal=3 what="one curl stream" ;;
    *) echo "–"; return ;;
  esac
  if [ -z "$t" ] || [ -z "$b" ]; then echo "–"; return; fi
  awk -v t="$t" -v b="$b" -v g="$goal" -v w="$what" -v d="$dir" 'BEGIN {
    if (d == "le") { r = t / b; sign = "≤"; ok = r <= g; off = (r - g) / g * 100; how = "over" }
    else { r = b / t; sign = "≥"; ok = r >= g; off = (g - r) / g * 100; how = "short" }
    if (ok) printf "%s %s× %s: PASS (%.2f)", sign, g, w, r
    else printf "%s %s× %s: **BELOW** (%.2f, %.0f %% %s)", sign, g, w, r, off, how }'
}
memcell() {  # WHO: peak RSS of the write and read rows against the file size
  local m
  # shellcheck disable=SC2046  # a row without samples gives no word
  m=$(maxof $(mib "wr.$1") $(mib "rd.$1"))
  [ -n "$m" ] || { echo "–"; return; }
  printf '%s MiB (%s %% of the file)' "$m" "$(calc '%.0f' "$m * 100 / $SIZE_MB")"
}
has() { [ -n "${T[$1.base]:-}${T[$1.sm]:-}${F[$1.base]:-}${F[$1.sm]:-}" ]; }
# requests each step sent to the run's containers (proxy log; client requests only, not the
# proxy's own subrequests), per run of the step: "row.who METHOD count" lines in $W/reqs
sleep 1   # the proxy logs a request when it ends
printf '%s\n' "${WIN[@]}" > "$W/windows"
tail -c +"$(( PLOG_OFF + 1 ))" "$PLOG" 2>/dev/null | awk -v c="/$C" -v wf="$W/windows" '
  BEGIN { while ((getline l < wf) > 0) { split(l, a, " "); n++; k[n] = a[1]; s[n] = a[2]; e[n] = a[3]; runs[a[1]]++ } }
  index($6, c) && $10 !~ /%20/ && $10 != "Swift" {   # no subrequests of the proxy
    cls = ($10 ~ /^swiftmount/) ? "sm" : ($10 ~ /^rclone/) ? "rc" : "base"
    for (i = 1; i <= n; i++) if ($20 >= s[i] && $20 <= e[i]) {
      split(k[i], kw, "."); wc = (kw[2] == "sm") ? "sm" : (kw[2] ~ /^rc/) ? "rc" : "base"
      if (wc == cls) cnt[k[i] " " $5]++
    }
  }
  END { for (x in cnt) { split(x, p, " "); v = cnt[x] / runs[p[1]]; printf (v == int(v)) ? "%s %s %d\n" : "%s %s %.1f\n", p[1], p[2], v } }' |
  sort > "$W/reqs"
reqs() {  # ROW.WHO -> "GET 2 · HEAD 1" or "–"
  local r; r=$(awk -v k="$1" '$1 == k { printf "%s%s %s", sep, $2, $3; sep = " · " }' "$W/reqs")
  echo "${r:-–}"
}
{
  echo
  echo "## $(date -u '+%F %H:%M UTC') · swiftmount $SM_REV · BENCH_SIZE_MB=$SIZE_MB BENCH_LIST=$NLIST BENCH_SMALL=$NSMALL BENCH_REPEAT=$REPEAT BENCH_PROFILE=$PROFILE · nproc $(nproc)"
  echo
  echo "scripts/bench.sh · Swift $("$PY" -c 'import swift; print(swift.__version__)' 2>/dev/null) on $(stat -f -c %T "$LAB_DEV" 2>/dev/null) via $REGION (:$SWIFT_PROXY_PORT), Keystone tokens ${TOKEN_LIFE} s ·" \
       "$(rclone version 2>/dev/null | head -1) · $(restic version 2>/dev/null | cut -d' ' -f1-2) · $(swift --version 2>/dev/null) ·" \
       "${WAN_ADDR:+WAN: examples/shaping_proxy, +20 ms round trip and 25 MB/s per TCP connection and direction ($WAN_WHAT) · }load average $LOAD0 at start, $(cut -d' ' -f1-3 /proc/loadavg) at end · run time $(calc '%.0f' "$RUN_S") s"
  echo
  echo "Cells: median time · ratio · peak RSS of the mount process. Ratio: \`ls -l\` rows time ÷ raw listing (lower is faster); other rows baseline time ÷ time (speed relative to the baseline, higher is faster). Sequential rows: also the mount process's CPU time (user + sys) per GiB moved. A fresh mount for each step; page cache dropped before each read."
  echo
  echo "| measurement | baseline | swiftmount | rclone vfs off | rclone vfs writes | swiftmount target |"
  echo "|---|---|---|---|---|---|"
  if has wr; then
    echo "| write $SIZE_MB MiB (\`dd bs=1M\`, until close returns) | curl PUT $(cell wr base) | $(cell wr sm s) | $(cell wr rcoff s) | $(cell wr rcw s) | $(target wr) |"
    echo "| read $SIZE_MB MiB (\`dd bs=1M\`) | curl GET $(cell rd base) | $(cell rd sm s) | $(cell rd rcoff s) | $(cell rd rcw s) | $(target rd) |"
    # shellcheck disable=SC2046  # a row without samples gives no word
    msm=$(maxof $(mib wr.sm) $(mib rd.sm))
    mres="–"; [ -n "$msm" ] && mres=$(awk -v m="$msm" 'BEGIN { print (m <= 64) ? "≤ 64 MiB, flat in file size: PASS" : "≤ 64 MiB, flat in file size: **BELOW**" }')
    echo "| peak RSS writing or reading $SIZE_MB MiB | – | $(memcell sm) | $(memcell rcoff) | $(memcell rcw) | $mres |"
  fi
  if has lsc; then
    req=""; [ "${LIST_REQ:-1}" -gt 1 ] && req=", $LIST_REQ requests"
    echo "| \`ls -l\` $NLIST objects, cold (fresh mount) | listing$req $(cell lsc base) | $(cell lsc sm ls) | $(cell lsc rcoff ls) | – | $(target lsc) |"
    echo "| \`ls -l\` $NLIST objects, warm (again) | listing $(cell lsw base) | $(cell lsw sm ls) | $(cell lsw rcoff ls) | – | $(target lsw) |"
    echo "| … rclone \`--use-server-modtime\` (no HEAD per object), cold / warm | listing $(cell lsc base) | | $(cell lsc rcm ls) / $(cell lsw rcm ls) | – | – |"
  fi
  if has smin; then
    echo "| $NSMALL small files ($SMALL_KIB KiB) in, \`cp -r\` | swift upload $(cell smin base) | $(cell smin sm s) | $(cell smin rcoff s) | $(cell smin rcw s) | – |"
    echo "| $NSMALL small files out, \`cp -r\` to local disk | swift download $(cell smout base) | $(cell smout sm s) | $(cell smout rcoff s) | $(cell smout rcw s) | – |"
  fi
  if has w8; then
    echo "| 8 writers of $NSMALL small files ($SMALL_KIB KiB): open/write/close from 8 threads | 8 API connections (keep-alive PUTs) $(cell w8 base) | $(cell w8 sm s) | $(cell w8 rcoff s) | $(cell w8 rcw s) | $(target w8) |"
  fi
  if has mk; then
    echo "| $NMKDIR mkdir from 8 threads, then fsync of the parent (ratio of the sum) | 8 connections' PUTs of $NMKDIR markers $(cell mk base) | $(cell mk sm s) | $(cell mk rcoff s) | $(cell mk rcw s) | $(target mk) |"
  fi
  if has rb; then
    echo "| restic init + backup, 300 files / $RTREE_MIB MiB | restic swift: backend $(cell rb base) | $(cell rb sm s) | $(cell rb rcoff s) | $(cell rb rcw s) | $(target rb) |"
    echo "| restic restore (fresh mount), \`diff -r\` checked | restic swift: backend $(cell rr base) | $(cell rr sm s) | $(cell rr rcoff s) | $(cell rr rcw s) | – |"
  fi
  if has wwr; then
    echo "| WAN: write $SIZE_MB MiB (\`dd bs=1M\`, until close returns) | one curl PUT stream $(cell wwr base) | $(cell wwr sm s) | $(cell wwr rcoff s) | $(cell wwr rcw s) | $(target wwr) |"
    echo "| WAN: read $SIZE_MB MiB (\`dd bs=1M\`) | one curl GET stream $(cell wrd base) | $(cell wrd sm s) | $(cell wrd rcoff s) | $(cell wrd rcw s) | $(target wrd) |"
  fi
  if has ww8; then
    echo "| WAN: 8 writers of $NSMALL small files | 8 API connections $(cell ww8 base) | $(cell ww8 sm s) | $(cell ww8 rcoff s) | $(cell ww8 rcw s) | $(target ww8) |"
  fi
  echo
  echo "Requests to Swift per step (client requests in the proxy log; the baseline's own requests; per run):"
  echo
  echo "| measurement | baseline | swiftmount | rclone vfs off | rclone vfs writes |"
  echo "|---|---|---|---|---|"
  if has wr; then
    echo "| write $SIZE_MB MiB | $(reqs wr.base) | $(reqs wr.sm) | $(reqs wr.rcoff) | $(reqs wr.rcw) |"
    echo "| read $SIZE_MB MiB | $(reqs rd.base) | $(reqs rd.sm) | $(reqs rd.rcoff) | $(reqs rd.rcw) |"
  fi
  if has lsc; then
    echo "| \`ls -l\` $NLIST, cold | $(reqs lsc.base) | $(reqs lsc.sm) | $(reqs lsc.rcoff) | – |"
    echo "| \`ls -l\` $NLIST, warm | $(reqs lsw.base) | $(reqs lsw.sm) | $(reqs lsw.rcoff) | – |"
    echo "| … rclone \`--use-server-modtime\`, cold / warm | | | $(reqs lsc.rcm) / $(reqs lsw.rcm) | – |"
  fi
  if has smin; then
    echo "| $NSMALL small files in | $(reqs smin.base) | $(reqs smin.sm) | $(reqs smin.rcoff) | $(reqs smin.rcw) |"
    echo "| $NSMALL small files out | $(reqs smout.base) | $(reqs smout.sm) | $(reqs smout.rcoff) | $(reqs smout.rcw) |"
  fi
  if has rb; then
    echo "| restic init + backup | $(reqs rb.base) | $(reqs rb.sm) | $(reqs rb.rcoff) | $(reqs rb.rcw) |"
    echo "| restic restore | $(reqs rr.base) | $(reqs rr.sm) | $(reqs rr.rcoff) | $(reqs rr.rcw) |"
  fi
  for k in w8 mk wwr wrd ww8; do
    has "$k" || continue
    case $k in
      w8) l="8 writers of $NSMALL small files" ;; mk) l="$NMKDIR mkdir + fsync" ;;
      wwr) l="WAN: write $SIZE_MB MiB" ;; wrd) l="WAN: read $SIZE_MB MiB" ;; ww8) l="WAN: 8 writers" ;;
    esac
    echo "| $l | $(reqs "$k.base") | $(reqs "$k.sm") | $(reqs "$k.rcoff") | $(reqs "$k.rcw") |"
  done
  echo
  samples=""
  for k in wr.base wr.sm wr.rcoff wr.rcw rd.base rd.sm rd.rcoff rd.rcw lsc.base lsc.sm lsw.sm lsc.rcm lsw.rcm \
           w8.base w8.sm w8.rcoff w8.rcw mk.base mk.sm mk.rcoff mk.rcw \
           wwr.base wwr.sm wwr.rcoff wwr.rcw wrd.base wrd.sm wrd.rcoff wrd.rcw ww8.base ww8.sm ww8.rcoff ww8.rcw; do
    [ -z "${T[$k]:-}" ] || samples+=" $k: ${T[$k]% } ·"
  done
  [ "$REPEAT" = 1 ] || [ -z "$samples" ] || echo "- samples (s):${samples% ·}"
  [ -z "${WAN_SKIPPED:-}" ] || echo "- BENCH_PROFILE=wan: every row went through the shaping proxy; the separate wan rows were skipped"
  for n in "${NOTES[@]}"; do echo "- $n"; done
} > "$W/report.md"
mkdir -p "$(dirname "$OUT")"
[ -s "$OUT" ] || printf '# Benchmark results\n\nAppended by scripts/bench.sh (see README, Performance). Newest last.\n' > "$OUT"
cat "$W/report.md" >> "$OUT"
cat "$W/report.md"
log "appended to $OUT; $(calc '%.0f' "$RUN_S") s after the build; cleaning up"
bad=0
for k in "${!F[@]}"; do case $k in *.sm|*.base) bad=1 ;; esac; done
exit "$bad"
