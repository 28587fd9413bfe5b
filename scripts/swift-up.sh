#!/bin/bash
# Start (or refresh) a single-node OpenStack Swift 2.30 + Keystone 22 on 127.0.0.1,
# from Debian 12 packages.  Run as root.  Idempotent:
#   * installs missing packages, mounts storage, (re)writes configs,
#   * builds the rings and bootstraps keystone only once,
#   * starts services that are not running, and restarts a running service whose
#     configuration changed (e.g. KS_TOKEN_EXPIRATION=60 restarts keystone),
#   * provisions keystone (scripts/ks-provision.py) when needed.
#
#   scripts/swift-up.sh                                   # xfs loop image (default)
#   SWIFTMOUNT_LAB_STORAGE=tmpfs KS_TOKEN_EXPIRATION=60 scripts/swift-up.sh
# Settings: scripts/swift.env.  Stop: scripts/swift-down.sh [--purge].
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/swift.env
. "$HERE/swift.env"
# shellcheck source=scripts/lib.sh
. "$HERE/lib.sh"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin   # Debian's python3, not pyenv's
LOG_TAG=swift-up
need_root
H=$SWIFTMOUNT_LAB_HOST
STARTED=""

# ------------------------------------------------------------------ 1. packages
pkgs=(swift swift-proxy swift-object swift-container swift-account memcached
      python3-keystonemiddleware python3-swiftclient keystone curl)
[ "$SWIFTMOUNT_LAB_STORAGE" = xfs ] && pkgs+=(xfsprogs)
apt_need "${pkgs[@]}"

mkdir -p "$LAB_ETC/keystone" "$LAB_RUN" "$LAB_LOG" "$LAB_DEV" "$LAB_KS" "$LAB_MNT"

# ------------------------------------------------------------------ 2. storage
# Not a plain ext4 dir: ext4 holds only ~3.5 KiB of user xattrs per inode, objects with
# near-max metadata then get 507 and the proxy error-limits the only device (503s for 60 s).
mount_storage() {  # device-dir image-file tmpfs-name
  local dev=$1 img=$2 tag=$3 fs
  if mountpoint -q "$dev"; then
    fs=$(stat -f -c %T "$dev")
    case "$SWIFTMOUNT_LAB_STORAGE:$fs" in
      xfs:xfs|tmpfs:tmpfs) ;;
      *) log "NOTE: storage is already mounted as $fs (requested $SWIFTMOUNT_LAB_STORAGE); run swift-down.sh first to switch" ;;
    esac
  else
    case "$SWIFTMOUNT_LAB_STORAGE" in
      xfs)
        if [ ! -f "$img" ]; then truncate -s "$SWIFTMOUNT_LAB_DISK_SIZE" "$img"; mkfs.xfs -q "$img"; fi
        mount -o loop,noatime "$img" "$dev" || die "loop mount of $img failed (no loop devices? try SWIFTMOUNT_LAB_STORAGE=tmpfs)" ;;
      tmpfs)
        mount -t tmpfs -o "size=$SWIFTMOUNT_LAB_DISK_SIZE,mode=755" "$tag" "$dev" ;;
      *) die "SWIFTMOUNT_LAB_STORAGE must be xfs or tmpfs" ;;
    esac
    # tmpfs has user xattrs only since kernel 6.6: check that swift's metadata fits
    $PY - "$dev" <<'EOF' || die "$dev cannot hold swift's xattrs; use SWIFTMOUNT_LAB_STORAGE=xfs"
import os, sys
p = os.path.join(sys.argv[1], ".xattr-probe"); open(p, "w").close()
try:
    for i in range(40): os.setxattr(p, "user.swift.metadata%d" % i, b"x" * 254)
finally:
    os.unlink(p)
