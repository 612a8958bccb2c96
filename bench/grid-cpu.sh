#!/usr/bin/env bash
# CPU of a broadcast of the meeting's grid: two RTMP encoders (640x360 at 30 fps) publish
# in room `grid`, a public broadcast of the grid (`"source": "composite"`) starts, and the
# CPU of the server and of each ffmpeg child it started is read from /proc over 20 s.
#
#   bench/grid-cpu.sh
#
# MOIM_TARGET_DIR: the cargo target folder (default target/).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${MOIM_TARGET_DIR:-$root/target}/release"
http=18890
rtmp=18945
work="$(mktemp -d)"
MOIM_BROADCASTS_DIR="$work/broadcasts" MOIM_RECORDINGS_DIR="$work/recordings" \
  "$bin/moim" serve --http-port "$http" --udp-port 18892 --rtmp-port "$rtmp" >"$work/server.log" 2>&1 &
server=$!
encoders=()
trap 'kill $server "${encoders[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
sleep 1
for who in a:440 b:660; do
  key="$("$bin/moim" token --room grid --identity "${who%%:*}")"
  ffmpeg -nostdin -v error -re -f lavfi -i testsrc2=size=640x360:rate=30 \
    -f lavfi -i "sine=frequency=${who##*:}:sample_rate=48000" -c:v libx264 -preset veryfast \
    -tune zerolatency -bf 0 -g 60 -c:a aac -b:a 96k -f flv "rtmp://127.0.0.1:$rtmp/live/$key" \
    2>/dev/null &
  encoders+=($!)
done
sleep 3
host="$("$bin/moim" token --room grid --identity host --host)"
curl -sf -X POST "http://127.0.0.1:$http/api/rooms/grid/broadcasts" \
  -H "Authorization: Bearer $host" -H 'Content-Type: application/json' \
  -d '{"source": "composite", "public": true}' >/dev/null
sleep 5

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A before
for p in $server $(pgrep -P "$server"); do before[$p]=$(ticks "$p"); done
sleep 20
hz=$(getconf CLK_TCK)
for p in $server $(pgrep -P "$server"); do
  pct=$(( ($(ticks "$p") - ${before[$p]:-0}) * 100 / 20 / hz ))
  what="$(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-110)"
  echo "$pct % of a core  $what"
done
