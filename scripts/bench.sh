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
# Ratios: seq, small and restic rows: baseline time ÷ time (speed relative to the baseline,
# higher is faster); ls rows: time ÷ raw listing time (lower is faster).
# Targets (reported per row as PASS/BELOW, never an error): seq >= 0.9 x curl, ls -l cold
# <= 2 x the raw listing, peak RSS flat in the file size (<= 64 MiB writing BENCH_SIZE_MB).
#
# Knobs (environment):
#   BENCH_SIZE_MB=512  BENCH_LIST=10000  BENCH_SMALL=1000
#   BENCH_REPEAT=1          runs of the seq and ls rows (the median is shown; the rest run
#                           once); each extra run adds ~25 s (quick) to ~1 min (full)
#   BENCH_ROWS="seq ls small restic"   which groups of rows to run
#   BENCH_OUT=docs/bench-results.md    results file (appended)
#   BENCH_NO_BUILD=1        skip `cargo build --release --locked`
#   BENCH_BIN=PATH BENCH_REV=NAME   measure that swiftmount binary instead (no build), named
#                           NAME in the results (e.g. a build of another commit)
#   BENCH_SWIFTMOUNT_ARGS   extra swiftmount arguments (e.g. -v)
# Everything runs in a fresh container bench-<random> (+ its _segments); mounts are under
# $SWIFTMOUNT_LAB_ROOT/mnt.  At exit (also on failure or Ctrl-C) the mount is unmounted, its
# process stopped, both containers emptied and deleted, the scratch folder removed.
# rclone gets a fresh Keystone token + storage URL for each mount (the test stack's tokens
# may live 60 s, and rclone's Swift library refuses tokens with < 60 s left): an rclone step
# longer than the token's life fails (shown as FAIL or as a lower bound).
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
ROWS=" ${BENCH_ROWS:-seq ls small restic} "
OUT=${BENCH_OUT:-docs/bench-results.md}
for v in SIZE_MB NLIST NSMALL REPEAT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
[ "$NSMALL" -lt 10000 ] || die "BENCH_SMALL must be below 10000"
H=$SWIFTMOUNT_LAB_HOST
KS="http://$H:$KEYSTONE_PORT/v3"
REGION=RegionOne                           # proxy :8080, for every contender
RUN_ID=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
C="bench-$RUN_ID"
MP="$LAB_MNT/bench-$RUN_ID"
BIN=${BENCH_BIN:-$PWD/target/release/swiftmount}
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
declare -A T=() M=() X=() F=()
WIN=()
rec() {  # row who seconds [MiB]: a step that worked (it began at $T_BEGIN and ends now)
  T[$1.$2]+="$3 "; [ -z "${4:-}" ] || M[$1.$2]+="$4 "
  WIN+=("$1.$2 $T_BEGIN $EPOCHREALTIME")
}
fail() { F[$1.$2]=$3; note "$1 / $2: FAIL: $3${4:+ ($4)}"; }      # row who short [detail]

# ------------------------------------------------------------------ mounts
SM_SRC="openstack://$C/?auth-username=labuser&openstack-authuri=$KS&openstack-version=v3&openstack-domain-name=labdomain&openstack-tenant-name=labproject&openstack-region=$REGION"
RC_T0=0
mount_as() {  # who [extra options]: mount the run's container at $MP
  local who=$1; shift
  MOUNT_LOG="$LAB_LOG/bench-$who.log"
  case $who in
    sm)
      # shellcheck disable=SC2086  # BENCH_SWIFTMOUNT_ARGS is a word list
      mount_fs "bench-$RUN_ID-$who" "$MP" env OS_PASSWORD="$KS_LAB_PASSWORD" "$BIN" --foreground \
        ${BENCH_SWIFTMOUNT_ARGS:-} "$@" "$SM_SRC" "$MP" ;;
    rcoff|rcw)
      local mode=(--vfs-cache-mode off)
      rm -rf "$W/rclone-cache"           # a fresh cache for each mount
      [ "$who" = rcw ] && mode=(--vfs-cache-mode writes --cache-dir "$W/rclone-cache")
      auth 999999; RC_T0=$TOKEN_T      # a fresh token: rclone cannot renew it
      : > "$W/rclone.conf"
      mount_fs "bench-$RUN_ID-$who" "$MP" env RCLONE_CONFIG="$W/rclone.conf" RCLONE_CONFIG_LAB_TYPE=swift \
        RCLONE_CONFIG_LAB_AUTH_TOKEN="$TOKEN" RCLONE_CONFIG_LAB_STORAGE_URL="$S" \
        rclone mount "lab:$C" "$MP" "${mode[@]}" "$@" ;;
  esac
}
rc_left() { calc '%.0f' "$TOKEN_LIFE - ($EPOCHREALTIME - $RC_T0)"; }   # s left on rclone's token
peak() { if mount_alive; then hwm "$MOUNT_PID"; fi; }
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
if [ -n "${BENCH_BIN:-}" ]; then SM_REV=${BENCH_REV:-"$BIN"}
else SM_REV=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo "+dirty"); fi
T_RUN=$EPOCHREALTIME
mkdir -p "$LAB_LOG"
for w in sm rcoff rcw; do : > "$LAB_LOG/bench-$w.log"; done