EOF
    log "storage: $SWIFTMOUNT_LAB_STORAGE on $dev"
  fi
}
if is_cluster; then
  case "$SWIFTMOUNT_LAB_NODES" in [3-9]) ;; *) die "SWIFTMOUNT_LAB_NODES must be 1 (single node) or 3-9" ;; esac
  [ -e "$LAB_RUN/object-server.pid" ] && running object-server && \
    die "the single-node profile is running under $SWIFTMOUNT_LAB_ROOT; run swift-down.sh first"
  for n in $(seq "$SWIFTMOUNT_LAB_NODES"); do
    mkdir -p "$(node_dev "$n")"
    mount_storage "$(node_dev "$n")" "$SWIFTMOUNT_LAB_ROOT/swift-disk-$n.img" "swiftmount-lab-n$n"
  done
else
  ls "$LAB_RUN"/object-server-[0-9]*.pid >/dev/null 2>&1 && \
    die "the cluster profile is running under $SWIFTMOUNT_LAB_ROOT; run swift-down.sh first"
  mount_storage "$LAB_DEV" "$SWIFTMOUNT_LAB_ROOT/swift-disk.img" swiftmount-lab
fi

# ------------------------------------------------------------------ 3. configs
# swift hard-codes /etc/swift/swift.conf
mkdir -p /etc/swift
cat > "$LAB_ETC/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = swiftmount-suffix
swift_hash_path_prefix = swiftmount-prefix

[storage-policy:0]
name = Policy-0
default = yes

[swift-constraints]
EOF
cmp -s "$LAB_ETC/swift.conf" /etc/swift/swift.conf || cp "$LAB_ETC/swift.conf" /etc/swift/swift.conf

server_conf() {  # kind port extra-app-lines extra-sections
  cat <<EOF
[DEFAULT]
bind_ip = $H
bind_port = $2
swift_dir = $LAB_ETC
devices = $LAB_NODE
mount_check = false
user = root
workers = 1
log_level = INFO
# there is no syslog: servers run with -v (console -> log/), UDP fallback stays on loopback
log_udp_host = 127.0.0.1
log_udp_port = 514

[pipeline:main]
pipeline = healthcheck recon $1-server

[app:$1-server]
use = egg:swift#$1
$3

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:recon]
use = egg:swift#recon
recon_cache_path = $LAB_RUN

$4
EOF
}
if ! is_cluster; then
server_conf account "$SWIFT_ACCOUNT_PORT" "" \
  "$(printf '[account-replicator]\n[account-auditor]\n[account-reaper]')" > "$LAB_ETC/account-server.conf"
server_conf container "$SWIFT_CONTAINER_PORT" "allow_versions = true" \
  "$(printf '[container-replicator]\n[container-updater]\ninterval = 15\n[container-auditor]\n[container-sync]\n[container-sharder]')" \
  > "$LAB_ETC/container-server.conf"
server_conf object "$SWIFT_OBJECT_PORT" "" \
  "$(printf '[object-replicator]\n[object-reconstructor]\n[object-updater]\ninterval = 15\n[object-auditor]')" \
  > "$LAB_ETC/object-server.conf"
else
  # Cluster: one config per server and node, its own devices dir (one device dN), the
  # daemons' recon cache under the root (their default is /var/cache/swift, shared).
  # Objects replicate with ssync (over the object servers' own ports): no rsync daemon,
  # whose port 873 would be shared by every lab on the machine.  The account/container
  # replicators merge rows over HTTP (REPLICATE); a DB missing on a node entirely would
  # need rsync, which the tests never cause (containers are made with all nodes up).
  ri=$SWIFT_REPLICATOR_INTERVAL
  for n in $(seq "$SWIFTMOUNT_LAB_NODES"); do
    node_conf() {  # kind, then server_conf's arguments 3 and 4
      server_conf "$1" "$(node_port "$1" "$n")" "$2" "$3" |
        sed -e "s|^devices = .*|devices = $SWIFTMOUNT_LAB_ROOT/srv/node$n\nrecon_cache_path = $LAB_RUN/node$n|" \
            -e "s|^recon_cache_path = $LAB_RUN\$|recon_cache_path = $LAB_RUN/node$n|"
    }
    mkdir -p "$LAB_RUN/node$n"
    node_conf account "" \
      "$(printf '[account-replicator]\ninterval = %s\n[account-auditor]\n[account-reaper]' "$ri")" \
      > "$LAB_ETC/account-server-$n.conf"
    node_conf container "allow_versions = true" \
      "$(printf '[container-replicator]\ninterval = %s\n[container-updater]\ninterval = 5\n[container-auditor]\n[container-sync]\n[container-sharder]' "$ri")" \
      > "$LAB_ETC/container-server-$n.conf"
    node_conf object "" \
      "$(printf '[object-replicator]\nsync_method = ssync\ninterval = %s\n[object-reconstructor]\n[object-updater]\ninterval = 5\n[object-auditor]' "$ri")" \
      > "$LAB_ETC/object-server-$n.conf"
  done
