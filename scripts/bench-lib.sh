# Helpers for scripts/bench.sh: timing, page cache, memory, Keystone tokens, Swift chores
# (listings, bulk create/delete, tree checks), FUSE mounts run in their own session.
# Source after swift.env and lib.sh.  Uses $W (scratch folder), $C (the run's container),
# $REGION, $KS (Keystone v3 URL) and sets the globals documented at each function.
# shellcheck shell=bash disable=SC2034  # globals are read by bench.sh

# ------------------------------------------------------------------ numbers and time
el() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }   # seconds since $1
calc() { awk "BEGIN { printf \"$1\", $2 }"; }                                     # calc FMT EXPR
median() {  # numbers... -> median ("" if none)
  [ $# -gt 0 ] || { echo ""; return; }
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
maxof() { [ $# -gt 0 ] || { echo ""; return; }; printf '%s\n' "$@" | sort -g | tail -1; }

# ------------------------------------------------------------------ page cache, memory
# drop: write back and drop the page cache (and dentries/inodes: for a FUSE mount that
# means the kernel asks the mount again).  A failure is reported once through note().
DROP_OK=1
drop() {
  sync
  if ! echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
    [ -n "$DROP_OK" ] && note "cannot drop the page cache (/proc/sys/vm/drop_caches): reads may be cached"
    DROP_OK=""
  fi
}
warm() {  # FILE|DIR...: read into the page cache (sources of writes are read from memory)
  local p
  for p in "$@"; do
    if [ -d "$p" ]; then find "$p" -type f -exec cat {} + > /dev/null; else cat "$p" > /dev/null; fi
  done
}
hwm() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }  # peak RSS, MiB
rss() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }  # RSS, MiB
reset_hwm() { echo 5 > "/proc/$1/clear_refs" 2>/dev/null || true; }   # peak RSS := current RSS
CLK_TCK=$(getconf CLK_TCK)
# cpu_ticks PID: user + sys time of the process (all its threads) in clock ticks; fields 14
# and 15 of /proc/PID/stat, counted after the command name (which may hold spaces)
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null; }

# ------------------------------------------------------------------ Swift helper (python)
# swiftpy CMD ARGS... : stdlib-only helper.  Gets its own Keystone tokens (labuser, $REGION)
# and renews them, so long chores survive the test stack's 60-second tokens.
#   token                           -> "TOKEN STORAGE_URL LIFETIME_SECONDS"
#   count PREFIX                    -> objects under PREFIX (folder markers aside)
#   fill PREFIX N                   -> creates PREFIX/f00000.txt … (bulk extract-archive)
#   check-tree PREFIX MANIFEST      -> "ok" or what differs (names + md5 from the listing)
#   dirs PREFIX                     -> folders right under PREFIX (markers or implicit)
#   empty CONTAINER                 -> deletes every object (bulk-delete), then the container
#   slo-md5 OBJECT                  -> the md5 of a one-segment SLO (its segment's ETag), or ""
swiftpy() {
  BENCH_KS="$KS" BENCH_REGION="$REGION" BENCH_PW="$KS_LAB_PASSWORD" BENCH_C="$C" "$PY" - "$@" <<'EOF'
import io, json, os, sys, tarfile, threading, time, urllib.error, urllib.parse, urllib.request
from datetime import datetime
from concurrent.futures import ThreadPoolExecutor

KS, REGION, PW, C = (os.environ[k] for k in ("BENCH_KS", "BENCH_REGION", "BENCH_PW", "BENCH_C"))
_tok = {"t": None, "at": 0.0, "life": 0}
_lock = threading.Lock()

def token(min_left=30):
    with _lock:
        if _tok["t"] and _tok["life"] - (time.time() - _tok["at"]) > min_left:
            return _tok["t"], _tok["s"]
        body = json.dumps({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "labuser", "domain": {"name": "labdomain"}, "password": PW}}},
            "scope": {"project": {"name": "labproject", "domain": {"name": "labdomain"}}}}}).encode()
        for attempt in range(5):
            try:
                r = urllib.request.urlopen(urllib.request.Request(
                    KS + "/auth/tokens", data=body, headers={"Content-Type": "application/json"}), timeout=30)
                break
            except (urllib.error.URLError, ConnectionError):
                if attempt == 4: raise
                time.sleep(1)
        t = json.load(r)["token"]
        p = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
        _tok.update(t=r.headers["X-Subject-Token"], at=time.time(),
                    life=int((p(t["expires_at"]) - p(t["issued_at"])).total_seconds()),
                    s=next(e["url"] for s in t["catalog"] if s["type"] == "object-store"
                           for e in s["endpoints"] if e["interface"] == "public"
                           and e.get("region", e.get("region_id")) == REGION))
        return _tok["t"], _tok["s"]