auth 20
code=$(sw -o /dev/null -w '%{http_code}' -X PUT "$S/$C")
[ "$code" = 201 ] || [ "$code" = 202 ] || die "cannot create container $C (HTTP $code)"
C_MADE=1
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
if [[ $ROWS == *" seq "* ]]; then
  head -c "$SEQ_BYTES" /dev/urandom > "$SRC" || die "cannot write $SRC"
  SRC_MD5=$(md5sum < "$SRC" | cut -d' ' -f1)
fi
if [[ $ROWS == *" small "* ]]; then
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

# ------------------------------------------------------------------ 1. sequential write + read
if [[ $ROWS == *" seq "* ]]; then
  log "1. sequential write + read of $SIZE_MB MiB, $REPEAT x {curl, swiftmount, rclone off, rclone writes}"
  for rep in $(seq "$REPEAT"); do
    # write
    auth 60; begin "$SRC"
    if run_timed "$SEQ_LIMIT" curl -sf -o /dev/null -H "X-Auth-Token: $TOKEN" -T "$SRC" "$S/$C/seq-base-$rep.bin"; then
      rec wr base "$DUR"
      check_obj "seq-base-$rep.bin" "$SRC_MD5" "$SEQ_BYTES" || fail wr base "wrong object" "$CHECK_MSG"
    else fail wr base "curl PUT: $(cmd_err)"; fi
    [ "$rep" = 1 ] || del_obj "seq-base-$rep.bin"
    for who in "${WHOS[@]}"; do
      o="seq-$who-$rep.bin"
      mount_as "$who" || { fail wr "$who" "mount failed"; continue; }
      begin "$SRC"
      if run_timed "$SEQ_LIMIT" dd if="$SRC" of="$MP/$o" bs=1M; then
        d=$DUR m=$(peak)
        if [ "$who" = rcw ]; then
          if wait_obj "$o" "$SEQ_BYTES"; then X[wr.rcw]+="$UP "; m=$(peak); else fail wr rcw "not in Swift after $SEQ_LIMIT s"; fi
        fi
        rec wr "$who" "$d" "$m"
      else fail wr "$who" "dd: $(cmd_err)"; fi
      umount_fs
      check_obj "$o" "$SRC_MD5" "$SEQ_BYTES" || fail wr "$who" "wrong object" "$CHECK_MSG"
      del_obj "$o"
    done
    # read: everybody reads the plain object curl wrote
    o=seq-base-1.bin
    auth 60; begin
    if run_timed "$SEQ_LIMIT" curl -sf -o /dev/null -w '%{size_download}' -H "X-Auth-Token: $TOKEN" "$S/$C/$o" &&
       [ "$(cat "$W/cmd.out")" = "$SEQ_BYTES" ]; then rec rd base "$DUR"
    else fail rd base "curl GET: $(cmd_err), $(cat "$W/cmd.out") bytes"; fi
    for who in "${WHOS[@]}"; do
      mount_as "$who" || { fail rd "$who" "mount failed"; continue; }
      stat "$MP/$o" > /dev/null 2>&1     # the lookup is not part of the read
      begin
      if run_timed "$SEQ_LIMIT" dd if="$MP/$o" of=/dev/null bs=1M; then
        got=$(awk '/bytes/ { print $1 }' "$W/cmd.err" | tail -1)
        if [ "$got" = "$SEQ_BYTES" ]; then rec rd "$who" "$DUR" "$(peak)"
        else fail rd "$who" "short read: $got bytes"; fi
      else fail rd "$who" "dd: $(cmd_err)"; fi
      if [ "$who" = sm ] && [ "$rep" = 1 ]; then    # untimed: the bytes themselves
        drop
        sum=$(md5sum < "$MP/$o" | cut -d' ' -f1)
        [ "$sum" = "$SRC_MD5" ] || fail rd sm "wrong bytes" "md5 $sum, expected $SRC_MD5"
      fi
      umount_fs
    done
    log "  rep $rep: write curl ${T[wr.base]:-} | sm ${T[wr.sm]:-} | rclone off ${T[wr.rcoff]:-} | writes ${T[wr.rcw]:-} (in Swift ${X[wr.rcw]:-})"
    log "  rep $rep: read  curl ${T[rd.base]:-} | sm ${T[rd.sm]:-} | rclone off ${T[rd.rcoff]:-} | writes ${T[rd.rcw]:-}"
  done
  del_obj seq-base-1.bin