fi

proxy_conf() {  # port
  cat <<EOF
[DEFAULT]
bind_ip = $H
bind_port = $1
swift_dir = $LAB_ETC
user = root
workers = 2
log_level = INFO
log_udp_host = 127.0.0.1
log_udp_port = 514

[pipeline:main]
# keystoneauth must come BEFORE tempauth: keystoneauth always sets swift.authorize,
# tempauth then takes over for its own (TEMPAUTH_) tokens and accounts.
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk authtoken keystoneauth tempauth copy container-quotas account-quotas slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:tempauth]
use = egg:swift#tempauth
reseller_prefix = TEMPAUTH
token_life = $TEMPAUTH_TOKEN_LIFE
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test_tester2 = testing2 .admin
user_test_tester3 = testing3
user_test2_tester2 = testing2 .admin

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = http://$H:$KEYSTONE_PORT/v3
auth_url = http://$H:$KEYSTONE_PORT/v3
auth_type = password
project_domain_id = default
user_domain_id = default
project_name = service
username = swift
password = $KS_SWIFT_PASSWORD
delay_auth_decision = True
memcached_servers = $H:$MEMCACHED_PORT
service_token_roles_required = True

[filter:keystoneauth]
use = egg:swift#keystoneauth
reseller_prefix = AUTH_
operator_roles = admin, member, swiftoperator
reseller_admin_role = ResellerAdmin

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:cache]
use = egg:swift#memcache
memcache_servers = $H:$MEMCACHED_PORT

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:bulk]
use = egg:swift#bulk

[filter:copy]
use = egg:swift#copy

[filter:container-quotas]
use = egg:swift#container_quotas

[filter:account-quotas]
use = egg:swift#account_quotas

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo

[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true
allow_object_versioning = true

[filter:symlink]
use = egg:swift#symlink
EOF
}
proxy_conf "$SWIFT_PROXY_PORT" > "$LAB_ETC/proxy-server.conf"
proxy_conf "$SWIFT_PROXY2_PORT" > "$LAB_ETC/proxy-server-r2.conf"

cat > "$LAB_ETC/keystone/keystone.conf" <<EOF
[DEFAULT]
log_file = $LAB_LOG/keystone-app.log
[database]
connection = sqlite:///$LAB_KS/keystone.db
sqlite_synchronous = false
[token]
provider = fernet
expiration = $KS_TOKEN_EXPIRATION
[fernet_tokens]
key_repository = $LAB_KS/fernet-keys
[credential]
key_repository = $LAB_KS/credential-keys
[catalog]
driver = sql
[identity]
# bcrypt cost 4 instead of 12: password auth ~20 ms instead of ~350 ms
password_hash_rounds = 4
[cache]
# without a cache every token validation costs ~0.6 s on sqlite
enabled = true
backend = oslo_cache.memcache_pool
memcache_servers = $H:$MEMCACHED_PORT
EOF
cat > "$LAB_ETC/keystone/uwsgi.ini" <<EOF
[uwsgi]
plugins = python3
http-socket = $H:$KEYSTONE_PORT
wsgi-file = /usr/bin/keystone-wsgi-public
env = OS_KEYSTONE_CONFIG_DIR=$LAB_ETC/keystone
chdir = $LAB_KS
master = true
processes = 2
threads = 4
enable-threads = true
lazy-apps = true
# uwsgi treats SIGTERM as "reload" unless told otherwise
die-on-term = true
# at shutdown a worker segfaults in Py_Finalize (greenlet + threads) and the master then
# waits the 60 s default mercy for the other one: skip the teardown, wait 3 s at most
skip-atexit-teardown = true
worker-reload-mercy = 3
reload-mercy = 3
no-orphans = true
buffer-size = 65535
# http-socket answers HTTP/1.1 without "Connection: close" and then closes the socket;
# pooled clients would reuse the dead connection (RemoteDisconnected)
add-header = Connection: close
EOF