def req(method, path, query=None, data=None, headers=None, min_left=30):
    tok, s = token(min_left)
    h = {"X-Auth-Token": tok}
    h.update(headers or {})
    url = s + path + ("?" + urllib.parse.urlencode(query) if query else "")
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=h),
                                timeout=900) as r:
        return r.status, r.read()

def cpath(c=None): return "/" + urllib.parse.quote(c or C)

def pages(prefix, c=None):
    marker = ""
    while True:
        q = {"format": "json", "prefix": prefix, "marker": marker, "limit": 10000}
        try:
            _, body = req("GET", cpath(c), q)
        except urllib.error.HTTPError as e:
            if e.code == 404: return
            raise
        page = json.loads(body or b"[]")
        yield page
        if len(page) < 10000: return
        marker = page[-1].get("name") or page[-1].get("subdir")

def is_marker(e):
    return ("subdir" in e or e["name"].endswith("/")
            or e.get("content_type", "").split(";")[0].strip().lower() == "application/directory")

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "token":
    tok, s = token(10**9)
    print(tok, s, _tok["life"])
elif cmd == "count":
    print(sum(1 for page in pages(args[0]) for e in page if not is_marker(e)))
elif cmd == "fill":
    prefix, n = args[0], int(args[1])
    per = 250                                  # objects per request: each ends well within a token's life
    def one(k):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for i in range(k, min(k + per, n)):
                data = ("object %d\n" % i).encode() * 8
                ti = tarfile.TarInfo("%s/f%05d.txt" % (prefix, i)); ti.size = len(data); ti.mtime = 1700000000
                # as swiftmount stores a file's mtime, mode and owner (bulk turns the
                # user.mime_type xattr into the Content-Type): every listed row carries them
                ti.pax_headers = {"SCHILY.xattr.user.mime_type": "text/plain;swiftmount_mtime=1700000000.%09d"
                                  ";swiftmount_mode=100640;swiftmount_uid=1001;swiftmount_gid=1001" % i}
                tf.addfile(ti, io.BytesIO(data))
        _, body = req("PUT", cpath(), {"extract-archive": "tar"}, buf.getvalue(),
                      {"Accept": "application/json"}, min_left=40)
        res = json.loads(body)
        if not res.get("Response Status", "").startswith("201"):
            raise SystemExit("extract-archive: %s" % res)
    with ThreadPoolExecutor(6) as ex:          # the lab's Swift does ~1.5x more with 6 than 3
        list(ex.map(one, range(0, n, per)))
elif cmd == "check-tree":
    prefix, manifest = args
    want = {}
    for line in open(manifest):
        h, name = line.split(None, 1); want[name.strip()] = h
    got = {e["name"][len(prefix):]: e["hash"] for page in pages(prefix) for e in page if not is_marker(e)}
    missing = sorted(set(want) - set(got)); extra = sorted(set(got) - set(want))
    bad = sorted(n for n in want if n in got and got[n] != want[n])
    if missing or extra or bad:
        print("%d missing %s, %d unexpected %s, %d wrong md5 %s" % (
            len(missing), missing[:2], len(extra), extra[:2], len(bad), bad[:2]))
    else:
        print("ok")
elif cmd == "dirs":
    # folders right under PREFIX: markers of either kind ("d/", or "d" as application/directory)
    # and implicit folders, from one delimited listing
    _, body = req("GET", cpath(), {"format": "json", "prefix": args[0], "delimiter": "/", "limit": 10000})
    names = set()
    for e in json.loads(body or b"[]"):
        if is_marker(e):
            names.add((e.get("subdir") or e["name"])[len(args[0]):].rstrip("/"))
    print(len(names))
elif cmd == "slo-md5":
    _, body = req("GET", cpath() + "/" + urllib.parse.quote(args[0]), {"multipart-manifest": "get"})
    segs = json.loads(body)
    print(segs[0]["hash"] if len(segs) == 1 else "")
