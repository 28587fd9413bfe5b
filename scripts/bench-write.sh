#!/bin/bash
# Write-side benchmark of the swiftmount FUSE mount against curl, python-swiftclient and
# `rclone mount`, all measured in the same run (the machine is noisy: compare ratios, not
# absolute numbers).  Run as root, with the local stack up (scripts/swift-up.sh; started here
# if it is down).
#
#   scripts/bench-write.sh                                                  # full: ~5-8 min
#   BENCH_SIZE_MB=64 BENCH_SMALL=200 BENCH_BIG_MB=256 scripts/bench-write.sh  # quick: < 3 min
#
# 1. sequential write of a BENCH_SIZE_MB MiB local file of random data, timed until the copy
#    returns (close): `cp` and `dd bs=1M` into swiftmount, vs `curl -T` (one PUT, token header),
#    vs `cp` into rclone mount --vfs-cache-mode off and --vfs-cache-mode writes (for `writes`
#    also until the object is really in Swift: --vfs-write-back 0s, HEAD polled every 0.1 s).
#    ratio = curl time / mount time (target >= 0.9).  Afterwards (untimed) every object is read
#    back whole through the Swift API and its md5 compared with the file's (not the ETag:
#    swiftmount stores files > 8 MiB as SLOs).
# 2. BENCH_SMALL small files (4-64 KiB random, fixed seed, in 10 folders) written through the
#    mount by 8 parallel writers (`find | xargs -0 -P8 -n50 cp --parents`), vs `swift upload
#    --object-threads 10` of the same tree, ratio = swift time / mount time (target >= 1.0);
#    also one plain `cp -r`, and rclone mount (vfs off) with 8 writers.  Then reading the files
#    back out of a fresh mount (`cp -r`, and 8 parallel readers) vs `swift download
#    --object-threads 10` (and, once, rclone `cp -r`).  Every uploaded tree is compared with the source
#    (names + md5 from the container listing); every tree read back with `diff -r`.
#    The requests swiftmount sent for its first 8-writer upload are counted in the proxy log.
# 3. peak RSS (VmHWM) of the mount process while `dd bs=1M` writes a BENCH_BIG_MB MiB file
#    (md5 checked through the API).  Target < 64 MiB; rclone's (vfs off) is reported too.
# Before every timed step: sync, drop the page cache, then read the source once (so every
# contender reads its source from memory).  Every mount is fresh for each timed step.
# A fresh container bench-write-<timestamp> (+ its _segments) is used, objects are deleted as
# soon as they are checked, and both containers are emptied and deleted at exit (also on failure).
#
# Options (environment):
#   BENCH_SIZE_MB=512   BENCH_SMALL=1000   BENCH_BIG_MB=2048
#   BENCH_REPEAT=3      repetitions of phases 1 and 2 (the median is reported)
#   BENCH_SKIP_RCLONE=1 no rclone column      BENCH_NO_BUILD=1  skip `cargo build --release`
#   BENCH_SWIFTMOUNT_ARGS="..."               extra swiftmount arguments (e.g. -v)
#   BENCH_KEEP=1                              keep the container (debugging)
# Output: Markdown table on stdout, appended to $SWIFTMOUNT_LAB_ROOT/bench-write-results.md.
# Exit status: 0, or 1 if something is broken (build, mount, copy failure/hang, wrong bytes).
# Mount logs: $SWIFTMOUNT_LAB_ROOT/log/bench-write-{swiftmount,rclone}.log (last mount of each).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE/.." || exit 1
# shellcheck source=scripts/swift.env
. "$HERE/swift.env"
# shellcheck source=scripts/lib.sh
. "$HERE/lib.sh"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$HOME/.cargo/bin
export LC_ALL=C
LOG_TAG=bench-write
need_root

SIZE_MB=${BENCH_SIZE_MB:-512}
NSMALL=${BENCH_SMALL:-1000}
BIG_MB=${BENCH_BIG_MB:-2048}
REPEAT=${BENCH_REPEAT:-3}
for v in SIZE_MB NSMALL BIG_MB REPEAT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
RCLONE=1; [ "${BENCH_SKIP_RCLONE:-}" = 1 ] && RCLONE=""
H=$SWIFTMOUNT_LAB_HOST
KS="http://$H:$KEYSTONE_PORT/v3"
REGION=RegionOne
C="bench-write-$(date -u +%Y%m%d-%H%M%S)-$$"
CSEG="${C}_segments"
OUT="$SWIFTMOUNT_LAB_ROOT/bench-write-results.md"
BIN="$PWD/target/release/swiftmount"
PROXY_LOG="$LAB_LOG/proxy-server.log"
MP_SM="$LAB_MNT/bench-write-swiftmount"
MP_RC="$LAB_MNT/bench-write-rclone"
SEQ_BYTES=$(( SIZE_MB * 1048576 ))
BIG_BYTES=$(( BIG_MB * 1048576 ))
WRITE_TIMEOUT=$(( (SIZE_MB > BIG_MB ? SIZE_MB : BIG_MB) / 5 + 60 ))   # >= 5 MiB/s
SMALL_TIMEOUT=$(( NSMALL / 5 + 60 ))                                  # >= 5 files/s
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(OS|ST)_' || true)

