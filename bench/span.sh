#!/usr/bin/env bash
# Meetings across nodes: what participants cost the room's node when they reach other
# nodes of the cluster (each linked with the room's node once) instead of the room's node.
#
# Starts redis-server and three nodes sharing it on loopback (node-0 in region "origin",
# node-1 and node-2 in region "edge"), then runs `moim-load` over signaling:
#   meeting, one node:   PARTICIPANTS all publishing and subscribing, all at node-0;
#   meeting, spanning:   the same, spread over node-0, node-1 and node-2 in turn;
#   viewers, spanning:   one publisher at node-0 and VIEWERS subscribers spread over
#                        node-1 and node-2 (compare bench/relay.sh's WHEP viewers).
# For each run it prints the tester's summary (delay, loss, node-0's CPU) and every node's
# CPU share, datagrams sent per second and frames crossing its node links per second.
#
#   bench/span.sh [PARTICIPANTS] [VIEWERS] [SECONDS]      (defaults: 9, 100, 30)
#
# MOIM_TARGET_DIR: the cargo target folder (default target/).
set -euo pipefail

participants="${1:-9}"
viewers="${2:-100}"
seconds="${3:-30}"
# shellcheck source=bench/three-nodes.sh
. "$(dirname "$0")/three-nodes.sh"
three_nodes 16397 17940 17950

url() { echo "http://127.0.0.1:$((17940 + $1))"; }
metric() { curl -s "$(url "$1")/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
link_frames() { echo $(($(metric "$1" 'moim_node_link_frames_total{direction="out"}') + $(metric "$1" 'moim_node_link_frames_total{direction="in"}'))); }

run() { # label scenario clients [moim-load options...]
  local label=$1 scenario=$2 clients=$3 before=() sent_before=() links_before=() start end
  shift 3
  for i in 0 1 2; do
    before+=("$(ticks "${node_pids[$i]}")")
    sent_before+=("$(metric "$i" moim_datagrams_sent_total)")
    links_before+=("$(link_frames "$i")")
  done
  start=$(date +%s.%N)
  echo "== $label: $scenario, $clients clients"
  "$bin/moim-load" --scenario "$scenario" -n "$clients" --url "$(url 0)" --room "span-$label-$$" \
    --seconds "$seconds" --join-rate 20 --server-pid "${node_pids[0]}" "$@" 2>&1 |
    awk '/^[0-9]+(\.[0-9]+)?s / { next } { print }'
  end=$(date +%s.%N)
  local hz
  hz=$(getconf CLK_TCK)
  for i in 0 1 2; do
    awk -v a="${before[$i]}" -v b="$(ticks "${node_pids[$i]}")" -v s0="${sent_before[$i]}" \
      -v s1="$(metric "$i" moim_datagrams_sent_total)" -v l0="${links_before[$i]}" \
      -v l1="$(link_frames "$i")" -v t="$(echo "$end - $start" | bc)" -v hz="$hz" -v n="node-$i" \
      'BEGIN { printf "%s: CPU %.1f %% of a core, %.0f datagrams sent/s, %.0f link frames/s (whole run)\n", n, (b - a) / hz / t * 100, (s1 - s0) / t, (l1 - l0) / t }'
  done
  sleep 12 # the run's sessions and links go
}

run one-node meeting "$participants"
run spanning meeting "$participants" --subscribers-at "$(url 0),$(url 1),$(url 2)"
run viewers livestream "$viewers" --subscribers-at "$(url 1),$(url 2)"