elif cmd == "empty":
    c = args[0]
    def bulk(names):
        body = "\n".join(urllib.parse.quote("/%s/%s" % (c, n)) for n in names).encode()
        try:
            req("POST", "", {"bulk-delete": "1"}, body,
                {"Content-Type": "text/plain", "Accept": "application/json"}, min_left=40)
        except Exception as e:
            print("bulk-delete: %s" % e, file=sys.stderr)
    for _ in range(100):
        page = next(pages("", c=c), [])
        if not page: break
        names = [e["name"] for e in page]
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(bulk, [names[i:i + 250] for i in range(0, len(names), 250)]))
    for _ in range(10):
        try:
            req("DELETE", cpath(c)); break
        except urllib.error.HTTPError as e:
            if e.code == 404: break
            time.sleep(1)          # 409: a listing not yet updated
    else:
        print("could not delete container %s" % c, file=sys.stderr); sys.exit(1)
else:
    raise SystemExit("swiftpy: unknown command " + cmd)
EOF
}

# auth [SECONDS]: TOKEN, S (storage URL), TOKEN_LIFE; a new token unless the current one has
# more than SECONDS (default 20) left.  `auth 999999` always gets a new one.  The first call
# reads the catalog; later ones ask Keystone for a token alone (nocatalog: cheaper).
TOKEN="" S="" TOKEN_LIFE=0 TOKEN_T=0
auth() {
  local r
  if [ -n "$TOKEN" ] && awk -v t="$TOKEN_T" -v now="$EPOCHREALTIME" -v life="$TOKEN_LIFE" -v need="${1:-20}" \
       'BEGIN { exit !(life - (now - t) > need) }'; then return 0; fi
  TOKEN_T=$EPOCHREALTIME
  if [ -z "$S" ]; then
    r=$(swiftpy token) || die "keystone auth for labuser failed ($KS)"
    read -r TOKEN S TOKEN_LIFE <<<"$r"
  else
    TOKEN=$(curl -sf -D - -o /dev/null -H 'Content-Type: application/json' "$KS/auth/tokens?nocatalog" -d @- <<JSON | tr -d '\r' | awk -F': ' 'tolower($1)=="x-subject-token"{print $2}'
{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"labuser","domain":{"name":"labdomain"},"password":"$KS_LAB_PASSWORD"}}},
 "scope":{"project":{"name":"labproject","domain":{"name":"labdomain"}}}}}
JSON
)
    [ -n "$TOKEN" ] || die "keystone auth for labuser failed ($KS)"
  fi
  # the proxy validates a new token with Keystone on first use: pay that here, untimed
  curl -s -o /dev/null -I -H "X-Auth-Token: $TOKEN" "$S" || true
}
sw() { curl -s -H "X-Auth-Token: $TOKEN" "$@"; }     # curl with the token (call auth first)

# check_obj OBJECT MD5 BYTES: the stored object has that length and md5 (ETag of a plain
# object; a whole GET for a large object).  Sets CHECK_MSG on failure.
CHECK_MSG=""
check_obj() {
  local o=$1 want=$2 bytes=$3 hdr len etag sum
  auth 20
  hdr=$(sw -f -I "$S/$C/$o" | tr -d '\r')
  len=$(awk -F': ' 'tolower($1)=="content-length"{print $2}' <<<"$hdr")
  etag=$(awk -F': ' 'tolower($1)=="etag"{print $2}' <<<"$hdr" | tr -d '"')
  if [ -z "$hdr" ]; then CHECK_MSG="$o: not in Swift"; return 1; fi
  if grep -qi '^x-static-large-object: *true' <<<"$hdr"; then   # one segment: its ETag
    sum=$(swiftpy slo-md5 "$o")
    [ -n "$sum" ] || sum=$(sw -f "$S/$C/$o" | md5sum | cut -d' ' -f1)
  elif grep -qi '^x-object-manifest:' <<<"$hdr" || ! [[ $etag =~ ^[0-9a-f]{32}$ ]]; then
    sum=$(sw -f "$S/$C/$o" | md5sum | cut -d' ' -f1)
  else
    sum=$etag
  fi
  [ "$len" = "$bytes" ] && [ "$sum" = "$want" ] && return 0
  CHECK_MSG="$o: $len bytes, md5 $sum; expected $bytes bytes, md5 $want"
  return 1
}
del_obj() {  # OBJECT: delete it (with its segments if it is an SLO); keeps the lab's tmpfs small
  auth 20
  if sw -f -I "$S/$C/$1" | tr -d '\r' | grep -qi '^x-static-large-object: *true'; then
    sw -o /dev/null -X DELETE "$S/$C/$1?multipart-manifest=delete"
  else
    sw -o /dev/null -X DELETE "$S/$C/$1"
  fi
}

