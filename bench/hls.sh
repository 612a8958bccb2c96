#!/usr/bin/env bash
# LL-HLS serving: how many low-latency players one core of the server serves.
#
# The server runs on core 0, with one runtime thread and one media worker (more threads
# than cores only take turns). An encoder (ffmpeg, 640x360 at 30 fps over RTMP) publishes in
# room `bench` and a public broadcast of it starts; the ladder's ffmpeg (one 360p rung)
# is moved to core 1 with the encoder and moim-load, so core 0 does nothing but the
# server's own work: ingest, packaging and serving. moim-load, at real-time priority so
# that the encoders' bursts on its core do not delay its reads, then runs N players, each
# asking for the hinted part before it exists and reloading the playlist blocking on it,
# and reports the parts' delivery delay (from the first player having a part to each
# player having it), errors, and the server's CPU.
#
#   bench/hls.sh [N ...]        (default: 500 1000 2000)
#
# MOIM_TARGET_DIR: the cargo target folder (default target/).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${MOIM_TARGET_DIR:-$root/target}/release"
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(500 1000 2000)
http=17890
rtmp=11945
work="$(mktemp -d)"
ulimit -n 65536 2>/dev/null || true

TOKIO_WORKER_THREADS=1 MOIM_WORKERS=1 taskset -c 0 "$bin/moim" serve --http-port "$http" --udp-port 17892 --rtmp-port "$rtmp" \
  >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server $encoder 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
sleep 1
key="$("$bin/moim" token --room bench --identity encoder --ttl 6h)"
host="$("$bin/moim" token --room bench --identity host --host --ttl 6h)"
taskset -c 1 ffmpeg -nostdin -v error -re -f lavfi -i testsrc2=size=640x360:rate=30 \
  -f lavfi -i sine=frequency=440:sample_rate=48000 -c:v libx264 -preset veryfast \
  -tune zerolatency -bf 0 -g 60 -c:a aac -b:a 96k -f flv "rtmp://127.0.0.1:$rtmp/live/$key" \
  2>/dev/null &
encoder=$!
sleep 2
curl -sf -X POST "http://127.0.0.1:$http/api/rooms/bench/broadcasts" \
  -H "Authorization: Bearer $host" -H 'Content-Type: application/json' \
  -d '{"source": "encoder", "public": true}' >/dev/null
curl -sf "http://127.0.0.1:$http/hls/bench/index.m3u8" >/dev/null
for child in $(pgrep -P "$server"); do taskset -a -p -c 1 "$child" >/dev/null; done

for n in "${counts[@]}"; do
  echo "== $n players"
  taskset -c 1 chrt -f 10 "$bin/moim-load" --scenario hls -n "$n" --join-rate 500 --seconds 20 \
    --url "http://127.0.0.1:$http" --room bench --server-pid "$server" 2>&1 \
    | grep -v '^ *[0-9.]* s  players'
done
