#!/usr/bin/env bash
# Moim and its load tester in two network namespaces joined by a veth pair, so that every
# datagram crosses a network device as it would a NIC, instead of loopback (where the
# sender's system call also delivers the datagram to the receiver). The server is pinned to
# core 0 and `moim-load` to core 1, as in vs-janus.sh; the summary is moim-load's.
#
#   bench/veth.sh [-n 300] [--scenario livestream] [--seconds 30] [--render-height 720]
#                 [--no-build] [--out DIR]
#   bench/veth.sh down     remove the namespaces
#
# Extra server settings come from the environment (MOIM_FORWARDING=frames, say); MOIM_BIN
# runs another build of the server. Needs root.
set -euo pipefail

cd "$(dirname "$0")/.."
srv=moim-veth-srv
cli=moim-veth-cli
server_ip=10.77.0.1
client_ip=10.77.0.2

if [[ "${1:-}" == down ]]; then
    ip netns del "$srv" 2>/dev/null || true
    ip netns del "$cli" 2>/dev/null || true
    exit 0
fi

n=300
scenario=livestream
seconds=30
height=720
build=1
out="target/bench/veth-$(date +%Y%m%d-%H%M%S)"
while [[ $# -gt 0 ]]; do
    case "$1" in
    -n) n="$2"; shift 2 ;;
    --scenario) scenario="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --render-height) height="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --out) out="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

if [[ $build == 1 ]]; then
    cargo build --release --locked -p moim -p moim-load
fi
mkdir -p "$out"

if ! ip netns list | grep -qw "$srv"; then
    ip netns add "$srv"
    ip netns add "$cli"
    ip -n "$srv" link set lo up
    ip -n "$cli" link set lo up
    ip link add veth-srv netns "$srv" type veth peer name veth-cli netns "$cli"
    ip -n "$srv" addr add "$server_ip/24" dev veth-srv
    ip -n "$cli" addr add "$client_ip/24" dev veth-cli
    ip -n "$srv" link set veth-srv up
    ip -n "$cli" link set veth-cli up
fi

# Development mode on the veth's address: TURN stays on loopback, which it refuses to leave
# in development mode, and is not used here.
MOIM_LOG=warn MOIM_WORKERS=1 MOIM_EXPOSE_DEV_MODE=1 \
    MOIM_HTTP_ADDR="$server_ip:7880" MOIM_UDP_ADDR="$server_ip:7882" \
    MOIM_TCP_ADDR="$server_ip:7881" MOIM_TURN_ADDR=127.0.0.1:3478 \
    taskset -c 0 ip netns exec "$srv" "${MOIM_BIN:-target/release/moim}" serve </dev/null \
    >"$out/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    ip netns exec "$cli" curl -sf "http://$server_ip:7880/healthz" >/dev/null 2>&1 && break
    sleep 0.2
done

taskset -c 1 ip netns exec "$cli" target/release/moim-load --url "http://$server_ip:7880" \
    --scenario "$scenario" -n "$n" --join-rate 20 --seconds "$seconds" \
    --render-height "$height" --local-ip "$client_ip" --server-pid "$pid" --json \
    >"$out/load.json" 2>"$out/load.log"
tail -n 22 "$out/load.log"
echo "raw results: $out"
