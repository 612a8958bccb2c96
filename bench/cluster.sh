#!/usr/bin/env bash
# Placement: how long joining takes when a room is placed and when a client reached a node
# that does not host the room, against a node alone.
#
# Starts redis-server and three nodes sharing it (node-0..2 on loopback) with
# `span_rooms = false`, then runs `moim-load --scenario joins` through node-0: each round
# joins a new room (placed on the least-loaded node; two in three go elsewhere and the
# client follows `moved`) and then joins it again while it runs. The same rounds then go
# through node-0 of three nodes that keep their participants (`span_rooms`, the default:
# two in three joins pass through to the room's node), and to a node alone for comparison;
# `redis-cli --latency` gives the round trip to Redis that a relay through it would add to
# every signaling message.
#
#   bench/cluster.sh [ROUNDS]        (default: 300)
#
# MOIM_TARGET_DIR: the cargo target folder (default target/).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${MOIM_TARGET_DIR:-$root/target}/release"
rounds="${1:-300}"
redis_port=16399
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!)
sleep 0.5
start_node() { # name http-port udp-port [env...]
  local name=$1 http=$2 udp=$3
  shift 3
  env MOIM_TURN=0 MOIM_LOG=warn "$@" "$bin/moim" serve --http-port "$http" --udp-port "$udp" \
    --rtmp-port 0 --tcp-port 0 >"$work/$name.log" 2>&1 &
  pids+=($!)
}
for i in 0 1 2; do
  start_node "node-$i" $((17900 + i)) $((17910 + i)) MOIM_REDIS_URL="redis://127.0.0.1:$redis_port" \
    MOIM_NODE_ID="node-$i" MOIM_SPAN_ROOMS=0
  start_node "span-$i" $((17904 + i)) $((17914 + i)) MOIM_REDIS_URL="redis://127.0.0.1:$redis_port/1" \
    MOIM_NODE_ID="span-$i"
done
start_node alone 17903 17913
sleep 2

echo "== $rounds rounds through node-0 of three sharing Redis, clients moved"
"$bin/moim-load" --scenario joins -n "$rounds" --url http://127.0.0.1:17900 --room "placed-$$"
echo "== $rounds rounds through span-0 of three sharing Redis, signaling passed through"
"$bin/moim-load" --scenario joins -n "$rounds" --url http://127.0.0.1:17904 --room "spanned-$$"
echo "== $rounds rounds on a node alone"
"$bin/moim-load" --scenario joins -n "$rounds" --url http://127.0.0.1:17903 --room "alone-$$"
echo "== round trip to Redis"
timeout 5 redis-cli -p "$redis_port" --latency -i 4 2>/dev/null | tail -1 || true