# ------------------------------------------------------------------ timed commands
# run_timed LIMIT CMD... : run CMD (stdout -> $W/cmd.out, stderr -> $W/cmd.err) under
# `timeout LIMIT`, in the background so that Ctrl-C reaches our trap at once -> DUR (s), RC.
# RC 124 = killed after LIMIT seconds.
DUR="" RC=0 T_BEGIN="" CUR_PID=""
run_timed() {
  local lim=$1; shift
  T_BEGIN=$EPOCHREALTIME
  timeout -k 5 "$lim" "$@" > "$W/cmd.out" 2> "$W/cmd.err" &
  CUR_PID=$!
  wait "$CUR_PID"; RC=$?
  CUR_PID=""
  DUR=$(el "$T_BEGIN")
  return "$RC"
}
cmd_err() {  # short description of the last run_timed failure
  if [ "$RC" = 124 ]; then echo "timed out"
  else echo "exit $RC: $(grep -v '^ *$' "$W/cmd.err" | head -2 | cut -c1-160 | tr '\n' ' ')"; fi
}

# ------------------------------------------------------------------ FUSE mounts
# mount_fs NAME MOUNTPOINT CMD... : CMD stays in the foreground until unmounted; it runs in
# its own session with a PID file $LAB_RUN/NAME.pid (scripts/swift-down.sh stops leftovers),
# its output appended to $MOUNT_LOG.  Sets MOUNT_PID.  Only PIDs started here are signalled.
MOUNT_PID="" MOUNT_NAME="" MOUNT_MP=""
mount_fs() {
  local name=$1 mp=$2 pidf="$LAB_RUN/$1.pid" logf=${MOUNT_LOG:-$LAB_LOG/$1.log} pid=""; shift 2
  mkdir -p "$mp" "$LAB_RUN" "$LAB_LOG" || return 1
  rm -f "$pidf"
  echo "=== $(date -u +%T) $name: $*" | sed -E 's/(TOKEN|PASSWORD)=[^ ]*/\1=…/g' >> "$logf"
  # shellcheck disable=SC2016  # $$ and $@ are for the inner sh
  setsid sh -c 'echo $$ > "$0"; exec "$@"' "$pidf" "$@" >>"$logf" 2>&1 </dev/null &
  MOUNT_NAME=$name MOUNT_MP=$mp
  for _ in $(seq 300); do                       # 30 s
    [ -z "$pid" ] && [ -s "$pidf" ] && pid=$(cat "$pidf") && MOUNT_PID=$pid
    mountpoint -q "$mp" && return 0
    if [ -n "$pid" ] && ! alive "$pid"; then break; fi
    sleep 0.1
  done
  note "mount $name failed (log $logf: $(tail -3 "$logf" | tr '\n' ' ' | cut -c1-300))"
  umount_fs
  return 1
}
mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; }   # also a dead FUSE mount
umount_fs() {  # unmount the current mount and wait for its process (TERM, then KILL)
  local pid=$MOUNT_PID mp=$MOUNT_MP
  [ -n "$mp" ] || return 0
  if mounted "$mp"; then
    fusermount3 -u "$mp" 2>/dev/null || { sleep 1; fusermount3 -u "$mp" 2>/dev/null; } ||
      { note "$MOUNT_NAME: fusermount3 -u $mp failed (busy?): lazy unmount"; fusermount3 -uz "$mp"; }
  fi
  if [ -n "$pid" ]; then
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then   # a Go program (rclone) dumps its goroutines into its log on QUIT
      local sig=TERM; [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = rclone ] && sig=QUIT
      note "$MOUNT_NAME (pid $pid) still running 10 s after unmount: $sig"
      kill -"$sig" "$pid" 2>/dev/null; sleep 2
      alive "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
  fi
  rm -f "$LAB_RUN/$MOUNT_NAME.pid"
  MOUNT_PID="" MOUNT_NAME="" MOUNT_MP=""
}
mount_alive() { [ -n "$MOUNT_PID" ] && alive "$MOUNT_PID"; }

