# Sourced by the cluster benchmarks: redis-server and three nodes sharing it on loopback,
# node-0 in region "origin" (where the benchmark places its room) and node-1, node-2 in
# region "edge", on HTTP ports HTTP_BASE+0..2 and UDP ports UDP_BASE+0..2. Sets `bin`,
# `work`, `pids` (everything started, killed on exit) and `node_pids`, and `ticks PID`
# (the process's CPU time in clock ticks).
#
#   three_nodes REDIS_PORT HTTP_BASE UDP_BASE
#
# MOIM_TARGET_DIR: the cargo target folder (default target/).

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${MOIM_TARGET_DIR:-$root/target}/release"
work="$(mktemp -d)"
pids=()
node_pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

three_nodes() {
  local redis_port=$1 http_base=$2 udp_base=$3 region
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
  pids+=($!)
  sleep 0.5
  for i in 0 1 2; do
    region=edge
    [ "$i" = 0 ] && region=origin
    env MOIM_TURN=0 MOIM_LOG=warn MOIM_REDIS_URL="redis://127.0.0.1:$redis_port" MOIM_NODE_ID="node-$i" \
      MOIM_REGION="$region" "$bin/moim" serve --http-port $((http_base + i)) --udp-port $((udp_base + i)) \
      --rtmp-port 0 --tcp-port 0 >"$work/node-$i.log" 2>&1 &
    pids+=($!)
    node_pids+=($!)
  done
  sleep 2
}

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
