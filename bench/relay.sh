#!/usr/bin/env bash
# Relay: what a live stream's viewers cost the stream's node when they reach other nodes of
# the cluster (each of which relays the stream once) instead of the stream's node itself.
#
# Starts redis-server and three nodes sharing it on loopback: node-0 (region "origin", where
# the stream's room is placed, since its publisher joins there) and node-1, node-2 (region
# "edge"). `moim-load --scenario livestream` then runs twice with VIEWERS WHEP viewers of the
# room's stream: first all at node-0 ("direct"), then spread over node-1 and node-2
# ("relayed"). For each run it prints the tester's summary (delay, loss, the stream's node's
# CPU) and every node's CPU share and datagrams sent per second over the run.
#
#   bench/relay.sh [VIEWERS] [SECONDS]      (defaults: 100, 30)
#
# MOIM_TARGET_DIR: the cargo target folder (default target/).
set -euo pipefail

viewers="${1:-100}"
seconds="${2:-30}"
# shellcheck source=bench/three-nodes.sh
. "$(dirname "$0")/three-nodes.sh"
three_nodes 16398 17920 17930

sent() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^moim_datagrams_sent_total /{print $2}'; }

run() { # label viewers-at
  local label=$1 at=$2 before=() sent_before=() start end
  for i in 0 1 2; do
    before+=("$(ticks "${node_pids[$i]}")")
    sent_before+=("$(sent $((17920 + i)))")
  done
  # The room goes to node-0 as a publisher reaching it first places it (viewers arriving
  # first would place it on their own node): a WHIP request, whose empty offer is refused.
  curl -s -o /dev/null -X POST --data x -H "Content-Type: application/sdp" \
    -H "Authorization: Bearer $("$bin/moim" token --room "relay-$label-$$" --identity placer)" \
    "http://127.0.0.1:17920/whip/relay-$label-$$"
  start=$(date +%s.%N)
  echo "== $label: $viewers viewers at $at"
  "$bin/moim-load" --scenario livestream -n "$viewers" --url http://127.0.0.1:17920 \
    --viewers-at "$at" --room "relay-$label-$$" --seconds "$seconds" --join-rate 50 \
    --server-pid "${node_pids[0]}" 2>&1 | awk '/^[0-9]+(\.[0-9]+)?s / { next } { print }'
  end=$(date +%s.%N)
  local hz
  hz=$(getconf CLK_TCK)
  for i in 0 1 2; do
    awk -v a="${before[$i]}" -v b="$(ticks "${node_pids[$i]}")" -v s0="${sent_before[$i]}" \
      -v s1="$(sent $((17920 + i)))" -v t="$(echo "$end - $start" | bc)" -v hz="$hz" -v n="node-$i" \
      'BEGIN { printf "%s: CPU %.1f %% of a core, %.0f datagrams sent/s (whole run)\n", n, (b - a) / hz / t * 100, (s1 - s0) / t }'
  done
}

run direct http://127.0.0.1:17920
sleep 12 # the first run's sessions and the relays go
run relayed http://127.0.0.1:17921,http://127.0.0.1:17922
