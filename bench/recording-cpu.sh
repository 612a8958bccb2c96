#!/usr/bin/env bash
# The CPU cost of recording: five moim-load participants publish real VP8 (three simulcast
# layers) and Opus, ten tracks; the server (one media worker) runs on core 0, the load
# tester on core 1. The server's CPU is measured over a window without recording, then
# over a window with a recording of all ten tracks running (with its ffmpeg children, for
# the kinds that mix). Prints both, the difference in % of one core, and the recording's
# frames taken and dropped.
#
#   bench/recording-cpu.sh [--kind track|participant|composite|audio_only] [--seconds 30] [--no-build]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
kind=track
seconds=30
build=1
while [[ $# -gt 0 ]]; do
    case "$1" in
    --kind) kind="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

cd "$root"
[[ $build == 1 ]] && cargo build --release -q -p moim -p moim-load
moim="$root/target/release/moim"
dir="$(mktemp -d)"
http=7980
url="http://127.0.0.1:$http"
MOIM_WORKERS=1 MOIM_RECORDINGS_DIR="$dir/recordings" MOIM_LOG=warn \
    taskset -c 0 "$moim" serve --http-port $http --udp-port 7982 >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server $load 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
until curl -sf "$url/healthz" >/dev/null; do sleep 0.1; done

taskset -c 1 "$root/target/release/moim-load" --scenario meeting -n 5 --url "$url" --room bench \
    --seconds $((3 * seconds + 10)) >"$dir/load.log" 2>&1 &
load=$!
sleep 10

# utime + stime of the server and its running children (ffmpeg), in clock ticks.
ticks() {
    local total=0 pid t
    for pid in $server $(pgrep -P $server); do
        t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
        total=$((total + t))
    done
    echo $total
}
hz=$(getconf CLK_TCK)
window() {
    local a b
    a=$(ticks); sleep "$seconds"; b=$(ticks)
    echo "scale=1; 100 * ($b - $a) / $hz / $seconds" | bc
}

idle=$(window)
token=$("$moim" token --room bench --identity bench --host)
id=$(curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"kind\":\"$kind\"}" "$url/api/rooms/bench/recordings" | sed 's/.*"id":"\([^"]*\)".*/\1/')
sleep 2
recording=$(window)
curl -sf -X DELETE -H "Authorization: Bearer $token" "$url/api/rooms/bench/recordings/$id" >"$dir/manifest.json"
metric() { curl -sf "$url/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

echo "server CPU without recording: ${idle} % of a core"
echo "server CPU with a $kind recording of 10 tracks: ${recording} % of a core"
echo "recording cost: $(echo "$recording - $idle" | bc) % of a core"
echo "frames recorded: $(metric moim_frames_recorded_total), dropped: $(metric moim_recording_frames_dropped_total)"
echo "files: $(grep -o '"file": *"[^"]*"' "$dir/manifest.json" | sort -u | wc -l), bytes: $(du -sb "$dir/recordings" | cut -f1)"
skipped=$(sed 's/\x1b\[[0-9;]*m//g' "$dir/server.log" | grep -o 'pictures=[0-9]* skipped=[0-9]*' || true)
[[ -n $skipped ]] && echo "composite pictures drawn / skipped: $skipped"
true
