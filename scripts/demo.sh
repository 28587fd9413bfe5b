#!/bin/bash
# Run it: local Swift + Keystone (xfs by default), build swiftmount, create container
# "demo" with a few objects, and mount it at /mnt/swiftmount-demo.  Run as root.
#   scripts/demo.sh          then: ls -R /mnt/swiftmount-demo ; fusermount3 -u /mnt/swiftmount-demo
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE/.."
# shellcheck source=scripts/swift.env
. "$HERE/swift.env"
# shellcheck source=scripts/lib.sh
. "$HERE/lib.sh"
LOG_TAG=demo
need_root
apt_need fuse3 curl ca-certificates
"$HERE/swift-up.sh"
cargo build --release
BIN=target/release/swiftmount
H=$SWIFTMOUNT_LAB_HOST KS="http://$SWIFTMOUNT_LAB_HOST:$KEYSTONE_PORT/v3"

# keystone v3 token for labuser (non-default domain); storage URL = RegionOne + project id
token=$(curl -sf -D - -o /dev/null -H 'Content-Type: application/json' "$KS/auth/tokens" -d @- <<JSON | tr -d '\r' | awk -F': ' 'tolower($1)=="x-subject-token"{print $2}'
{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"labuser","domain":{"name":"labdomain"},"password":"$KS_LAB_PASSWORD"}}},
 "scope":{"project":{"name":"labproject","domain":{"name":"labdomain"}}}}}
JSON
)
[ -n "$token" ] || die "could not get a keystone token for labuser"
project=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["lab_project_id"])' "$LAB_KS/ids.json")
url="http://$H:$SWIFT_PROXY_PORT/v1/AUTH_$project/demo"
put() { curl -sf -o /dev/null -X PUT -H "X-Auth-Token: $token" "$@"; }
put "$url"
put --data-binary "Hello from Swift!"$'\n' -H 'Content-Type: text/plain' "$url/hello.txt"
put --data-binary "first photo placeholder"$'\n' "$url/photos/2024/a.txt"
put --data-binary "second photo placeholder"$'\n' "$url/photos/2024/b.txt"
put --data-binary "older photo"$'\n' "$url/photos/2023/old.txt"
put --data-binary '{"project":"swiftmount","demo":true}'$'\n' -H 'Content-Type: application/json' "$url/docs/info.json"
head -c 1048576 /dev/urandom | put --data-binary @- "$url/data/random-1MiB.bin"
log "container demo: $(curl -sf -H "X-Auth-Token: $token" "$url" | tr '\n' ' ')"

SWIFT_URL="openstack://demo/?auth-username=labuser&openstack-authuri=$KS&openstack-version=v3&openstack-domain-name=labdomain&openstack-tenant-name=labproject&openstack-region=RegionOne"
export OS_PASSWORD=$KS_LAB_PASSWORD     # the password never goes on argv
MNT=$SWIFTMOUNT_DEMO_MNT
mkdir -p "$MNT"
mountpoint -q "$MNT" && fusermount3 -u "$MNT"
# in the background, in its own session, with a PID file: swift-down.sh stops it
# shellcheck disable=SC2016  # $$ and $@ are for the inner sh
setsid sh -c 'echo $$ > "$0"; exec "$@"' "$LAB_RUN/mount-demo.pid" "$BIN" --foreground "$SWIFT_URL" "$MNT" \
  >"$LAB_LOG/mount-demo.log" 2>&1 </dev/null &
for _ in $(seq 100); do mountpoint -q "$MNT" && break; sleep 0.1; done
mountpoint -q "$MNT" || { tail -20 "$LAB_LOG/mount-demo.log"; die "mount failed (log: $LAB_LOG/mount-demo.log)"; }
log "mounted swift container demo at $MNT (log: $LAB_LOG/mount-demo.log)"
ls -lR "$MNT"
echo "cat $MNT/hello.txt  ->  $(cat "$MNT/hello.txt")"
echo "unmount: fusermount3 -u $MNT   (scripts/swift-down.sh also does it)"