# ------------------------------------------------------------------ 8 parallel clients
# par8_script: a Python program (written to a file, so that run_timed can run it) that does
# one batch of work from 8 threads, each taking the next item, and prints the threads' own
# time (s; no interpreter start-up, no reading of the sources):
#   fs-files DEST SRC      open/write/close each file of the tree SRC under DEST (its
#                          folders are made first, untimed)
#   api-files URL SRC      the same files as PUTs to URL/<path>, one keep-alive
#                          http.client connection per thread ($BENCH_TOKEN; on a 401, as
#                          any client would, a new token from Keystone and the PUT again:
#                          the lab's tokens live 60 s, a batch at load may take longer)
#   fs-mkdir DEST N        os.mkdir DEST/d000 … (DEST is made first, untimed), then one fsync
#                          of DEST -> "MKDIR_S FSYNC_S"
#   api-mkdir URL N        PUTs of N zero-byte folder markers URL/d000 … (application/directory,
#                          as swiftmount stores a folder) -> "PUT_S 0"
par8_script() {
  cat <<'EOF'
import http.client, json, os, sys, threading, time, urllib.parse, urllib.request

THREADS = 8
mode, dest, what = sys.argv[1:4]

def tree(src):
    out = []
    for d, _, names in os.walk(src):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out.append((os.path.relpath(p, src), f.read()))
    return sorted(out)

def run(items, work):
    it, lock, errors = iter(items), threading.Lock(), []
    def worker():
        state = {}
        while not errors:
            with lock:
                item = next(it, None)
            if item is None:
                break
            try:
                work(item, state)
            except Exception as e:
                errors.append("%s: %r" % (item[0], e))
        if "conn" in state:
            state["conn"].close()
    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    t = time.monotonic()
    for th in threads: th.start()
    for th in threads: th.join()
    took = time.monotonic() - t
    if errors:
        sys.exit("%d failed, first: %s" % (len(errors), errors[0]))
    return took

token, token_lock = [os.environ.get("BENCH_TOKEN")], threading.Lock()

def renew(old):
    with token_lock:
        if token[0] == old:
            body = json.dumps({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": "labuser", "domain": {"name": "labdomain"}, "password": os.environ["BENCH_PW"]}}},
                "scope": {"project": {"name": "labproject", "domain": {"name": "labdomain"}}}}}).encode()
            r = urllib.request.urlopen(urllib.request.Request(
                os.environ["BENCH_KS"] + "/auth/tokens?nocatalog", data=body,
                headers={"Content-Type": "application/json"}), timeout=60)
            token[0] = r.headers["X-Subject-Token"]

def put(url, ctype):
    u = urllib.parse.urlsplit(url)
    def work(item, state):
        name, data = item
        if "conn" not in state:
            state["conn"] = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        c = state["conn"]
        for attempt in range(2):
            tok = token[0]
            c.request("PUT", u.path + "/" + urllib.parse.quote(name), body=data,
                      headers={"X-Auth-Token": tok, "Content-Type": ctype})
            r = c.getresponse()
            r.read()
            if r.status != 401 or attempt:
                break
            renew(tok)
        if r.status != 201:
            raise RuntimeError("HTTP %d" % r.status)
    return work

def write(item, _state):
    with open(os.path.join(dest, item[0]), "wb") as f:
        f.write(item[1])

if mode == "fs-files":
    files = tree(what)
    for d in sorted({os.path.dirname(n) for n, _ in files}):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    print("%.3f" % run(files, write))
elif mode == "api-files":
    print("%.3f" % run(tree(what), put(dest, "application/octet-stream")))
elif mode == "fs-mkdir":
    os.makedirs(dest, exist_ok=True)
    took = run([("d%03d" % i, None) for i in range(int(what))],
               lambda item, _: os.mkdir(os.path.join(dest, item[0])))
    fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    t = time.monotonic()
    os.fsync(fd)
    print("%.3f %.3f" % (took, time.monotonic() - t))
    os.close(fd)
elif mode == "api-mkdir":
    print("%.3f 0" % run([("d%03d" % i, b"") for i in range(int(what))], put(dest, "application/directory")))
else:
    sys.exit("par8: unknown mode " + mode)
EOF
}
