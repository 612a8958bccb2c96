#!/usr/bin/env bash
# Builds deploy/Dockerfile with podman and runs it, alone and as deploy/compose.yaml's two
# nodes with Redis, on this machine (root), with nothing pulled from a container registry:
#   - the Debian base image is made here with mmdebstrap from Debian's own archive;
#   - the build stage's Rust image is stood in for by that base with the binary built by
#     `cargo build --release` already in place (and `cargo` and `strip` that do nothing),
#     so every step of the Dockerfile runs, but the compile is the one done outside;
#   - the Redis image is that base with Debian's redis-server, under the official name.
# Then: the image serves /healthz as the user moim and stops cleanly on SIGTERM; the
# compose file's two nodes find each other through Redis, and a room made on one is
# placed on the other.
#   bash deploy/test-container.sh
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "deploy/test-container.sh: $*" >&2; exit 1; }
[ -x target/release/moim ] || fail "build first: cargo build --release"

work=$(mktemp -d)
project=moimtest
secret=$(openssl rand -hex 32)
cleanup() {
  podman rm -f moim-alone >/dev/null 2>&1 || true
  MOIM_API_SECRET=x ADVERTISE_IP=x podman-compose -p "$project" -f deploy/compose.yaml down \
    >/dev/null 2>&1 || true
  podman rmi -f localhost/moim localhost/moimtest-toolchain localhost/moimtest-debian \
    docker.io/library/redis:7-bookworm >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Containers nested in this machine's own: no cgroup of their own to manage, runc, and
# the limits they inherit (a container may not raise them).
cat >"$work/containers.conf" <<'EOF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF
export CONTAINERS_CONF="$work/containers.conf"

echo "-- a Debian base image, made here"
mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm "$work/rootfs.tar" \
  http://deb.debian.org/debian
podman import --quiet "$work/rootfs.tar" localhost/moimtest-debian >/dev/null

echo "-- the build stage's toolchain, stood in for by the binary built outside"
mkdir "$work/toolchain"
cp target/release/moim "$work/toolchain/moim"
printf '#!/bin/sh\nexit 0\n' >"$work/toolchain/noop"
chmod +x "$work/toolchain/noop"
cat >"$work/toolchain/Containerfile" <<'EOF'
FROM localhost/moimtest-debian
COPY moim /usr/src/moim/target/release/moim
COPY noop /usr/local/bin/cargo
COPY noop /usr/local/bin/strip
EOF
podman build --quiet -t localhost/moimtest-toolchain "$work/toolchain" >/dev/null

echo "-- deploy/Dockerfile"
podman build --quiet --network host -f deploy/Dockerfile \
  --build-arg RUST_IMAGE=localhost/moimtest-toolchain \
  --build-arg RUNTIME_IMAGE=localhost/moimtest-debian \
  -t localhost/moim . >/dev/null
size=$(podman image inspect localhost/moim --format '{{.Size}}')
echo "   the image: $((size / 1000000)) MB"

echo "-- the image alone"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
podman run -d --name moim-alone --network host \
  -e MOIM_API_SECRET="$secret" -e MOIM_HTTP_ADDR="127.0.0.1:$port" \
  -e MOIM_UDP_ADDR=127.0.0.1:0 -e MOIM_TCP_ADDR=127.0.0.1:0 -e MOIM_RTMP_ADDR=127.0.0.1:0 \
  -e MOIM_TURN=0 localhost/moim serve >/dev/null
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { podman logs moim-alone >&2; fail "no /healthz"; }
[ "$(podman exec moim-alone id -un)" = moim ] || fail "the container does not run as moim"
podman exec moim-alone ffmpeg -hide_banner -version >/dev/null || fail "no ffmpeg in the image"
podman stop -t 30 moim-alone >/dev/null
[ "$(podman inspect moim-alone --format '{{.State.ExitCode}}')" = 0 ] \
  || { podman logs moim-alone >&2; fail "the server did not stop cleanly on SIGTERM"; }
podman rm moim-alone >/dev/null

echo "-- deploy/compose.yaml: two nodes and Redis"
cat >"$work/Redisfile" <<'EOF'
FROM localhost/moimtest-debian
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/*
EOF
podman build --quiet --network host -t docker.io/library/redis:7-bookworm -f "$work/Redisfile" \
  "$work" >/dev/null
ip=$(hostname -I | awk '{print $1}')
[ -n "$ip" ] || fail "this machine has no address but loopback"
export MOIM_API_SECRET="$secret" ADVERTISE_IP="$ip"
podman-compose -p "$project" -f deploy/compose.yaml up -d --no-build >"$work/compose.log" 2>&1 \
  || { cat "$work/compose.log" >&2; fail "compose up failed"; }
moim() { target/release/moim "$@" --api-key moim --api-secret "$secret"; }
nodes=""
for _ in $(seq 100); do
  token=$(target/release/moim token --node-admin --identity ops --api-key moim --api-secret "$secret")
  nodes=$(curl -s http://127.0.0.1:7880/api/nodes -H "Authorization: Bearer $token" || true)
  [[ "$nodes" == *'"node-1"'*'"node-2"'* ]] && break
  sleep 0.2
done
[[ "$nodes" == *'"node-1"'*'"node-2"'* ]] || { podman-compose -p "$project" -f deploy/compose.yaml logs >&2 || true; fail "the nodes did not find each other: $nodes"; }
# Rooms made through node-1 are placed on both nodes (the least loaded as of the last
# heartbeats, twice a second); each lists its own.
for room in a b c d e f; do
  moim room create "$room" --url http://127.0.0.1:7880 >/dev/null
  sleep 0.6
done
one=$(moim room list --json --url http://127.0.0.1:7880 | grep -c '"name"' || true)
two=$(moim room list --json --url http://127.0.0.1:7890 | grep -c '"name"' || true)
[ "$((one + two))" = 6 ] || fail "six rooms made, $one and $two listed"
[ "$two" -gt 0 ] || fail "no room was placed on node-2"
echo "the image builds ($((size / 1000000)) MB), serves as moim and stops cleanly; compose's two nodes share rooms through Redis ($one and $two rooms)"
