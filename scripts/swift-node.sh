#!/bin/bash
# Stop, kill or start ONE service of one storage node of the cluster profile
# (SWIFTMOUNT_LAB_NODES=3 scripts/swift-up.sh), by its PID file only:
#   scripts/swift-node.sh stop   object 2     # SIGTERM object-server-2 (KILL after 5 s)
#   scripts/swift-node.sh kill   object 2     # SIGKILL its process group at once (a crash)
#   scripts/swift-node.sh start  object 2     # start it again; returns once /healthcheck is 200
#   scripts/swift-node.sh status object 2     # exit 0 when it runs
# SERVICE is object|container|account (the servers) or a daemon's name: object-replicator,
# container-replicator, account-replicator, object-updater, container-updater; or
# `proxy 1` / `proxy 2` (proxy-server / proxy-server-r2, the same command lines as swift-up.sh).
# The ports and node count come from $SWIFTMOUNT_LAB_ROOT/etc/lab.env (written by swift-up.sh),
# so only SWIFTMOUNT_LAB_ROOT has to be set.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
root=${SWIFTMOUNT_LAB_ROOT:-/srv/swiftmount-lab}
[ -f "$root/etc/lab.env" ] || { echo "swift-node: no cluster under $root ($root/etc/lab.env missing)" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
. "$root/etc/lab.env"
set +a
# shellcheck source=scripts/swift.env
. "$HERE/swift.env"
# shellcheck source=scripts/lib.sh
. "$HERE/lib.sh"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LOG_TAG=swift-node
need_root
[ $# = 3 ] || die "usage: $0 stop|kill|start|status SERVICE NODE"
action=$1 svc=$2 n=$3
case $svc in object|container|account) svc=$svc-server ;; esac
if [ "$svc" = proxy ]; then   # "proxy 1" = proxy-server (RegionOne), "proxy 2" = proxy-server-r2
  case $n in 1) name=proxy-server port=$SWIFT_PROXY_PORT ;; 2) name=proxy-server-r2 port=$SWIFT_PROXY2_PORT ;;
    *) die "proxy 1 or proxy 2" ;; esac
else
  case " $NODE_SERVICES " in *" $svc "*) ;; *) die "unknown service $svc (proxy or one of: $NODE_SERVICES)" ;; esac
  case $n in [1-9]) [ "$n" -le "$SWIFTMOUNT_LAB_NODES" ] || die "node $n: the cluster has $SWIFTMOUNT_LAB_NODES" ;;
    *) die "node must be 1-$SWIFTMOUNT_LAB_NODES" ;; esac
  name=$svc-$n
fi
pidf=$LAB_RUN/$name.pid

group_alive() {  # pgid: some process of the group is not a zombie
  local p
  for p in $(ps -o pid= -g "$1" 2>/dev/null); do alive "$p" && return 0; done
  return 1
}

case $action in
  status) running "$name" ;;
  stop) stop_service "$name" ;;
  kill)
    [ -s "$pidf" ] || die "$name has no PID file"
    pid=$(cat "$pidf")
    alive "$pid" || die "$name (pid $pid) is not running"
    [ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pid" ] || die "$name: pid $pid leads no process group"
    kill -KILL -- "-$pid"
    for _ in $(seq 100); do group_alive "$pid" || break; sleep 0.05; done
    group_alive "$pid" && die "$name (group $pid) still alive after SIGKILL"
    rm -f "$pidf" "$LAB_RUN/$name.cfghash"
    log "killed $name (group $pid, SIGKILL)"
    ;;
  start)
    STARTED=""
    case $svc in
      proxy)
        start_service "$name" "$port" "$LAB_ETC/$name.conf $LAB_ETC/swift.conf" \
          /usr/bin/swift-proxy-server "$LAB_ETC/$name.conf" -v
        wait_http "http://$SWIFTMOUNT_LAB_HOST:$port/healthcheck" 60 "$name" ;;
      *-server)
        start_node_service "$svc" "$n"
        wait_http "http://$SWIFTMOUNT_LAB_HOST:$(node_port "${svc%%-*}" "$n")/healthcheck" 60 "$name" ;;
      *) start_node_service "$svc" "$n" ;;
    esac
    ;;
  *) die "usage: $0 stop|kill|start|status SERVICE NODE" ;;
esac
