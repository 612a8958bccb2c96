#!/usr/bin/env bash
# Builds Moim's Debian package from the release binary and prints its path:
# target/moim_VERSION_ARCH.deb, holding /usr/bin/moim, the systemd unit
# (deploy/moim.service), the documentation, and the maintainer scripts of deploy/debian/
# (the moim user, /etc/moim/moim.toml with a secret of its own).
#   bash deploy/deb.sh        # builds the binary first if there is none
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release/moim
[ -x "$bin" ] || cargo build --release --locked -p moim >&2
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
out="target/moim_${version}_${arch}.deb"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"
install -D -m 0755 "$bin" "$root/usr/bin/moim"
# The release build keeps its debug information for profiles; the package does not.
strip --strip-debug "$root/usr/bin/moim"
install -D -m 0644 deploy/moim.service "$root/lib/systemd/system/moim.service"
install -d "$root/etc/moim"
install -d "$root/usr/share/doc/moim"
install -m 0644 README.md docs/*.md "$root/usr/share/doc/moim/"
install -D -m 0644 deploy/nginx.conf "$root/usr/share/doc/moim/examples/nginx.conf"
install -D -m 0644 deploy/grafana/moim.json "$root/usr/share/doc/moim/examples/grafana-moim.json"
install -d "$root/DEBIAN"
install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm "$root/DEBIAN/"
cat > "$root/DEBIAN/control" <<CONTROL
Package: moim
Version: $version
Architecture: $arch
Maintainer: The Moim developers <moim@localhost>
Depends: libc6, libgcc-s1, adduser
Recommends: ffmpeg
Section: net
Priority: optional
Installed-Size: $(du -ks "$root" | cut -f1)
Description: self-hostable meetings and live streams in one server
 Moim serves meetings in the browser and live streams: its own SFU, signaling,
 TURN, recording and an LL-HLS packager, in one binary with a systemd unit.
 ffmpeg is needed for recordings, broadcasts and RTMP ingest.
CONTROL
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >&2
echo "$out"
