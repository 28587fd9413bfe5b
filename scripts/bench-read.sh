#!/bin/bash
# Read-side benchmark of the swiftmount FUSE mount against curl and `rclone mount`, all
# measured in the same run (the machine is noisy: compare ratios, not absolute numbers).
# Run as root, with the local stack up (scripts/swift-up.sh; started here if it is down).
#
#   scripts/bench-read.sh                                           # full: ~4 min (+2-3 min fixtures, once)
#   BENCH_SIZE_MB=64 BENCH_SMALL=1000 BENCH_BIG_MB=256 scripts/bench-read.sh   # quick: < 3 min
#
# 1. sequential read of a BENCH_SIZE_MB MiB random object: curl GET -> /dev/null, vs
#    dd bs=1M through swiftmount, vs through rclone mount --vfs-cache-mode off.
#    ratio = curl time / swiftmount time (target >= 0.9).  md5 of what the mounts return is
#    checked against the object's ETag in a separate, untimed read.
# 2. ls -l of a folder of BENCH_SMALL objects, cold (first after a fresh mount) and warm (again):
#    swiftmount vs rclone (default: one HEAD per object; and --use-server-modtime) vs one raw
#    curl container listing.  ratio = swiftmount cold / curl (target <= 2).  The names and sizes
#    swiftmount shows are compared with the listing.
# 3. peak RSS (VmHWM) of the mount process while reading a BENCH_BIG_MB MiB object (md5 checked).
#    Target < 64 MiB; rclone's is reported too.
# The page cache is dropped (sync; echo 3 > drop_caches) before every timed operation, which
# also empties the kernel's dentry/inode caches: "warm" measures the mount's own caches.
# Every mount is fresh for each timed read (no data cached in the mount process).
#
# Options (environment):
#   BENCH_SIZE_MB=512   BENCH_SMALL=10000   BENCH_BIG_MB=2048
#   BENCH_REPEAT=3      repetitions of the cheap measurements (the median is reported)
#   BENCH_SKIP_RCLONE=1 no rclone column      BENCH_NO_BUILD=1  skip `cargo build --release`
#   BENCH_CONTAINER=bench-read                fixture container (kept between runs and reused)
#   BENCH_SWIFTMOUNT_ARGS="..."               extra swiftmount arguments (e.g. -v)
#   BENCH_SKIP_SWIFTMOUNT=1                   only curl + rclone (tests this script; exits 1)
# Fixtures (created once, reused when present): obj-<N>MiB.bin (random data) and
# many-<BENCH_SMALL>/f00000.txt ... (bulk extract-archive, one request).
# Output: Markdown table on stdout, appended to $SWIFTMOUNT_LAB_ROOT/bench-read-results.md.
# Exit status: 0, or 1 if something is broken (build, mount, wrong bytes/listing, read error/hang).
# Mount logs: $SWIFTMOUNT_LAB_ROOT/log/bench-{swiftmount,rclone}.log (last mount of each).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE/.." || exit 1
# shellcheck source=scripts/swift.env
. "$HERE/swift.env"
# shellcheck source=scripts/lib.sh
. "$HERE/lib.sh"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$HOME/.cargo/bin
export LC_ALL=C
LOG_TAG=bench-read
need_root

SIZE_MB=${BENCH_SIZE_MB:-512}
NSMALL=${BENCH_SMALL:-10000}
BIG_MB=${BENCH_BIG_MB:-2048}
REPEAT=${BENCH_REPEAT:-3}
C=${BENCH_CONTAINER:-bench-read}
for v in SIZE_MB NSMALL BIG_MB REPEAT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
RCLONE=1; [ "${BENCH_SKIP_RCLONE:-}" = 1 ] && RCLONE=""
SM=1; [ "${BENCH_SKIP_SWIFTMOUNT:-}" = 1 ] && SM=""     # to test the script itself (result: BROKEN)
H=$SWIFTMOUNT_LAB_HOST
KS="http://$H:$KEYSTONE_PORT/v3"
REGION=RegionOne                       # proxy :8080, for curl, swiftmount and rclone alike
OUT="$SWIFTMOUNT_LAB_ROOT/bench-read-results.md"
BIN="$PWD/target/release/swiftmount"
DIR="many-$NSMALL"                     # fixture folder of NSMALL small objects
SEQ_OBJ="obj-${SIZE_MB}MiB.bin"
BIG_OBJ="obj-${BIG_MB}MiB.bin"
MP_SM="$LAB_MNT/bench-swiftmount"
MP_RC="$LAB_MNT/bench-rclone"
# OS_*/ST_* from the caller's shell must not change what the mount or rclone does
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(OS|ST)_' || true)

W=$(mktemp -d /tmp/swiftmount-bench-read.XXXXXX)
BROKEN=()     # problems that make the run fail (exit 1)
NOTES=()      # things worth reporting that do not fail the run
broken() { BROKEN+=("$*"); echo "[$LOG_TAG] BROKEN: $*" >&2; }
note() { NOTES+=("$*"); log "NOTE: $*"; }