W=$(mktemp -d /tmp/swiftmount-bench-write.XXXXXX)
BROKEN=() NOTES=()
broken() { BROKEN+=("$*"); echo "[$LOG_TAG] BROKEN: $*" >&2; }
note() { NOTES+=("$*"); log "NOTE: $*"; }

# ------------------------------------------------------------------ helpers
el() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }          # calc FMT EXPR
last() { [ $# -gt 0 ] && printf '%.2f' "${!#}" || echo "?"; }
median() {
  [ $# -gt 0 ] || { echo ""; return; }
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
DROP_OK=1
drop() {
  sync
  if ! echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
    [ -n "$DROP_OK" ] && note "cannot drop the page cache (/proc/sys/vm/drop_caches)"
    DROP_OK=""
  fi
}
mbps() { calc '%.0f' "$1 * 1.048576 / $2"; }          # MiB seconds -> MB/s (10^6 B/s)
hwm() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }   # MiB
rss() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }

# Keystone v3 token for labuser + RegionOne object-store URL.  The lab's tokens may live only
# 60 s: `auth [SECONDS]` fetches a new one unless the current one has SECONDS (default 20) left.
TOKEN="" S="" TOKEN_LIFE="" TOKEN_T=""
auth() {
  local hdr
  if [ -n "$TOKEN" ] && awk -v t="$TOKEN_T" -v now="$EPOCHREALTIME" -v life="$TOKEN_LIFE" -v need="${1:-20}" \
       'BEGIN { exit !(life - (now - t) > need) }'; then return 0; fi
  TOKEN_T=$EPOCHREALTIME
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
  # the first use of a new token costs a keystone validation in the proxy: pay it here, untimed
  curl -s -o /dev/null -I -H "X-Auth-Token: $TOKEN" "$S" || true
}
sw() { curl -s -H "X-Auth-Token: $TOKEN" "$@"; }
obj_len() {  # object -> Content-Length ("" if absent)
  sw -f -I "$S/$C/$1" | tr -d '\r' | awk -F': ' 'tolower($1)=="content-length"{print $2}'
}
# check_obj OBJECT MD5 BYTES WHO : whole GET through the API (untimed), md5 + length compared.
# Sets OBJ_KIND (SLO / plain).  A mismatch is BROKEN for swiftmount and curl, a note for rclone.
OBJ_KIND=""
check_obj() {
  local o=$1 want=$2 bytes=$3 who=$4 sum got
  auth
  OBJ_KIND=plain
  sw -f -I "$S/$C/$o" | tr -d '\r' | grep -qi '^x-static-large-object: *true' && OBJ_KIND=SLO
  sum=$(sw -f "$S/$C/$o" | tee >(wc -c > "$W/wc") | md5sum | cut -d' ' -f1)
  sleep 0.1; got=$(cat "$W/wc" 2>/dev/null)
  [ "$sum" = "$want" ] && [ "$got" = "$bytes" ] && return 0
  local msg="$who: object $o read back through the API: md5 $sum ($got bytes), expected $want ($bytes bytes)"
  if [ "$who" = rclone ]; then note "$msg"; else broken "$msg"; fi
  return 1
}
del_obj() {  # object : delete it (SLO with its segments) to keep the lab's storage small
  auth
  if sw -f -I "$S/$C/$1" | tr -d '\r' | grep -qi '^x-static-large-object: *true'; then
    sw -o /dev/null -X DELETE "$S/$C/$1?multipart-manifest=delete"
  else
    sw -o /dev/null -X DELETE "$S/$C/$1"
  fi
}

# ---- FUSE mounts: own session + PID file in $LAB_RUN, mount points under $LAB_MNT.
#      Only PIDs started here are ever signalled.
declare -A MPID=()
mount_fs() {  # name mountpoint cmd...
  local name=$1 mp=$2 pidf="$LAB_RUN/bench-write-$1.pid" logf="$LAB_LOG/bench-write-$1.log" pid=""; shift 2
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
  local name=$1 mp=$2 pid=${MPID[$1]:-} rc errs
  if mountpoint -q "$mp" 2>/dev/null; then
    fusermount3 -u "$mp" 2>/dev/null || { sleep 1; fusermount3 -u "$mp" 2>/dev/null; } ||
      { note "$name: fusermount3 -u $mp failed (busy?), lazy unmount"; fusermount3 -uz "$mp"; }
  fi
  [ -n "$pid" ] || return 0
  for _ in $(seq 300); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then
    note "$name (pid $pid) still running 30 s after unmount: TERM"
    kill -TERM "$pid" 2>/dev/null; sleep 2
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null; rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 127 ] || [ -n "${3:-}" ] || note "$name (pid $pid) exited with status $rc after unmount (log $LAB_LOG/bench-write-$name.log)"
  unset "MPID[$name]"
  rm -f "$LAB_RUN/bench-write-$name.pid"
  errs=$(grep -cE 'ERROR|panicked' "$LAB_LOG/bench-write-$name.log" 2>/dev/null)
  [ "${errs:-0}" = 0 ] || [ -n "${3:-}" ] ||
    note "$name logged $errs error line(s), first: $(grep -m1 -E 'ERROR|panicked' "$LAB_LOG/bench-write-$name.log" | cut -c1-200)"
}
check_alive() {
  local pid=${MPID[$1]:-}
  [ -n "$pid" ] && ! alive "$pid" && { broken "$1 (pid $pid) died during the measurement (log $LAB_LOG/bench-write-$1.log)"; return 1; }
  return 0
}

# empty_container NAME : list + bulk-delete in chunks (a fresh token each), then DELETE it
empty_container() {
  local c=$1 n code
  for _ in $(seq 200); do
    auth 45
    n=$($PY - "$S" "$TOKEN" "$c" <<'EOF'
# one round: up to 2000 names, deleted by 4 concurrent bulk-delete requests
import json, sys, threading, urllib.parse, urllib.request, urllib.error
s, tok, c = sys.argv[1:4]
try:
    with urllib.request.urlopen(urllib.request.Request(
            "%s/%s?format=json&limit=2000" % (s, urllib.parse.quote(c)), headers={"X-Auth-Token": tok})) as r:
        names = [e["name"] for e in json.load(r)]
except urllib.error.HTTPError as e:
    print(0 if e.code == 404 else -1); sys.exit()
def bulk(chunk):
    body = "\n".join(urllib.parse.quote("/%s/%s" % (c, n)) for n in chunk).encode()
    req = urllib.request.Request(s + "?bulk-delete", data=body, method="POST", headers={
        "X-Auth-Token": tok, "Content-Type": "text/plain", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            r.read()
    except Exception:
        pass
ts = [threading.Thread(target=bulk, args=(names[i::4],)) for i in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print(len(names))
EOF
)
    [ "$n" = 0 ] && break
    [ "$n" = -1 ] && { log "listing $c failed"; break; }
  done
  code=$(sw -o /dev/null -w '%{http_code}' -X DELETE "$S/$c")
  case $code in 204|404) ;; *) echo "[$LOG_TAG] could not delete container $c (HTTP $code)" >&2 ;; esac
}
cleanup() {
  umount_fs swiftmount "$MP_SM" quiet 2>/dev/null
  umount_fs rclone "$MP_RC" quiet 2>/dev/null
  if [ -n "${C_MADE:-}" ] && [ "${BENCH_KEEP:-}" != 1 ]; then
    log "deleting containers $C and $CSEG"
    empty_container "$C"; empty_container "$CSEG"
  fi
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SM_SRC="openstack://$C/?auth-username=labuser&openstack-authuri=$KS&openstack-version=v3&openstack-domain-name=labdomain&openstack-tenant-name=labproject&openstack-region=$REGION"
mount_sm() {
  # shellcheck disable=SC2086  # BENCH_SWIFTMOUNT_ARGS is a word list
  mount_fs swiftmount "$MP_SM" env OS_PASSWORD="$KS_LAB_PASSWORD" "$BIN" --foreground \
    ${BENCH_SWIFTMOUNT_ARGS:-} "$SM_SRC" "$MP_SM"
}
# rclone's swift library refuses Keystone tokens with < 60 s left: with short-lived tokens rclone
# gets a fresh token + storage URL for each mount (every rclone mount here lives < 1 min).
RC_TOKEN_MODE=""
mount_rc() {  # vfs-cache-mode [extra rclone options...]
  local mode=$1; shift
  export RCLONE_CONFIG="$W/rclone.conf"; : > "$RCLONE_CONFIG"
  while read -r v; do unset "$v"; done < <(compgen -e | grep '^RCLONE_CONFIG_LAB_' || true)
  export RCLONE_CONFIG_LAB_TYPE=swift
  if [ -n "$RC_TOKEN_MODE" ]; then
    auth 100000   # always a new one: the mount must outlive nothing but this token
    export RCLONE_CONFIG_LAB_AUTH_TOKEN="$TOKEN" RCLONE_CONFIG_LAB_STORAGE_URL="$S"
  else
    export RCLONE_CONFIG_LAB_AUTH="$KS" RCLONE_CONFIG_LAB_AUTH_VERSION=3
    export RCLONE_CONFIG_LAB_USER=labuser RCLONE_CONFIG_LAB_KEY="$KS_LAB_PASSWORD"
    export RCLONE_CONFIG_LAB_DOMAIN=labdomain RCLONE_CONFIG_LAB_TENANT=labproject
    export RCLONE_CONFIG_LAB_TENANT_DOMAIN=labdomain RCLONE_CONFIG_LAB_REGION=$REGION
  fi
  mount_fs rclone "$MP_RC" rclone mount "lab:$C" "$MP_RC" --vfs-cache-mode "$mode" "$@"
}

# timed WARM LIMIT WHAT cmd... : drop the page cache, read WARM (file or folder) once, run cmd
# under `timeout LIMIT` -> DUR (s), T_BEGIN; BROKEN (and return 1) on failure or hang.
DUR="" T_BEGIN=""
timed() {
  local warm=$1 lim=$2 what=$3 rc; shift 3
  DUR=""
  drop
  if [ -d "$warm" ]; then find "$warm" -type f -exec cat {} + > /dev/null; else cat "$warm" > /dev/null; fi
  local fn=()   # a shell function runs in a child bash (timeout runs programs only)
  [ "$(type -t "$1")" = function ] && fn=(bash -c "$(declare -f "$1"); \"\$@\"" "$1")
  T_BEGIN=$EPOCHREALTIME
  timeout -k 5 "$lim" "${fn[@]}" "$@" > "$W/cmd.out" 2> "$W/cmd.err"; rc=$?
  DUR=$(el "$T_BEGIN")
  [ "$rc" = 0 ] && return 0
  if [ "$rc" = 124 ]; then broken "$what hung (> $lim s, killed): $*"
  else broken "$what failed (rc $rc): $* -- $(head -c 400 "$W/cmd.err" | tr '\n' ' ')"; fi
  DUR=""; return 1
}
# requests a client sent for this run's containers since a proxy-log offset: "PUT 1000 · HEAD 1010 (404 ×1000) …"
log_mark() { stat -c %s "$PROXY_LOG" 2>/dev/null || echo 0; }
req_summary() {  # offset ua-regex   (the total goes to $W/req.total)
  sleep 1.5   # the proxy logs when a request ends
  tail -c +"$(( $1 + 1 ))" "$PROXY_LOG" | awk -v c="/$C" -v ua="$2" '$10 ~ ua && index($6, c) { n++ } END { print n + 0 }' > "$W/req.total"
  tail -c +"$(( $1 + 1 ))" "$PROXY_LOG" | awk -v c="/$C" -v ua="$2" '
    $10 ~ ua && index($6, c) { n[$5]++; if ($8 !~ /^2/) bad[$5 " " $8]++ }
    END { for (m in n) { s = m " " n[m]; for (b in bad) { split(b, p, " "); if (p[1] == m) s = s " (" p[2] " ×" bad[b] ")" }; print s } }' |
    sort | paste -sd'|' | sed 's/|/ · /g'
}
# check_tree PREFIX WHO : the objects under PREFIX/ (folder markers aside) must be the source
# tree: same names, md5 (listing hash: small files are plain objects) and sizes
check_tree() {
  local p=$1 who=$2 res
  auth
  res=$($PY - "$S" "$TOKEN" "$C" "$p/" "$W/small.md5" <<'EOF'
import json, sys, urllib.parse, urllib.request
s, tok, c, prefix, manifest = sys.argv[1:6]
want = {}
for line in open(manifest):
    h, n = line.split(None, 1); want[n.strip()] = h
got, marker, markers = {}, "", 0
while True:
    q = urllib.parse.urlencode({"format": "json", "prefix": prefix, "marker": marker, "limit": 10000})
    with urllib.request.urlopen(urllib.request.Request("%s/%s?%s" % (s, urllib.parse.quote(c), q),
                                                       headers={"X-Auth-Token": tok})) as r:
        page = json.load(r)
    if not page: break
    for e in page:
        n = e["name"][len(prefix):]
        if n == "" or n.endswith("/"): markers += 1; continue
        got[n] = e["hash"]
    marker = page[-1]["name"]
missing = sorted(set(want) - set(got)); extra = sorted(set(got) - set(want))
bad = sorted(n for n in want if n in got and got[n] != want[n])
if missing or extra or bad:
    print("%d missing %s, %d unexpected %s, %d wrong md5 %s" % (len(missing), missing[:3], len(extra), extra[:3], len(bad), bad[:3]))
else:
    print("ok %d" % markers)
EOF
)
  if [[ $res == ok* ]]; then return 0; fi
  local msg="$who: $C/$p/ differs from the source tree: $res"
  if [ "$who" = rclone ]; then note "$msg"; else broken "$msg"; fi
  return 1
}

# ------------------------------------------------------------------ 0. stack, build, tools, sources
T_START=$EPOCHREALTIME
if ! curl -sf -o /dev/null --max-time 3 "http://$H:$SWIFT_PROXY_PORT/healthcheck" ||
   ! curl -sf -o /dev/null --max-time 3 "$KS/"; then
  log "Swift/Keystone not answering: starting scripts/swift-up.sh"
  "$HERE/swift-up.sh" || die "swift-up.sh failed"
fi
pkgs=(fuse3 curl python3-swiftclient); [ -n "$RCLONE" ] && pkgs+=(rclone)
apt_need "${pkgs[@]}"
if [ "${BENCH_NO_BUILD:-}" != 1 ]; then
  t=$EPOCHREALTIME
  log "cargo build --release"
  cargo build --release >"$W/build.log" 2>&1 || { tail -30 "$W/build.log"; die "cargo build --release failed"; }
  log "built in $(el "$t") s"
fi
[ -x "$BIN" ] || die "$BIN missing (build it, or unset BENCH_NO_BUILD)"
SM_REV=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src 2>/dev/null || echo "+dirty")

auth
if [ -n "$RCLONE" ]; then
  RC_VER=$(rclone version 2>/dev/null | head -1)
  if [ "$TOKEN_LIFE" -lt 300 ]; then
    RC_TOKEN_MODE=1
    note "keystone tokens live ${TOKEN_LIFE} s (rclone needs > 60 s left): rclone mounts with a fresh token + storage URL instead of the password"
  fi
fi
code=$(sw -o /dev/null -w '%{http_code}' -X PUT "$S/$C")
[ "$code" = 201 ] || [ "$code" = 202 ] || die "cannot create container $C (HTTP $code)"
C_MADE=1
log "container $C; sources in $W"

t=$EPOCHREALTIME
SRC="$W/seq.bin" BIGSRC="$W/big.bin"
head -c "$SEQ_BYTES" /dev/urandom > "$SRC" || die "cannot write $SRC"
head -c "$BIG_BYTES" /dev/urandom > "$BIGSRC" || die "cannot write $BIGSRC"
SRC_MD5=$(md5sum < "$SRC" | cut -d' ' -f1)
BIG_MD5=$(md5sum < "$BIGSRC" | cut -d' ' -f1)
# small tree: NSMALL files of 4-64 KiB in 10 folders, random bytes from a fixed seed
$PY - "$W/small" "$NSMALL" <<'EOF' || die "cannot create the small-file tree"
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(20261125)
for i in range(n):
    d = os.path.join(root, "d%02d" % (i % 10)); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.bin" % i), "wb") as f:
        f.write(rnd.randbytes(rnd.randint(4096, 65536)))
EOF
(cd "$W/small" && find . -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$W/small.md5"
SMALL_BYTES=$(du -sb --apparent-size "$W/small" | cut -f1)
log "sources: $SIZE_MB MiB + $BIG_MB MiB random, $NSMALL small files ($(( SMALL_BYTES / 1024 )) KiB) in $(el "$t") s"

# ------------------------------------------------------------------ 1. sequential write
log "1. sequential write of $SIZE_MB MiB, $REPEAT x {curl PUT, swiftmount cp, swiftmount dd${RCLONE:+, rclone off cp, rclone writes cp}}"
T_CURL=() T_SMCP=() T_SMDD=() T_RCOFF=() T_RCW=() T_RCW_UP=()
SEQ_OK=ok SEQ_KIND="" RC_SEQ_OK=ok
for rep in $(seq "$REPEAT"); do
  objs=()
  auth 45
  if timed "$SRC" "$WRITE_TIMEOUT" "curl PUT" curl -sf -o /dev/null -H "X-Auth-Token: $TOKEN" -T "$SRC" "$S/$C/curl-$rep.bin"; then
    T_CURL+=("$DUR"); objs+=("curl-$rep.bin curl")
  fi
  if mount_sm; then
    timed "$SRC" "$WRITE_TIMEOUT" "cp into swiftmount" cp "$SRC" "$MP_SM/cp-$rep.bin" && T_SMCP+=("$DUR")
    objs+=("cp-$rep.bin swiftmount")
    check_alive swiftmount; umount_fs swiftmount "$MP_SM"
  else SEQ_OK=FAIL; fi
  if mount_sm; then
    timed "$SRC" "$WRITE_TIMEOUT" "dd into swiftmount" dd if="$SRC" of="$MP_SM/dd-$rep.bin" bs=1M && T_SMDD+=("$DUR")
    objs+=("dd-$rep.bin swiftmount")
    check_alive swiftmount; umount_fs swiftmount "$MP_SM"
  else SEQ_OK=FAIL; fi
  if [ -n "$RCLONE" ]; then
    if mount_rc off; then
      timed "$SRC" "$WRITE_TIMEOUT" "cp into rclone (vfs off)" cp "$SRC" "$MP_RC/rcoff-$rep.bin" && T_RCOFF+=("$DUR")
      objs+=("rcoff-$rep.bin rclone")
      check_alive rclone; umount_fs rclone "$MP_RC"
    fi
    if mount_rc writes --cache-dir "$W/rclone-cache" --vfs-write-back 0s; then
      auth 45   # for the HEAD polling
      if timed "$SRC" "$WRITE_TIMEOUT" "cp into rclone (vfs writes)" cp "$SRC" "$MP_RC/rcw-$rep.bin"; then
        T_RCW+=("$DUR")
        len=""
        for _ in $(seq $(( WRITE_TIMEOUT * 10 ))); do
          len=$(obj_len "rcw-$rep.bin"); [ "$len" = "$SEQ_BYTES" ] && break; sleep 0.1
        done
        if [ "$len" = "$SEQ_BYTES" ]; then T_RCW_UP+=("$(el "$T_BEGIN")")
        else note "rclone (vfs writes): rcw-$rep.bin not in Swift $WRITE_TIMEOUT s after cp returned"; fi
      fi
      objs+=("rcw-$rep.bin rclone")
      check_alive rclone; umount_fs rclone "$MP_RC"
    fi
  fi
  log "  rep $rep: curl $(last "${T_CURL[@]}") s, swiftmount cp $(last "${T_SMCP[@]}") / dd $(last "${T_SMDD[@]}") s${RCLONE:+, rclone off $(last "${T_RCOFF[@]}") s, writes $(last "${T_RCW[@]}") s (in Swift $(last "${T_RCW_UP[@]}") s)}"
  for ow in "${objs[@]}"; do   # untimed: md5 of a whole GET through the API, then delete
    o=${ow% *} who=${ow#* }
    if ! check_obj "$o" "$SRC_MD5" "$SEQ_BYTES" "$who"; then
      if [ "$who" = swiftmount ]; then SEQ_OK=MISMATCH; elif [ "$who" = rclone ]; then RC_SEQ_OK=MISMATCH; fi
    fi
    [ "$who" = swiftmount ] && SEQ_KIND=$OBJ_KIND
    del_obj "$o"
  done
done

# ------------------------------------------------------------------ 2. small files
log "2. $NSMALL small files: $REPEAT x {swiftmount 8 writers, swiftmount cp -r, swift upload${RCLONE:+, rclone 8 writers}} + reading back"
par_cp() {  # SRC-DIR DEST-DIR : make the folders (no mkdir races), then 8 parallel
  # `cp --parents` of 50 files each.  Self-contained: timed runs it in a child bash.
  mkdir -p "$2" && cd "$1" &&
    find . -mindepth 1 -type d -printf '%P\0' | (cd "$2" && xargs -0 -r mkdir -p) &&
    find . -type f -printf '%P\0' | xargs -0 -P8 -n50 cp --parents -t "$2"
}
check_local() {  # DIR WHO : a tree read back must equal the source
  if ! diff -r "$W/small" "$1" > "$W/diff.out" 2>&1; then
    broken "$2: tree read back differs from the source: $(head -3 "$W/diff.out" | tr '\n' ' ')"
    return 1
  fi
}
T_SM8=() T_SM1=() T_SWUP=() T_RC8=() T_RD_SM=() T_RD_SM8=() T_RD_SW=() T_RD_RC=()
SM_REQ="" SM_REQ_N="" SM_RD_REQ=""
for rep in $(seq "$REPEAT"); do
  if mount_sm; then
    mark=$(log_mark)
    timed "$W/small" "$SMALL_TIMEOUT" "8 parallel writers into swiftmount" par_cp "$W/small" "$MP_SM/sm8-$rep" && T_SM8+=("$DUR")
    check_alive swiftmount; umount_fs swiftmount "$MP_SM"
    if [ "$rep" = 1 ]; then SM_REQ=$(req_summary "$mark" '^swiftmount/[^%]*$'); SM_REQ_N=$(cat "$W/req.total"); fi
    check_tree "sm8-$rep" swiftmount
  fi
  if mount_sm; then
    timed "$W/small" "$SMALL_TIMEOUT" "cp -r into swiftmount" cp -r "$W/small" "$MP_SM/sm1-$rep" && T_SM1+=("$DUR")
    check_alive swiftmount; umount_fs swiftmount "$MP_SM"
    check_tree "sm1-$rep" swiftmount
  fi
  auth 45
  timed "$W/small" "$SMALL_TIMEOUT" "swift upload" swift --os-auth-token "$TOKEN" --os-storage-url "$S" upload --object-threads 10 --object-name "sw-$rep" "$C" "$W/small" && T_SWUP+=("$DUR")
  check_tree "sw-$rep" swift
  if [ -n "$RCLONE" ] && mount_rc off; then
    timed "$W/small" "$SMALL_TIMEOUT" "8 parallel writers into rclone" par_cp "$W/small" "$MP_RC/rc8-$rep" && T_RC8+=("$DUR")
    check_alive rclone; umount_fs rclone "$MP_RC"
    check_tree "rc8-$rep" rclone
  fi
  # reading back (into local folders, page cache dropped, fresh mounts)
  rm -rf "$W/rb"
  if mount_sm; then
    mark=$(log_mark)
    timed "$W/small.md5" "$SMALL_TIMEOUT" "cp -r out of swiftmount" cp -r "$MP_SM/sm8-$rep" "$W/rb" && T_RD_SM+=("$DUR")
    check_alive swiftmount; umount_fs swiftmount "$MP_SM"
    [ "$rep" = 1 ] && SM_RD_REQ=$(req_summary "$mark" '^swiftmount/[^%]*$')
    check_local "$W/rb" "swiftmount cp -r"; rm -rf "$W/rb"
  fi
  if mount_sm; then
    timed "$W/small.md5" "$SMALL_TIMEOUT" "8 parallel readers out of swiftmount" par_cp "$MP_SM/sm8-$rep" "$W/rb" && T_RD_SM8+=("$DUR")
    check_alive swiftmount; umount_fs swiftmount "$MP_SM"
    check_local "$W/rb" "swiftmount 8 readers"; rm -rf "$W/rb"
  fi
  auth 45
  timed "$W/small.md5" "$SMALL_TIMEOUT" "swift download" swift --os-auth-token "$TOKEN" --os-storage-url "$S" download --object-threads 10 --prefix "sw-$rep/" --remove-prefix -D "$W/rb" "$C" && T_RD_SW+=("$DUR")
  check_local "$W/rb" "swift download"; rm -rf "$W/rb"
  if [ -n "$RCLONE" ] && [ "$rep" = 1 ] && mount_rc off; then   # once: rclone's reads are not the subject
    timed "$W/small.md5" "$SMALL_TIMEOUT" "cp -r out of rclone" cp -r "$MP_RC/rc8-$rep" "$W/rb" && T_RD_RC+=("$DUR")
    check_alive rclone; umount_fs rclone "$MP_RC"
    check_local "$W/rb" "rclone cp -r"; rm -rf "$W/rb"
  fi
  log "  rep $rep: write: swiftmount 8w $(last "${T_SM8[@]}") s, cp -r $(last "${T_SM1[@]}") s, swift upload $(last "${T_SWUP[@]}") s${RCLONE:+, rclone 8w $(last "${T_RC8[@]}") s}; read: swiftmount cp -r $(last "${T_RD_SM[@]}") s, 8r $(last "${T_RD_SM8[@]}") s, swift download $(last "${T_RD_SW[@]}") s${RCLONE:+, rclone cp -r $(last "${T_RD_RC[@]}") s}"
done

# ------------------------------------------------------------------ 3. peak RSS, big write
log "3. peak RSS while writing $BIG_MB MiB (dd bs=1M, md5 checked)"
SM_HWM="" SM_RSS0="" SM_BIG_T="" SM_BIG_OK="" SM_BIG_REQ="" RC_HWM="" RC_RSS0="" RC_BIG_T=""
if mount_sm; then
  SM_RSS0=$(rss "${MPID[swiftmount]}")
  mark=$(log_mark)
  timed "$BIGSRC" "$WRITE_TIMEOUT" "dd of $BIG_MB MiB into swiftmount" dd if="$BIGSRC" of="$MP_SM/big.bin" bs=1M && SM_BIG_T=$DUR
  check_alive swiftmount && SM_HWM=$(hwm "${MPID[swiftmount]}")
  umount_fs swiftmount "$MP_SM"
  SM_BIG_REQ=$(req_summary "$mark" '^swiftmount/[^%]*$')
  if check_obj big.bin "$BIG_MD5" "$BIG_BYTES" swiftmount; then SM_BIG_OK="ok, $OBJ_KIND"; else SM_BIG_OK=MISMATCH; fi
  del_obj big.bin
fi
if [ -n "$RCLONE" ] && mount_rc off; then
  RC_RSS0=$(rss "${MPID[rclone]}")
  timed "$BIGSRC" "$WRITE_TIMEOUT" "dd of $BIG_MB MiB into rclone" dd if="$BIGSRC" of="$MP_RC/rcbig.bin" bs=1M && RC_BIG_T=$DUR
  check_alive rclone && RC_HWM=$(hwm "${MPID[rclone]}")
  umount_fs rclone "$MP_RC"
  check_obj rcbig.bin "$BIG_MD5" "$BIG_BYTES" rclone
  del_obj rcbig.bin
fi

# ------------------------------------------------------------------ report
fmt_t() {  # seconds [MiB] -> "1.23 s (436 MB/s)" or "–"
  [ -n "$1" ] || { echo "–"; return; }
  if [ -n "${2:-}" ]; then printf '%.2f s (%s MB/s)' "$1" "$(mbps "$2" "$1")"; else printf '%.2f s' "$1"; fi
}
ratio() { if [ -n "$1" ] && [ -n "$2" ]; then calc '%.2f' "$1 / $2"; else echo "–"; fi; }   # base mount
verdict() {  # ratio op target
  [ "$1" != "–" ] || { echo "–"; return; }
  awk -v r="$1" -v t="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? (r >= t) : (r < t); print ok ? "PASS" : "MISS" }'
}
rc_cell() { if [ -n "$RCLONE" ]; then echo "$1"; else echo "skipped"; fi; }
m_curl=$(median "${T_CURL[@]}") m_smcp=$(median "${T_SMCP[@]}") m_smdd=$(median "${T_SMDD[@]}")
m_rcoff=$(median "${T_RCOFF[@]}") m_rcw=$(median "${T_RCW[@]}") m_rcwup=$(median "${T_RCW_UP[@]}")
m_sm8=$(median "${T_SM8[@]}") m_sm1=$(median "${T_SM1[@]}") m_swup=$(median "${T_SWUP[@]}") m_rc8=$(median "${T_RC8[@]}")
m_rdsm=$(median "${T_RD_SM[@]}") m_rdsm8=$(median "${T_RD_SM8[@]}") m_rdsw=$(median "${T_RD_SW[@]}") m_rdrc=$(median "${T_RD_RC[@]}")
r_cp=$(ratio "$m_curl" "$m_smcp") r_dd=$(ratio "$m_curl" "$m_smdd")
r_rcoff=$(ratio "$m_curl" "$m_rcoff") r_rcw=$(ratio "$m_curl" "$m_rcw") r_rcwup=$(ratio "$m_curl" "$m_rcwup")
r_sm8=$(ratio "$m_swup" "$m_sm8") r_sm1=$(ratio "$m_swup" "$m_sm1") r_rc8=$(ratio "$m_swup" "$m_rc8")
r_rdsm=$(ratio "$m_rdsw" "$m_rdsm") r_rdsm8=$(ratio "$m_rdsw" "$m_rdsm8") r_rdrc=$(ratio "$m_rdsw" "$m_rdrc")
res_mem="–"; [ -n "$SM_HWM" ] && res_mem=$(verdict "$SM_HWM" "<" 64)
SMALL_MIB=$(calc '%.2f' "$SMALL_BYTES / 1048576")
fps() { [ -n "$1" ] && calc ' (%.0f files/s)' "$NSMALL / $1"; }
tf() { [ -n "$1" ] && printf '%.2f s%s' "$1" "$(fps "$1")" || echo "–"; }
req_per_file=""; [ -n "$SM_REQ_N" ] && req_per_file=$(calc '%.2f' "$SM_REQ_N / $NSMALL")
{
  echo
  echo "## bench-write $(date -u +%FT%TZ) · swiftmount $SM_REV · seq ${SIZE_MB} MiB · ${NSMALL} small files (${SMALL_MIB} MiB) · big ${BIG_MB} MiB"
  echo
  echo "storage $(stat -f -c %T "$LAB_DEV" 2>/dev/null) · $(nproc) cores · $REGION (:$SWIFT_PROXY_PORT) · ${RC_VER:-rclone skipped} · $(swift --version 2>/dev/null) · medians of $REPEAT runs · page cache dropped, source re-read, fresh mount before each timed step"
  echo
  echo "ratio = baseline time ÷ mount time (> 1: the mount is faster)"
  echo
  echo "| measurement | swiftmount | baseline | rclone | ratio swiftmount | ratio rclone | target | result |"
  echo "|---|---:|---:|---:|---:|---:|---|---|"
  echo "| 1. write $SIZE_MB MiB, \`cp\` (until close returns) | $(fmt_t "$m_smcp" "$SIZE_MB") | curl PUT $(fmt_t "$m_curl" "$SIZE_MB") | $(rc_cell "vfs off: $(fmt_t "$m_rcoff" "$SIZE_MB")") | $r_cp | $(rc_cell "$r_rcoff") | curl ÷ swiftmount ≥ 0.9 | $(verdict "$r_cp" ">=" 0.9) |"
  echo "| 1. write $SIZE_MB MiB, \`dd bs=1M\` | $(fmt_t "$m_smdd" "$SIZE_MB") | curl PUT $(fmt_t "$m_curl" "$SIZE_MB") | | $r_dd | | curl ÷ swiftmount ≥ 0.9 | $(verdict "$r_dd" ">=" 0.9) |"
  echo "| 1. … rclone \`--vfs-cache-mode writes\`: cp returns | | curl PUT $(fmt_t "$m_curl" "$SIZE_MB") | $(rc_cell "$(fmt_t "$m_rcw" "$SIZE_MB")") | | $(rc_cell "$r_rcw") | – | |"
  echo "| 1. … rclone \`writes\`: until the object is in Swift | | curl PUT $(fmt_t "$m_curl" "$SIZE_MB") | $(rc_cell "$(fmt_t "$m_rcwup" "$SIZE_MB")") | | $(rc_cell "$r_rcwup") | – | |"
  echo "| 1. md5 of every object (GET through the API) | ${SEQ_OK} (stored as ${SEQ_KIND:-?}) | | $(rc_cell "$RC_SEQ_OK") | | | match | $( [ "$SEQ_OK" = ok ] && echo PASS || echo FAIL ) |"
  echo "| 2. write $NSMALL files, 8 parallel \`cp --parents\` | $(tf "$m_sm8") | swift upload -j10 $(tf "$m_swup") | $(rc_cell "vfs off: $(tf "$m_rc8")") | $r_sm8 | $(rc_cell "$r_rc8") | swift ÷ swiftmount ≥ 1.0 | $(verdict "$r_sm8" ">=" 1.0) |"
  echo "| 2. write $NSMALL files, one \`cp -r\` | $(tf "$m_sm1") | swift upload -j10 $(tf "$m_swup") | | $r_sm1 | | – | |"
  echo "| 2. read $NSMALL files back, \`cp -r\` (fresh mount) | $(tf "$m_rdsm") | swift download -j10 $(tf "$m_rdsw") | $(rc_cell "vfs off: $(tf "$m_rdrc")") | $r_rdsm | $(rc_cell "$r_rdrc") | – | |"
  echo "| 2. read $NSMALL files back, 8 parallel readers | $(tf "$m_rdsm8") | swift download -j10 $(tf "$m_rdsw") | | $r_rdsm8 | | – | |"
  echo "| 2. swiftmount requests for its first 8-writer upload | $SM_REQ_N (${req_per_file:-?}/file) | | | | | – | |"
  echo "| 3. peak RSS (VmHWM) writing $BIG_MB MiB (\`dd bs=1M\`) | ${SM_HWM:-–} MiB | | $(rc_cell "vfs off: ${RC_HWM:-–} MiB") | | | < 64 MiB | $res_mem |"
  echo "| 3. … RSS after mount, before the write | ${SM_RSS0:-–} MiB | | $(rc_cell "${RC_RSS0:-–} MiB") | | | – | |"
  echo "| 3. … that write (md5: ${SM_BIG_OK:-–}) | $(fmt_t "$SM_BIG_T" "$BIG_MB") | | $(rc_cell "$(fmt_t "$RC_BIG_T" "$BIG_MB")") | | | – | |"
  echo
  echo "samples (s): curl ${T_CURL[*]:-–} · swiftmount cp ${T_SMCP[*]:-–} · dd ${T_SMDD[*]:-–}${RCLONE:+ · rclone off ${T_RCOFF[*]:-–} · writes ${T_RCW[*]:-–} / in Swift ${T_RCW_UP[*]:-–}}"
  echo "· small: swiftmount 8w ${T_SM8[*]:-–} · cp -r ${T_SM1[*]:-–} · swift upload ${T_SWUP[*]:-–}${RCLONE:+ · rclone 8w ${T_RC8[*]:-–}} · read swiftmount ${T_RD_SM[*]:-–} · 8r ${T_RD_SM8[*]:-–} · swift download ${T_RD_SW[*]:-–}${RCLONE:+ · rclone ${T_RD_RC[*]:-–}}"
  echo
  echo "- swiftmount requests (proxy log, client requests only) for $NSMALL files with 8 writers: ${SM_REQ:-–}"
  echo "- swiftmount requests for reading the $NSMALL files back with \`cp -r\` (fresh mount): ${SM_RD_REQ:-–}"
  echo "- swiftmount requests for the $BIG_MB MiB dd: ${SM_BIG_REQ:-–}"
  for n in "${NOTES[@]}"; do echo "- note: $n"; done
  for b in "${BROKEN[@]}"; do echo "- **BROKEN**: $b"; done
  echo "- run time $(el "$T_START") s; result: $( [ ${#BROKEN[@]} = 0 ] && echo ok || echo "BROKEN (${#BROKEN[@]})")"
} | tee -a "$OUT"
log "appended to $OUT"
[ ${#BROKEN[@]} = 0 ]
