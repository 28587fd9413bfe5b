# Helpers shared by swift-up.sh / swift-down.sh / test.sh / demo.sh.  Source after swift.env.
# shellcheck shell=bash

T0=${T0:-$(date +%s%N)}
elapsed() {  # [start_ns] -> "12.3"
  local d=$(( ($(date +%s%N) - ${1:-$T0}) / 100000000 ))
  printf '%d.%d' $((d / 10)) $((d % 10))
}
log() { echo "[${LOG_TAG:-swift} $(elapsed)s] $*"; }
die() { echo "[${LOG_TAG:-swift}] ERROR: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

# apt_need PKG... : install missing Debian packages (no recommends, services never started)
apt_need() {
  local miss="" p t made_policy=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || miss="$miss $p"
  done
  [ -n "$miss" ] || return 0
  t=$(date +%s%N)
  log "apt-get install:$miss"
  # no systemd here: keep package postinsts from starting services (sysv scripts bind 0.0.0.0)
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  local rc=0 aptlog=/tmp/swiftmount-apt.log
  ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -qq >"$aptlog" 2>&1
  # shellcheck disable=SC2086
  if ! apt-get install -y -q --no-install-recommends $miss >"$aptlog" 2>&1; then
    # stale package lists (404 on a mirror) -> refresh once and retry
    apt-get update -qq >>"$aptlog" 2>&1 || true
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $miss >>"$aptlog" 2>&1 || rc=$?
  fi
  [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || { tail -30 "$aptlog"; die "apt-get install failed (log: $aptlog)"; }
  log "installed in $(elapsed "$t")s"
}

# ---------------------------------------------------------------- processes
# Each service runs in its own session (setsid): Swift's SIGTERM handler does killpg(0),
# which would otherwise kill the caller's process group.  PID file = session leader.
alive() {  # pid: running and not a zombie (zombies still answer kill -0)
  kill -0 "$1" 2>/dev/null || return 1
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}
running() {  # name
  local f="$LAB_RUN/$1.pid"
  [ -s "$f" ] && alive "$(cat "$f")"
}
stop_service() {  # name: TERM the process group, KILL after 5 s
  local f="$LAB_RUN/$1.pid" pid tgt
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if [ -z "$pid" ] || ! alive "$pid"; then rm -f "$f" "$LAB_RUN/$1.cfghash"; return 0; fi
  # only signal a group we created (pgid == pid thanks to setsid)
  if [ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pid" ]; then tgt="-$pid"; else tgt="$pid"; fi
  kill -TERM -- "$tgt" 2>/dev/null
  for _ in $(seq 100); do alive "$pid" || break; sleep 0.05; done
  if alive "$pid"; then kill -KILL -- "$tgt" 2>/dev/null; sleep 0.2; fi
  [ "$tgt" = "-$pid" ] && kill -KILL -- "$tgt" 2>/dev/null   # stragglers (workers)
  log "stopped $1 (pid $pid)"
  rm -f "$f" "$LAB_RUN/$1.cfghash"
}
port_busy() { (exec 3<>"/dev/tcp/$SWIFTMOUNT_LAB_HOST/$1") 2>/dev/null; }
# start_service name port "cfg files" cmd...
# Restarts the service if its command line or config files changed since it was started.
start_service() {
  local name=$1 port=$2 cfgs=$3 h; shift 3
  # shellcheck disable=SC2086
  h=$( { printf '%s\n' "$*"; cat $cfgs; } | sha256sum | cut -c1-16)
  if running "$name"; then
    if [ "$(cat "$LAB_RUN/$name.cfghash" 2>/dev/null)" = "$h" ]; then return 0; fi
    log "$name: configuration changed -> restart"
    stop_service "$name"
    for _ in $(seq 50); do port_busy "$port" || break; sleep 0.1; done
  fi
  if [ "$port" != - ] && port_busy "$port"; then
    die "port $port (for $name) is used by a process this stack did not start (another Swift lab?)"
  fi
  rm -f "$LAB_RUN/$name.pid"
  # shellcheck disable=SC2016  # $$ and $@ are for the inner sh
  setsid sh -c 'echo $$ > "$0"; exec "$@"' "$LAB_RUN/$name.pid" "$@" \
      >>"$LAB_LOG/$name.log" 2>&1 </dev/null &
  for _ in $(seq 50); do [ -s "$LAB_RUN/$name.pid" ] && break; sleep 0.1; done
  echo "$h" > "$LAB_RUN/$name.cfghash"
  STARTED="$STARTED $name"
  log "started $name (pid $(cat "$LAB_RUN/$name.pid"))"
}
wait_http() {  # url seconds name : wait for HTTP 200
  local code=""
  for _ in $(seq $(( $2 * 5 ))); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true)
    [ "$code" = 200 ] && return 0
    sleep 0.2
  done
  die "$3 not ready after $2 s ($1 -> $code); see $LAB_LOG/"
}

# ---------------------------------------------------------------- cluster profile
# SWIFTMOUNT_LAB_NODES=3: storage node N has its own device $LAB_ROOT/srv/nodeN/dN, its own
# configs $LAB_ETC/{account,container,object}-server-N.conf and one PID file per service,
# $LAB_RUN/<service>-N.pid (e.g. object-server-2.pid), so one server can be stopped alone.
NODE_SERVICES="account-server container-server object-server object-replicator \
container-replicator account-replicator object-updater container-updater"
is_cluster() { [ "${SWIFTMOUNT_LAB_NODES:-1}" != 1 ]; }
node_port() {  # kind(object|container|account) node
  local off
  case $1 in object) off=0 ;; container) off=1 ;; account) off=2 ;; *) die "node_port: $1" ;; esac
  echo $(( SWIFT_NODE_BASE_PORT + 10 * $2 + off ))
}
node_dev() { echo "$SWIFTMOUNT_LAB_ROOT/srv/node$1/d$1"; }  # node
# start_node_service service node: e.g. start_node_service object-server 2
start_node_service() {
  local svc=$1 n=$2 kind=${1%%-*} port=- conf
  conf="$LAB_ETC/$kind-server-$n.conf"
  case $svc in *-server) port=$(node_port "$kind" "$n") ;; esac
  start_service "$svc-$n" "$port" "$conf $LAB_ETC/swift.conf" "/usr/bin/swift-$svc" "$conf" -v
}