# ------------------------------------------------------------------ helpers
el() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }          # calc FMT EXPR
last() { [ $# -gt 0 ] && printf '%.2f' "${!#}" || echo "?"; }   # last sample, for progress lines
median() {  # numbers... -> median (mean of the middle two for an even count); "" if none
  [ $# -gt 0 ] || { echo ""; return; }
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
DROP_OK=1
drop() {
  sync
  if ! echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
    [ -n "$DROP_OK" ] && note "cannot drop the page cache (/proc/sys/vm/drop_caches): reads may be cached"
    DROP_OK=""
  fi
}
mbps() { calc '%.0f' "$1 * 1.048576 / $2"; }          # MiB seconds -> MB/s (10^6 B/s)

# Keystone v3 token for labuser + RegionOne public object-store URL from the catalog.
# Fetched again before each curl phase: tokens may be short-lived (test.sh uses 60 s).
TOKEN="" S="" TOKEN_LIFE=""
auth() {
  local hdr
  hdr=$(curl -sf -D - -o "$W/tok.json" -H 'Content-Type: application/json' "$KS/auth/tokens" -d @- <<JSON
{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"labuser","domain":{"name":"labdomain"},"password":"$KS_LAB_PASSWORD"}}},
 "scope":{"project":{"name":"labproject","domain":{"name":"labdomain"}}}}}
JSON
) || die "keystone auth for labuser failed ($KS)"
  TOKEN=$(printf '%s' "$hdr" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-subject-token"{print $2}')
  S=$($PY - "$W/tok.json" "$REGION" <<'EOF'
import json, sys
cat = json.load(open(sys.argv[1]))["token"]["catalog"]
print(next(e["url"] for s in cat if s["type"] == "object-store" for e in s["endpoints"]
           if e["interface"] == "public" and e.get("region", e.get("region_id")) == sys.argv[2]))
EOF
) || die "no $REGION object-store endpoint in the catalog"
  [ -n "$TOKEN" ] || die "keystone returned no token"
  TOKEN_LIFE=$($PY -c 'import json, sys, datetime as d
t = json.load(open(sys.argv[1]))["token"]; p = lambda s: d.datetime.fromisoformat(s.replace("Z", "+00:00"))
print(int((p(t["expires_at"]) - p(t["issued_at"])).total_seconds()))' "$W/tok.json")
  # first use of a new token costs a keystone validation in the proxy: pay it here, untimed
  curl -s -o /dev/null -I -H "X-Auth-Token: $TOKEN" "$S/$C" || true
}
sw() { curl -s -H "X-Auth-Token: $TOKEN" "$@"; }        # curl with the token
head_obj() {  # object -> "length etag" (empty if absent)
  sw -f -I "$S/$C/$1" | tr -d '\r' | awk -F': ' '
    tolower($1)=="content-length"{l=$2} tolower($1)=="etag"{e=$2} END{ if (l != "") print l, e }'
}

# ---- FUSE mounts: own session + PID file in $LAB_RUN (swift-down.sh stops leftovers),
#      mount points under $LAB_MNT.  Only PIDs started here are ever signalled.
declare -A MPID=()
mount_fs() {  # name mountpoint cmd...   (cmd stays in the foreground until unmounted)
  local name=$1 mp=$2 pidf="$LAB_RUN/bench-$1.pid" logf="$LAB_LOG/bench-$1.log" pid=""; shift 2
  mkdir -p "$mp" "$LAB_RUN" "$LAB_LOG"
  if mountpoint -q "$mp"; then fusermount3 -u "$mp" 2>/dev/null || fusermount3 -uz "$mp"; fi
  rm -f "$pidf"
  # shellcheck disable=SC2016  # $$ and $@ are for the inner sh
  setsid sh -c 'echo $$ > "$0"; exec "$@"' "$pidf" "$@" >"$logf" 2>&1 </dev/null &
  for _ in $(seq 300); do                       # 30 s
    [ -z "$pid" ] && [ -s "$pidf" ] && pid=$(cat "$pidf") && MPID[$name]=$pid
    mountpoint -q "$mp" && return 0
    if [ -n "$pid" ] && ! alive "$pid"; then break; fi
    sleep 0.1
  done
  broken "mount $name at $mp failed: $*  (log $logf: $(tail -3 "$logf" | tr '\n' ' '))"
  umount_fs "$name" "$mp" quiet
  return 1
}
umount_fs() {  # name mountpoint [quiet]
  local name=$1 mp=$2 pid=${MPID[$1]:-} rc
  if mountpoint -q "$mp" 2>/dev/null; then
    fusermount3 -u "$mp" 2>/dev/null || { sleep 1; fusermount3 -u "$mp" 2>/dev/null; } ||
      { note "$name: fusermount3 -u $mp failed (busy?), lazy unmount"; fusermount3 -uz "$mp"; }
  fi
  [ -n "$pid" ] || return 0
  for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then
    note "$name (pid $pid) still running 10 s after unmount: TERM"
    kill -TERM "$pid" 2>/dev/null; sleep 2
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null; rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 127 ] || [ -n "${3:-}" ] || note "$name (pid $pid) exited with status $rc after unmount (log $LAB_LOG/bench-$name.log)"
  unset "MPID[$name]"
  rm -f "$LAB_RUN/bench-$name.pid"
  local errs; errs=$(grep -cE 'ERROR|panicked' "$LAB_LOG/bench-$name.log" 2>/dev/null)
  [ "${errs:-0}" = 0 ] || [ -n "${3:-}" ] ||
    note "$name logged $errs error line(s), first: $(grep -m1 -E 'ERROR|panicked' "$LAB_LOG/bench-$name.log" | cut -c1-200)"
}
check_alive() {  # name: the mount process must not have died during a measurement
  local pid=${MPID[$1]:-}
  [ -n "$pid" ] && ! alive "$pid" && { broken "$1 (pid $pid) died during the measurement (log $LAB_LOG/bench-$1.log)"; return 1; }
  return 0
}
cleanup() {
  umount_fs swiftmount "$MP_SM" 2>/dev/null
  umount_fs rclone "$MP_RC" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# swiftmount command line: SOURCE MOUNTPOINT, `mount` subcommand and --foreground if the CLI has them
SM_SRC="openstack://$C/?auth-username=labuser&openstack-authuri=$KS&openstack-version=v3&openstack-domain-name=labdomain&openstack-tenant-name=labproject&openstack-region=$REGION"
sm_cmd=()
mount_sm() {
  [ -n "$SM" ] || return 1
  # shellcheck disable=SC2086  # BENCH_SWIFTMOUNT_ARGS is a word list
  mount_fs swiftmount "$MP_SM" env OS_PASSWORD="$KS_LAB_PASSWORD" "$BIN" "${sm_cmd[@]}" \
    ${BENCH_SWIFTMOUNT_ARGS:-} "$SM_SRC" "$MP_SM"
}
RC_OPTS=(--vfs-cache-mode off)
# rclone's swift library refuses Keystone tokens with < 60 s left (the stack runs with 60 s tokens
# after scripts/test.sh): then rclone gets a fresh token + storage URL for each mount instead of
# the password.  Every rclone mount here lives well under a minute.
RC_TOKEN_MODE=""
mount_rc() {  # extra rclone options...
  export RCLONE_CONFIG="$W/rclone.conf"; : > "$RCLONE_CONFIG"
  while read -r v; do unset "$v"; done < <(compgen -e | grep '^RCLONE_CONFIG_LAB_' || true)
  export RCLONE_CONFIG_LAB_TYPE=swift
  if [ -n "$RC_TOKEN_MODE" ]; then
    auth
    export RCLONE_CONFIG_LAB_AUTH_TOKEN="$TOKEN" RCLONE_CONFIG_LAB_STORAGE_URL="$S"
  else   # remote "lab": swift backend, Keystone v3, labuser@labdomain / labproject, RegionOne
    export RCLONE_CONFIG_LAB_AUTH="$KS" RCLONE_CONFIG_LAB_AUTH_VERSION=3
    export RCLONE_CONFIG_LAB_USER=labuser RCLONE_CONFIG_LAB_KEY="$KS_LAB_PASSWORD"
    export RCLONE_CONFIG_LAB_DOMAIN=labdomain RCLONE_CONFIG_LAB_TENANT=labproject
    export RCLONE_CONFIG_LAB_TENANT_DOMAIN=labdomain RCLONE_CONFIG_LAB_REGION=$REGION
  fi
  mount_fs rclone "$MP_RC" rclone mount "lab:$C" "$MP_RC" "${RC_OPTS[@]}" "$@"
}

# timed_read FILE BYTES -> DUR (s); 1 on error / short read / timeout
DUR=""
READ_TIMEOUT=$(( SIZE_MB > BIG_MB ? SIZE_MB : BIG_MB )); READ_TIMEOUT=$(( READ_TIMEOUT / 5 + 60 ))  # >= 5 MiB/s
timed_read() {
  local f=$1 want=$2 t got rc
  DUR=""
  stat "$f" >/dev/null 2>&1 || { broken "stat $f failed"; return 1; }   # lookup untimed
  drop
  t=$EPOCHREALTIME
  timeout -k 5 "$READ_TIMEOUT" dd if="$f" of=/dev/null bs=1M 2>"$W/dd.err"; rc=$?
  DUR=$(el "$t")
  got=$(awk '/bytes/ { print $1 }' "$W/dd.err" | tail -1)
  if [ "$rc" != 0 ]; then
    if [ "$rc" = 124 ]; then broken "read of $f hung (> $READ_TIMEOUT s, killed; ${got:-0} bytes read)"
    else broken "dd of $f failed (rc $rc): $(tr '\n' ' ' < "$W/dd.err")"; fi
    DUR=""; return 1
  fi
  [ "$got" = "$want" ] || { broken "short read of $f: $got bytes, expected $want"; DUR=""; return 1; }
}
# md5_read FILE ETAG BYTES WHO -> checks the md5 of a full (untimed) read; sets DUR too
md5_read() {
  local f=$1 etag=$2 want=$3 who=$4 t sum got
  drop
  t=$EPOCHREALTIME
  sum=$(timeout -k 5 "$READ_TIMEOUT" cat "$f" | tee >(wc -c > "$W/wc") | md5sum | cut -d' ' -f1)
  DUR=$(el "$t")
  sleep 0.1; got=$(cat "$W/wc" 2>/dev/null)
  [ "$sum" = "$etag" ] && return 0
  if [ "$who" = swiftmount ]; then
    broken "md5 mismatch reading $f through swiftmount: got $sum ($got bytes), object ETag $etag ($want bytes)"
  else
    note "md5 mismatch reading $f through $who: got $sum ($got bytes), object ETag $etag ($want bytes)"
  fi
  return 1
}

# ------------------------------------------------------------------ 0. stack, build, tools
T_START=$EPOCHREALTIME
if ! curl -sf -o /dev/null --max-time 3 "http://$H:$SWIFT_PROXY_PORT/healthcheck" ||
   ! curl -sf -o /dev/null --max-time 3 "$KS/"; then
  log "Swift/Keystone not answering: starting scripts/swift-up.sh"
  "$HERE/swift-up.sh" || die "swift-up.sh failed"
fi
pkgs=(fuse3 curl); [ -n "$RCLONE" ] && pkgs+=(rclone)
apt_need "${pkgs[@]}"
if [ "${BENCH_NO_BUILD:-}" != 1 ]; then
  t=$EPOCHREALTIME
  log "cargo build --release"
  cargo build --release >"$W/build.log" 2>&1 || { tail -30 "$W/build.log"; die "cargo build --release failed"; }
  log "built in $(el "$t") s"
fi
if [ -n "$SM" ]; then
  [ -x "$BIN" ] || die "$BIN missing (build it, or unset BENCH_NO_BUILD)"
  help=$("$BIN" --help 2>&1)
  if ! grep -qiE 'mount ?point' <<<"$help"; then
    if "$BIN" mount --help 2>&1 | grep -qiE 'mount ?point'; then sm_cmd=(mount); help=$("$BIN" mount --help 2>&1)
    else die "this swiftmount build has no mount command yet ($BIN --help shows no MOUNTPOINT)"; fi
  fi
  grep -q -- '--foreground' <<<"$help" && sm_cmd+=(--foreground)
else
  broken "BENCH_SKIP_SWIFTMOUNT=1: swiftmount not measured"
fi
SM_REV=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src 2>/dev/null || echo "+dirty")

# ------------------------------------------------------------------ fixtures (cached)
auth
if [ -n "$RCLONE" ]; then
  RC_VER=$(rclone version 2>/dev/null | head -1)
  if [ "$TOKEN_LIFE" -lt 300 ]; then
    RC_TOKEN_MODE=1
    note "keystone tokens live ${TOKEN_LIFE} s (rclone needs > 60 s left): rclone mounts with a fresh token + storage URL instead of the password"
  fi
fi
sw -f -o /dev/null -X PUT "$S/$C" || die "cannot create container $C"
ensure_obj() {  # name MiB -> ETAG_OF[name]
  local name=$1 mb=$2 want=$(( $2 * 1048576 )) info t
  auth
  info=$(head_obj "$name")
  if [ "${info% *}" != "$want" ]; then
    t=$EPOCHREALTIME
    log "uploading fixture $name ($mb MiB random)"
    head -c "$want" /dev/urandom | sw -f -o /dev/null -X PUT -T - "$S/$C/$name" ||
      die "upload of $name failed"
    auth
    info=$(head_obj "$name")
    [ "${info% *}" = "$want" ] || die "$name: stored length ${info% *}, expected $want"
    log "uploaded $name in $(el "$t") s"
  else
    log "fixture $name present"
  fi
  [[ ${info#* } =~ ^[0-9a-f]{32}$ ]] || die "$name: ETag '${info#* }' is not an md5 (SLO/DLO?)"
  ETAG_OF[$name]=${info#* }
}
declare -A ETAG_OF=()
ensure_obj "$SEQ_OBJ" "$SIZE_MB"
ensure_obj "$BIG_OBJ" "$BIG_MB"

# curl_list PREFIX OUTFILE -> LIST_T (total s), LIST_REQ (requests); entries as JSON lines
curl_list() {
  local marker="" n t r code
  LIST_T=0 LIST_REQ=0; : > "$2"
  while :; do
    r=$(sw -o "$W/page.json" -w '%{http_code} %{time_total}' -G --data-urlencode "marker=$marker" \
        "$S/$C?format=json&prefix=$1/&delimiter=/&limit=10000")
    code=${r% *} t=${r#* }
    [ "$code" = 200 ] || { broken "container listing returned HTTP $code"; return 1; }
    LIST_T=$(calc '%.3f' "$LIST_T + $t"); LIST_REQ=$((LIST_REQ + 1))
    n=$($PY -c 'import json,sys
d=json.load(open(sys.argv[1]))
with open(sys.argv[2],"a") as f:
    for e in d: f.write("%s %s\n" % (e.get("name") or e.get("subdir"), e.get("bytes", "-")))
print(len(d))' "$W/page.json" "$2")
    # a full page may have a successor; but the fixture folder holds NSMALL objects, so a
    # 10,000-object folder is ONE request (the baseline), as a client that knows the count
    { [ "$n" -lt 10000 ] || [ "$(wc -l < "$2")" -ge "$NSMALL" ]; } && break
    marker=$(tail -1 "$2" | cut -d' ' -f1)
  done
}
auth
curl_list "$DIR" "$W/listing" || exit 1
have=$(wc -l < "$W/listing")
if [ "$have" != "$NSMALL" ]; then
  # tar(s) of the missing objects, PUT with ?extract-archive=tar: one request when the token
  # lives long enough (~25 objects per second of token life); with short tokens (test.sh: 60 s)
  # several requests, a fresh token each: the bulk subrequests fail once the token expires.
  t=$EPOCHREALTIME
  per=$(( TOKEN_LIFE * 25 )); [ "$per" -ge 500 ] || per=500
  nt=$($PY - "$W/listing" "$NSMALL" "$DIR" "$per" "$W/many" <<'EOF'
import io, sys, tarfile
have = {l.split(" ")[0] for l in open(sys.argv[1])}
n, d, per, out = int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
todo = [i for i in range(n) if "%s/f%05d.txt" % (d, i) not in have]
for k in range(0, len(todo), per):
    with tarfile.open("%s.%d.tar" % (out, k // per), "w") as tf:
        for i in todo[k:k + per]:
            data = ("object %d\n" % i).encode() * 8
            ti = tarfile.TarInfo("%s/f%05d.txt" % (d, i)); ti.size = len(data); ti.mtime = 1700000000
            tf.addfile(ti, io.BytesIO(data))
print((len(todo) + per - 1) // per)
EOF
)
  log "creating $((NSMALL - have)) small objects in $C/$DIR/ (bulk extract-archive, $nt request(s))"
  for k in $(seq 0 $((nt - 1))); do
    auth
    res=$(sw -X PUT -H 'Accept: application/json' -T "$W/many.$k.tar" "$S/$C?extract-archive=tar")
    grep -q '"Response Status": "201 Created"' <<<"$res" || die "bulk extract-archive said: $res"
    rm -f "$W/many.$k.tar"
  done
  d=$(el "$t"); log "created $((NSMALL - have)) objects in $d s ($(calc '%.0f' "($NSMALL - $have) / $d") obj/s)"
  auth
  curl_list "$DIR" "$W/listing" || exit 1
  have=$(wc -l < "$W/listing")
  [ "$have" = "$NSMALL" ] || die "$C/$DIR/ lists $have objects after the bulk upload, expected $NSMALL"
else
  log "fixture $DIR/ present ($NSMALL objects)"
fi
sed "s|^$DIR/||" "$W/listing" | sort > "$W/listing.expect"   # "name bytes" as the mount must show it

# ------------------------------------------------------------------ 1. sequential read
log "1. sequential read of $SEQ_OBJ ($SIZE_MB MiB), $REPEAT x {curl, swiftmount${RCLONE:+, rclone}}"
SEQ_BYTES=$(( SIZE_MB * 1048576 ))
T_CURL=() T_SM=() T_RC=()
for rep in $(seq "$REPEAT"); do
  auth; drop
  r=$(sw -o /dev/null -w '%{http_code} %{size_download} %{time_total}' "$S/$C/$SEQ_OBJ")
  read -r code got t <<<"$r"
  if [ "$code" = 200 ] && [ "$got" = "$SEQ_BYTES" ]; then T_CURL+=("$t"); else note "curl GET: HTTP $code, $got bytes"; fi
  if mount_sm; then
    timed_read "$MP_SM/$SEQ_OBJ" "$SEQ_BYTES" && T_SM+=("$DUR")
    check_alive swiftmount; umount_fs swiftmount "$MP_SM"
  fi
  if [ -n "$RCLONE" ] && mount_rc; then
    timed_read "$MP_RC/$SEQ_OBJ" "$SEQ_BYTES" && T_RC+=("$DUR")
    check_alive rclone; umount_fs rclone "$MP_RC"
  fi
  log "  rep $rep: curl $(last "${T_CURL[@]}") s, swiftmount $(last "${T_SM[@]}") s${RCLONE:+, rclone $(last "${T_RC[@]}") s}"
done
# checksums (untimed, fresh mounts)
SEQ_MD5=""
if mount_sm; then
  md5_read "$MP_SM/$SEQ_OBJ" "${ETAG_OF[$SEQ_OBJ]}" "$SEQ_BYTES" swiftmount && SEQ_MD5=ok || SEQ_MD5=MISMATCH
  check_alive swiftmount; umount_fs swiftmount "$MP_SM"
fi
RC_MD5=""
if [ -n "$RCLONE" ] && mount_rc; then
  md5_read "$MP_RC/$SEQ_OBJ" "${ETAG_OF[$SEQ_OBJ]}" "$SEQ_BYTES" rclone && RC_MD5=ok || RC_MD5=MISMATCH
  umount_fs rclone "$MP_RC"
fi

# ------------------------------------------------------------------ 2. ls -l of NSMALL objects
log "2. ls -l $DIR/ ($NSMALL objects): $REPEAT x {curl listing, swiftmount cold+warm${RCLONE:+, rclone --use-server-modtime cold+warm}}${RCLONE:+, 1 x rclone default}"
LS_TIMEOUT=$(( NSMALL / 50 + 120 ))   # rclone default: one HEAD per object
# timed_ls MOUNTPOINT OUTFILE [DEADLINE] -> DUR; checks the entry count (names/sizes: compared
# by the caller).  With DEADLINE (s), running out of time is not an error: returns 2, DUR empty.
timed_ls() {
  local rc n t lim=${3:-$LS_TIMEOUT}
  DUR=""
  drop
  t=$EPOCHREALTIME
  timeout -k 5 "$lim" ls -l --time-style=+%s "$1/$DIR/" > "$2" 2>"$W/ls.err"; rc=$?
  DUR=$(el "$t")
  if [ "$rc" = 124 ] && [ -n "${3:-}" ]; then DUR=""; return 2; fi
  if [ "$rc" != 0 ]; then
    if [ "$rc" = 124 ]; then broken "ls -l $1/$DIR/ hung (> $LS_TIMEOUT s, killed)"
    else broken "ls -l $1/$DIR/ failed (rc $rc): $(head -3 "$W/ls.err" | tr '\n' ' ')"; fi
    DUR=""; return 1
  fi
  n=$(grep -c '^-' "$2")
  [ "$n" = "$NSMALL" ] || { broken "ls -l $1/$DIR/ shows $n files, expected $NSMALL"; DUR=""; return 1; }
}
ls_names() { awk '$1 ~ /^-/ { print $7, $5 }' "$1" | sort; }   # ls -l output -> "name size"
T_LIST=() LS_SM_C=() LS_SM_W=() LS_RCM_C=() LS_RCM_W=() LS_RC_C=() LS_RC_W=()
for rep in $(seq "$REPEAT"); do
  auth; drop
  curl_list "$DIR" "$W/listing.rep" && T_LIST+=("$LIST_T")
  if mount_sm; then
    if timed_ls "$MP_SM" "$W/ls.sm"; then
      LS_SM_C+=("$DUR")
      if [ "$rep" = 1 ] && ! ls_names "$W/ls.sm" | cmp -s - "$W/listing.expect"; then
        broken "ls -l through swiftmount differs from the container listing (name size): $(ls_names "$W/ls.sm" | diff - "$W/listing.expect" | head -4 | tr '\n' ' ')"
      fi
    fi
    timed_ls "$MP_SM" "$W/ls.sm2" && LS_SM_W+=("$DUR")
    check_alive swiftmount; umount_fs swiftmount "$MP_SM"
  fi
  if [ -n "$RCLONE" ] && mount_rc --use-server-modtime; then
    timed_ls "$MP_RC" "$W/ls.rc" && LS_RCM_C+=("$DUR")
    timed_ls "$MP_RC" "$W/ls.rc" && LS_RCM_W+=("$DUR")
    umount_fs rclone "$MP_RC"
  fi
  log "  rep $rep: curl listing $(last "${T_LIST[@]}") s ($LIST_REQ req), swiftmount cold $(last "${LS_SM_C[@]}") / warm $(last "${LS_SM_W[@]}") s${RCLONE:+, rclone --use-server-modtime $(last "${LS_RCM_C[@]}") / $(last "${LS_RCM_W[@]}") s}"
done
RC_LS_LB=""   # N (lower bound "> N s") when rclone's token ran out before its ls -l finished
if [ -n "$RCLONE" ] && mount_rc; then
  log "  rclone default options (one HEAD per object)"
  t_auth=$EPOCHREALTIME
  if [ -n "$RC_TOKEN_MODE" ]; then   # its token cannot be renewed: stop before it expires
    dl=$(( TOKEN_LIFE - 10 ))
    timed_ls "$MP_RC" "$W/ls.rc" "$dl"; rc=$?
    if [ "$rc" = 2 ]; then
      RC_LS_LB=$dl
      note "rclone default ls -l did not finish within its token's life (${TOKEN_LIFE} s): shown as a lower bound"
    elif [ "$rc" = 0 ]; then
      LS_RC_C+=("$DUR")
      left=$(calc '%.0f' "$TOKEN_LIFE - ($EPOCHREALTIME - $t_auth)")
      if [ "$left" -gt 15 ]; then timed_ls "$MP_RC" "$W/ls.rc" "$(( left - 5 ))" && LS_RC_W+=("$DUR")
      else note "rclone default warm ls -l skipped: its token had only $left s left"; fi
    fi
  else
    timed_ls "$MP_RC" "$W/ls.rc" && LS_RC_C+=("$DUR")
    timed_ls "$MP_RC" "$W/ls.rc" && LS_RC_W+=("$DUR")
  fi
  umount_fs rclone "$MP_RC"
  if [ -n "$RC_LS_LB" ]; then c="> $RC_LS_LB s"; else c="$(last "${LS_RC_C[@]}") s"; fi
  log "  rclone default: cold $c, warm $(last "${LS_RC_W[@]}") s"
fi

# ------------------------------------------------------------------ 3. peak RSS, big read
log "3. peak RSS while reading $BIG_OBJ ($BIG_MB MiB, md5 checked)"
BIG_BYTES=$(( BIG_MB * 1048576 ))
hwm() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }   # MiB
rss() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }
SM_HWM="" SM_RSS0="" SM_BIG_T="" SM_BIG_MD5="" RC_HWM="" RC_RSS0="" RC_BIG_T=""
if mount_sm; then
  SM_RSS0=$(rss "${MPID[swiftmount]}")
  md5_read "$MP_SM/$BIG_OBJ" "${ETAG_OF[$BIG_OBJ]}" "$BIG_BYTES" swiftmount && SM_BIG_MD5=ok || SM_BIG_MD5=MISMATCH
  SM_BIG_T=$DUR
  check_alive swiftmount && SM_HWM=$(hwm "${MPID[swiftmount]}")
  umount_fs swiftmount "$MP_SM"
fi
if [ -n "$RCLONE" ] && mount_rc; then
  RC_RSS0=$(rss "${MPID[rclone]}")
  md5_read "$MP_RC/$BIG_OBJ" "${ETAG_OF[$BIG_OBJ]}" "$BIG_BYTES" rclone
  RC_BIG_T=$DUR
  check_alive rclone && RC_HWM=$(hwm "${MPID[rclone]}")
  umount_fs rclone "$MP_RC"
fi

# ------------------------------------------------------------------ report
fmt_t() {  # median-seconds [MiB] -> "1.23 s (436 MB/s)" or "–"
  [ -n "$1" ] || { echo "–"; return; }
  if [ -n "${2:-}" ]; then printf '%.2f s (%s MB/s)' "$1" "$(mbps "$2" "$1")"; else printf '%.2f s' "$1"; fi
}
vs_rc() {  # swiftmount-value rclone-value -> "1.31×" (rclone/swiftmount, > 1 = swiftmount better)
  if [ -n "$1" ] && [ -n "$2" ]; then calc '%.2f×' "$2 / $1"; else echo "–"; fi
}
m_curl=$(median "${T_CURL[@]}") m_sm=$(median "${T_SM[@]}") m_rc=$(median "${T_RC[@]}")
m_list=$(median "${T_LIST[@]}") m_smc=$(median "${LS_SM_C[@]}") m_smw=$(median "${LS_SM_W[@]}")
m_rmc=$(median "${LS_RCM_C[@]}") m_rmw=$(median "${LS_RCM_W[@]}")
m_rcc=$(median "${LS_RC_C[@]}") m_rcw=$(median "${LS_RC_W[@]}")
res_seq="–" res_ls="–" res_mem="–" r_seq="–" r_lsc="–" r_lsw="–"
if [ -n "$m_sm" ] && [ -n "$m_curl" ]; then
  r_seq=$(calc '%.2f' "$m_curl / $m_sm")
  res_seq=$(awk -v r="$r_seq" 'BEGIN { print (r >= 0.9) ? "PASS" : "MISS" }')
fi
if [ -n "$m_smc" ] && [ -n "$m_list" ]; then
  r_lsc=$(calc '%.2f' "$m_smc / $m_list")
  res_ls=$(awk -v r="$r_lsc" 'BEGIN { print (r <= 2) ? "PASS" : "MISS" }')
fi
[ -n "$m_smw" ] && [ -n "$m_list" ] && r_lsw=$(calc '%.2f' "$m_smw / $m_list")
[ -n "$SM_HWM" ] && res_mem=$(awk -v m="$SM_HWM" 'BEGIN { print (m < 64) ? "PASS" : "MISS" }')
n_rep="median of ${#T_SM[@]}"
sm_md5_cell=${SEQ_MD5:-–}; [ -n "$RCLONE" ] && sm_md5_cell="$sm_md5_cell (rclone: ${RC_MD5:-–})"
rc_cell() { if [ -n "$RCLONE" ]; then echo "$1"; else echo "skipped"; fi; }
listreq=""; [ "${LIST_REQ:-1}" -gt 1 ] && listreq=" ($LIST_REQ requests)"

{
  echo
  echo "## bench-read $(date -u +%FT%TZ) · swiftmount $SM_REV · seq ${SIZE_MB} MiB · ${NSMALL} objects · big ${BIG_MB} MiB"
  echo
  echo "storage $(stat -f -c %T "$LAB_DEV" 2>/dev/null) · $(nproc) cores · $REGION (:$SWIFT_PROXY_PORT) · ${RC_VER:-rclone skipped} · medians of $REPEAT runs · page cache dropped before each timed step"
  echo
  echo "| measurement | swiftmount | curl | rclone | ratio | target | result | rclone ÷ swiftmount |"
  echo "|---|---:|---:|---:|---:|---|---|---:|"
  echo "| 1. sequential read $SIZE_MB MiB → /dev/null ($n_rep) | $(fmt_t "$m_sm" "$SIZE_MB") | $(fmt_t "$m_curl" "$SIZE_MB") | $(rc_cell "$(fmt_t "$m_rc" "$SIZE_MB")") | $r_seq | curl ÷ swiftmount ≥ 0.9 | $res_seq | $(vs_rc "$m_sm" "$m_rc") |"
  echo "| 1. md5 of the mount's bytes vs ETag | ${sm_md5_cell} | | | | match | $( [ "$SEQ_MD5" = ok ] && echo PASS || echo FAIL ) | |"
  rc_ls_cell=$(fmt_t "$m_rcc"); rc_ls_vs=$(vs_rc "$m_smc" "$m_rcc")
  if [ -n "$RC_LS_LB" ]; then
    rc_ls_cell="> $RC_LS_LB s (token expired)"
    [ -n "$m_smc" ] && rc_ls_vs="> $(calc '%.0f×' "$RC_LS_LB / $m_smc")"
  fi
  echo "| 2. \`ls -l\` $NSMALL objects, cold (fresh mount) | $(fmt_t "$m_smc") | $(fmt_t "$m_list")$listreq | $(rc_cell "$rc_ls_cell") | $r_lsc | swiftmount ÷ curl ≤ 2 | $res_ls | $rc_ls_vs |"
  echo "| 2. \`ls -l\` $NSMALL objects, warm (2nd) | $(fmt_t "$m_smw") | $(fmt_t "$m_list") | $(rc_cell "$(fmt_t "$m_rcw")") | $r_lsw | – | | $(vs_rc "$m_smw" "$m_rcw") |"
  echo "| 2. … rclone \`--use-server-modtime\`, cold | $(fmt_t "$m_smc") | | $(rc_cell "$(fmt_t "$m_rmc")") | | – | | $(vs_rc "$m_smc" "$m_rmc") |"
  echo "| 2. … rclone \`--use-server-modtime\`, warm | $(fmt_t "$m_smw") | | $(rc_cell "$(fmt_t "$m_rmw")") | | – | | $(vs_rc "$m_smw" "$m_rmw") |"
  echo "| 3. peak RSS (VmHWM) reading $BIG_MB MiB | ${SM_HWM:-–} MiB | | $(rc_cell "${RC_HWM:-–} MiB") | | < 64 MiB | $res_mem | $(vs_rc "$SM_HWM" "$RC_HWM") |"
  echo "| 3. … RSS after mount, before the read | ${SM_RSS0:-–} MiB | | $(rc_cell "${RC_RSS0:-–} MiB") | | – | | |"
  echo "| 3. … that read, \`cat \| md5sum\` (md5: ${SM_BIG_MD5:-–}) | $(fmt_t "$SM_BIG_T" "$BIG_MB") | | $(rc_cell "$(fmt_t "$RC_BIG_T" "$BIG_MB")") | | – | | $(vs_rc "$SM_BIG_T" "$RC_BIG_T") |"
  echo
  echo "samples (s): curl GET ${T_CURL[*]:-–} · swiftmount ${T_SM[*]:-–}${RCLONE:+ · rclone ${T_RC[*]:-–}} · curl listing ${T_LIST[*]:-–} · swiftmount ls cold ${LS_SM_C[*]:-–} / warm ${LS_SM_W[*]:-–}"
  for n in "${NOTES[@]}"; do echo "- note: $n"; done
  for b in "${BROKEN[@]}"; do echo "- **BROKEN**: $b"; done
  echo "- run time $(el "$T_START") s; result: $( [ ${#BROKEN[@]} = 0 ] && echo ok || echo "BROKEN (${#BROKEN[@]})")"
} | tee -a "$OUT"
log "appended to $OUT"
[ ${#BROKEN[@]} = 0 ]