fi

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
            --data-urlencode "delimiter=/" --data-urlencode "marker=$marker" -d format=json -d limit=10000 "$S/$C")
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
  if run_timed "$SMALL_LIMIT" swift --os-auth-token "$TOKEN" --os-storage-url "$S" upload \
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
  if run_timed "$SMALL_LIMIT" swift --os-auth-token "$TOKEN" --os-storage-url "$S" download \
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

# ------------------------------------------------------------------ 4. restic
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
      run_timed "$RESTIC_LIMIT" env OS_STORAGE_URL="$S" OS_AUTH_TOKEN="$TOKEN" sh -c "$RB" "$repo" "$W/rtree"
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
      run_timed "$RESTIC_LIMIT" env OS_STORAGE_URL="$S" OS_AUTH_TOKEN="$TOKEN" sh -c "$RR" "$repo" "$W/rr"
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

# ------------------------------------------------------------------ report
RUN_S=$(el "$T_RUN")
n=$(grep -cE ' ERROR |panicked' "$LAB_LOG/bench-sm.log" 2>/dev/null)
[ "${n:-0}" = 0 ] || note "swiftmount logged $n error line(s) ($LAB_LOG/bench-sm.log), first: $(grep -m1 -E ' ERROR |panicked' "$LAB_LOG/bench-sm.log" | cut -c1-200)"
med() { local a; read -ra a <<<"${T[$1]:-}"; median "${a[@]}"; }
mib() { local a; read -ra a <<<"${M[$1]:-}"; maxof "${a[@]}"; }
# cell ROW WHO KIND: KIND speed (ratio base/this), ls (ratio this/base); MB/s for seq rows
cell() {
  local row=$1 who=$2 kind=${3:-s} t b m x r s=""
  if [ -n "${F[$row.$who]:-}" ]; then echo "**FAIL**: ${F[$row.$who]}"; return; fi
  t=$(med "$row.$who") b=$(med "$row.base") m=$(mib "$row.$who") x=${X[$row.$who]:-}
  if [ -z "$t" ]; then
    if [ -n "$x" ]; then echo "$x${m:+ · $m MiB}"; else echo "–"; fi
    return
  fi
  case $row in wr|rd) s=" ($(calc '%.0f' "$SIZE_MB * 1.048576 / $t") MB/s)" ;; esac
  if [ "$who" = base ]; then printf '%.2f s%s' "$t" "$s"; return; fi
  r=""
  if [ -n "$b" ]; then
    if [ "$kind" = ls ]; then r=$(calc '%.2f' "$t / $b"); else r=$(calc '%.2f' "$b / $t"); fi
  fi
  printf '%.2f s%s%s%s' "$t" "$s" "${r:+ · **${r}×**}" "${m:+ · $m MiB}"
  if [ -n "$x" ]; then   # rclone writes mode: until the data is in Swift
    local a u; read -ra a <<<"$x"; u=$(median "${a[@]}")
    printf ' · in Swift after %.2f s%s' "$u" "${b:+ ($(calc '%.2f' "$b / $u")×)}"
  fi
}
target() {  # ROW: PASS/BELOW of swiftmount against the row's target
  local t b r
  t=$(med "$1.sm") b=$(med "$1.base")
  if [ -n "${F[$1.sm]:-}" ]; then echo "FAIL"; return; fi
  if [ -z "$t" ] || [ -z "$b" ]; then echo "–"; return; fi
  case $1 in
    wr|rd) r=$(calc '%.2f' "$b / $t")
      awk -v r="$r" 'BEGIN { if (r >= 0.9) printf "≥ 0.9× curl: PASS (%.2f)", r
                             else printf "≥ 0.9× curl: **BELOW** (%.2f, %.0f %% short)", r, (0.9 - r) / 0.9 * 100 }' ;;
    lsc|lsw) r=$(calc '%.2f' "$t / $b")
      awk -v r="$r" 'BEGIN { if (r <= 2) printf "≤ 2× listing: PASS (%.2f)", r
                             else printf "≤ 2× listing: **BELOW** (%.2f, %.0f %% over)", r, (r - 2) / 2 * 100 }' ;;
    *) echo "–" ;;
  esac
}
memcell() {  # WHO: peak RSS of the write row against the file size
  local m; m=$(mib "wr.$1")
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
  echo "## $(date -u '+%F %H:%M UTC') · swiftmount $SM_REV · BENCH_SIZE_MB=$SIZE_MB BENCH_LIST=$NLIST BENCH_SMALL=$NSMALL BENCH_REPEAT=$REPEAT · nproc $(nproc)"
  echo
  echo "scripts/bench.sh · Swift $("$PY" -c 'import swift; print(swift.__version__)' 2>/dev/null) on $(stat -f -c %T "$LAB_DEV" 2>/dev/null) via $REGION (:$SWIFT_PROXY_PORT), Keystone tokens ${TOKEN_LIFE} s ·" \
       "$(rclone version 2>/dev/null | head -1) · $(restic version 2>/dev/null | cut -d' ' -f1-2) · $(swift --version 2>/dev/null) ·" \
       "load average $LOAD0 at start, $(cut -d' ' -f1-3 /proc/loadavg) at end · run time $(calc '%.0f' "$RUN_S") s"
  echo
  echo "Cells: median time · ratio · peak RSS of the mount process. Ratio: \`ls -l\` rows time ÷ raw listing (lower is faster); other rows baseline time ÷ time (speed relative to the baseline, higher is faster). A fresh mount for each step; page cache dropped before each read."
  echo
  echo "| measurement | baseline | swiftmount | rclone vfs off | rclone vfs writes | swiftmount target |"
  echo "|---|---|---|---|---|---|"
  if has wr; then
    echo "| write $SIZE_MB MiB (\`dd bs=1M\`, until close returns) | curl PUT $(cell wr base) | $(cell wr sm s) | $(cell wr rcoff s) | $(cell wr rcw s) | $(target wr) |"
    echo "| read $SIZE_MB MiB (\`dd bs=1M\`) | curl GET $(cell rd base) | $(cell rd sm s) | $(cell rd rcoff s) | $(cell rd rcw s) | $(target rd) |"
    msm=$(mib wr.sm)
    mres="–"; [ -n "$msm" ] && mres=$(awk -v m="$msm" 'BEGIN { print (m <= 64) ? "≤ 64 MiB, flat in file size: PASS" : "≤ 64 MiB, flat in file size: **BELOW**" }')
    echo "| peak RSS writing $SIZE_MB MiB | – | $(memcell sm) | $(memcell rcoff) | $(memcell rcw) | $mres |"
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
  if has rb; then
    echo "| restic init + backup, 300 files / $RTREE_MIB MiB | restic swift: backend $(cell rb base) | $(cell rb sm s) | $(cell rb rcoff s) | $(cell rb rcw s) | – |"
    echo "| restic restore (fresh mount), \`diff -r\` checked | restic swift: backend $(cell rr base) | $(cell rr sm s) | $(cell rr rcoff s) | $(cell rr rcw s) | – |"
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
  echo
  samples=""
  for k in wr.base wr.sm wr.rcoff wr.rcw rd.base rd.sm rd.rcoff rd.rcw lsc.base lsc.sm lsw.sm lsc.rcm lsw.rcm; do
    [ -z "${T[$k]:-}" ] || samples+=" $k: ${T[$k]% } ·"
  done
  [ "$REPEAT" = 1 ] || [ -z "$samples" ] || echo "- samples (s):${samples% ·}"
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