if is_cluster; then
  # what scripts/swift-node.sh and the cluster tests (tests/cluster.rs) read
  cat > "$LAB_ETC/lab.env" <<EOF
SWIFTMOUNT_LAB_NODES=$SWIFTMOUNT_LAB_NODES
SWIFT_NODE_BASE_PORT=$SWIFT_NODE_BASE_PORT
SWIFTMOUNT_LAB_HOST=$H
SWIFT_PROXY_PORT=$SWIFT_PROXY_PORT
SWIFT_PROXY2_PORT=$SWIFT_PROXY2_PORT
KEYSTONE_PORT=$KEYSTONE_PORT
MEMCACHED_PORT=$MEMCACHED_PORT
SWIFTMOUNT_LAB_STORAGE=$SWIFTMOUNT_LAB_STORAGE
EOF
fi

# ------------------------------------------------------------------ 4. rings (once)
# the cluster profile's rings carry a signature (nodes, ports): built again when it changes,
# and the single-node rings are built again after a cluster ran under the same root
ring_sig=""
is_cluster && ring_sig="nodes=$SWIFTMOUNT_LAB_NODES base=$SWIFT_NODE_BASE_PORT host=$H"
if [ "$(cat "$LAB_ETC/rings.profile" 2>/dev/null)" != "$ring_sig" ]; then
  rm -f "$LAB_ETC"/*.ring.gz
fi
if is_cluster && [ ! -f "$LAB_ETC/object.ring.gz" ]; then
  t=$(date +%s%N)
  for kind in object container account; do
    b="$LAB_ETC/$kind.builder"
    rm -f "$b" "$LAB_ETC/$kind.ring.gz"
    swift-ring-builder "$b" create 10 3 1 >/dev/null
    for n in $(seq "$SWIFTMOUNT_LAB_NODES"); do
      swift-ring-builder "$b" add "r1z$n-$H:$(node_port "$kind" "$n")/d$n" 100 >/dev/null
    done
    swift-ring-builder "$b" rebalance >/dev/null || [ $? = 1 ]   # 1 = warning
  done
  echo "$ring_sig" > "$LAB_ETC/rings.profile"
  log "rings built (3 replicas over $SWIFTMOUNT_LAB_NODES nodes in zones z1-z$SWIFTMOUNT_LAB_NODES, part power 10) in $(elapsed "$t")s"
fi
if [ ! -f "$LAB_ETC/object.ring.gz" ] || [ ! -f "$LAB_ETC/container.ring.gz" ] || [ ! -f "$LAB_ETC/account.ring.gz" ]; then
  t=$(date +%s%N)
  for kind in "object:$SWIFT_OBJECT_PORT" "container:$SWIFT_CONTAINER_PORT" "account:$SWIFT_ACCOUNT_PORT"; do
    b="$LAB_ETC/${kind%%:*}.builder"
    rm -f "$b" "$LAB_ETC/${kind%%:*}.ring.gz"
    swift-ring-builder "$b" create 10 1 1 >/dev/null
    swift-ring-builder "$b" add "r1z1-$H:${kind##*:}/d1" 100 >/dev/null
    swift-ring-builder "$b" rebalance >/dev/null || [ $? = 1 ]   # 1 = warning
  done
  rm -f "$LAB_ETC/rings.profile"
  log "rings built (1 replica, part power 10) in $(elapsed "$t")s"
fi

# ------------------------------------------------------------------ 5. memcached + keystone
t_svc=$(date +%s%N)
start_service memcached "$MEMCACHED_PORT" "" /usr/bin/memcached -l "$H" -p "$MEMCACHED_PORT" -U 0 -u root -m 128

KSM=(keystone-manage --config-file "$LAB_ETC/keystone/keystone.conf")
if [ ! -f "$LAB_KS/.bootstrapped" ]; then
  t=$(date +%s%N)
  stop_service keystone
  rm -rf "$LAB_KS/keystone.db"* "$LAB_KS/fernet-keys" "$LAB_KS/credential-keys" "$LAB_KS/.provisioned"
  {
    "${KSM[@]}" db_sync
    # WAL: otherwise the 2 uwsgi workers get "database is locked" (HTTP 500) on writes
    $PY -c 'import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode=WAL")' "$LAB_KS/keystone.db"
    "${KSM[@]}" fernet_setup --keystone-user root --keystone-group root
    "${KSM[@]}" credential_setup --keystone-user root --keystone-group root
    "${KSM[@]}" bootstrap --bootstrap-password "$KS_ADMIN_PASSWORD" \
      --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
      --bootstrap-admin-url "http://$H:$KEYSTONE_PORT/v3/" \
      --bootstrap-internal-url "http://$H:$KEYSTONE_PORT/v3/" \
      --bootstrap-public-url "http://$H:$KEYSTONE_PORT/v3/" \
      --bootstrap-region-id RegionOne
  } >>"$LAB_LOG/keystone-manage.log" 2>&1 || die "keystone bootstrap failed; see $LAB_LOG/keystone-manage.log"
  touch "$LAB_KS/.bootstrapped"
  log "keystone db_sync + keys + bootstrap in $(elapsed "$t")s"
fi
start_service keystone "$KEYSTONE_PORT" "$LAB_ETC/keystone/keystone.conf $LAB_ETC/keystone/uwsgi.ini" \
  /usr/bin/uwsgi --ini "$LAB_ETC/keystone/uwsgi.ini"

# ------------------------------------------------------------------ 6. swift
if is_cluster; then
  for n in $(seq "$SWIFTMOUNT_LAB_NODES"); do
    for svc in $NODE_SERVICES; do start_node_service "$svc" "$n"; done
  done
else
for s in account container object; do
  port_var="SWIFT_${s^^}_PORT"
  start_service "$s-server" "${!port_var}" "$LAB_ETC/$s-server.conf $LAB_ETC/swift.conf" \
    "/usr/bin/swift-$s-server" "$LAB_ETC/$s-server.conf" -v
done
start_service container-updater - "$LAB_ETC/container-server.conf $LAB_ETC/swift.conf" \
  /usr/bin/swift-container-updater "$LAB_ETC/container-server.conf" -v
start_service object-updater - "$LAB_ETC/object-server.conf $LAB_ETC/swift.conf" \
  /usr/bin/swift-object-updater "$LAB_ETC/object-server.conf" -v
fi
start_service proxy-server "$SWIFT_PROXY_PORT" "$LAB_ETC/proxy-server.conf $LAB_ETC/swift.conf" \
  /usr/bin/swift-proxy-server "$LAB_ETC/proxy-server.conf" -v
start_service proxy-server-r2 "$SWIFT_PROXY2_PORT" "$LAB_ETC/proxy-server-r2.conf $LAB_ETC/swift.conf" \
  /usr/bin/swift-proxy-server "$LAB_ETC/proxy-server-r2.conf" -v

# ------------------------------------------------------------------ 7. health + provisioning
wait_http "http://$H:$KEYSTONE_PORT/v3" 60 keystone
# re-provision when the inputs (passwords, ports, the script) changed; it is idempotent anyway
export KEYSTONE_PORT SWIFT_PROXY_PORT SWIFT_PROXY2_PORT KS_ADMIN_PASSWORD KS_SWIFT_PASSWORD \
       KS_DEMO_PASSWORD KS_LAB_PASSWORD KS_LABADMIN_PASSWORD
ph=$( { env | grep -E '^(SWIFTMOUNT_LAB_HOST|KEYSTONE_PORT|SWIFT_PROXY2?_PORT|KS_[A-Z]*_PASSWORD)=' | sort;
        cat "$HERE/ks-provision.py"; } | sha256sum | cut -c1-16)
if [ "$(cat "$LAB_KS/.provisioned" 2>/dev/null)" != "$ph" ]; then
  t=$(date +%s%N)
  $PY "$HERE/ks-provision.py" > "$LAB_KS/ids.json.new" || die "keystone provisioning failed"
  mv "$LAB_KS/ids.json.new" "$LAB_KS/ids.json"
  echo "$ph" > "$LAB_KS/.provisioned"
  log "keystone provisioned in $(elapsed "$t")s: $(cat "$LAB_KS/ids.json")"
fi
storage_ports="$SWIFT_ACCOUNT_PORT $SWIFT_CONTAINER_PORT $SWIFT_OBJECT_PORT"
if is_cluster; then
  storage_ports=""
  for n in $(seq "$SWIFTMOUNT_LAB_NODES"); do
    for kind in account container object; do storage_ports="$storage_ports $(node_port "$kind" "$n")"; done
  done
fi
for p in $storage_ports "$SWIFT_PROXY_PORT" "$SWIFT_PROXY2_PORT"; do
  wait_http "http://$H:$p/healthcheck" 60 "swift :$p"
done
# end-to-end: proxy -> memcached -> account server (tempauth account autocreate)
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' \
       "http://$H:$SWIFT_PROXY_PORT/auth/v1.0")
[ "$code" = 200 ] || die "tempauth smoke test failed (HTTP $code)"
if [ -n "$STARTED" ]; then log "services (re)started:$STARTED in $(elapsed "$t_svc")s"; fi

data_dev=$LAB_DEV nodes_note=""
if is_cluster; then
  data_dev=$(node_dev 1)
  nodes_note="
  Storage nodes         : $SWIFTMOUNT_LAB_NODES (zones z1-z$SWIFTMOUNT_LAB_NODES, 3 replicas): node N object/container/account on :$(node_port object 1)+10*(N-1) / +1 / +2
                          stop/kill/start one server: SWIFTMOUNT_LAB_ROOT=$SWIFTMOUNT_LAB_ROOT scripts/swift-node.sh kill object 2"
fi
cat <<EOF
[swift-up] ready in $(elapsed)s  (storage $(stat -f -c %T "$data_dev"), state $SWIFTMOUNT_LAB_ROOT, logs $LAB_LOG)
  Swift proxy RegionOne : http://$H:$SWIFT_PROXY_PORT   tempauth v1: http://$H:$SWIFT_PROXY_PORT/auth/v1.0
                          test:tester/testing  test:tester2/testing2  test2:tester2/testing2  admin:admin/admin
  Swift proxy RegionTwo : http://$H:$SWIFT_PROXY2_PORT
  Keystone v3           : http://$H:$KEYSTONE_PORT/v3   token lifetime ${KS_TOKEN_EXPIRATION}s
                          admin/$KS_ADMIN_PASSWORD (Default, project admin)   demo/$KS_DEMO_PASSWORD (Default, project demo)
                          labuser/$KS_LAB_PASSWORD, labadmin/$KS_LABADMIN_PASSWORD (domain labdomain, project labproject)
  project ids           : $LAB_KS/ids.json$nodes_note
EOF
