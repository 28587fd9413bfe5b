#!/bin/bash
# Install swiftmount: the binary (cargo install --locked --path .), its man pages, bash,
# zsh and fish completions and the systemd unit swiftmount@.service, where man(1), the
# shells and systemd look under PREFIX.
#   scripts/install.sh                      # as root: PREFIX=/usr/local
#   PREFIX=~/.local scripts/install.sh      # a user's own (no systemd unit then)
# DESTDIR stages everything below another root (packaging); SWIFTMOUNT_BIN installs a
# binary already built instead of building one.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE/.."
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
root="$DESTDIR$PREFIX"

if [ -n "${SWIFTMOUNT_BIN:-}" ]; then
  install -D -m 755 "$SWIFTMOUNT_BIN" "$root/bin/swiftmount"
else
  cargo install --locked --path . --root "$root" --no-track
fi

gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
"$root/bin/swiftmount" generate "$gen" >/dev/null
install -D -m 644 -t "$root/share/man/man1" "$gen/swiftmount.1" "$gen/swiftmount-check.1"
install -D -m 644 "$gen/swiftmount.bash" "$root/share/bash-completion/completions/swiftmount"
install -D -m 644 "$gen/_swiftmount" "$root/share/zsh/site-functions/_swiftmount"
install -D -m 644 "$gen/swiftmount.fish" "$root/share/fish/vendor_completions.d/swiftmount.fish"

# systemd reads units from /usr/local/lib/systemd/system and /usr/lib/systemd/system;
# a user's PREFIX gets none (the unit mounts as root, from /etc/swiftmount).
case "$PREFIX" in
  /usr | /usr/local)
    install -d "$root/lib/systemd/system"
    sed "s#/usr/local/bin/swiftmount#$PREFIX/bin/swiftmount#" contrib/systemd/swiftmount@.service \
      >"$root/lib/systemd/system/swiftmount@.service"
    chmod 644 "$root/lib/systemd/system/swiftmount@.service"
    install -D -m 644 contrib/systemd/swiftmount.conf.example "$DESTDIR/etc/swiftmount/swiftmount.conf.example"
    ;;
esac
echo "installed swiftmount $("$root/bin/swiftmount" --version | cut -d' ' -f2-) under $root"
