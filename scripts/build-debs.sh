#!/usr/bin/env bash
# Builds the Debian packages of Baton, one per role, from built binaries:
#   baton-scheduler  the scheduler, its systemd unit and /etc/baton/scheduler.toml
#   baton-executor   the executor, its systemd unit and /etc/baton/executor.toml
#   baton            the client, its man pages and shell completions
# Both services run as the `baton` system user, which their postinst creates.
#
# Usage: scripts/build-debs.sh [BIN_DIR] [OUT_DIR]
#   BIN_DIR  where baton, baton-scheduler and baton-executor are
#            (default: target/release; build with `cargo build --release --bins`)
#   OUT_DIR  where the .deb files go (default: target/debian)
# BATON_DEB_COMPRESSION: dpkg-deb's compressor (xz, gzip, zstd or none; default xz).
# Needs dpkg-deb (Debian's dpkg). See docs/operations.md, "Debian packages".
set -euo pipefail
# dpkg-deb refuses control directories a strict umask would make.
umask 022

root="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir="${1:-$root/target/release}"
out_dir="${2:-$root/target/debian}"
files="$root/packaging/debian"
compression="${BATON_DEB_COMPRESSION:-xz}"

for tool in dpkg-deb; do
    command -v "$tool" >/dev/null || { echo "build-debs: $tool is missing (apt install dpkg)" >&2; exit 1; }
done
for binary in baton baton-scheduler baton-executor; do
    [ -x "$bin_dir/$binary" ] || {
        echo "build-debs: $bin_dir/$binary is missing: cargo build --release --bins" >&2
        exit 1
    }
done
version="$("$bin_dir/baton" --version | awk '{print $2}')"
arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
mkdir -p "$out_dir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# control PACKAGE DESCRIPTION [CONFFILE...]: the package's DEBIAN/ files.
control() {
    local package="$1" description="$2"
    shift 2
    local tree="$work/$package"
    mkdir -p "$tree/DEBIAN"
    local size
    size="$(du -sk "$tree" | cut -f1)"
    cat > "$tree/DEBIAN/control" <<CONTROL
Package: $package
Version: $version
Architecture: $arch
Maintainer: Baton developers <baton@localhost>
Section: admin
Priority: optional
Depends: libc6 (>= 2.31)
Installed-Size: $size
Homepage: https://github.com/baton/baton
Description: $description
 Baton is a distributed workflow execution engine: a Raft-replicated
 scheduler hands typed, versioned workflow nodes to executor pools.
CONTROL
    : > "$tree/DEBIAN/conffiles"
    for conffile in "$@"; do
        echo "$conffile" >> "$tree/DEBIAN/conffiles"
    done
    [ -s "$tree/DEBIAN/conffiles" ] || rm "$tree/DEBIAN/conffiles"
}

# service ROLE: the scheduler's or the executor's package.
service() {
    local role="$1" package="baton-$1"
    local tree="$work/$package"
    install -D -m 0755 "$bin_dir/$package" "$tree/usr/bin/$package"
    install -D -m 0644 "$files/$package.service" "$tree/lib/systemd/system/$package.service"
    install -D -m 0644 "$files/$role.toml" "$tree/etc/baton/$role.toml"
    install -d "$tree/usr/share/doc/$package"
    install -m 0644 "$root/docs/operations.md" "$tree/usr/share/doc/$package/operations.md"
    control "$package" "Baton $role (systemd service)" "/etc/baton/$role.toml"
    for script in postinst prerm postrm; do
        sed -e "s/@UNIT@/$package/g" -e "s/@CONFIG@/$role/g" "$files/$script" > "$tree/DEBIAN/$script"
        chmod 0755 "$tree/DEBIAN/$script"
    done
}

service scheduler
service executor

client="$work/baton"
install -D -m 0755 "$bin_dir/baton" "$client/usr/bin/baton"
"$bin_dir/baton" man "$client/usr/share/man/man1" >/dev/null
gzip -9n "$client"/usr/share/man/man1/*.1
install -d "$client/usr/share/bash-completion/completions" \
    "$client/usr/share/zsh/vendor-completions" "$client/usr/share/fish/vendor_completions.d"
"$bin_dir/baton" completions bash > "$client/usr/share/bash-completion/completions/baton"
"$bin_dir/baton" completions zsh > "$client/usr/share/zsh/vendor-completions/_baton"
"$bin_dir/baton" completions fish > "$client/usr/share/fish/vendor_completions.d/baton.fish"
control baton "Baton command-line client"

for package in baton baton-scheduler baton-executor; do
    dpkg-deb --root-owner-group "-Z$compression" --build "$work/$package" \
        "$out_dir/${package}_${version}_${arch}.deb" >/dev/null
    echo "$out_dir/${package}_${version}_${arch}.deb"
done
