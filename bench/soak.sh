#!/usr/bin/env bash
# Soak: hours of a busy server in minutes. Cycle after cycle, moim-load clients join a
# meeting or an audio room, publish, subscribe and leave; the room API sends data messages
# to them; a server recording (track, participant, audio-only, every fourth a composite)
# starts and stops in the room. After every cycle the server's resident memory, file
# descriptors, threads, child processes, rooms, sessions, tracks and the state waiting in
# full queues are sampled. The run is flat when, after a warm-up, memory grows less than
# 10 % and descriptors, threads and children come back to where they were.
#
#   bench/soak.sh [--minutes 30] [--cycle 30] [--no-build] [--csv FILE]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
minutes=30
cycle=30
build=1
csv=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --cycle) cycle="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --csv) csv="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

cd "$root"
[[ $build == 1 ]] && cargo build --release -q -p moim -p moim-load
moim="$root/target/release/moim"
dir="$(mktemp -d)"
http=7990
url="http://127.0.0.1:$http"
MOIM_RECORDINGS_DIR="$dir/recordings" MOIM_EMPTY_ROOM_TIMEOUT=2 MOIM_LOG=warn \
    "$moim" serve --http-port $http --udp-port 7992 >"$dir/server.log" 2>&1 &
server=$!
load=""
trap 'kill $server $load 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
until curl -sf "$url/healthz" >/dev/null; do sleep 0.1; done
csv=${csv:-$dir/soak.csv}

metric() { curl -sf "$url/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
sample() {
    local rss fds threads children
    rss=$(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$server/status")
    threads=$(awk '/^Threads/ { print $2 }' "/proc/$server/status")
    fds=$(find "/proc/$server/fd" -mindepth 1 -maxdepth 1 | wc -l)
    children=$(pgrep -c -P $server || true)
    echo "$1,$(date +%s),$rss,$fds,$threads,$children,$(metric moim_rooms),$(metric moim_participants),$(metric moim_sessions),$(metric moim_tracks),$(metric moim_state_waiting)"
}
echo "cycle,time,rss_mib,fds,threads,children,rooms,participants,sessions,tracks,state_waiting" >"$csv"
sample 0 >>"$csv"

kinds=(track participant audio_only composite)
end=$((SECONDS + minutes * 60))
i=0
while ((SECONDS < end)); do
    i=$((i + 1))
    room="soak-$((i % 3))"
    scenario=meeting
    ((i % 2 == 0)) && scenario=audio-room
    "$root/target/release/moim-load" --scenario $scenario -n 4 --url "$url" --room "$room" \
        --join-rate 4 --seconds $((cycle - 8)) >"$dir/load.log" 2>&1 &
    load=$!
    sleep 4
    token=$("$moim" token --room "$room" --identity soak --host)
    auth="Authorization: Bearer $token"
    kind=${kinds[$(((i - 1) % 4))]}
    id=$(curl -sf -X POST -H "$auth" -H 'Content-Type: application/json' \
        -d "{\"kind\": \"$kind\"}" "$url/api/rooms/$room/recordings" |
        sed -n 's/.*"id":"\([^"]*\)".*/\1/p' || true)
    stop_at=$((SECONDS + cycle / 2))
    while ((SECONDS < stop_at)); do
        curl -sf -o /dev/null -X POST -H "$auth" -H 'Content-Type: application/json' \
            -d "{\"payload\": \"tick $SECONDS\", \"topic\": \"soak\"}" "$url/api/rooms/$room/data" || true
        sleep 0.2
    done
    if [[ -n $id ]]; then
        curl -sf -o /dev/null -X DELETE -H "$auth" "$url/api/rooms/$room/recordings/$id" || true
        rm -rf "$dir/recordings/$room/$id"
    fi
    wait $load || true
    load=""
    sleep 3
    sample $i >>"$csv"
done

column -s, -t <"$csv" | sed -n '1,3p;$p'
# Warm-up: the first quarter of the cycles (at least one); the last sample is compared
# with the sample after it (idle pools of threads and connections are full by then).
awk -F, -v cycles=$i '
    NR == 1 { next }
    $1 == 0 { base_children = $6 }
    $1 == int(cycles / 4) + 1 { warm = $3; warm_fds = $4; warm_threads = $5 }
    { last_rss = $3; fds = $4; threads = $5; children = $6; waiting = $11 }
    END {
        growth = warm ? 100 * (last_rss - warm) / warm : 0
        printf "after warm-up: %d MiB -> %d MiB (%+.1f %%); fds %d -> %d; threads %d -> %d; children %d -> %d; state waiting %d\n",
            warm, last_rss, growth, warm_fds, fds, warm_threads, threads, base_children, children, waiting
        flat = growth < 10 && fds <= warm_fds + 4 && threads <= warm_threads + 4 && children <= base_children && waiting == 0
        print (flat ? "flat" : "NOT flat")
        exit !flat
    }' "$csv"
