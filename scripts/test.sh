#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, then runs every test:
# formatting, lints, Rust unit and integration tests, JS type checks, browser end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v curl >/dev/null || missing+=(curl)
command -v iptables >/dev/null || missing+=(iptables)
command -v ip >/dev/null || missing+=(iproute2)
command -v openssl >/dev/null || missing+=(openssl)
command -v turnserver >/dev/null || missing+=(coturn)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v nginx >/dev/null || missing+=(nginx-light)
command -v c++ >/dev/null || missing+=(g++)
command -v node >/dev/null || missing+=(nodejs npm)
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
command -v podman-compose >/dev/null || missing+=(podman-compose)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
# The store's tests start real database servers of their own (as `nobody`, on free ports).
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v mariadbd >/dev/null || missing+=(mariadb-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "${missing[@]}"
fi

echo "== npm packages"
npm ci --no-audit --no-fund --loglevel=error

echo "== rustfmt and clippy"
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets --locked -- -D warnings
# The fuzz targets are a workspace of their own (fuzz/run.sh runs them); they must keep
# compiling as the code they feed changes.
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo clippy --release --locked --manifest-path fuzz/Cargo.toml --target-dir target -- -D warnings

echo "== Rust tests"
cargo build --release --workspace --locked
cargo test --release --workspace --locked

echo "== the README's run command"
bash scripts/readme-run.sh

echo "== the Debian package"
as_root bash deploy/test-deb.sh

echo "== the container image and the compose file"
as_root bash deploy/test-container.sh

echo "== JS type check"
npm run --silent typecheck

echo "== browser end-to-end tests"
MOIM_BIN="$PWD/target/release/moim" npm run --silent test:e2e
